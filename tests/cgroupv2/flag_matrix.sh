#!/usr/bin/env bash
# Runs IN THE GUEST: boots a systemd image under one engine with each candidate
# flag set and prints one line per set: state, failed units, stop time and exit code.
# This is the measurement behind the run script's cgroup v2 flag choice. The image
# must start systemd by itself (Entrypoint or Cmd /sbin/init, like duet-systemd).
#   flag_matrix.sh docker|podman IMAGE [CASE...]
set -uo pipefail
engine=${1:?usage: flag_matrix.sh docker|podman IMAGE [CASE...]}
image=${2:?usage: flag_matrix.sh docker|podman IMAGE [CASE...]}
shift 2
name=cg2-matrix
tmpfs="--tmpfs /run --tmpfs /run/lock --tmpfs /tmp"
remount='mount -o remount,rw /sys/fs/cgroup && exec /sbin/init'

declare -A flags cmd
flags[host-rw]="--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw $tmpfs"
flags[host-ro]="-v /sys/fs/cgroup:/sys/fs/cgroup:ro $tmpfs"
flags[tmpfs-only]="$tmpfs"
flags[private-sysadmin]="--cgroupns=private --cap-add SYS_ADMIN $tmpfs"
flags[private-sysadmin-unconfined]="--cgroupns=private --cap-add SYS_ADMIN --security-opt apparmor=unconfined $tmpfs"
flags[private-sysadmin-unconfined-remount]="--cgroupns=private --cap-add SYS_ADMIN --security-opt apparmor=unconfined $tmpfs --entrypoint sh"
cmd[private-sysadmin-unconfined-remount]="-c '$remount'"
# Host cgroupns, the host tree read-only (engine default), and only the container's own
# slice bound read-write over it: the container can write its own subtree and nothing else.
flags[host-own-slice-rw]="--cgroupns=host --cgroup-parent=duet.slice -v /sys/fs/cgroup/duet.slice:/sys/fs/cgroup/duet.slice:rw $tmpfs"
flags[privileged-private]="--privileged --cgroupns=private $tmpfs"
flags[podman-default]=""
flags[podman-systemd-always]="--systemd=always"

order=(host-rw host-ro tmpfs-only private-sysadmin private-sysadmin-unconfined
  private-sysadmin-unconfined-remount host-own-slice-rw privileged-private)
[ "$engine" = podman ] && order=(podman-default podman-systemd-always host-own-slice-rw private-sysadmin)
[ $# -gt 0 ] && order=("$@")

run_case() {
  local c=$1 state="" failed="" t0 stop_s code escaped
  $engine rm -f $name >/dev/null 2>&1
  t0=$(date +%s%N)
  if ! eval "$engine run -d -t --name $name ${flags[$c]} $image ${cmd[$c]:-}" >/tmp/cg2m.out 2>&1; then
    printf '%-38s create-failed: %s\n' "$c" "$(tail -1 /tmp/cg2m.out)"
    return
  fi
  for _ in $(seq 90); do
    [ "$($engine inspect -f '{{.State.Running}}' $name 2>/dev/null)" = true ] || { state=exited; break; }
    state=$($engine exec $name systemctl is-system-running 2>/dev/null)
    case $state in running|degraded|maintenance) break ;; esac
    sleep 2
  done
  local up_s=$((($(date +%s%N) - t0) / 1000000000))
  if [ "$state" = exited ]; then
    printf '%-38s exited %s: %s\n' "$c" "$($engine inspect -f '{{.State.ExitCode}}' $name)" \
      "$($engine logs $name 2>&1 | tr -d '\r' | grep -oiE '(failed|error).*' | sed 's/\x1b\[[0-9;]*m//g' | head -1)"
    $engine rm -f $name >/dev/null 2>&1
    return
  fi
  failed=$($engine exec $name systemctl --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
  # Can the container create a cgroup among the host's services? Checked from the host side.
  local host_write=no
  $engine exec $name mkdir /sys/fs/cgroup/system.slice/cg2-probe >/dev/null 2>&1
  [ -d /sys/fs/cgroup/system.slice/cg2-probe ] && host_write=YES && rmdir /sys/fs/cgroup/system.slice/cg2-probe
  t0=$(date +%s%N)
  $engine stop -t 30 $name >/dev/null 2>&1
  stop_s=$((($(date +%s%N) - t0) / 1000000))
  code=$($engine inspect -f '{{.State.ExitCode}}' $name)
  $engine rm -f $name >/dev/null 2>&1
  # What the container wrote into the host's cgroup tree and left behind after removal.
  escaped=$(find /sys/fs/cgroup -name init.scope ! -path /sys/fs/cgroup/init.scope | tr '\n' ' ')
  printf '%-38s %s after %ss; failed: [%s]; stop %sms exit %s; writes host tree: %s; left on host: [%s]\n' \
    "$c" "$state" "$up_s" "$failed" "$stop_s" "$code" "$host_write" "$escaped"
}

echo "engine: $engine $($engine --version | head -1); image: $image; host cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
for c in "${order[@]}"; do
  [ -n "${flags[$c]+x}" ] || { echo "unknown case: $c" >&2; exit 2; }
  run_case "$c"
done
