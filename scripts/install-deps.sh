#!/usr/bin/env bash
# Installs every Debian 12 package fedjets needs to build, test and run its
# demo. Idempotent: when everything is present it prints nothing and exits 0.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config git clang-format
  libboost1.81-dev libssl-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler
  libtorch-dev libopenblas0-openmp
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  dataset-fashion-mnist gnuplot-nox
  r-cran-palmerpenguins
  prometheus-cpp-dev prometheus
  mmdebstrap umoci skopeo
  python3-protobuf python3-yaml
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian LibTorch calls whatever libblas.so.3 is selected; the reference BLAS
# is ~50x slower for Linear layers. Select OpenBLAS (OpenMP) explicitly.
blas=$(ls /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 2>/dev/null || true)
if [[ -n "$blas" ]]; then
  current=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)
  if [[ "$current" != "$(readlink -f "$blas")" ]]; then
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" update-alternatives --quiet --set libblas.so.3-x86_64-linux-gnu "$blas"
  fi
fi
