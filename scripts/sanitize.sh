#!/usr/bin/env bash
# The sanitizer stage (docs/TESTING.md), in two parts:
#   address  builds the LibTorch-free unit tests and the fuzz targets with
#            clang-14 under AddressSanitizer + UndefinedBehaviorSanitizer
#            into build-sanitize/, runs those unit tests (ctest -L unit),
#            then runs each fuzz target for a bounded time; then builds
#            the tests that need LibTorch with GCC under the same
#            sanitizers into build-asan/ and runs them;
#   thread   builds the tests where threads meet (TLS connections, the
#            coordinator's network and worker threads, serving while
#            rounds aggregate) with GCC under ThreadSanitizer into
#            build-tsan/ and runs them.
# Any sanitizer report or fuzzer finding fails the stage; a fuzzer finding
# is saved under build-sanitize/fuzz-findings/, a report of the GCC builds
# in build-asan/<test>.log or build-tsan/<test>.log.
#   scripts/sanitize.sh              both (what CI runs)
#   scripts/sanitize.sh address      only ASan+UBSan and the fuzz targets
#   scripts/sanitize.sh thread       only ThreadSanitizer
#   FEDJETS_FUZZ_SECONDS=600 FEDJETS_FUZZ_RUNS=-1 scripts/sanitize.sh address
#                                    fuzz longer (-1: no bound on runs)
#   FEDJETS_FUZZ_TARGETS="csv idx" scripts/sanitize.sh address  these only
# scripts/test.sh runs it after the ordinary tests (and alone as
# `scripts/test.sh sanitize`).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
case $mode in
  all | address | thread) ;;
  *) echo "usage: scripts/sanitize.sh [address|thread]" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
# Ninja for new build directories, as scripts/build.sh.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}

# Builds test executables with GCC and the given -fsanitize flags into
# BUILD, runs each with its gtest filter and fails if any test fails or the
# sanitizer reports. GCC, not clang: these tests need LibTorch, whose
# headers clang 14 cannot compile in C++20 (see address_stage).
#   gcc_sanitized_tests BUILD WHAT FLAGS "executable:filter"...
gcc_sanitized_tests() {
  local build=$1 what=$2 flags=$3
  shift 3
  local tests=("$@") targets=()
  for t in "${tests[@]}"; do targets+=("${t%%:*}"); done
  CC=gcc CXX=g++ cmake -S . -B "$build" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DCMAKE_CXX_FLAGS="$flags -fno-omit-frame-pointer -g1" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    -DFEDJETS_BUILD_TESTS=ON -DFEDJETS_BUILD_EXAMPLES=OFF >/dev/null
  local start=$SECONDS
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
  echo "sanitize: $what build took $((SECONDS - start)) s"
  start=$SECONDS
  local status=0
  for t in "${tests[@]}"; do
    local name=${t%%:*} filter=${t#*:}
    echo "sanitize: $name ($filter) under $what"
    if ! "$build/bin/$name" --gtest_filter="$filter" \
      >"$build/$name.log" 2>&1; then
      status=1
      tail -n 40 "$build/$name.log" >&2
      echo "sanitize: $name failed or $what reported" \
        "$(grep -cE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR|.*runtime error:)' \
          "$build/$name.log") findings; see $build/$name.log" >&2
    fi
  done
  echo "sanitize: $what tests took $((SECONDS - start)) s"
  [[ $status == 0 ]] && echo "sanitize: $what clean"
  return $status
}

thread_stage() {
  # Transport: Connection over TLS and plain TCP (an io_context and a
  # client thread). Coordinators with clients in one process (network
  # thread, worker thread, training threads): connection caps, hostile
  # clients, a FedAvg federation, strategies sending the published
  # snapshot, and FedJETs clients served while rounds aggregate.
  # Suppressions name third-party libraries only (uninstrumented LibTorch
  # and its OpenMP runtime); a report with our frames is never hidden.
  TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$PWD/scripts/tsan-suppressions.txt:second_deadlock_stack=1:halt_on_error=0:exitcode=66} \
    gcc_sanitized_tests build-tsan ThreadSanitizer -fsanitize=thread \
    "transport_test:*" \
    "connection_limits_test:*" \
    "hostile_client_test:*" \
    "federation_test:*" \
    "model_snapshot_test:*" \
    "fedjets_test:*ServedWhileRoundsRun*"
}

