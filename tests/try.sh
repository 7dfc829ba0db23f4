#!/usr/bin/env bash
# Brings one duet approach up on a Debian or Ubuntu machine without Nix, from a fresh
# clone, as root: installs what is missing (tests/install-deps.sh --for try), starts
# dockerd when no Docker engine answers, builds the release binaries (cargo) and the
# stand-in images (tests/standins/build.sh: Debian packages in place of the Nix images'),
# then hands over to units/run.sh, which runs the approach in the foreground (Ctrl-C
# stops it and removes what it made). The arguments are checked first (run.sh
# --check-args, bash alone), so a mistyped one costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

prog=${0##*/}
dockerd_log=/var/log/duet-dockerd.log
dockerd_started=''   # how to stop the dockerd this script started, if it did

usage() {
  cat <<EOF
usage: tests/$prog [systemd|supervisord|separate] [units/run.sh options...]
Brings one approach up on this Debian or Ubuntu machine without Nix, as root: installs
what is missing, starts dockerd when no Docker engine answers, builds the release
binaries and the stand-in images, then runs units/run.sh with these arguments (in the
foreground: Ctrl-C stops and removes what it made; --detach returns once it answers).
The first try on a fresh machine takes about a quarter of an hour (apt, Rust, compiling,
debootstrap); later ones only rebuild what changed.
  e.g. tests/$prog separate --detach; then tests/$prog separate --stop
  --engine podman     build the stand-ins in Podman and run there
  --image-dir DIR     run the images in DIR instead of building the stand-ins
  --stop, --print-names, --print-flags go straight to units/run.sh: nothing is installed
  or built. Every run.sh option: units/run.sh --help
EOF
}

say() { echo "$prog: $*"; }
die() { echo "$prog: $*" >&2; exit 1; }

check_args() { # dies with run.sh's complaint and this script's usage
  local complaint
  complaint=$(units/run.sh --check-args "$@" 2>&1) && return 0
  complaint=${complaint#run.sh: }
  echo "$prog: ${complaint%; see run.sh --help}" >&2
  usage >&2
  exit 2
}

option_value() { # NAME DEFAULT ARG...: the value of run.sh's option NAME among ARGs (the last wins)
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

ensure_docker() { # ANSWERED_BEFORE: the engine DOCKER_HOST names, or the host's dockerd, started if it is not up
  if docker info >/dev/null 2>&1; then
    # On a systemd host, installing docker.io starts (and enables) docker.service.
    if [ "$1" = no ] && [ -d /run/systemd/system ]; then
      dockerd_started="systemctl stop docker docker.socket"
      say "installing docker.io started dockerd (docker.service); it keeps running after this script; stop it with: $dockerd_started"
    fi
    return 0
  fi
  [ -z "${DOCKER_HOST:-}" ] || die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST"
  if [ -d /run/systemd/system ]; then
    say "no Docker engine answers: starting dockerd (systemctl start docker)"
    systemctl start docker || die "systemctl start docker failed (journalctl -u docker)"
    dockerd_started="systemctl stop docker docker.socket"
  else
    say "no Docker engine answers: starting dockerd (log: $dockerd_log)"
    setsid dockerd >"$dockerd_log" 2>&1 </dev/null &
    dockerd_started="kill $!"
  fi
  say "dockerd keeps running after this script; stop it with: $dockerd_started"
  local _
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  [ -f "$dockerd_log" ] && tail -20 "$dockerd_log" >&2
  die "dockerd did not come up in 60 s"
}

main() {
  local arg
  for arg in "$@"; do
    case $arg in -h | --help) usage; exit 0 ;; esac
  done
  check_args "$@"
  case " $* " in
    *" --stop "* | *" --print-names "* | *" --print-flags "*) exec units/run.sh "$@" ;;
  esac
  [ "$(id -u)" = 0 ] || die "run as root (apt, debootstrap and the engines need it)"
  local start=$SECONDS engine image_dir docker_answered=no
  engine=$(option_value --engine docker "$@")
  image_dir=$(option_value --image-dir "${DUET_IMAGE_DIR:-}" "$@")

  ! docker info >/dev/null 2>&1 || docker_answered=yes
  tests/install-deps.sh --for try
  export PATH=$HOME/.cargo/bin:$PATH
  [ "$engine" = docker ] && ensure_docker "$docker_answered"

  say "cargo build --release (the first time takes several minutes)"
  cargo build --locked --release --bins --quiet
  if [ -z "$image_dir" ]; then
    say "stand-in images in $engine (the first time: debootstrap, about two minutes)"
    tests/standins/build.sh --engine "$engine"
  fi
  say "ready after $((SECONDS - start)) s; units/run.sh $*"
  [ -z "$dockerd_started" ] || say "(the dockerd started above keeps running; stop it with: $dockerd_started)"
  exec units/run.sh "$@"
}

main "$@"
