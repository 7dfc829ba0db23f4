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
