#!/usr/bin/env bash
# The CMake package end to end (issue #16): install the build into a fresh
# prefix, copy examples/custom_dataset out of the tree, configure it with
# find_package(fedjets) against that prefix alone, build it, and run the
# example's federation; the installed binaries must start too.
#   package_consumer.sh CMAKE BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
cmake=$1 build=$2 src=$3 work=$4
prefix=$work/prefix
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"
mkdir -p "$work"

"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" ||
  { cat "$work/install.log"; fail "cmake --install failed"; }
for b in fedjets-coordinator fedjets-client fedjets-sim fedjets-report \
         fedjets-certs; do
  "$prefix/bin/$b" --help > /dev/null || fail "installed $b does not start"
done
for h in common/data/dataset_registry.h coordinator/coordinator.h \
         client/local_data.h proto/fedjets.pb.h; do
  [[ -f "$prefix/include/fedjets/$h" ]] || fail "no include/fedjets/$h"
done
# The package must not point back into the tree it was built from.
if grep -rlF -e "$build" -e "$src" "$prefix/lib/cmake"; then
  fail "the installed CMake files name the build or source tree"
fi

cp -r "$src/examples/custom_dataset" "$work/consumer"
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
"$cmake" -S "$work/consumer" -B "$work/consumer-build" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" \
  > "$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; fail "configuring the example failed"; }
found=$(sed -n 's/^fedjets_DIR:PATH=//p' "$work/consumer-build/CMakeCache.txt")
[[ $found == "$prefix/lib/cmake/fedjets" ]] ||
  fail "find_package(fedjets) found '$found', not the fresh prefix"
"$cmake" --build "$work/consumer-build" -j2 > "$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "building the example failed"; }

"$work/consumer-build/fedjets-example-custom-dataset" --clients 3 --rounds 3 \
  --train-examples 600 --min-accuracy 0.8 ||
  fail "the example built against the package did not reach 80%"
echo "PASS: examples/custom_dataset built against $prefix and ran"
