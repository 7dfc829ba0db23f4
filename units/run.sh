#!/usr/bin/env bash
# Runs one duet approach in Docker or Podman with the flags that work on this host.
#
# The one place that knows the run flags of each approach: people use it, the Nix
# app `load-and-run` wraps it, the container contract (tests/contract/) starts every
# approach through it. It looks at the host first (engine, cgroup version, the
# systemd version inside the image), picks flags, and says in one line when an
# approach cannot run here. It never adds --privileged.
set -euo pipefail

prog=${0##*/}

usage() {
  cat >&2 <<EOF
usage: $prog [systemd|supervisord|separate] [--engine docker|podman] [--port N] [--detach] [--stop] [--image-dir DIR]
  systemd|supervisord|separate  approach to run (default: systemd)
  --engine docker|podman        container engine (default: docker)
  --port N                      host port for the server's 8080 (default: 8080)
  --detach                      return once /healthz answers; stop later with --stop
  --stop                        stop and remove the approach's containers and network
  --image-dir DIR               load DIR/<image name>.tar first (env DUET_IMAGE_DIR)
env: DUET_PUBLISH_ADDR (host address to publish on, default 127.0.0.1),
     DUET_WAIT_SECS (how long to wait for /healthz, default 120)
EOF
  exit 2
}

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

approach=
engine=docker
port=8080
detach=0
stop_only=0
image_dir=${DUET_IMAGE_DIR:-}
publish_addr=${DUET_PUBLISH_ADDR:-127.0.0.1}
wait_secs=${DUET_WAIT_SECS:-120}

while [ $# -gt 0 ]; do
  case "$1" in
    systemd|supervisord|separate)
      [ -z "$approach" ] || { echo "$prog: more than one approach given" >&2; usage; }
      approach=$1; shift ;;
    --engine) [ $# -ge 2 ] || usage; engine=$2; shift 2 ;;
    --engine=*) engine=${1#*=}; shift ;;
    --port) [ $# -ge 2 ] || usage; port=$2; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    --image-dir) [ $# -ge 2 ] || usage; image_dir=$2; shift 2 ;;
    --image-dir=*) image_dir=${1#*=}; shift ;;
    --detach) detach=1; shift ;;
    --stop) stop_only=1; shift ;;
    -h|--help) usage ;;
    *) echo "$prog: unknown argument: $1" >&2; usage ;;
  esac
done
approach=${approach:-systemd}
case "$engine" in docker|podman) ;; *) echo "$prog: unknown engine: $engine (docker or podman)" >&2; usage ;; esac
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "$prog: bad port: $port (1-65535)" >&2; usage
fi
[[ "$wait_secs" =~ ^[0-9]+$ ]] || { echo "$prog: bad DUET_WAIT_SECS: $wait_secs" >&2; exit 2; }

# Fixed names (plan): images localhost/<name>:latest, containers, network.
network=duet
case "$approach" in
  systemd) images=(duet-systemd); containers=(duet-systemd) ;;
  supervisord) images=(duet-supervisord); containers=(duet-supervisord) ;;
  separate) images=(duet-server duet-client); containers=(duet-server duet-client) ;;
esac
ref() { echo "localhost/$1:latest"; }

# --- host checks ---------------------------------------------------------------
command -v "$engine" >/dev/null || die "$engine not found in PATH"
if ! engine_err=$("$engine" info 2>&1 >/dev/null); then
  die "$engine engine not reachable: $(echo "$engine_err" | grep -v '^\s*$' | tail -1)"
fi

exists() { "$engine" container inspect "$1" >/dev/null 2>&1; }
network_exists() { "$engine" network inspect "$network" >/dev/null 2>&1; }

stop_containers() { # stop with each image's own stop signal, then remove
  local c
  for c in "$@"; do
    exists "$c" || continue
    "$engine" stop -t 10 "$c" >/dev/null 2>&1 || true
    "$engine" rm -f "$c" >/dev/null 2>&1 || true
  done
}

