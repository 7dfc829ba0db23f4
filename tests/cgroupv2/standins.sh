#!/usr/bin/env bash
# Builds the sid stand-in images (systemd >= 258) with the containers' builder, and the
# systemd image of the Nix image layout over the same rootfs (tests/nix/layout_image.sh),
# and saves them as docker-archive tarballs into $CG2_CACHE/images.
# The builder tags localhost/duet-*:latest; a private dockerd (own data root,
# socket and bridge) keeps those sid images out of the host engine, where the
# bookworm stand-ins of the cgroup v1 contract live under the same names.
# Its bridge is its own (cg2br0): dockerd started with `--bridge none` deletes
# the host engine's docker0, which breaks every container of the host engine.
# Its socket and exec root are named after the cache directory: two checkouts building
# at once (each in a network namespace of its own) share /run but not a dockerd.
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"
need dockerd docker ip

id=$(printf '%s' "$CG2_CACHE" | sha256sum | cut -c1-12)
sock=/run/cg2-$id-docker.sock
exec_root=/run/cg2-$id-dockerd
data=$CG2_CACHE/dockerd
mkdir -p "$data"
bridge=cg2br0
started=0
if ! DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1; then
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add 10.231.255.1/24 dev "$bridge"
    ip link set "$bridge" up
  fi
  setsid dockerd --data-root "$data/data" --exec-root "$exec_root" --pidfile "$exec_root.pid" \
    -H "unix://$sock" --bridge "$bridge" --iptables=false --ip-masq=false \
    >"$data/dockerd.log" 2>&1 </dev/null &
  started=1
  for _ in $(seq 60); do DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1 && break; sleep 1; done
  DOCKER_HOST=unix://$sock docker info >/dev/null 2>&1 || { tail -20 "$data/dockerd.log" >&2; cg2_die "private dockerd did not start"; }
fi
stop_dockerd() {
  [ $started = 1 ] || return 0
  local pid
  pid=$(cat "$exec_root.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  ip link del "$bridge" 2>/dev/null || true
}
trap stop_dockerd EXIT

DOCKER_HOST=unix://$sock "$CG2_REPO/tests/standins/build.sh" --suite sid --save "$CG2_CACHE/images"

# The systemd image of the Nix image layout over the same sid rootfs (its systemd >= 258
# where the host's Debian 12 has 252), which prove.sh runs the systemd checks on too.
layout=$(cg2_layout_image)
DOCKER_HOST=unix://$sock "$CG2_REPO/tests/nix/layout_image.sh" systemd "$CG2_REPO/.cache/standins/sid/rootfs" "$layout"
DOCKER_HOST=unix://$sock docker save "$layout" | gzip >"$CG2_CACHE/images/$(cg2_layout_tarball).tar.gz"
