#!/usr/bin/env bash
# Installs what ait-llm needs on Debian 12: the Debian packages, then (only where Debian
# lacks something) pinned PyPI packages into the project venv .venv (--system-site-packages,
# so Debian's torch/numpy stay visible). Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libcli11-dev nlohmann-json3-dev libfmt-dev libzip-dev libhwy-dev libtbb-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libonnx-dev libprotobuf-dev protobuf-compiler pybind11-dev python3-dev libxxhash-dev libxlsxwriter-dev
  chromium
  clang-14 libclang-rt-14-dev
  python3 python3-venv python3-numpy python3-pytest python3-torch python3-onnx python3-protobuf python3-jinja2
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Project venv on top of Debian's interpreter; PyPI packages pinned in requirements.txt.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  echo "install-deps: creating .venv (system site packages visible)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
if [ -s scripts/requirements.txt ]; then
  stamp=.venv/.requirements.sha
  want=$(cat scripts/requirements.txt scripts/requirements-transformers.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: installing pinned PyPI packages into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
    echo "$want" > "$stamp"
  fi
fi

# llama.cpp through llama-cpp-python, built from source (scripts/requirements-llama-cpp.txt).
# Its dependencies are pinned in requirements.txt, so --no-deps. CMAKE_ARGS reaches
# llama.cpp's CMake through scikit-build-core; the flags change the build, not the wheel's
# cache key, so a wheel cached by an earlier install is reused as it is.
LLAMA_CPP_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF \
-DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama_cpp_minimal.cmake"
stamp=.venv/.llama-cpp.sha
want=$(cat scripts/requirements-llama-cpp.txt scripts/llama_cpp_minimal.cmake | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: installing llama-cpp-python into .venv (a first build compiles llama.cpp: ~3 minutes on 2 cores)"
  CMAKE_ARGS="$LLAMA_CPP_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r scripts/requirements-llama-cpp.txt
  echo "$want" > "$stamp"
fi
