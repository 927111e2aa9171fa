#!/usr/bin/env bash
# Builds the fedjets OCI image from Debian packages alone: no base image is
# pulled from any registry.
#   scripts/build-image.sh [--bin-dir DIR] [--out DIR] [--tag TAG]
#     --bin-dir  the built binaries (default build/bin)
#     --out      where the image goes (default build/image)
#     --tag      the image's tag in the layout (default latest)
# Result: OUT/oci, an OCI image layout (skopeo copies it to a registry or a
# docker-archive; podman pulls it as oci:DIR; docs/DEPLOY.md), two layers:
#   1. a Debian 12 root filesystem made by mmdebstrap holding only the
#      runtime packages of the binaries: the packages owning the libraries
#      their ELF headers name (ldd + dpkg -S on this machine), with
#      OpenBLAS as libblas.so.3, without docs, manuals, locales and the GL
#      drivers nothing here loads;
#   2. /usr/local/bin/fedjets-{coordinator,client,sim,certs}.
# Layer 1 takes minutes (it downloads ~380 packages) and is kept in
# OUT/base-KEY, KEY a hash of the package list and the mmdebstrap options:
# when only the binaries changed, a rebuild reuses it and takes seconds.
# Needs mmdebstrap and umoci (scripts/install-deps.sh); as root mmdebstrap
# runs in root mode, otherwise in unshare mode if the kernel allows it.
set -euo pipefail
self=$(readlink -f "$0")
root=$(dirname "$(dirname "$self")")

