// SPDX-License-Identifier: MIT
// Summaries and the printed table of an evaluation (eval layer): accuracy with a Wilson 95%
// interval, format and lm-eval style accuracies, SLOT prompt losses, tokens/s, wall time, and the
// paired baseline-vs-SLOT difference with McNemar counts. Reads records back from the RunLog.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/harness.h"
#include "eval/stats.h"

namespace slotlm::eval {

struct ModeSummary {
  Mode mode;
  int64_t n = 0;                 // samples with a record in this mode
  int64_t correct = 0, format_ok = 0, strict_correct = 0, flexible_correct = 0;
  int64_t errors = 0;            // samples that could not run (scored incorrect)
  int64_t n_loss = 0;            // samples where SLOT ran (have prompt losses)
  double loss_before = 0;        // mean L(delta_0), the plain model's prompt loss (over n_loss)
  double loss_after = 0;         // mean L(delta_T)
  int64_t n_gen = 0;             // generated tokens
  double gen_ms = 0, wall_ms = 0;
  std::vector<std::string> ids;  // sample ids, in selection order
  std::vector<bool> outcomes;    // correct per id
  double accuracy() const { return n ? double(correct) / double(n) : 0.0; }
  double tok_s() const { return gen_ms > 0 ? 1000.0 * double(n_gen) / gen_ms : 0.0; }
  nlohmann::json to_json() const;
};

// Summary of `mode` over `samples` from the records in `log` (missing records are left out).
ModeSummary summarize(const RunLog& log, const std::vector<Sample>& samples, const Mode& mode);

// McNemar over the samples both summaries hold (b's outcomes against a's).
McNemar paired(const ModeSummary& a, const ModeSummary& b);

// The table: `title` line, one row per mode, the mode keys and, for two modes, the paired line.
std::string format_table(const std::string& title, const std::vector<ModeSummary>& modes);

}  // namespace slotlm::eval
