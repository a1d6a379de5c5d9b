// SPDX-License-Identifier: MIT
// The AMX tile intrinsics as the AMX kernels (amx_gemm.cpp, amx_gemv.cpp, attention_amx.cpp) use
// them, plus tile_barrier(). In a build with SLOTLM_AMX_EMULATION (a CMake option for tests only)
// they are replaced by a software model of palette 1, so the AMX paths run, and are tested, on
// CPUs without AMX (amx_available() then needs SLOTLM_AMX_EMULATE=1 and AVX512-BF16).
//
// The model: 8 tiles of 16 rows x 64 bytes per thread, loaded and stored exactly as the hardware
// reads and writes them; TDPBF16PS as in Intel's pseudo-code: for each row m, each pair k and each
// column n, c[m][n] += a[m][2k] * b[k][2n] then += a[m][2k+1] * b[k][2n+1], in f32 with denormal
// inputs and results taken as zero. A tile operation before LDTILECFG on its thread, a shape other
// than 16 x 64 bytes or aliased TDPBF16PS operands (#UD on the hardware) abort with a message. It
// checks layouts, indices, bounds and tile-config handling, not the hardware's rounding inside a
// product (the kernels' tests bound that against float64).
#pragma once

#include <immintrin.h>

namespace slotlm::kernels::detail {

// The asm statements behind GCC's tile intrinsics declare no memory effects: this keeps the
// compiler from moving stores of a buffer past the tile loads that read it.
inline void tile_barrier() { asm volatile("" ::: "memory"); }

}  // namespace slotlm::kernels::detail

#ifdef SLOTLM_AMX_EMULATION

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slotlm::kernels::detail::amx_model {

struct Config {  // LDTILECFG's 64-byte operand, palette 1
  uint8_t palette, start_row, reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

struct Tiles {
  bool configured = false;
  alignas(64) uint8_t t[8][16][64];
};

inline Tiles& tiles() {
  thread_local Tiles s;
  return s;
}

[[noreturn]] inline void fault(const char* what) {
  std::fprintf(stderr, "slotlm: AMX emulation: %s\n", what);
  std::abort();
}

inline void load_config(const void* p) {
  Config c;
  std::memcpy(&c, p, sizeof c);
  if (c.palette != 1) fault("LDTILECFG with a palette other than 1");
  for (int i = 0; i < 8; ++i)
    if (c.rows[i] != 16 || c.bytes_per_row[i] != 64) fault("a tile shape other than 16 rows x 64 bytes");
  tiles().configured = true;
  std::memset(tiles().t, 0, sizeof tiles().t);
}

inline uint8_t (&tile(int i))[16][64] {
  if (!tiles().configured) fault("a tile operation before LDTILECFG on this thread");
  if (i < 0 || i > 7) fault("a tile index outside 0..7");
  return tiles().t[i];
}

inline void load(int i, const void* base, long stride) {
  auto& t = tile(i);
  for (int r = 0; r < 16; ++r) std::memcpy(t[r], static_cast<const uint8_t*>(base) + r * stride, 64);
}

inline void store(int i, void* base, long stride) {
  auto& t = tile(i);
  for (int r = 0; r < 16; ++r) std::memcpy(static_cast<uint8_t*>(base) + r * stride, t[r], 64);
}

inline void zero(int i) { std::memset(tile(i), 0, 16 * 64); }

inline float bf16_value(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float flush_denormal(float f) { return std::fpclassify(f) == FP_SUBNORMAL ? std::copysign(0.f, f) : f; }

inline void dot_bf16(int d, int a, int b) {
  if (d == a || d == b || a == b) fault("TDPBF16PS with aliased tiles");
  auto& td = tile(d);
  const auto& ta = tile(a);
  const auto& tb = tile(b);
  for (int m = 0; m < 16; ++m) {
    float c[16];
    uint16_t ar[32];
    std::memcpy(c, td[m], 64);
    std::memcpy(ar, ta[m], 64);
    for (int k = 0; k < 16; ++k) {
      uint16_t br[32];
      std::memcpy(br, tb[k], 64);
      for (int n = 0; n < 16; ++n) {
        float acc = flush_denormal(c[n] + flush_denormal(bf16_value(ar[2 * k])) * flush_denormal(bf16_value(br[2 * n])));
        acc = flush_denormal(acc + flush_denormal(bf16_value(ar[2 * k + 1])) * flush_denormal(bf16_value(br[2 * n + 1])));
        c[n] = acc;
      }
    }
    std::memcpy(td[m], c, 64);
  }
}

}  // namespace slotlm::kernels::detail::amx_model

#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadconfig(p) ::slotlm::kernels::detail::amx_model::load_config(p)
#define _tile_release() (void)(::slotlm::kernels::detail::amx_model::tiles().configured = false)
#define _tile_loadd(i, base, stride) ::slotlm::kernels::detail::amx_model::load(i, base, stride)
#define _tile_stored(i, base, stride) ::slotlm::kernels::detail::amx_model::store(i, base, stride)
#define _tile_zero(i) ::slotlm::kernels::detail::amx_model::zero(i)
#define _tile_dpbf16ps(d, a, b) ::slotlm::kernels::detail::amx_model::dot_bf16(d, a, b)

#endif  // SLOTLM_AMX_EMULATION
