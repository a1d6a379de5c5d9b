// SPDX-License-Identifier: MIT
#include "eval/report.h"

#include <cstdio>
#include <iterator>
#include <map>

#include "core/error.h"

namespace slotlm::eval {

namespace {

constexpr double kPercent = 100.0;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct(int64_t k, int64_t n) { return n ? fmt("%.1f%%", kPercent * double(k) / double(n)) : "-"; }

std::string pad(const std::string& s, size_t w, bool right = false) {
  if (s.size() >= w) return s + " ";
  const std::string fill(w - s.size(), ' ');
  return (right ? fill + s : s + fill) + " ";
}

}  // namespace

nlohmann::json ModeSummary::to_json() const {
  const Interval ci = wilson_interval(correct, n);
  nlohmann::json j = {{"mode", mode.name}, {"mode_key", mode.key}, {"n", n}, {"correct", correct},
                      {"accuracy", accuracy()}, {"ci95", {ci.lo, ci.hi}}, {"format_ok", format_ok},
                      {"strict_correct", strict_correct}, {"flexible_correct", flexible_correct},
                      {"errors", errors}, {"n_gen", n_gen}, {"tok_s", tok_s()}, {"wall_ms", wall_ms}};
  j["loss_before"] = n_loss ? nlohmann::json(loss_before) : nlohmann::json();
  j["loss_after"] = n_loss ? nlohmann::json(loss_after) : nlohmann::json();
  return j;
}

ModeSummary summarize(const RunLog& log, const std::vector<Sample>& samples, const Mode& mode) {
  ModeSummary s;
  s.mode = mode;
  double before = 0, after = 0;
  for (const Sample& smp : samples) {
    const nlohmann::json* r = log.find(smp.id, mode.key);
    if (!r) continue;
    const bool ok = r->value("correct", false);
    ++s.n;
    s.correct += ok;
    s.format_ok += r->value("format_ok", false);
    s.strict_correct += r->value("strict_correct", false);
    s.flexible_correct += r->value("flexible_correct", false);
    s.errors += r->contains("error");
    s.ids.push_back(smp.id);
    s.outcomes.push_back(ok);
    const auto slot = r->find("slot");
    if (slot != r->end() && slot->is_object() && !(*slot)["loss"].empty()) {
      ++s.n_loss;
      before += (*slot)["loss"][0].get<double>();
      after += (*slot)["loss_final"].get<double>();
    }
    const auto t = r->find("timings");
    if (t != r->end() && t->is_object()) {
      s.n_gen += t->value("n_gen", int64_t(0));
      s.gen_ms += t->value("gen_ms", 0.0);
      s.wall_ms += t->value("wall_ms", 0.0);
    }
  }
  if (s.n_loss) {
    s.loss_before = before / double(s.n_loss);
    s.loss_after = after / double(s.n_loss);
  }
  return s;
}

McNemar paired(const ModeSummary& a, const ModeSummary& b) {
  std::map<std::string, bool> in_a;
  for (size_t i = 0; i < a.ids.size(); ++i) in_a[a.ids[i]] = a.outcomes[i];
  std::vector<bool> xa, xb;
  for (size_t i = 0; i < b.ids.size(); ++i) {
    const auto it = in_a.find(b.ids[i]);
    if (it == in_a.end()) continue;
    xa.push_back(it->second);
    xb.push_back(b.outcomes[i]);
  }
  return mcnemar(xa, xb);
}

std::string format_table(const std::string& title, const std::vector<ModeSummary>& modes) {
  const size_t kW[] = {9, 5, 9, 14, 7, 7, 9, 7, 12, 11, 9, 9};
  const char* kHead[] = {"mode", "n", "accuracy", "95% CI", "format", "strict", "flexible", "errors",
                         "loss before", "loss after", "tok/s", "wall s"};
  std::string out = title + "\n";
  for (size_t c = 0; c < std::size(kHead); ++c) out += pad(kHead[c], kW[c], c == 1);
  out += "\n";
  for (const ModeSummary& s : modes) {
    const Interval ci = wilson_interval(s.correct, s.n);
    const std::string cells[] = {
        s.mode.name,
        std::to_string(s.n),
        pct(s.correct, s.n),
        s.n ? fmt("[%.1f, ", kPercent * ci.lo) + fmt("%.1f]", kPercent * ci.hi) : "-",
        pct(s.format_ok, s.n),
        pct(s.strict_correct, s.n),
        pct(s.flexible_correct, s.n),
        std::to_string(s.errors),
        s.n_loss ? fmt("%.4f", s.loss_before) : "-",
        s.n_loss ? fmt("%.4f", s.loss_after) : "-",
        fmt("%.1f", s.tok_s()),
        fmt("%.2f", s.wall_ms / 1000.0)};
    for (size_t c = 0; c < std::size(cells); ++c) out += pad(cells[c], kW[c], c == 1);
    out += "\n";
  }
  for (const ModeSummary& s : modes)
    if (s.mode.key != s.mode.name) out += "  " + s.mode.name + " = " + s.mode.key + "\n";
  if (modes.size() == 2) {
    const McNemar mc = paired(modes[0], modes[1]);
    out += str_cat("paired (", modes[1].mode.name, " - ", modes[0].mode.name, ", ", mc.n(), " samples): ",
                   fmt("%+.1f pp", kPercent * mc.difference()), "; fixed ", mc.fixed, ", broken ", mc.broken,
                   ", both right ", mc.both, ", both wrong ", mc.neither, fmt(" (McNemar exact p = %.3f)", mc.p_value),
                   "\n");
  }
  return out;
}

}  // namespace slotlm::eval
