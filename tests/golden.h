// SPDX-License-Identifier: MIT
// Reading the goldens of tests/data (made by tools/make_goldens.py) and error measures shared by
// the model and SLOT tests.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json_file.h"
#include "model/model.h"
#include "test_util.h"

namespace slotlm::test {

inline nlohmann::json load_golden(const std::string& folder, const std::string& file) {
  return read_json_file(data_path(folder + "/" + file));
}

inline std::vector<float> flatten(const nlohmann::json& rows) {
  std::vector<float> out;
  for (const auto& r : rows)
    for (const auto& v : r) out.push_back(v.get<float>());
  return out;
}

// max over rows of |a_row - b_row|_2 / |b_row|_2: the relative error of each vector, worst row.
inline double max_row_rel_error(const float* a, const std::vector<double>& b, size_t n_rows, size_t dim) {
  double worst = 0;
  for (size_t i = 0; i < n_rows; ++i) {
    double num = 0, den = 0;
    for (size_t j = 0; j < dim; ++j) {
      const double e = double(a[i * dim + j]) - b[i * dim + j];
      num += e * e;
      den += b[i * dim + j] * b[i * dim + j];
    }
    worst = std::max(worst, std::sqrt(num / den));
  }
  return worst;
}

inline std::vector<double> flatten_d(const nlohmann::json& rows) {
  std::vector<double> out;
  for (const auto& r : rows) {
    if (r.is_array())
      for (const auto& v : r) out.push_back(v.get<double>());
    else
      out.push_back(r.get<double>());
  }
  return out;
}

// Final normed hidden states `[n, d_model]` of `ids` from a fresh cache.
inline std::vector<float> prefill(const model::Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache(int64_t(ids.size()));
  model::Workspace ws;
  std::vector<float> h(ids.size() * size_t(m.d_model()));
  m.forward(ids, cache, ws, h.data());
  return h;
}

}  // namespace slotlm::test
