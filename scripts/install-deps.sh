#!/usr/bin/env bash
# Installs the Debian 12 packages fedjets needs. Idempotent: when everything
# is present it prints nothing and exits 0.
#   scripts/install-deps.sh        everything: build, tests, sanitizers,
#                                  the OCI image, Prometheus (README command 2)
#   scripts/install-deps.sh demo   only what building the three binaries and
#                                  running the demo need (README command 1;
#                                  a first result sooner on a fresh machine)
set -euo pipefail
profile=${1:-all}

# Building fedjets-sim, fedjets-coordinator, fedjets-client and running the
# demo on Fashion-MNIST (gnuplot draws the partition summary).
demo_packages=(
  build-essential cmake ninja-build ccache
  libboost1.81-dev libssl-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler
  libtorch-dev libopenblas0-openmp
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  prometheus-cpp-dev
  dataset-fashion-mnist gnuplot-nox
)
# The rest of the build (tests, benchmarks, the examples' CSV data) and of
# scripts/test.sh (formatting, sanitizers and fuzzing, the Prometheus
# server, the OCI image, the single-node Slurm of the Slurm test, the doc
# client's Python modules, the PyTorch baseline of bench/compare.sh).
more_packages=(
  pkg-config git clang-format
  libgtest-dev libgmock-dev libbenchmark-dev
  r-cran-palmerpenguins r-cran-mlbench
  prometheus
  mmdebstrap umoci skopeo
  slurmctld slurmd slurm-client munge
  python3-protobuf python3-yaml python3-torch
  clang-14 libclang-rt-14-dev
)
case $profile in
  demo) packages=("${demo_packages[@]}") ;;
  all) packages=("${demo_packages[@]}" "${more_packages[@]}") ;;
  *) echo "usage: scripts/install-deps.sh [demo|all]" >&2; exit 2 ;;
esac

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
