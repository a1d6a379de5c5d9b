// SPDX-License-Identifier: MIT
// How decode products split their chunks between threads (kernels/work_shares.h): every chunk runs
// exactly once, whatever the team size or a thread that stalls; each thread starts in its own
// contiguous share; and matmul gives the same bits with the shares as with chunks handed out in
// turn (kernels::set_gemv_shares_enabled).
#include <omp.h>

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

// A thread that stalls on its first chunk does not hold its share: the others take it, and every
// chunk still runs once.
TEST(WorkShares, TheOthersTakeAStalledThreadsShare) {
  constexpr int kThreads = 2;
  constexpr int64_t kCount = 40;
  std::vector<int> owner(kCount, -1);
  std::atomic<int> team{0};
  const int before = omp_get_max_threads();
  omp_set_num_threads(kThreads);
  kernels::detail::for_each_chunk(kCount, true, [&](int64_t c) {
    owner[size_t(c)] = omp_get_thread_num();
    team.store(omp_get_num_threads());
    if (c == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  omp_set_num_threads(before);
  if (team.load() < 2) GTEST_SKIP() << "OpenMP gave a team of one thread";
  int by_first = 0;
  for (int64_t c = 0; c < kCount; ++c) {
    ASSERT_GE(owner[size_t(c)], 0) << "chunk " << c << " never ran";
    by_first += owner[size_t(c)] == owner[0];
  }
  // The thread that ran chunk 0 slept through the time the other needed for everything else.
  EXPECT_LT(by_first, kCount / 2) << "the stalled thread kept its whole share";
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
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // both threads get to start
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