if [ "$stop_only" = 1 ]; then
  found=0
  # Reverse order: the client goes before the server it polls.
  for ((i = ${#containers[@]} - 1; i >= 0; i--)); do
    c=${containers[i]}
    if exists "$c"; then found=1; stop_containers "$c"; say "removed container $c"; fi
  done
  if [ "$approach" = separate ] && network_exists; then
    "$engine" network rm "$network" >/dev/null && say "removed network $network"
    found=1
  fi
  [ "$found" = 1 ] || say "nothing to stop for $approach on $engine"
  exit 0
fi

for c in "${containers[@]}"; do
  exists "$c" && die "container $c already exists; remove it first: $0 $approach --engine $engine --stop"
done

case "$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo missing)" in
  cgroup2fs) cgroup=v2 ;;
  tmpfs)
    if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || true)" = cgroup2fs ]; then cgroup=hybrid; else cgroup=v1; fi ;;
  *) die "cannot tell the cgroup version: /sys/fs/cgroup is neither cgroup2fs nor tmpfs" ;;
esac

if [ -n "$image_dir" ]; then
  [ -d "$image_dir" ] || die "image dir not found: $image_dir"
  for name in "${images[@]}"; do
    [ -f "$image_dir/$name.tar" ] || die "missing image tarball $image_dir/$name.tar"
    out=$("$engine" load -i "$image_dir/$name.tar" 2>&1) || die "$engine load of $image_dir/$name.tar failed: $(echo "$out" | tail -1)"
  done
fi
for name in "${images[@]}"; do
  "$engine" image inspect "$(ref "$name")" >/dev/null 2>&1 \
    || die "image $(ref "$name") not in $engine; build it (tests/standins/build.sh, nix build) or pass --image-dir DIR"
done

