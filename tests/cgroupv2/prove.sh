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

usage() {
  echo "usage: $0 [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep] [--reuse] [--time-scale N]" >&2
  exit 2
}

step() { cg2_log "$1 done in $((SECONDS - $2)) s"; }

# The image names (duet-server, ...) the given approaches need, one a line, as
# units/run.sh names them ("image localhost/duet-server:latest").
image_names() {
  local a names kind ref
  for a in ${1//,/ }; do
    names=$("$CG2_REPO/units/run.sh" "$a" --print-names) || cg2_die "units/run.sh $a --print-names failed"
    while read -r kind ref; do
      [ "$kind" = image ] || continue
      ref=${ref##*/}
      echo "${ref%%:*}"
    done <<<"$names"
  done
}

# Everything the guest needs goes on its data disk (/mnt/data): the run script and
# the contract as they are in this checkout, and the image tarballs (hard links).
stage_files() {
  local stage=$1 images=$2 n
  shift 2
  rm -rf "$stage"
  mkdir -p "$stage/duet/tests" "$stage/images"
  cp -r "$CG2_REPO/units" "$stage/duet/units"
  cp -r "$CG2_REPO/tests/contract" "$stage/duet/tests/contract"
  for n in "$@"; do
    cp -l "$images/$n.tar.gz" "$stage/images/" 2>/dev/null || cp "$images/$n.tar.gz" "$stage/images/"
  done
}

main() {
  local engines=docker,podman approaches=systemd,supervisord,separate keep=0 reuse=0 scale=4
  while [ $# -gt 0 ]; do
    case $1 in
      --engine) [ $# -ge 2 ] || usage; engines=$2; shift 2 ;;
      --approach) [ $# -ge 2 ] || usage; approaches=$2; shift 2 ;;
      --keep) keep=1; shift ;;
      --reuse) reuse=1; keep=1; shift ;;
      --time-scale) [ $# -ge 2 ] || usage; scale=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  need python3 qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 ssh ssh-keygen docker dockerd tar

  local names needed n
  names=$(image_names "$approaches")
  [ -n "$names" ] || cg2_die "units/run.sh names no images for: $approaches"
  mapfile -t needed <<<"$names"

  local t_all=$SECONDS t images=$CG2_CACHE/images
  t=$SECONDS; "$here/build-guest.sh"; step "guest disk" $t
  t=$SECONDS; "$here/standins.sh"; step "sid stand-ins" $t
  for n in "${needed[@]}"; do
    [ -s "$images/$n.tar.gz" ] || cg2_die "stand-in builder wrote no $images/$n.tar.gz"
  done
  local stage=$CG2_CACHE/stage src
  stage_files "$stage" "$images" "${needed[@]}"

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

  local e
  for e in ${engines//,/ }; do
    t=$SECONDS
    # Through gzip -dc: Podman 4.3 cannot read a gzip'd archive from -i (Docker can).
    for n in "${needed[@]}"; do "$here/vm.sh" ssh "gzip -dc $src/$n.tar.gz | $e load -q" >/dev/null; done
    "$here/vm.sh" ssh "$e images --format '{{.Repository}}:{{.Tag}}' | grep duet" || true
    step "$e load" $t
  done

  t=$SECONDS
  local rc=0
  python3 "$here/run_contract.py" --engine "$engines" --approach "$approaches" --time-scale "$scale" || rc=$?
  step "contract" $t
  cg2_log "proving ground total: $((SECONDS - t_all)) s"
  return $rc
}

main "$@"
