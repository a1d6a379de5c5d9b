#!/usr/bin/env bash
# Installs slotlm's build and test dependencies (Debian 12 packages only) and builds it.
#   bash scripts/setup.sh [BUILD_DIR] [BUILD_TYPE]     (defaults: build Release)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
BUILD_TYPE=${2:-Release}

PACKAGES=(cmake ninja-build g++ pkg-config git
  libdnnl-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev libcli11-dev
  ocl-icd-opencl-dev      # libdnnl-dev's CMake config requires OpenCL; apt only recommends it
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy   # tools/: checkpoint maker and llama2.c converter
  curl)                   # end-to-end server test


missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm for the server test's `openai` client: the machine may carry its own Node.js build
# (which bundles npm and conflicts with Debian's npm package), so install only when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${SLOTLM_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: built $BUILD_DIR/src/cli/slotlm ($BUILD_TYPE)"
