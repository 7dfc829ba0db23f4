#!/usr/bin/env bash
# Boots the root filesystems that nix/images/systemd-root.sh and supervisord-root.sh build,
# for real, without Nix, for duet's spec (units/pair.json): layout_image.sh builds each
# over Debian 12, whose systemd and supervisor (and its python3) stand in for nixpkgs'.
# This proves the unit allow-list (nix/images/systemd-units.nix) reaches `running` and
# that the halt chain ends `docker stop` (SIGRTMIN+3) well before the SIGKILL timeout;
# for supervisord, that the tree runs both programs as the users that sysusers-passwd.sh
# creates. Debian 12's systemd is 252; the cgroup v2 proving ground boots the same
# layout with Debian sid's current systemd.
# Then the container contract (tests/contract, unchanged) runs on both images in Podman,
# through units/run.sh, as it does for the stand-ins.
#
# Docker containers and images are named nixlayout-*; Podman gets a storage of its own
# under a temporary directory, so the contract's fixed names (duet-systemd, ...) meet
# nobody else's. Ports 28181-28183. Everything is removed on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=$repo/.cache/nix-layout/bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=systemd,supervisor

# shellcheck source=tests/ci/lib.sh
. "$repo/tests/ci/lib.sh"
need debootstrap docker podman tar curl nix-instantiate python3
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, file ownership in the image)"
docker info >/dev/null 2>&1 || fail "docker engine not reachable"
for b in duet-server duet-client; do
  [ -x "$repo/target/release/$b" ] || fail "missing target/release/$b (cargo build --release)"
done

