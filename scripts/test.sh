#!/usr/bin/env bash
# The test command of the README: installs dependencies, builds (warnings as errors), runs every
# test with ctest, then the sanitizer build (ASan + UBSan) of the engine's core test suites.
#   bash scripts/test.sh            (SLOTLM_SKIP_ASAN=1 skips the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
SLOTLM_CMAKE_ARGS="-DSLOTLM_WERROR=ON" bash scripts/setup.sh build Release
(cd build && ctest --output-on-failure -j 2 --timeout 900)
if [ "${SLOTLM_SKIP_ASAN:-0}" != 1 ]; then
  SLOTLM_CMAKE_ARGS="-DSLOTLM_BUILD_BENCH=OFF" bash scripts/setup.sh build-asan Asan
  # Sanitizers: the numeric layers and the tokenizer, where memory bugs would hide.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900 \
      -R '^(Loader|Broken|TinyCheckpoints|Slot|Tokenizer|Chat|Kernel|Sampler|Vocab)')
fi