bin_dir=$root/build/bin
out=$root/build/image
tag=latest
while (($#)); do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) echo "build-image: unknown argument '$1' (see the top of $0)" >&2; exit 2 ;;
  esac
done
die() { echo "build-image: $*" >&2; exit 1; }
[[ $tag != base ]] || die "--tag base is the name this script uses for layer 1 alone"
bin_dir=$(realpath -m "$bin_dir")
out=$(realpath -m "$out")
for tool in mmdebstrap umoci dpkg ldd objdump; do
  command -v "$tool" >/dev/null ||
    die "$tool not found (bash scripts/install-deps.sh installs it)"
done

binaries=()
for b in fedjets-coordinator fedjets-client fedjets-sim fedjets-certs; do
  [[ -x $bin_dir/$b ]] ||
    die "$bin_dir/$b not found (bash scripts/build.sh $b, or pass --bin-dir)"
  binaries+=("$bin_dir/$b")
done

# The Debian package that owns a library file. dpkg records some files
# under /lib and others under /usr/lib; with a merged /usr both are one.
owner_of() {
  local real; real=$(readlink -f "$1")
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
    dpkg -S "$1" 2>/dev/null || return 1
}

# Runtime packages: the owners of every library the binaries name directly
# (their dependencies follow through apt). BLAS is loaded by LibTorch
# through the libblas.so.3 alternative, so the BLAS package is named here.
runtime_packages() {
  local b soname path pkg
  for b in "${binaries[@]}"; do
    while read -r soname; do
      path=$(ldd "$b" | awk -v s="$soname" '$1 == s && $3 ~ /^\// {print $3}')
      [[ -n $path ]] || die "$b needs $soname, which ldd cannot find here"
      pkg=$(owner_of "$path") || die "no Debian package owns $path ($soname, needed by $b)"
      echo "${pkg%%:*}"
    done < <(objdump -p "$b" | awk '$1 == "NEEDED" {print $2}')
  done
  echo libopenblas0-openmp
}
needed=$(runtime_packages)   # a failure here stops the script (set -e)
mapfile -t packages < <(sort -u <<< "$needed")

# dpkg leaves these paths out of every package it unpacks. The GL drivers,
# LLVM (used only by them) and PROJ's grids come with OpenCV/GDAL, which
# Debian's LibTorch depends on; fedjets never loads them. The build checks
# that every library the binaries need is still there.
excludes=(
  '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*'
  '/usr/share/locale/*' '/usr/share/lintian/*' '/usr/share/proj/*'
  '/usr/lib/x86_64-linux-gnu/dri/*' '/usr/lib/x86_64-linux-gnu/libLLVM-15.so*'
  '/usr/lib/x86_64-linux-gnu/libz3.so*'
)
includes=('/usr/share/doc/*/copyright' '/usr/share/locale/locale.alias')

# Everything that shapes layer 1 is in this array, and its hash names the
# cached layer. The hooks are shell that mmdebstrap runs with $1 the root
# filesystem. merged-usr: the /usr merge without the usrmerge package.
# shellcheck disable=SC2016
debian=(
  --variant=essential --format=tar
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --include="$(IFS=,; echo "${packages[*]}")"
  --customize-hook='chroot "$1" update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3'
  --customize-hook='printf "127.0.0.1 localhost\n::1 localhost\n" > "$1/etc/hosts"'
  --customize-hook='echo "fedjets:x:10001:10001::/var/lib/fedjets:/usr/sbin/nologin" >> "$1/etc/passwd"'
  --customize-hook='echo "fedjets:x:10001:" >> "$1/etc/group"'
  --customize-hook='mkdir -p "$1/var/lib/fedjets" && chown 10001:10001 "$1/var/lib/fedjets"'
  --customize-hook='rm -rf "$1/var/cache/apt/"*.bin "$1/var/lib/apt/lists/"* "$1/var/log/"*'
)
for p in "${excludes[@]}"; do debian+=(--dpkgopt="path-exclude=$p"); done
for p in "${includes[@]}"; do debian+=(--dpkgopt="path-include=$p"); done

key=$(printf '%s\n' bookworm "${debian[@]}" | sha256sum | cut -c1-16)
base=$out/base-$key
mkdir -p "$out"

build_base() {
  local work=$out/work
  rm -rf "$work" "$base"
  mkdir -p "$work/check"
  cp "${binaries[@]}" "$work/check/"
  echo "build-image: mmdebstrap bookworm with ${packages[*]}" >&2
  local start=$SECONDS
  # The last hooks check that every library the binaries need is there.
  # shellcheck disable=SC2016
  mmdebstrap "${debian[@]}" \
    --customize-hook="copy-in $work/check /tmp" \
    --customize-hook='if chroot "$1" sh -c "ldd /tmp/check/*" | grep "not found"; then echo "build-image: libraries missing from the root filesystem" >&2; exit 1; fi; rm -rf "$1/tmp/check"' \
    bookworm "$work/rootfs.tar" ||
    die "mmdebstrap failed (it needs the Debian mirror in /etc/apt/sources.list*)"
  # The sum of the file sizes, as a container runtime unpacks them.
  tar -tvf "$work/rootfs.tar" | awk '{s += $3} END {print s}' > "$work/rootfs-bytes"
  echo "build-image: root filesystem in $((SECONDS - start)) s," \
    "$(($(cat "$work/rootfs-bytes") / 1000000)) MB of files" >&2
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:base"
  umoci raw add-layer --image "$work/layout:base" \
    --history.created_by="mmdebstrap bookworm: ${packages[*]}" "$work/rootfs.tar"
  mv "$work/rootfs-bytes" "$work/layout/rootfs-bytes"
  mv "$work/layout" "$base"
  rm -rf "$work"
}

if [[ -f $base/index.json ]]; then
  echo "build-image: reusing the root filesystem layer in $base" >&2
else
  build_base
fi
# Older bases (another package list) are not needed any more.
for old in "$out"/base-*; do
  [[ $old == "$base" ]] || rm -rf "$old"
done

# Layer 2: the binaries, on a copy of the base layout (blobs are immutable
# and named by digest, so they are hard-linked, not copied).
rm -rf "$out/oci" "$out/app"
mkdir -p "$out/oci" "$out/app/usr/local/bin"
cp -al "$base/blobs" "$out/oci/"
cp "$base/index.json" "$base/oci-layout" "$out/oci/"
install -m 0755 "${binaries[@]}" "$out/app/usr/local/bin/"
tar -C "$out/app" --owner=0 --group=0 --numeric-owner -cf "$out/app.tar" usr
version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
umoci raw add-layer --image "$out/oci:base" --tag "$tag" \
  --history.created_by="fedjets binaries $version" "$out/app.tar"
umoci config --image "$out/oci:$tag" --no-history \
  --config.user=10001:10001 --config.workingdir=/var/lib/fedjets \
  --config.env=PATH=/usr/local/bin:/usr/bin:/bin \
  --config.cmd=fedjets-coordinator --config.cmd=--help \
  --config.label=org.opencontainers.image.title=fedjets \
  --config.label=org.opencontainers.image.version="$version"
umoci rm --image "$out/oci:base"
umoci gc --layout "$out/oci"
rm -rf "$out/app" "$out/app.tar"

# Sizes: each layer as stored (gzip) and the unpacked root filesystem.
manifest=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' "$out/oci/index.json")
layers=$(grep -o '"mediaType":"application/vnd.oci.image.layer[^}]*' \
  "$out/oci/blobs/sha256/$manifest" | grep -o '"size":[0-9]*' | cut -d: -f2)
sizes=""
total=0
for s in $layers; do sizes+="$((s / 1000000)) MB + "; total=$((total + s)); done
unpacked=$(( $(cat "$base/rootfs-bytes") + $(du -cb "${binaries[@]}" | tail -1 | cut -f1) ))
echo "build-image: $out/oci:$tag: layers ${sizes% + } = $((total / 1000000)) MB compressed," \
  "$((unpacked / 1000000)) MB unpacked"
