#!/usr/bin/env bash
# Builds the four stand-in images (duet-systemd, duet-supervisord, duet-server,
# duet-client) for machines without Nix: a Debian minbase rootfs from debootstrap
# (cached under .cache/standins/), imported as a base image, then one small
# Dockerfile per image that adds the cargo-built release binaries, the files of
# units/ as they are, and the image config from units/images.json.
# duet-systemd and duet-supervisord carry both binaries; duet-client only
# /bin/duet-client; duet-server /bin/duet-server and /bin/duet-client, its
# health-check probe (the image has no shell or curl).
#
# usage: tests/standins/build.sh [--suite bookworm|sid] [--engine docker|podman] [--save DIR]
#   --suite   Debian suite of the rootfs (bookworm: systemd 252, boots on cgroup v1;
#             sid: current systemd, for cgroup v2 hosts only)
#   --engine  the engine that builds and holds the images (default docker)
#   --save    also write gzip'd docker-archive tarballs DIR/<image name>.tar.gz
#             (`docker load` reads them, Podman 4.3 only unpacked: gzip -dc F | podman load)
set -euo pipefail

usage() {
  echo "usage: $0 [--suite bookworm|sid] [--engine docker|podman] [--save DIR]" >&2
  exit 2
}

suite=bookworm
engine=docker
save_dir=
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
    --engine) [ $# -ge 2 ] || usage; engine=$2; shift 2 ;;
    --save) [ $# -ge 2 ] || usage; save_dir=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument: $1" >&2; usage ;;
  esac
done
case "$suite" in bookworm|sid) ;; *) echo "build.sh: unsupported suite: $suite (bookworm or sid)" >&2; exit 2 ;; esac
case "$engine" in docker|podman) ;; *) echo "build.sh: unsupported engine: $engine (docker or podman)" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/../.." && pwd)
units=$repo/units
bin_dir=$repo/target/release
cache=$repo/.cache/standins/$suite
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# dbus for systemctl's bus, procps/curl/iproute2 only to look around inside.
packages=systemd,systemd-sysv,dbus,supervisor,python3,curl,procps,iproute2

die() { echo "build.sh: $*" >&2; exit 1; }

# shellcheck source=tests/ci/lib.sh
. "$repo/tests/ci/lib.sh"
need debootstrap python3 ldd tar sha256sum gzip
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
need_engine "$engine"
for b in duet-server duet-client; do
  [ -x "$bin_dir/$b" ] || die "missing $bin_dir/$b: run 'cargo build --release' first"
done
for f in server.service server.socket client.service supervisord.conf journald-console.conf sysusers.conf images.json; do
  [ -f "$units/$f" ] || die "missing units/$f"
done

tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$units/images.json")
registry=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["registry"])' "$units/images.json")
image_name() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][sys.argv[2]]["name"])' "$units/images.json" "$1"
}
version=$("$bin_dir/duet-server" --version | awk '{print $NF}')
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git -C "$repo" status --porcelain -- src units Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  revision=$revision-dirty
fi

