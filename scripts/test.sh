#!/usr/bin/env bash
# The test command of the README: installs dependencies, builds (warnings as errors), runs every
# test with ctest, then every C++ test again in the sanitizer build (ASan + UBSan), twice: on this
# CPU's paths, then with the AMX tiles emulated.
#   bash scripts/test.sh            (SLOTLM_SKIP_ASAN=1 skips the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
SLOTLM_CMAKE_ARGS="-DSLOTLM_WERROR=ON" bash scripts/setup.sh build Release
(cd build && ctest --output-on-failure -j 2 --timeout 900)
if [ "${SLOTLM_SKIP_ASAN:-0}" != 1 ]; then
  SLOTLM_CMAKE_ARGS="-DSLOTLM_BUILD_BENCH=OFF -DSLOTLM_AMX_EMULATION=ON" bash scripts/setup.sh build-asan Asan
  # Every C++ test under the sanitizers; the shell-level CLI tests (which start servers and npm)
  # already ran against the release binary.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900 -E '^cli_')
  # And again with the AMX tile instructions emulated in software (this build's
  # SLOTLM_AMX_EMULATION, src/kernels/isa/amx_intrinsics.h): the AMX paths run here too, on CPUs
  # without AMX (~2 minutes).
  (cd build-asan && SLOTLM_AMX_EMULATE=1 ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900 -E '^cli_')
fi
