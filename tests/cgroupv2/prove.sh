#!/usr/bin/env bash
# The cgroup v2 proving ground from nothing: builds (or reuses) the sid guest and
# sid stand-in images, boots the guest, loads the images into each engine and
# runs the container contract unchanged in it.
#   prove.sh [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep] [--reuse] [--time-scale N]
# --keep leaves the guest running afterwards (vm.sh ssh … to look inside, vm.sh stop);
# --reuse runs in an already running guest (and leaves it running).
# --time-scale N (default 4) stretches the contract's time bounds for the emulated guest.
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

engines=docker,podman approaches=systemd,supervisord,separate keep=0 reuse=0 scale=4
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engines=${2:?--engine needs a value}; shift 2 ;;
    --approach) approaches=${2:?--approach needs a value}; shift 2 ;;
    --keep) keep=1; shift ;;
    --reuse) reuse=1; keep=1; shift ;;
    --time-scale) scale=${2:?--time-scale needs a value}; shift 2 ;;
    *) echo "usage: $0 [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep] [--reuse] [--time-scale N]" >&2; exit 2 ;;
  esac
done
cg2_need python3 qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 ssh ssh-keygen docker dockerd tar

t_all=$SECONDS
step() { cg2_log "$1 done in $((SECONDS - $2)) s"; }

t=$SECONDS; "$here/build-guest.sh"; step "guest disk" $t
images=$CG2_CACHE/images
t=$SECONDS; "$here/standins.sh"; step "sid stand-ins" $t

needed=()
for a in ${approaches//,/ }; do
  case $a in
    systemd) needed+=(duet-systemd) ;;
    supervisord) needed+=(duet-supervisord) ;;
    separate) needed+=(duet-server duet-client) ;;
    *) cg2_die "unknown approach: $a" ;;
  esac
done
for n in "${needed[@]}"; do [ -s "$images/$n.tar.gz" ] || cg2_die "stand-in builder wrote no $images/$n.tar.gz"; done

# Everything the guest needs goes on its data disk (/mnt/data): the run script and
# the contract as they are in this checkout, and the image tarballs (hard links).
stage=$CG2_CACHE/stage
rm -rf "$stage"
mkdir -p "$stage/duet/tests" "$stage/images"
cp -r "$CG2_REPO/units" "$stage/duet/units"
cp -r "$CG2_REPO/tests/contract" "$stage/duet/tests/contract"
for n in "${needed[@]}"; do cp -l "$images/$n.tar.gz" "$stage/images/" 2>/dev/null || cp "$images/$n.tar.gz" "$stage/images/"; done

[ $keep = 1 ] || trap '"$here/vm.sh" stop' EXIT
if [ $reuse = 1 ] && "$here/vm.sh" status; then
  cg2_log "reusing the running guest: copying over SSH"
  t=$SECONDS
  "$here/vm.sh" ssh 'rm -rf /root/duet'
  "$here/vm.sh" put "$stage/duet" /root/duet
  for n in "${needed[@]}"; do
    "$here/vm.sh" ssh "test -s /root/$n.tar.gz || cat > /root/$n.tar.gz" <"$images/$n.tar.gz"
  done
  src=/root
  step "copy into guest" $t
else
  t=$SECONDS; "$here/vm.sh" start "$stage"; step "boot" $t
  "$here/vm.sh" ssh 'rm -rf /root/duet && cp -r /mnt/data/duet /root/duet'
  src=/mnt/data/images
fi
# shellcheck disable=SC2016  # expands in the guest
"$here/vm.sh" ssh 'echo "guest: kernel $(uname -r), $(systemctl --version | head -1), cgroup fs $(stat -fc %T /sys/fs/cgroup)"'

for e in ${engines//,/ }; do
  t=$SECONDS
  for n in "${needed[@]}"; do "$here/vm.sh" ssh "$e load -q -i $src/$n.tar.gz" >/dev/null; done
  "$here/vm.sh" ssh "$e images --format '{{.Repository}}:{{.Tag}}' | grep duet" || true
  step "$e load" $t
done

t=$SECONDS
rc=0
python3 "$here/run_contract.py" --engine "$engines" --approach "$approaches" --time-scale "$scale" || rc=$?
step "contract" $t
cg2_log "proving ground total: $((SECONDS - t_all)) s"
exit $rc