# The tests that need LibTorch under ASan+UBSan (address_stage covers the
# LibTorch-free ones with clang): the learn, coordinator, client and sim
# unit tests, and the integration tests where the coordinator decodes
# tensors a peer sent (hostile clients, a whole federation). The first
# report aborts the process, so it fails its test.
address_libtorch_stage() {
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    gcc_sanitized_tests build-asan "ASan+UBSan (GCC)" \
    "-fsanitize=address,undefined -fno-sanitize-recover=all" \
    "learn_test:*" "coordinator_test:*" "client_test:*" "sim_test:*" \
    "aggregate_test:*" "prometheus_test:*" \
    "hostile_client_test:*" "federation_test:*"
}

address_stage() {
  local build=build-sanitize seconds runs targets
  # Each target runs until FEDJETS_FUZZ_RUNS inputs (100,000) or
  # FEDJETS_FUZZ_SECONDS (60), whichever comes first: the fast targets
  # reach 100,000 inputs in seconds, which keeps .ci/run within its budget.
  seconds=${FEDJETS_FUZZ_SECONDS:-60}
  runs=${FEDJETS_FUZZ_RUNS:-100000}
  targets=${FEDJETS_FUZZ_TARGETS:-frame envelope tensor chunk_frame csv idx checkpoint}

  # No recovery: the first report stops the process and fails its test.
  # -fsanitize=function is left out: clang 14 cannot emit its prologue data
  # for split coroutine functions ("Cannot represent a difference across
  # sections" in every Asio coroutine), and it checks only calls through
  # mistyped function pointers.
  sanitize="-fsanitize=address,undefined -fno-sanitize=function"
  sanitize+=" -fno-sanitize-recover=all"
  # fuzzer-no-link: coverage feedback from the libraries the fuzz targets
  # call, not only from the targets themselves. -O1 keeps the build cheap.
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DCMAKE_CXX_FLAGS="$sanitize -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -gline-tables-only" \
    -DCMAKE_EXE_LINKER_FLAGS="$sanitize" \
    -DFEDJETS_BUILD_TESTS=ON -DFEDJETS_BUILD_EXAMPLES=OFF -DFEDJETS_FUZZ=ON \
    >/dev/null
  # LibTorch-free unit tests only: clang 14 cannot compile LibTorch 1.13's
  # headers in C++20 against libstdc++ 12 (std::vector<c10::IValue> of an
  # incomplete type in ATen/core/List.h, now that vector is constexpr), so
  # learn_test, coordinator_test and sim_test are not built here. ctest -L
  # unit below runs the unit tests of the executables built (the others'
  # placeholders carry no label).
  unit_tests=(base_test net_test data_test metrics_test report_test)
  fuzzers=(fuzz_make_seeds fuzz_frame fuzz_envelope fuzz_tensor fuzz_chunk_frame
    fuzz_csv fuzz_idx fuzz_checkpoint)
  cmake --build "$build" -j"$(nproc)" --target "${unit_tests[@]}" "${fuzzers[@]}"

  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  (cd "$build" && ctest --output-on-failure --timeout 900 -j2 -L '^unit$')

  findings="$build/fuzz-findings"
  rm -rf "$findings"
  mkdir -p "$findings"
  for t in $targets; do
    corpus="$build/fuzz-corpus/$t"
    mkdir -p "$corpus"
    dirs=("$corpus" "$build/fuzz-seeds/$t")
    [[ -d fuzz/regressions/$t ]] && dirs+=("fuzz/regressions/$t")
    echo "sanitize: fuzzing $t for ${seconds}s or $runs inputs"
    if ! "$build/bin/fuzz_$t" -max_total_time="$seconds" -runs="$runs" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/$t-" "${dirs[@]}" \
      >"$findings/$t.log" 2>&1; then
      tail -n 60 "$findings/$t.log" >&2
      echo "sanitize: fuzz_$t found a bug; input saved in $findings/ (replay:" \
        "$build/bin/fuzz_$t FILE; keep it as fuzz/regressions/$t/NAME)" >&2
      exit 1
    fi
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' \
      "$findings/$t.log" || true
  done
  echo "sanitize: unit tests and fuzz targets ($targets) clean"
}

if [[ $mode == address || $mode == all ]]; then
  address_stage
  address_libtorch_stage
fi
if [[ $mode == thread || $mode == all ]]; then thread_stage; fi
