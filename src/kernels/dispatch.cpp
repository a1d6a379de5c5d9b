// SPDX-License-Identifier: MIT
#include "kernels/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "kernels/isa/tables.h"

namespace slotlm::kernels {

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

bool parse_isa(std::string_view name, Isa* out) {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (name == isa_name(i)) {
      *out = i;
      return true;
    }
  }
  return false;
}

bool isa_supported(Isa isa) {
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  }
  return false;
}

Isa detect_isa() {
  for (Isa i : {Isa::kAvx512, Isa::kAvx2})
    if (isa_supported(i)) return i;
  return Isa::kScalar;
}

const KernelTable& kernel_table(Isa isa) {
  if (!isa_supported(isa)) fail("kernels: ISA ", isa_name(isa), " is not supported by this CPU");
  switch (isa) {
    case Isa::kAvx512: return detail::avx512_table();
    case Isa::kAvx2: return detail::avx2_table();
    case Isa::kScalar: break;
  }
  return detail::scalar_table();
}

namespace {

std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<Isa> g_isa{Isa::kScalar};
std::once_flag g_init;

void init_from_env() {
  Isa isa = detect_isa();
  if (const char* env = std::getenv("SLOTLM_ISA"); env && *env) {
    Isa want;
    if (!parse_isa(env, &want))
      fail("SLOTLM_ISA=", env, ": expected scalar, avx2 or avx512");
    if (!isa_supported(want)) fail("SLOTLM_ISA=", env, ": not supported by this CPU");
    isa = want;
  }
  g_isa.store(isa);
  g_table.store(&kernel_table(isa));
  log_info("kernels: using ", isa_name(isa), isa == detect_isa() ? "" : " (forced by SLOTLM_ISA)");
}

}  // namespace

Isa active_isa() {
  std::call_once(g_init, init_from_env);
  return g_isa.load(std::memory_order_relaxed);
}

void set_isa(Isa isa) {
  std::call_once(g_init, init_from_env);
  g_table.store(&kernel_table(isa));
  g_isa.store(isa);
}

const KernelTable& kernel_table() {
  const KernelTable* t = g_table.load(std::memory_order_acquire);
  if (t) return *t;
  std::call_once(g_init, init_from_env);
  return *g_table.load(std::memory_order_acquire);
}

}  // namespace slotlm::kernels
