#!/usr/bin/env bash
# Runs a command against container engines of its own: a dockerd with its own data root,
# socket and exec root, and Podman with its own storage and network configs, both in a
# network namespace of their own (so published ports, bridges and iptables rules are
# private too). Nothing the command does touches the host's engines, and nothing the
# host's engines hold (images, containers, networks from earlier runs) is seen by it.
#
# The namespace reaches the outside world (package mirrors, crates.io) through
# slirp4netns, user-mode networking that changes nothing on the host (no bridge, no
# iptables rule, no sysctl); the host's own 127.0.0.1 is not reachable from inside.
#
# usage: tests/ci/private-engines.sh [--fresh] NAME COMMAND [ARG...]
#   NAME     a short name (letters, digits, -): namespace duet-NAME, state under
#            /var/lib/duet-engines/NAME (kept between runs unless --fresh)
#   --fresh  delete NAME's engine state first: the command starts with no image at all
# The command runs with DOCKER_HOST and CONTAINERS_STORAGE_CONF/CONTAINERS_CONF set,
# inside the namespace; 127.0.0.1 there is the namespace's own loopback.
set -euo pipefail

prog=${0##*/}

die() { echo "$prog: $*" >&2; exit 1; }
usage() { echo "usage: $prog [--fresh] NAME COMMAND [ARG...]" >&2; exit 2; }

# shellcheck source=tests/ci/lib.sh
. "$(dirname "$0")/lib.sh"

write_podman_config() { # private storage, runtime state and network configs
  mkdir -p "$state/podman/networks"
  cat >"$state/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/podman/storage"
runroot = "$run/podman-run"
EOF
  cat >"$state/podman/containers.conf" <<EOF
[network]
network_config_dir = "$state/podman/networks"
[engine]
tmp_dir = "$run/podman-tmp"
EOF
}

start_uplink() { # user-mode networking to the outside, as Podman's rootless containers get
  slirp4netns --configure --mtu=65520 --disable-host-loopback --netns-type=path \
    "/run/netns/$netns" tap0 >"$state/slirp4netns.log" 2>&1 </dev/null &
  echo $! >"$run/slirp4netns.pid"
  local _
  for _ in $(seq 50); do
    ip -n "$netns" -4 route show default 2>/dev/null | grep -q tap0 && return 0
    sleep 0.1
  done
  cat "$state/slirp4netns.log" >&2
  die "slirp4netns did not configure namespace $netns"
}

start_dockerd() {
  mkdir -p "$state/docker" "$run"
  nsenter --net="/run/netns/$netns" setsid dockerd \
    --data-root "$state/docker" --exec-root "$run/docker-exec" --pidfile "$run/dockerd.pid" \
    -H "unix://$run/docker.sock" >"$state/dockerd.log" 2>&1 </dev/null &
  local _
  for _ in $(seq 60); do
    DOCKER_HOST=unix://$run/docker.sock docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -20 "$state/dockerd.log" >&2
  die "private dockerd $name did not start (log: $state/dockerd.log)"
}

# shellcheck disable=SC2317  # called by the EXIT trap
stop_all() {
  local pid _
  if [ -s "$run/dockerd.pid" ]; then
    pid=$(cat "$run/dockerd.pid")
    DOCKER_HOST=unix://$run/docker.sock docker ps -q 2>/dev/null \
      | xargs -r env DOCKER_HOST="unix://$run/docker.sock" docker rm -f >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  CONTAINERS_STORAGE_CONF=$state/podman/storage.conf CONTAINERS_CONF=$state/podman/containers.conf \
    nsenter --net="/run/netns/$netns" podman rm -af -t 2 >/dev/null 2>&1 || true
  if [ -s "$run/slirp4netns.pid" ]; then
    pid=$(cat "$run/slirp4netns.pid")
    if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  fi
  ip netns del "$netns" 2>/dev/null || true
}

main() {
  fresh=0
  [ "${1:-}" = --fresh ] && { fresh=1; shift; }
  [ $# -ge 2 ] || usage
  name=$1
  shift
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,20}$ ]] || die "bad NAME: $name (letters, digits, -; at most 21)"
  need ip nsenter dockerd docker podman setsid slirp4netns
  netns=duet-$name
  state=/var/lib/duet-engines/$name
  run=/run/duet-engines/$name
  ip netns list | grep -qw "^$netns" && die "namespace $netns exists: another run named $name is going (or: ip netns del $netns)"
  [ "$fresh" = 1 ] && rm -rf "$state"
  rm -rf "$run"
  mkdir -p "$state" "$run"

  ip netns add "$netns"
  trap stop_all EXIT
  ip -n "$netns" link set lo up
  start_uplink
  write_podman_config
  start_dockerd

  export DOCKER_HOST=unix://$run/docker.sock
  export CONTAINERS_STORAGE_CONF=$state/podman/storage.conf
  export CONTAINERS_CONF=$state/podman/containers.conf
  echo "$prog: private engines $name up (namespace $netns, DOCKER_HOST=$DOCKER_HOST)" >&2
  local status=0
  nsenter --net="/run/netns/$netns" "$@" || status=$?
  return "$status"
}

main "$@"
