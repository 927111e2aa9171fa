#!/usr/bin/env bash
# The OCI image end to end: scripts/build-image.sh builds it (or reuses its
# Debian layer when the package list did not change), umoci unpacks it, and
# a short federation runs from its root filesystem under chroot, as the
# image's user (10001) with the image's PATH, on loopback. Container
# runtimes cannot start in every sandbox; chroot runs the same files.
#   image_federation.sh SOURCE_DIR BIN_DIR IMAGE_DIR WORK_DIR
# Exit 77 (ctest: skipped) when not root or a tool is missing, 1 on failure.
set -euo pipefail
src=$1 bin=$2 image=$3 work=$4
data=/usr/share/datasets/fashion-mnist

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap root mode, umoci unpack, chroot, mount)"
for tool in mmdebstrap umoci unshare chroot; do
  command -v "$tool" >/dev/null || skip "$tool not installed (bash scripts/install-deps.sh)"
done
[[ -f $data/train-images-idx3-ubyte.gz ]] || skip "no Fashion-MNIST in $data"
# The first build downloads ~390 Debian packages: skip, saying so, when the
# mirror apt uses here cannot be reached.
mkdir -p "$work"
uri=$(apt-get --print-uris -qq download base-files 2>/dev/null | cut -d"'" -f2)
if [[ -z $uri ]] ||
  ! /usr/lib/apt/apt-helper -qq download-file "$uri" "$work/probe.deb" >/dev/null 2>&1; then
  skip "the Debian mirror is unreachable (apt-get --print-uris download base-files: '$uri')"
fi
rm -f "$work/probe.deb"

start=$SECONDS
bash "$src/scripts/build-image.sh" --bin-dir "$bin" --out "$image"
echo "image built in $((SECONDS - start)) s"

# The layout is one that the containers tools read (skopeo copies it to a
# registry, docker-archive or containers-storage).
if command -v skopeo >/dev/null; then
  skopeo inspect "oci:$image/oci:latest" | grep -q '"org.opencontainers.image.title": "fedjets"' ||
    fail "skopeo does not read the image in $image/oci"
fi

bundle=$work/bundle
rootfs=$bundle/rootfs
mounted_below() { grep -q " $1/" /proc/self/mounts; }
# Never delete through a mount a killed earlier run left behind.
if [[ -d $bundle ]]; then
  mounted_below "$bundle" && fail "something is still mounted below $bundle"
  rm -rf "$bundle"
fi
trap 'mounted_below "$bundle" || rm -rf "$bundle"' EXIT
start=$SECONDS
umoci unpack --image "$image/oci:latest" "$bundle" >/dev/null
echo "unpacked in $((SECONDS - start)) s: $(du -sm "$rootfs" | cut -f1) MB"

# The runtime config a container engine would use.
process=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["process"]
print(" ".join(p["args"]), p["user"]["uid"], p["cwd"])' "$bundle/config.json")
[[ $process == "fedjets-coordinator --help 10001 /var/lib/fedjets" ]] ||
  fail "config.json runs '$process', not 'fedjets-coordinator --help' as uid 10001 in /var/lib/fedjets"
blas=$(readlink "$rootfs/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
[[ $blas == */openblas-openmp/libblas.so.3 ]] || fail "libblas.so.3 is $blas, not OpenBLAS"

# proc and the data set are mounted in a private mount namespace: the
# mounts end with it, and the trap unmounts them if the run fails.
run_dir=/var/lib/fedjets/run
federation=(--clients 2 --processes 2 --rounds 1 --partition iid --max-examples 600
  --eval-examples 500 --eval-client-examples 100)
# shellcheck disable=SC2016  # the script expands its own arguments
unshare --mount --propagation private --fork bash -euo pipefail -c '
  rootfs=$1 data=$2 run_dir=$3
  shift 3
  trap "umount -R $rootfs/proc $rootfs/data 2>/dev/null || true" EXIT
  mount -t proc proc "$rootfs/proc"
  mkdir -p "$rootfs/data"
  mount --bind "$data" "$rootfs/data"
  mount -o remount,bind,ro "$rootfs/data"
  in_image() {
    chroot --userspec=10001:10001 "$rootfs" /usr/bin/env -i \
      PATH=/usr/local/bin:/usr/bin:/bin HOME=/var/lib/fedjets "$@"
  }
  in_image fedjets-certs ca --dir /tmp/pki
  in_image fedjets-sim "$@" --data /data --bin-dir /usr/local/bin --run-dir "$run_dir"
' image-federation "$rootfs" "$data" "$run_dir" "${federation[@]}"

[[ -f $rootfs/tmp/pki/ca.pem ]] || fail "fedjets-certs wrote no CA in the image"
metrics=$rootfs$run_dir/metrics.jsonl
grep -q '"event":"end"' "$metrics" || fail "the federation did not finish ($metrics)"
acc=$(grep -o '"final_test_accuracy":[0-9.e-]*' "$metrics" | cut -d: -f2)
[[ -n $acc ]] || fail "no final test accuracy in $metrics"
mounted_below "$bundle" && fail "mounts left below $bundle"

# Same binaries and same Debian libraries: the same model, bit for bit, as
# the host build. Compared only when the image holds the host's versions of
# the libraries that compute (a mirror may have moved on since the host
# installed them).
versions() {
  dpkg-query "$@" -W -f='${Package}=${Version}\n' libtorch1.13 libopenblas0-openmp
}
host_versions=$(versions) image_versions=$(versions --admindir="$rootfs/var/lib/dpkg")
if [[ $host_versions == "$image_versions" ]]; then
  rm -rf "$work/host-run"
  # The image's environment, not the caller's: OPENBLAS_CORETYPE and the
  # like choose other kernels, and other sums (one CI machine sets
  # OPENBLAS_CORETYPE=Haswell).
  /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" \
    "$bin/fedjets-sim" "${federation[@]}" --data "$data" --run-dir "$work/host-run" >/dev/null
  cmp "$work/host-run/model.pt" "$rootfs$run_dir/model.pt" ||
    fail "the image's model differs from the host build's ($work/host-run/model.pt)"
  echo "the image's model.pt equals the host build's, byte for byte"
else
  echo "NOTE: not compared with the host build: host $host_versions, image $image_versions"
fi
echo "PASS: federation from the image's root filesystem, test accuracy $acc"
