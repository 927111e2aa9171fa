#!/usr/bin/env bash
# Times README command 1 on a fresh Debian 12: a minimal root filesystem
# made by mmdebstrap (no packages beyond minbase + ca-certificates + sudo,
# no ccache content), this checkout cloned into it, then inside a chroot
# the demo's three steps one after the other: install
# (scripts/install-deps.sh demo), build (scripts/build.sh --demo) and run
# (scripts/demo.sh's fedjets-sim command) until the first round's row.
# Needs root, mmdebstrap and the Debian mirror of /etc/apt/sources.list*.
#   bash bench/first_round.sh [WORKDIR]     (default /tmp/fedjets-first-round)
# Prints: install, build, first round (after the build) and total seconds.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/fedjets-first-round}
[[ $(id -u) == 0 ]] || { echo "first_round: needs root (chroot)" >&2; exit 1; }
command -v mmdebstrap >/dev/null ||
  { echo "first_round: mmdebstrap missing (scripts/install-deps.sh)" >&2; exit 1; }
root=$work/root
rm -rf "$work"; mkdir -p "$work"
mmdebstrap --quiet --variant=minbase --include=ca-certificates,sudo \
  bookworm "$root" >/dev/null
git clone -q "$repo" "$root/root/fedjets"
cat > "$root/root/measure.sh" <<'IN'
set -euo pipefail
cd /root/fedjets
now() { date +%s.%N; }
t0=$(now)
bash scripts/install-deps.sh demo > /root/install.log 2>&1
t1=$(now)
bash scripts/build.sh --demo > /root/build.log 2>&1
t2=$(now)
build/bin/fedjets-sim --clients 4 --rounds 5 --partition iid \
  --max-examples 6000 --lr 0.05 --batch-size 32 --threads 1 2>&1 |
  while IFS= read -r line; do echo "$(now) $line"; done > /root/run.log
first=$(awk '$2 == "1" && $3 ~ /\// {print $1; exit}' /root/run.log)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$first" 'BEGIN {
  printf "install %.0f s, build %.0f s, first round %.0f s after the build, total %.0f s\n",
    b - a, c - b, d - c, d - a }'
cut -d' ' -f2- /root/run.log | grep -E '^ +[0-9]+ '
IN
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
trap 'umount -l "$root/proc" "$root/sys" "$root/dev" 2>/dev/null || true' EXIT
echo "first_round: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash /root/measure.sh
echo "first_round: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