# Flags every container of this engine needs on this host.
base_flags=()
if [ "$engine" = podman ]; then
  # crun refuses hybrid cgroup hosts; runc copes.
  if [ "$cgroup" = hybrid ]; then
    command -v runc >/dev/null || die "podman on a hybrid cgroup host needs runc (crun refuses hybrid mode)"
    base_flags+=(--runtime runc)
  fi
  # Podman raises nofile/nproc above our hard limits by default; that needs
  # CAP_SYS_RESOURCE, which some hosts withhold. Ask for what we may have (for nproc
  # also no more than pid_max, which Podman caps its own limit at).
  cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  if (( (16#$cap_eff >> 24 & 1) == 0 )); then
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    pid_max=$(cat /proc/sys/kernel/pid_max)
    if [ "$nproc" = unlimited ] || { [ -n "$pid_max" ] && [ "$nproc" -gt "$pid_max" ]; }; then nproc=$pid_max; fi
    [ "$nofile" = unlimited ] || base_flags+=(--ulimit "nofile=$nofile:$nofile")
    [ -z "$nproc" ] || base_flags+=(--ulimit "nproc=$nproc:$nproc")
  fi
fi

# --- flags per approach ----------------------------------------------------------
systemd_version() { # the systemd in the image
  # `/sbin/init --version` prints nothing when it is PID 1; systemctl (on the image's
  # PATH, where `exec ... systemctl` finds it too) reports the same version.
  local out
  out=$("$engine" run --rm "${base_flags[@]}" -e SYSTEMD_COLORS=0 --entrypoint systemctl "$(ref duet-systemd)" --version 2>&1 | head -1) || true
  out=$(printf '%s\n' "$out" | awk '{ gsub(/\033\[[0-9;]*m/, ""); print }')  # newer systemd colours it anyway
  [[ "$out" =~ ^systemd\ ([0-9]+) ]] || die "cannot read the systemd version of $(ref duet-systemd): $out"
  echo "${BASH_REMATCH[1]}"
}

systemd_flags_cgroup_v1() { # legacy and hybrid hosts; measured with Docker 20.10 / Podman 4.3
  if [ "$engine" = docker ]; then
    # The seed's recipe without --privileged (which fails on hosts whose capability
    # bounding set lacks CAP_SYS_RESOURCE). Never combine a private cgroupns with a
    # writable cgroup mount: services would land in the host's root cgroups.
    flags+=(--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock)
  else
    flags+=(--systemd=always)
    # Without the cgroup2 `unified` mount, units end up stuck in `deactivating`.
    [ "$cgroup" = hybrid ] && flags+=(-v /sys/fs/cgroup/unified:/sys/fs/cgroup/unified:rw)
  fi
}

systemd_flags_cgroup_v2() { # pure cgroup v2 hosts (tests/cgroupv2/ proves this branch)
  if [ "$engine" = docker ]; then
    # systemd must write its own cgroup. Host cgroupns; Docker's read-only mount of the
    # host tree stays; only duet.slice, the parent this container is put in, is bound
    # read-write over it. The common `-v /sys/fs/cgroup:/sys/fs/cgroup:rw` would let the
    # container write the host's whole cgroup tree (measured: it can create cgroups
    # among the host's services); this set cannot. Private cgroupns works only with
    # CAP_SYS_ADMIN, AppArmor off and a remount before /sbin/init: not used.
    # `-v` (not --mount) on purpose: it creates duet.slice when no container is in it yet.
    flags+=(--cgroupns=host --cgroup-parent=duet.slice
      -v /sys/fs/cgroup/duet.slice:/sys/fs/cgroup/duet.slice:rw
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp)
  else
    flags+=(--systemd=always)
  fi
}

flags=()
case "$approach" in
  systemd)
    sd=$(systemd_version)
    if [ "$cgroup" != v2 ] && [ "$sd" -ge 256 ]; then
      die "systemd $sd in $(ref duet-systemd) refuses cgroup v1 (since 256) and this host has cgroup $cgroup: use a cgroup v2 host or an image with systemd < 256"
    fi
    # -t: without a tty there is no /dev/console and `docker logs` stays empty.
    flags+=(-t)
    if [ "$cgroup" = v2 ]; then systemd_flags_cgroup_v2; else systemd_flags_cgroup_v1; fi
    ;;
  supervisord) ;;
  separate)
    # Each program is PID 1 of its own container: non-root (the image's User),
    # read-only root, no capabilities, no privilege gain, restarted by the engine.
    flags+=(--read-only --cap-drop ALL --security-opt no-new-privileges --restart unless-stopped
      --network "$network")
    ;;
esac

