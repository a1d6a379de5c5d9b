// SPDX-License-Identifier: MIT
// Benchmarks only: runs several variants of one job in turn, once each per benchmark iteration, and
// reports the median milliseconds of each as counter `<name>_ms`. This host's throughput drifts by
// up to 2x within a minute, so only variants interleaved in one process compare.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace slotlm::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

inline void interleave(benchmark::State& st,
                       const std::vector<std::pair<const char*, std::function<void()>>>& variants) {
  std::vector<std::vector<double>> ms(variants.size());
  for (auto _ : st) {
    for (size_t v = 0; v < variants.size(); ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      variants[v].second();
      ms[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  for (size_t v = 0; v < variants.size(); ++v) st.counters[std::string(variants[v].first) + "_ms"] = median(ms[v]);
}

}  // namespace slotlm::bench
