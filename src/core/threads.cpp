// SPDX-License-Identifier: MIT
#include "core/threads.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/log.h"

namespace slotlm {

namespace {

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

}  // namespace

int set_threads(int n) {
  const std::vector<int> cpus = allowed_cpus();
  if (n <= 0) n = cpus.empty() ? omp_get_num_procs() : int(cpus.size());
  omp_set_num_threads(n);
  // A team that uses every allowed CPU pins its worker threads (1..n-1) to their own CPUs: left
  // free, the scheduler sometimes stacks two of them on one core while oneDNN's AMX GEMM waits at
  // a barrier for the slower one. The calling thread stays unpinned, so threads it starts later
  // (server workers) inherit the full CPU set. OMP_PROC_BIND / GOMP_CPU_AFFINITY, when set, decide
  // instead; SLOTLM_PIN=0 turns pinning off.
  const char* pin = std::getenv("SLOTLM_PIN");
  const bool want = !(pin && std::strcmp(pin, "0") == 0) && !env_set("OMP_PROC_BIND") &&
                    !env_set("GOMP_CPU_AFFINITY") && !env_set("OMP_PLACES");
  if (want && n > 1 && size_t(n) == cpus.size()) {
    int pinned = 0;
#pragma omp parallel num_threads(n) reduction(+ : pinned)
    {
      const int t = omp_get_thread_num();
      if (t > 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[size_t(t)], &one);
        pinned += pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
      }
    }
    log_debug("threads: pinned ", pinned, " of ", n - 1, " OpenMP worker threads to their own CPUs");
  }
  return n;
}

int n_threads() { return omp_get_max_threads(); }

}  // namespace slotlm
