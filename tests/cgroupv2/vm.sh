#!/usr/bin/env bash
# Runs the cached sid guest under qemu TCG (KVM hangs on this machine kind), on a
# copy-on-write overlay so the cached disk stays clean.
#   vm.sh start [DIR]  boot, wait for SSH (prints the seconds it took); DIR's files
#                   go on a second, read-only disk mounted at /mnt/data (much faster
#                   than copying over SSH, whose crypto is slow under TCG)
#   vm.sh ssh CMD…  run a command in the guest as root (stdin passes through)
#   vm.sh put SRC DEST   copy a host directory's contents into DEST in the guest
#   vm.sh stop      power off and remove the overlay
#   vm.sh status    exit 0 if a guest is running
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 start [DIR]|stop|status|ssh CMD...|put SRC DEST" >&2; exit 2; }

guest_ssh() {
  local opts
  mapfile -t opts < <(cg2_ssh_opts)
  # shellcheck disable=SC2029  # the command is meant to run in the guest as given
  ssh "${opts[@]}" root@127.0.0.1 "$@"
}

running() { [ -s "$CG2_RUN/qemu.pid" ] && kill -0 "$(cat "$CG2_RUN/qemu.pid")" 2>/dev/null; }

start() {
  need qemu-system-x86_64 qemu-img ssh
  [ -s "$CG2_BASE/.complete" ] || cg2_die "no guest disk: run tests/cgroupv2/build-guest.sh first"
  running && cg2_die "a guest is already running (pid $(cat "$CG2_RUN/qemu.pid")): $0 stop"
  rm -rf "$CG2_RUN"
  mkdir -p "$CG2_RUN"
  qemu-img create -q -f qcow2 -b "$CG2_BASE/disk.raw" -F raw "$CG2_RUN/overlay.qcow2"
  local data=()
  if [ -n "${1:-}" ]; then
    [ -d "$1" ] || cg2_die "not a directory: $1"
    local mb
    mb=$(( $(du -sm "$1" | cut -f1) * 12 / 10 + 64 ))
    mkfs.ext4 -q -F -L cg2data -d "$1" "$CG2_RUN/data.raw" "${mb}M" >/dev/null
    data=(-drive "file=$CG2_RUN/data.raw,if=virtio,format=raw,readonly=on")
  fi
  local fwd="hostfwd=tcp:127.0.0.1:$CG2_SSH_PORT-:22" p
  for p in $CG2_FWD_PORTS; do fwd+=",hostfwd=tcp:127.0.0.1:$((p + 10000))-:$p"; done
  echo "$CG2_SSH_PORT" >"$CG2_RUN/ssh_port"
  local t0=$SECONDS attempt up=0 deadline
  # The guest kernel sometimes dies early in boot under multi-threaded TCG (an int3 Oops
  # in sched_clock_cpu while the kernel patches its own code: seen once in ~10 boots).
  # panic=1 + -no-reboot make qemu exit at once; then boot again on a fresh overlay.
  for attempt in 1 2 3; do
    if [ "$attempt" -gt 1 ]; then
      rm -f "$CG2_RUN/overlay.qcow2"
      qemu-img create -q -f qcow2 -b "$CG2_BASE/disk.raw" -F raw "$CG2_RUN/overlay.qcow2"
    fi
    qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "${CG2_MEM_MB:-3072}" \
      -display none -serial "file:$CG2_RUN/serial.log" -monitor none -no-reboot \
      -kernel "$CG2_BASE/vmlinuz" -initrd "$CG2_BASE/initrd.img" \
      -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet panic=1" \
      -drive "file=$CG2_RUN/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" "${data[@]}" \
      -netdev "user,id=n0,$fwd" -device virtio-net-pci,netdev=n0 \
      -daemonize -pidfile "$CG2_RUN/qemu.pid"
    cg2_log "qemu started (pid $(cat "$CG2_RUN/qemu.pid"), boot $attempt of 3); waiting for SSH on 127.0.0.1:$CG2_SSH_PORT"
    deadline=$((SECONDS + ${CG2_BOOT_TIMEOUT:-300}))
    while :; do
      if guest_ssh true 2>/dev/null; then up=1; break; fi
      if ! running; then
        grep -a -m1 -E 'Kernel panic|Oops' "$CG2_RUN/serial.log" >&2 || tail -20 "$CG2_RUN/serial.log" >&2
        cg2_log "qemu exited during boot $attempt"
        break
      fi
      if [ $SECONDS -ge $deadline ]; then
        tail -20 "$CG2_RUN/serial.log" >&2
        cg2_log "no SSH after ${CG2_BOOT_TIMEOUT:-300} s in boot $attempt"
        kill "$(cat "$CG2_RUN/qemu.pid")" 2>/dev/null || true
        sleep 2
        break
      fi
      sleep 3
    done
    [ $up = 1 ] && break
    cp "$CG2_RUN/serial.log" "$CG2_RUN/serial.boot$attempt.log"
  done
  [ $up = 1 ] || cg2_die "the guest did not boot in 3 tries (serial logs in $CG2_RUN)"
  cg2_log "guest up: SSH after $((SECONDS - t0)) s"
  if [ ${#data[@]} -gt 0 ]; then
    guest_ssh 'mkdir -p /mnt/data && mount -o ro /dev/vdb /mnt/data'
  fi
}

stop() {
  if running; then
    guest_ssh -o ControlMaster=no 'systemctl poweroff' >/dev/null 2>&1 || true
    local pid
    pid=$(cat "$CG2_RUN/qemu.pid")
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill "$pid" 2>/dev/null || true
  fi
  ssh -o ControlPath="$CG2_RUN/ssh.ctl" -O exit x 2>/dev/null || true
  rm -f "$CG2_RUN/overlay.qcow2" "$CG2_RUN/data.raw" "$CG2_RUN/qemu.pid"
}

put() {
  [ -d "$1" ] || cg2_die "put: not a directory: $1"
  tar -C "$1" -cf - . | guest_ssh "mkdir -p '$2' && tar -C '$2' -xf -"
}

case "${1:-}" in
  start) [ $# -le 2 ] || usage; start "${2:-}" ;;
  stop) stop ;;
  status) running ;;
  ssh) shift; [ $# -gt 0 ] || usage; guest_ssh "$@" ;;
  put) [ $# -eq 3 ] || usage; put "$2" "$3" ;;
  *) usage ;;
esac
