# shellcheck shell=bash
# Shared paths and helpers of the cgroup v2 proving ground (sourced, not run).
# Everything it builds is cached under .cache/cgroupv2/ of the repo (gitignored).
CG2_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CG2_CACHE=${CG2_CACHE:-$CG2_REPO/.cache/cgroupv2}
CG2_BASE=$CG2_CACHE/base            # cached guest: disk.raw, vmlinuz, initrd.img, id_ed25519
CG2_RUN=${CG2_RUN:-$CG2_CACHE/run}  # one running guest: overlay.qcow2, qemu.pid, serial.log, ports
CG2_SSH_PORT=${CG2_SSH_PORT:-10022}
# Guest port P is forwarded to 127.0.0.1:(P+10000) on the host, so a host-side run on 8080 does not collide.
CG2_FWD_PORTS=${CG2_FWD_PORTS:-"8080 8081 8082 8083"}

cg2_die() { echo "cgroupv2: $*" >&2; exit 1; }

# shellcheck source=tests/ci/lib.sh
. "$CG2_REPO/tests/ci/lib.sh"

cg2_log() { echo "cgroupv2 [$(date +%T)] $*" >&2; }

cg2_ssh_opts() {
  printf '%s\n' -i "$CG2_BASE/id_ed25519" -p "$(cat "$CG2_RUN/ssh_port" 2>/dev/null || echo "$CG2_SSH_PORT")" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=8 \
    -o ControlMaster=auto -o ControlPath="$CG2_RUN/ssh.ctl" -o ControlPersist=600
}

# --- steps shared by prove.sh (the contract) and faults.sh (the fault benchmark) ---

CG2_DIR=$CG2_REPO/tests/cgroupv2

cg2_step() { cg2_log "$1 done in $((SECONDS - $2)) s"; }

