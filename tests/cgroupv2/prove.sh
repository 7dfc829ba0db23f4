#!/usr/bin/env bash
# The cgroup v2 proving ground from nothing: builds (or reuses) the sid guest and
# sid stand-in images, boots the guest, loads the images into each engine and
# runs the container contract unchanged in it.
#   prove.sh [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep]
# --keep leaves the guest running afterwards (vm.sh ssh … to look inside, vm.sh stop).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

engines=docker,podman approaches=systemd,supervisord,separate keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engines=${2:?--engine needs a value}; shift 2 ;;
    --approach) approaches=${2:?--approach needs a value}; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep]" >&2; exit 2 ;;
  esac
done
cg2_need python3 qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 ssh ssh-keygen docker dockerd tar

t_all=$SECONDS
step() { cg2_log "$1 done in $(($SECONDS - $2)) s"; }

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
for n in "${needed[@]}"; do [ -s "$images/$n.tar" ] || cg2_die "stand-in builder wrote no $images/$n.tar"; done

t=$SECONDS; "$here/vm.sh" start; step "boot" $t
[ $keep = 1 ] || trap '"$here/vm.sh" stop' EXIT
"$here/vm.sh" ssh 'echo "guest: kernel $(uname -r), $(systemctl --version | head -1), cgroup fs $(stat -fc %T /sys/fs/cgroup)"'

t=$SECONDS
stage=$(mktemp -d)
mkdir -p "$stage/units" "$stage/tests"
cp -r "$CG2_REPO/units/." "$stage/units/"
cp -r "$CG2_REPO/tests/contract" "$stage/tests/"
"$here/vm.sh" put "$stage" /root/duet
rm -rf "$stage"
for n in "${needed[@]}"; do
  "$here/vm.sh" ssh "cat > /root/$n.tar" <"$images/$n.tar"
done
step "copy into guest" $t

for e in ${engines//,/ }; do
  t=$SECONDS
  for n in "${needed[@]}"; do "$here/vm.sh" ssh "$e load -q -i /root/$n.tar" >/dev/null; done
  "$here/vm.sh" ssh "$e images --format '{{.Repository}}:{{.Tag}}' | grep duet" || true
  step "$e load" $t
done

t=$SECONDS
rc=0
python3 "$here/run_contract.py" --engine "$engines" --approach "$approaches" || rc=$?
step "contract" $t
cg2_log "proving ground total: $(($SECONDS - t_all)) s"
exit $rc