# --- run ---------------------------------------------------------------------------
made_containers=()
made_network=0
followers=()
keep=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ "$keep" = 1 ] && return
  keep=1
  local i removed=("${made_containers[@]}")
  [ ${#followers[@]} -eq 0 ] || kill "${followers[@]}" 2>/dev/null || true
  for ((i = ${#made_containers[@]} - 1; i >= 0; i--)); do stop_containers "${made_containers[i]}"; done
  if [ "$made_network" = 1 ]; then
    "$engine" network rm "$network" >/dev/null 2>&1 || true
    removed+=("network $network")
  fi
  [ ${#removed[@]} -eq 0 ] || say "stopped and removed: ${removed[*]}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name, then extra args before the image
  local name=$1 out tries=0 cidfile
  shift
  cidfile=$(mktemp -u "${TMPDIR:-/tmp}/duet-run.XXXXXX")
  # The engine writes the id once it has created the container: from then on it is
  # ours to remove, even if starting it fails (a name taken meanwhile is not ours).
  until out=$("$engine" run -d --cidfile "$cidfile" --name "$name" "${base_flags[@]}" "${flags[@]}" "$@" 2>&1); do
    if [ -s "$cidfile" ]; then "$engine" rm -f "$(cat "$cidfile")" >/dev/null 2>&1 || true; fi
    rm -f "$cidfile"
    case "$out" in
      *"address already in use"*)
        # Docker's proxy cannot bind a port that still has a server-side connection in
        # TIME_WAIT (up to 60 s after, e.g., an earlier container on it stopped).
        if (( tries++ < 35 )); then
          [ "$tries" = 1 ] && say "host port $port is busy; waiting up to 70 s for it to be free"
          sleep 2
          continue
        fi
        die "host port $port stays in use: use --port N" ;;
      *"port is already allocated"*)
        die "host port $port is published by another container: use --port N" ;;
    esac
    die "$engine run $name failed: $(echo "$out" | grep -v -e '^\s*$' -e "^Run '" | tail -1)"
  done
  rm -f "$cidfile"
  made_containers+=("$name")
}

publish=(-p "$publish_addr:$port:8080")
case "$approach" in
  systemd) start duet-systemd "${publish[@]}" "$(ref duet-systemd)" ;;
  supervisord) start duet-supervisord "${publish[@]}" "$(ref duet-supervisord)" ;;
  separate)
    if ! network_exists; then
      out=$("$engine" network create "$network" 2>&1) || die "$engine network create $network failed: $(echo "$out" | tail -1)"
      made_network=1
    fi
    if [ "$engine" = podman ] && [ "$("$engine" network inspect "$network" -f '{{.DNSEnabled}}' 2>/dev/null)" != true ]; then
      die "podman network $network has no DNS (CNI without the dnsname plugin; netavark with aardvark-dns has it): the client cannot find duet-server by name, so separate cannot run here"
    fi
    start duet-server "${publish[@]}" "$(ref duet-server)"
    start duet-client "$(ref duet-client)"
    ;;
esac

probe_addr=$publish_addr
[ "$probe_addr" = 0.0.0.0 ] && probe_addr=127.0.0.1
healthy() { # GET /healthz through bash's /dev/tcp: no curl needed on the host
  # HTTP/1.1 keep-alive, so that we close first: a server-side close would leave the
  # host port in TIME_WAIT, and Docker's proxy then cannot bind it for a minute.
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" >&3 && head -c 12 <&3' \
    _ "$probe_addr" "$port" 2>/dev/null | grep -q '^HTTP/1\.[01] 200'
}

started=$SECONDS
until healthy; do
  for c in "${made_containers[@]}"; do
    if [ "$("$engine" container inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" != true ]; then
      "$engine" logs --tail 20 "$c" >&2 2>&1 || true
      die "container $c stopped before /healthz answered (its last log lines are above)"
    fi
  done
  if (( SECONDS - started >= wait_secs )); then
    for c in "${made_containers[@]}"; do "$engine" logs --tail 20 "$c" >&2 2>&1 || true; done
    die "no answer from http://$probe_addr:$port/healthz after $wait_secs s"
  fi
  sleep 0.3
done

echo "duet $approach is up on $engine: http://$probe_addr:$port/ (healthy after $((SECONDS - started)) s)"
echo "look inside:"
case "$approach" in
  systemd)
    echo "  $engine exec duet-systemd systemctl status server.socket server.service client.service"
    echo "  $engine exec duet-systemd journalctl -u server.service -u client.service -f"
    echo "  $engine logs -f duet-systemd" ;;
  supervisord)
    echo "  $engine exec duet-supervisord supervisorctl status"
    echo "  $engine logs -f duet-supervisord" ;;
  separate)
    echo "  $engine ps --filter network=$network"
    echo "  $engine logs -f duet-server"
    echo "  $engine logs -f duet-client" ;;
esac

if [ "$detach" = 1 ]; then
  keep=1
  echo "stop with: $0 $approach --engine $engine --stop"
  exit 0
fi

echo "following logs; Ctrl-C stops and removes the containers"
for c in "${made_containers[@]}"; do
  "$engine" logs -f "$c" &
  followers+=($!)
done
# Returns when a log follower ends (its container stopped) or a signal arrives.
wait -n "${followers[@]}" || true
die "a container stopped on its own"