# --- Debian rootfs with systemd and supervisor (cached) ---
stamp="bookworm minbase $packages $mirror"
if [ ! -d "$cache/rootfs" ] || [ "$(cat "$cache/stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "-- debootstrap bookworm ($packages) into $cache"
  rm -rf "$cache"
  mkdir -p "$cache"
  debootstrap --variant=minbase --include="$packages" bookworm "$cache/rootfs.tmp" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -rf "$cache/rootfs.tmp"/var/cache/apt/archives/*.deb "$cache/rootfs.tmp"/var/lib/apt/lists/*
  mv "$cache/rootfs.tmp" "$cache/rootfs"
  echo "$stamp" >"$cache/stamp"
fi

tmp=$(mktemp -d)
made_images=()
podman_storage=$tmp/podman
own_podman() { # podman on our own storage only, or nothing
  [ "$(CONTAINERS_STORAGE_CONF=$podman_storage/storage.conf podman info --format '{{.Store.GraphRoot}}')" = "$podman_storage/graph" ] \
    || fail "podman does not use the private storage $podman_storage"
  CONTAINERS_STORAGE_CONF=$podman_storage/storage.conf podman "$@"
}
cleanup() {
  docker rm -f nixlayout-systemd nixlayout-supervisord >/dev/null 2>&1 || true
  [ ${#made_images[@]} -eq 0 ] || docker rmi -f "${made_images[@]}" >/dev/null 2>&1 || true
  if [ -f "$podman_storage/storage.conf" ]; then
    own_podman rm -f duet-systemd duet-supervisord >/dev/null 2>&1 || true
    own_podman rmi -af >/dev/null 2>&1 || true
    umount "$podman_storage"/graph/overlay 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_http_200() { # port
  local _
  for _ in $(seq 1 240); do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/" && return 0
    sleep 0.5
  done
  return 1
}

stop_timed() { # container limit-ms allowed-exit-codes...
  local c=$1 limit=$2 start end ms code
  shift 2
  start=$(date +%s%N)
  docker stop "$c" >/dev/null
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
  echo "docker stop $c: $ms ms, exit code $code"
  [ "$code" != 137 ] || fail "$c was SIGKILLed on docker stop"
  [[ " $* " == *" $code "* ]] || fail "$c stopped with exit code $code, expected one of: $*"
  [ "$ms" -lt "$limit" ] || fail "docker stop $c took $ms ms (limit $limit ms)"
}

# Flags as units/run.sh picks them for systemd on this host (without --privileged).
case "$(stat -fc %T /sys/fs/cgroup)" in
  cgroup2fs) sd_flags=(--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp) ;;
  tmpfs) sd_flags=(--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock) ;;
  *) fail "cannot tell the cgroup version of this host" ;;
esac

# --- duet-systemd ---
echo "-- systemd image tree on Debian's systemd"
made_images+=(nixlayout-systemd:test)
"$repo/tests/nix/layout_image.sh" systemd "$cache/rootfs" nixlayout-systemd:test
docker run -d -t --name nixlayout-systemd "${sd_flags[@]}" -p 127.0.0.1:28181:8080 nixlayout-systemd:test >/dev/null
# Right after the start the bus can refuse for a moment: retry until systemctl answers.
state=
for _ in $(seq 1 120); do
  state=$(timeout 120 docker exec nixlayout-systemd systemctl is-system-running --wait 2>&1 || true)
  [[ $state == *"connect to bus"* ]] || break
  sleep 0.5
done
if [ "$state" != running ]; then
  docker exec nixlayout-systemd systemctl --failed --no-legend --plain >&2 || true
  docker logs --tail 30 nixlayout-systemd >&2 || true
  fail "systemd state is '$state', expected 'running'"
fi
active=$(docker exec nixlayout-systemd systemctl is-active server.socket server.service client.service | tr '\n' ' ')
[ "$active" = "active active active " ] || fail "server.socket server.service client.service: $active"
wait_http_200 28181 || fail "no HTTP 200 from the systemd container"
docker exec nixlayout-systemd systemctl show -p User --value server.service | grep -qx duet-server \
  || fail "server.service does not run as duet-server"
# The sandbox both units get from units/sandbox.conf, a drop-in: in effect for each.
for u in server.service client.service; do
  sandbox=$(docker exec nixlayout-systemd systemctl show -p ProtectSystem -p NoNewPrivileges -p UMask "$u" | sort | tr '\n' ' ')
  [ "$sandbox" = "NoNewPrivileges=yes ProtectSystem=strict UMask=0077 " ] \
    || fail "$u runs without units/sandbox.conf in effect: $sandbox"
done
echo "systemd: running, units active, HTTP 200, the sandbox drop-in in effect"
stop_timed nixlayout-systemd 5000 0 130

# --- duet-supervisord ---
echo "-- supervisord image tree on Debian's supervisor"
made_images+=(nixlayout-supervisord:test)
"$repo/tests/nix/layout_image.sh" supervisord "$cache/rootfs" nixlayout-supervisord:test
docker run -d --name nixlayout-supervisord -p 127.0.0.1:28182:8080 nixlayout-supervisord:test >/dev/null
wait_http_200 28182 || { docker logs --tail 30 nixlayout-supervisord >&2; fail "no HTTP 200 from the supervisord container"; }
# RUNNING once a process has stayed up for startsecs (units/supervisord-programs.conf). A
# program is `NAME`, or `NAME:NAME_NN` for each process of a group ([fcgi-program:server]).
all_running() {
  grep -E '^server(:server_[0-9]+)? +RUNNING' <<<"$status" >/dev/null \
    && grep -E '^client(:client_[0-9]+)? +RUNNING' <<<"$status" >/dev/null \
    && ! grep -Ev '^[^ ]+ +RUNNING' <<<"$status" >/dev/null
}
for _ in $(seq 1 60); do
  status=$(docker exec nixlayout-supervisord supervisorctl status 2>&1 || true)
  all_running && break
  sleep 0.5
done
all_running || fail "supervisorctl status: $status"
mapfile -t processes < <(awk '$1 != "exit-on-fatal" {print $1}' <<<"$status")
for name in "${processes[@]}"; do
  p=${name%%:*}
  pid=$(docker exec nixlayout-supervisord supervisorctl pid "$name")
  user=$(docker exec nixlayout-supervisord stat -c %U "/proc/$pid")
  [ "$user" = "duet-$p" ] || fail "$name runs as $user, expected duet-$p"
done
echo "supervisord: ${processes[*]} RUNNING as duet-server/duet-client, HTTP 200"
stop_timed nixlayout-supervisord 5000 0

# --- the contract, unchanged, on both images in Podman (private storage) ---
echo "-- contract on podman: systemd, supervisord (these image trees)"
mkdir -p "$podman_storage/graph" "$podman_storage/run"
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
  "$podman_storage/graph" "$podman_storage/run" >"$podman_storage/storage.conf"
for key in systemd supervisord; do
  docker save -o "$tmp/$key.tar" "nixlayout-$key:test"
  own_podman load -q -i "$tmp/$key.tar" >/dev/null
  own_podman tag "nixlayout-$key:test" "localhost/duet-$key:latest"
done
CONTAINERS_STORAGE_CONF=$podman_storage/storage.conf \
  python3 "$repo/tests/contract/run_local.py" --engine podman --port 28183 systemd supervisord \
  || fail "the contract failed on the image trees"

echo "image layouts: ok"