# cg2_image_names APPROACHES: the image names (duet-server, ...) the comma-separated
# approaches need, one a line, as units/run.sh names them ("image localhost/duet-server:latest").
cg2_image_names() {
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

# The Nix image layout's systemd image (tests/nix/layout_image.sh over the sid rootfs), as
# tagged in the engines and as its tarball is named.
cg2_layout_image() { echo "localhost/$(cg2_image_names systemd):layout"; }
cg2_layout_tarball() { echo "$(cg2_image_names systemd)-layout"; }

# cg2_build APPROACHES: the guest disk and the sid stand-ins (both cached); sets CG2_IMAGES
# to the image names the approaches need, each checked to have a tarball.
cg2_build() {
  local names n t
  names=$(cg2_image_names "$1")
  [ -n "$names" ] || cg2_die "units/run.sh names no images for: $1"
  mapfile -t CG2_IMAGES <<<"$names"
  [[ ",$1," != *,systemd,* ]] || CG2_IMAGES+=("$(cg2_layout_tarball)")
  t=$SECONDS; "$CG2_DIR/build-guest.sh"; cg2_step "guest disk" $t
  t=$SECONDS; "$CG2_DIR/standins.sh"; cg2_step "sid stand-ins" $t
  for n in "${CG2_IMAGES[@]}"; do
    [ -s "$CG2_CACHE/images/$n.tar.gz" ] || cg2_die "stand-in builder wrote no $CG2_CACHE/images/$n.tar.gz"
  done
}

# cg2_stage STAGE PATHS: everything the guest needs, in STAGE for its data disk: units/ and
# the comma-separated repo PATHS (e.g. tests/contract) as they are in this checkout under
# duet/, and the tarballs of CG2_IMAGES under images/ (hard links where possible).
cg2_stage() {
  local stage=$1 path n
  rm -rf "$stage"
  mkdir -p "$stage/duet" "$stage/images"
  for path in units ${2//,/ }; do
    mkdir -p "$stage/duet/$(dirname "$path")"
    cp -r "$CG2_REPO/$path" "$stage/duet/$path"
  done
  # No byte-compiled leftovers of host runs.
  find "$stage/duet" -name __pycache__ -prune -exec rm -rf {} +
  for n in "${CG2_IMAGES[@]}"; do
    cp -l "$CG2_CACHE/images/$n.tar.gz" "$stage/images/" 2>/dev/null || cp "$CG2_CACHE/images/$n.tar.gz" "$stage/images/"
  done
}

# cg2_enter STAGE REUSE: with REUSE=1 and a guest running, copies STAGE into it over SSH;
# otherwise boots one with STAGE as its data disk. Either way /root/duet is the staged
# checkout afterwards; sets CG2_SRC to the guest directory of the tarballs.
cg2_enter() {
  local stage=$1 reuse=$2 n t=$SECONDS
  if [ "$reuse" = 1 ] && "$CG2_DIR/vm.sh" status; then
    cg2_log "reusing the running guest: copying over SSH"
    "$CG2_DIR/vm.sh" ssh 'rm -rf /root/duet'
    "$CG2_DIR/vm.sh" put "$stage/duet" /root/duet
    # The data disk of the boot may hold the same tarballs already (SSH under TCG is slow:
    # 300 MB took 2 min 45 s).
    CG2_SRC=/mnt/data/images
    for n in "${CG2_IMAGES[@]}"; do
      [ "$("$CG2_DIR/vm.sh" ssh "test -s /mnt/data/images/$n.tar.gz && sha256sum < /mnt/data/images/$n.tar.gz" || true)" \
        = "$(sha256sum <"$stage/images/$n.tar.gz")" ] || { CG2_SRC=/root; break; }
    done
    if [ "$CG2_SRC" = /root ]; then
      for n in "${CG2_IMAGES[@]}"; do
        "$CG2_DIR/vm.sh" ssh "test -s /root/$n.tar.gz || cat > /root/$n.tar.gz" <"$stage/images/$n.tar.gz"
      done
    fi
    cg2_step "copy into guest" $t
  else
    "$CG2_DIR/vm.sh" start "$stage"
    cg2_step "boot" $t
    "$CG2_DIR/vm.sh" ssh 'rm -rf /root/duet && cp -r /mnt/data/duet /root/duet'
    CG2_SRC=/mnt/data/images
  fi
  # shellcheck disable=SC2016  # expands in the guest
  "$CG2_DIR/vm.sh" ssh 'echo "guest: kernel $(uname -r), $(systemctl --version | head -1), cgroup fs $(stat -fc %T /sys/fs/cgroup)"'
}

# cg2_load ENGINES: loads the tarballs of CG2_IMAGES (from CG2_SRC) into each engine, the
# engines side by side (the guest has two CPUs, and each load is one gzip and one engine).
cg2_load() {
  local e pids=() t=$SECONDS
  for e in ${1//,/ }; do
    cg2_load_one "$e" &
    pids+=($!)
  done
  local failed=0
  for e in "${pids[@]}"; do wait "$e" || failed=1; done # every load ends before the guest may stop
  [ $failed = 0 ] || cg2_die "an image load failed (above)"
  cg2_step "image loads ($1)" $t
}

cg2_load_one() { # ENGINE
  local n t=$SECONDS
  # Through gzip -dc: Podman 4.3 cannot read a gzip'd archive from -i (Docker can).
  for n in "${CG2_IMAGES[@]}"; do
    "$CG2_DIR/vm.sh" ssh "gzip -dc $CG2_SRC/$n.tar.gz | $1 load -q" >/dev/null || cg2_die "$1 load of $n.tar.gz"
  done
  "$CG2_DIR/vm.sh" ssh "$1 images --format '{{.Repository}}:{{.Tag}}' | grep duet | sed 's/^/$1: /'" || true
  cg2_step "$1 load" $t
}

# cg2_ready APPROACHES ENGINES PATHS KEEP REUSE: everything before a run in the guest: the
# cached guest disk and stand-ins, PATHS staged with units/ (cg2_stage), the guest booted
# (or, with REUSE=1, the running one; stopped on exit unless KEEP=1), and the images loaded
# into ENGINES.
cg2_ready() {
  local approaches=$1 engines=$2 paths=$3 keep=$4 reuse=$5 stage=$CG2_CACHE/stage
  need python3 qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 ssh ssh-keygen docker dockerd tar
  cg2_build "$approaches"
  cg2_stage "$stage" "$paths"
  [ "$keep" = 1 ] || trap '"$CG2_DIR/vm.sh" stop' EXIT
  cg2_enter "$stage" "$reuse"
  cg2_load "$engines"
}
