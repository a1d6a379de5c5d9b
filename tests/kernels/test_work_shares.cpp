// SPDX-License-Identifier: MIT
// How decode products split their chunks between threads (kernels/work_shares.h): every chunk runs
// exactly once, whatever the team size or a thread that stalls; each thread starts in its own
// contiguous share; and matmul gives the same bits with the shares as with chunks handed out in
// turn (kernels::set_gemv_shares_enabled).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/work_shares.h"

namespace slotlm::test {
namespace {

// Runs for_each_chunk on `threads` threads and returns how often each chunk ran.
std::vector<int> runs_per_chunk(int64_t count, int threads, bool parallel) {
  std::vector<std::atomic<int>> runs(static_cast<size_t>(count));
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  kernels::detail::for_each_chunk(count, parallel, [&](int64_t c) { runs[size_t(c)].fetch_add(1); });
  omp_set_num_threads(before);
  std::vector<int> out;
  for (auto& r : runs) out.push_back(r.load());
  return out;
}

TEST(WorkShares, EveryChunkRunsOnceWhateverTheTeam) {
  for (int threads : {1, 2, 3, 4, 7})
    for (int64_t count : {0, 1, 2, 3, 5, 8, 63, 64, 1000})
      for (bool parallel : {true, false}) {
        const std::vector<int> runs = runs_per_chunk(count, threads, parallel);
        for (int64_t c = 0; c < count; ++c)
          ASSERT_EQ(runs[size_t(c)], 1) << "threads=" << threads << " count=" << count << " chunk " << c
                                        << " parallel=" << parallel;
      }
}

// A thread that stalls in a chunk does not hold the rest of its share: the other takes it, and
// every chunk still runs once. (Chunk 0 stalls; it is usually the first chunk of thread 0's share,
// but a thread that starts late may find its share taken and come to chunk 0 last.)
TEST(WorkShares, TheOthersTakeAStalledThreadsShare) {
  constexpr int kThreads = 2;
  constexpr int64_t kCount = 40;
  std::vector<std::vector<int64_t>> order(kThreads);
  const int before = omp_get_max_threads();
  omp_set_num_threads(kThreads);
  kernels::detail::for_each_chunk(kCount, true, [&](int64_t c) {
    order[size_t(omp_get_thread_num())].push_back(c);
    if (c == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  omp_set_num_threads(before);
  if (order[1].empty() || order[0].empty()) GTEST_SKIP() << "one thread ran every chunk";
  std::vector<int> runs(kCount, 0);
  for (const auto& o : order)
    for (int64_t c : o) ++runs[size_t(c)];
  for (int64_t c = 0; c < kCount; ++c) ASSERT_EQ(runs[size_t(c)], 1) << "chunk " << c;
  // The chunks the stalled thread ran after chunk 0: the other had ~200 ms for the rest.
  for (const auto& o : order) {
    const auto at = std::find(o.begin(), o.end(), int64_t(0));
    if (at != o.end()) {
      EXPECT_LT(o.end() - at - 1, kCount / 2 - 1) << "the stalled thread kept its share";
    }
  }
}

// Each thread first walks its own share in order: with two threads and no stalls, chunk 0 and the
// first chunk of the second half run on different threads, and each thread's chunks, in the order
// it ran them, start with an increasing contiguous run.
TEST(WorkShares, EachThreadStartsWithItsOwnContiguousShare) {
  constexpr int64_t kCount = 64;
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  std::vector<std::vector<int64_t>> order(2);
  kernels::detail::for_each_chunk(kCount, true, [&](int64_t c) {
    order[size_t(omp_get_thread_num())].push_back(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // both threads get to start
  });
  omp_set_num_threads(before);
  if (order[1].empty()) GTEST_SKIP() << "OpenMP gave a team of one thread";
  EXPECT_EQ(order[0].front(), 0);
  EXPECT_EQ(order[1].front(), kCount / 2);
  for (const auto& o : order)
    for (size_t i = 1; i < o.size() && i < 4; ++i) EXPECT_EQ(o[i], o[i - 1] + 1) << "thread's run broken at " << i;
}

// The scheduling never changes a product's bits: matmul over a group of weights, decode-sized
// (n = 1 and 8), with shares and with chunks handed out in turn.
TEST(WorkShares, MatmulBitsDoNotDependOnTheSchedule) {
  std::mt19937 rng(131);
  const int64_t m = 1024, k = 256;
  const TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
  const MatView mv{w.data(0), DType::kBF16, m, k};
  for (int64_t n : {1, 8}) {
    const std::vector<float> x = random_floats(size_t(n * k), rng);
    std::vector<float> shares(size_t(n * m)), turns(size_t(n * m));
    kernels::matmul(x.data(), n, mv, nullptr, shares.data());
    kernels::set_gemv_shares_enabled(false);
    kernels::matmul(x.data(), n, mv, nullptr, turns.data());
    kernels::set_gemv_shares_enabled(true);
    EXPECT_EQ(std::memcmp(shares.data(), turns.data(), shares.size() * sizeof(float)), 0) << "n=" << n;
  }
}

}  // namespace
}  // namespace slotlm::test
