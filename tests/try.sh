#!/usr/bin/env bash
# Brings one duet approach up on a Debian or Ubuntu machine without Nix, from a fresh
# clone, as root: installs what is missing (tests/install-deps.sh --for try), starts
# dockerd when no Docker engine answers, builds the release binaries (cargo) and the
# stand-in images (tests/standins/build.sh: Debian packages in place of the Nix images'),
# then hands over to units/run.sh, which runs the approach in the foreground (Ctrl-C
# stops it and removes what it made). The first run takes minutes (apt, Rust, compiling,
# debootstrap); later runs only rebuild what changed.
#
# usage: tests/try.sh [systemd|supervisord|separate] [units/run.sh options...]
#   e.g. tests/try.sh separate --detach; tests/try.sh separate --stop
#   --engine podman builds the stand-ins in Podman; --image-dir DIR skips building them.
set -euo pipefail
cd "$(dirname "$0")/.."

prog=${0##*/}
say() { echo "$prog: $*"; }
die() { echo "$prog: $*" >&2; exit 1; }

# The value of run.sh's --engine / --image-dir among the arguments (last one wins).
option_value() { # name default args...
  local name=$1 value=$2
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      "$name") [ $# -ge 2 ] && value=$2 ;;
      "$name"=*) value=${1#*=} ;;
    esac
    shift
  done
  echo "$value"
}

# Docker: the engine DOCKER_HOST names, or the host's dockerd, started if it is not up.
ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  [ -z "${DOCKER_HOST:-}" ] || die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST"
  say "starting dockerd"
  if [ -d /run/systemd/system ]; then
    systemctl start docker || die "systemctl start docker failed (journalctl -u docker)"
  else
    setsid dockerd >/var/log/duet-dockerd.log 2>&1 </dev/null &
  fi
  local _
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  [ -f /var/log/duet-dockerd.log ] && tail -20 /var/log/duet-dockerd.log >&2
  die "dockerd did not come up in 60 s"
}

main() {
  [ "$(id -u)" = 0 ] || die "run as root (apt, debootstrap and the engines need it)"
  local start=$SECONDS engine image_dir
  engine=$(option_value --engine docker "$@")
  image_dir=$(option_value --image-dir "${DUET_IMAGE_DIR:-}" "$@")
  case $engine in docker | podman) ;; *) exec units/run.sh "$@" ;; esac # run.sh names the error
  if [[ " $* " == *" --stop "* ]]; then exec units/run.sh "$@"; fi

  tests/install-deps.sh --for try
  export PATH=$HOME/.cargo/bin:$PATH
  [ "$engine" = docker ] && ensure_docker

  say "cargo build --release (the first time takes several minutes)"
  cargo build --locked --release --bins --quiet
  if [ -z "$image_dir" ]; then
    say "stand-in images in $engine (the first time: debootstrap, about two minutes)"
    tests/standins/build.sh --engine "$engine"
  fi
  say "ready after $((SECONDS - start)) s; units/run.sh $*"
  exec units/run.sh "$@"
}

main "$@"