# --- rootfs (cached; the stamp names what it was built from) ---
mkdir -p "$cache"
stamp="suite=$suite packages=$packages mirror=$mirror trim=2"
if [ ! -d "$cache/rootfs" ] || [ "$(cat "$cache/rootfs.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== debootstrap $suite into $cache/rootfs (takes about a minute)"
  rm -rf "$cache/rootfs" "$cache/rootfs.tmp" "$cache/rootfs.stamp"
  debootstrap --variant=minbase --include="$packages" "$suite" "$cache/rootfs.tmp" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  r=$cache/rootfs.tmp
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* \
    "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*.log
  if [ -d "$r"/usr/share/locale ]; then
    find "$r"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
  fi
  # Python's bytecode stays, compiled for every module: without it supervisord compiles
  # supervisor and pkg_resources at each container start (about 2.6 s of its start-up,
  # tests/bench/results/startstop.md), at the cost of about 16 MB.
  chroot "$r" sh -c 'exec python3 -m compileall -q -j0 /usr/lib/python3 /usr/lib/python3.*' >/dev/null
  # Every container must get its own machine id at boot.
  : > "$r"/etc/machine-id
  rm -f "$r"/var/lib/dbus/machine-id
  mv "$r" "$cache/rootfs"
  echo "$stamp" > "$cache/rootfs.stamp"
else
  echo "== reusing cached rootfs $cache/rootfs"
fi

# --- base image: the rootfs as it is, imported once per rootfs ---
base_id=$( (cat "$cache/rootfs.stamp"; stat -c %Y "$cache/rootfs.stamp") | sha256sum | cut -c1-12)
base=$registry/duet-standin-base:$suite-$base_id
if "$engine" image inspect "$base" >/dev/null 2>&1; then
  echo "== reusing base image $base"
else
  echo "== $engine import $base"
  quiet=()
  [ "$engine" = podman ] && quiet=(--quiet)  # else it reports each blob it copies
  tar -C "$cache/rootfs" --numeric-owner -c . | "$engine" import "${quiet[@]}" - "$base" >/dev/null
fi

# --- one build context and Dockerfile per image ---
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

config_lines() { python3 "$repo/tests/standins/imageconfig.py" "$units/images.json" "$1" "$version" "$revision"; }

build() { # key context_dir
  local key=$1 ctx=$2 ref old new
  ref=$registry/$(image_name "$key"):$tag
  config_lines "$key" >> "$ctx/Dockerfile"
  echo "== $engine build $ref"
  old=$("$engine" image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)
  # Docker's legacy builder works offline and only needs the local base image. No
  # step needs a network.
  DOCKER_BUILDKIT=0 "$engine" build -q --network none -t "$ref" "$ctx" >/dev/null 2> "$ctx.log" \
    || { grep -v 'DEPRECATED\|BuildKit\|buildx\|^ *$\|Install the' "$ctx.log" >&2 || true; die "$engine build of $ref failed"; }
  new=$("$engine" image inspect -f '{{.Id}}' "$ref")
  # Also the crate version, the tag the Kubernetes and Compose files name.
  "$engine" tag "$ref" "${ref%:*}:$version"
  # The previous build of this tag is now untagged: drop it unless a container uses it.
  if [ -n "$old" ] && [ "$old" != "$new" ]; then "$engine" rmi "$old" >/dev/null 2>&1 || true; fi
  built+=("$ref")
}
built=()

# systemd: both units enabled, nothing else of Debian's running.
ctx=$work/systemd; mkdir -p "$ctx"
cp "$bin_dir/duet-server" "$bin_dir/duet-client" "$units/server.service" "$units/server.socket" \
  "$units/client.service" "$units/journald-console.conf" "$units/sysusers.conf" "$ctx/"
cat > "$ctx/Dockerfile" <<EOF
FROM $base
COPY duet-server duet-client /bin/
COPY server.service server.socket client.service /etc/systemd/system/
COPY journald-console.conf /etc/systemd/journald.conf.d/duet-console.conf
COPY sysusers.conf /etc/sysusers.d/duet.conf
RUN systemd-sysusers /etc/sysusers.d/duet.conf \
 && systemctl enable server.socket server.service client.service \\
 && systemctl disable supervisor.service \\
 && systemctl disable getty@.service \\
 && systemctl mask console-getty.service getty.target \\
      systemd-logind.service e2scrub_reap.service systemd-pstore.service \\
      apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer
EOF
build systemd "$ctx"

# supervisord: supervisord as PID 1 with units/supervisord.conf.
ctx=$work/supervisord; mkdir -p "$ctx"
cp "$bin_dir/duet-server" "$bin_dir/duet-client" "$units/supervisord.conf" "$units/sysusers.conf" "$ctx/"
cat > "$ctx/Dockerfile" <<EOF
FROM $base
COPY duet-server duet-client /bin/
COPY supervisord.conf /etc/supervisord.conf
COPY sysusers.conf /etc/sysusers.d/duet.conf
RUN systemd-sysusers /etc/sysusers.d/duet.conf
EOF
build supervisord "$ctx"

# separate: FROM scratch, the binaries and the shared libraries they load, nothing else.
# The server image carries duet-client too: `duet-client --probe` is its health check.
scratch_image() { # key binary...
  local key=$1 bin lib
  shift
  ctx=$work/$key; mkdir -p "$ctx/root/bin"
  for bin in "$@"; do
    cp "$bin_dir/$bin" "$ctx/root/bin/"
    ldd "$bin_dir/$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
      cp -L --parents "$lib" "$ctx/root/"
    done
  done
  printf 'FROM scratch\nCOPY root/ /\n' > "$ctx/Dockerfile"
  build "$key" "$ctx"
}
scratch_image server duet-server duet-client
scratch_image client duet-client

if [ -n "$save_dir" ]; then
  mkdir -p "$save_dir"
  for ref in "${built[@]}"; do
    name=${ref#"$registry"/}; name=${name%:*}
    echo "== $engine save $ref | gzip > $save_dir/$name.tar.gz"
    # gzip -1: about as small as -6 for these layers, and several times faster.
    "$engine" save "$ref" | gzip -1 > "$save_dir/$name.tar.gz.tmp"
    mv "$save_dir/$name.tar.gz.tmp" "$save_dir/$name.tar.gz"
  done
fi
echo "== built in $engine: ${built[*]} (version $version, revision $revision)"
