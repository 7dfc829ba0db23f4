#!/usr/bin/env bash
# Builds the four stand-in images of a pair (units/pair-spec.md) for machines without Nix:
# NAME-systemd, NAME-supervisord, NAME-server and NAME-client, tagged `latest` and the
# version. A Debian minbase rootfs from debootstrap (cached under .cache/standins/) is
# imported once as a base image; each image is a small Dockerfile on top of it (or on
# scratch) that adds the pair's executables from --bin-dir, the files the spec names as
# they are, the library's own in-image files (units/base/), and the image config that
# units/run/pairspec.py derives from the spec.
#
#   NAME-systemd      both executables; the spec's units (*.service, *.socket) enabled;
#                     its drop-ins (systemd.dropIns) as UNIT.d/FILE; the exit-on-failure drop-in for each unit of systemd.exitOnFailure
#                     and exit-on-failure.service, which it starts;
#                     journald to the console; the spec's users (/etc/sysusers.d/NAME.conf)
#   NAME-supervisord  both executables; /etc/supervisord.conf = units/base/supervisord.conf
#                     + the spec's programs file; /bin/supervisord (supervisord-pid1.py) and
#                     /bin/supervisord-exit-on-fatal; the spec's users
#   NAME-server       its executable, and the health command's when that is the client's
#   NAME-client       its executable
# The single images are FROM scratch with the shared libraries `ldd` names when every
# executable in them is ELF; an image with a script executable (a `#!` first line) is
# built on the Debian base rootfs instead, which has its interpreter.
#
# usage: tests/standins/build.sh [--spec FILE] [--bin-dir DIR] [--version V]
#                                [--suite bookworm|sid] [--engine docker|podman] [--save DIR]
#   --spec     the pair spec (default units/pair.json)
#   --bin-dir  where the server's and the client's executables are (default target/release)
#   --version  the images' version label and second tag (default: the spec's "version";
#              refused when neither gives one)
#   --suite    Debian suite of the rootfs (bookworm: systemd 252, boots on cgroup v1;
#              sid: current systemd, for cgroup v2 hosts only)
#   --engine   the engine that builds and holds the images (default docker)
#   --save     also write gzip'd docker-archive tarballs DIR/<image name>.tar.gz with both
#              tags (`docker load` reads them, Podman 4.3 only unpacked: gzip -dc F | podman load)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
base_files=$repo/units/base
pairspec=$repo/units/run/pairspec.py
registry=localhost
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# dbus for systemctl's bus, procps/curl/iproute2 only to look around inside.
packages=systemd,systemd-sysv,dbus,supervisor,python3,curl,procps,iproute2
# The python of the Debian rootfs, which has supervisor: the first line of the library's
# supervisord scripts.
python=/usr/bin/python3

usage() {
  echo "usage: $0 [--spec FILE] [--bin-dir DIR] [--version V] [--suite bookworm|sid] [--engine docker|podman] [--save DIR]" >&2
  exit 2
}

die() { echo "build.sh: $*" >&2; exit 1; }

# The spec's values this script needs, as shell assignments (pairspec.py validates it).
spec_vars() { # SPEC
  PYTHONPATH=$repo/units/run python3 - "$1" <<'EOF'
import shlex, sys
import pairspec
try:
    s = pairspec.load(sys.argv[1])
except pairspec.SpecError as error:
    print(f"build.sh: {error}", file=sys.stderr)
    sys.exit(1)
derived = s.derived()
def var(name, value):
    print(f"{name}={shlex.quote(value or '')}")
def arr(name, values):
    print(f"{name}=(" + " ".join(shlex.quote(v) for v in values) + ")")
def installable(unit):
    with open(f"{s.units_dir}/{unit}", encoding="utf-8") as f:
        return any(line.strip() == "[Install]" for line in f)
var("spec_name", s.name)
var("spec_version", s.version)
var("spec_server", s.server)
var("spec_client", s.client)
arr("spec_programs_server", derived["singlePrograms"]["server"])
arr("spec_programs_client", derived["singlePrograms"]["client"])
var("spec_units_dir", s.units_dir)
arr("spec_units", s.unit_files())
arr("spec_enable", [u for u in s.unit_files() if installable(u)])
arr("spec_exit_on_failure", derived["systemd"]["exitOnFailure"])
arr("spec_drop_in_files", s.drop_ins)
arr("spec_drop_ins", [f"{unit}.d/{name}" for name, units in s.drop_ins.items() for unit in units])
var("spec_programs_file", s.programs_file)
var("spec_users_file", s.users_file)
EOF
}

# What kind of executable FILE is: elf, script, or nothing (not an executable).
executable_kind() { # FILE
  local magic
  magic=$(head -c 4 "$1" | od -An -c | tr -d ' ')
  case $magic in
    177ELF) echo elf ;;
    '#!'*) echo script ;;
  esac
}

check_executables() { # every executable of the pair in $bin_dir, before anything is built
  local exe what
  for exe in "$spec_server" "$spec_client"; do
    what=server.executable; [ "$exe" = "$spec_server" ] || what=client.executable
    [ -f "$bin_dir/$exe" ] || die "missing executable $bin_dir/$exe (the spec's $what; --bin-dir DIR names where the programs are)"
    [ -x "$bin_dir/$exe" ] || die "$bin_dir/$exe is not executable (chmod +x it)"
    [ -n "$(executable_kind "$bin_dir/$exe")" ] || die "$bin_dir/$exe is neither an ELF executable nor a script with a #! line"
  done
}

# The repository commit of the spec, -dirty when a tracked file differs from it.
revision_of() { # DIR
  local rev
  rev=$(git -C "$1" rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
  [ -z "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ] || rev=$rev-dirty
  echo "$rev"
}

build_rootfs() { # cached; the stamp names what it was built from
  mkdir -p "$cache"
  local stamp="suite=$suite packages=$packages mirror=$mirror trim=2" r=$cache/rootfs.tmp
  if [ -d "$cache/rootfs" ] && [ "$(cat "$cache/rootfs.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "== reusing cached rootfs $cache/rootfs"
    return
  fi
  echo "== debootstrap $suite into $cache/rootfs (takes about a minute)"
  rm -rf "$cache/rootfs" "$r" "$cache/rootfs.stamp"
  debootstrap --variant=minbase --include="$packages" "$suite" "$r" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* \
    "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*.log
  if [ -d "$r"/usr/share/locale ]; then
    find "$r"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
  fi
  # Python's bytecode stays, compiled for every module: without it supervisord compiles
  # supervisor and pkg_resources at each container start (about 2.6 s of its start-up,
  # tests/bench/results/startpath-docker-cgroupv1/startstop.md), at the cost of about 16 MB.
  chroot "$r" sh -c 'exec python3 -m compileall -q -j0 /usr/lib/python3 /usr/lib/python3.*' >/dev/null
  # Every container must get its own machine id at boot.
  : > "$r"/etc/machine-id
  rm -f "$r"/var/lib/dbus/machine-id
  mv "$r" "$cache/rootfs"
  echo "$stamp" > "$cache/rootfs.stamp"
}

import_base() { # the rootfs as it is, imported once per rootfs; sets $base
  local base_id quiet=()
  base_id=$( (cat "$cache/rootfs.stamp"; stat -c %Y "$cache/rootfs.stamp") | sha256sum | cut -c1-12)
  base=$registry/duet-standin-base:$suite-$base_id
  if "$engine" image inspect "$base" >/dev/null 2>&1; then
    echo "== reusing base image $base"
    return
  fi
  echo "== $engine import $base"
  [ "$engine" = podman ] && quiet=(--quiet)  # else it reports each blob it copies
  tar -C "$cache/rootfs" --numeric-owner -c . | "$engine" import "${quiet[@]}" - "$base" >/dev/null
}

build() { # KEY CONTEXT_DIR: the Dockerfile there gets the image config, then is built
  local key=$1 ctx=$2 ref old new
  ref=$registry/$spec_name-$key
  python3 "$pairspec" dockerfile "$spec" "$key" "$version" "$revision" >> "$ctx/Dockerfile"
  echo "== $engine build $ref:latest $ref:$version"
  old=$("$engine" image inspect -f '{{.Id}}' "$ref:latest" 2>/dev/null || true)
  # Docker's legacy builder works offline and only needs the local base image. No
  # step needs a network.
  DOCKER_BUILDKIT=0 "$engine" build -q --network none -t "$ref:latest" -t "$ref:$version" "$ctx" >/dev/null 2> "$ctx.log" \
    || { grep -v 'DEPRECATED\|BuildKit\|buildx\|^ *$\|Install the' "$ctx.log" >&2 || true; die "$engine build of $ref failed"; }
  new=$("$engine" image inspect -f '{{.Id}}' "$ref:latest")
  # The previous build of this tag is now untagged: drop it unless a container or
  # another tag still uses it.
  if [ -n "$old" ] && [ "$old" != "$new" ]; then "$engine" rmi "$old" >/dev/null 2>&1 || true; fi
  built+=("$ref")
}

copy_programs() { # DIR EXECUTABLE...: into DIR/bin
  local dir=$1
  shift
  mkdir -p "$dir/bin"
  for exe in "$@"; do cp "$bin_dir/$exe" "$dir/bin/"; done
}

# FILE with its first line replaced by this rootfs's python (the scripts say #!/usr/bin/python3).
with_python() { # FILE
  echo "#!$python"
  tail -n +2 "$1"
}

# The major version of the rootfs's systemd package, from its dpkg status.
rootfs_systemd_major() {
  awk '/^Package: /{p=$2} p=="systemd" && /^Version: /{split($2, v, "."); print v[1]; exit}' \
    "$cache/rootfs/var/lib/dpkg/status" | grep -E '^[0-9]+$'
}

users_lines() { # the sysusers file's COPY line (RUN is the caller's)
  [ -z "$spec_users_file" ] || echo "COPY sysusers.conf /etc/sysusers.d/$spec_name.conf"
}

systemd_image() { # the units enabled, nothing else of Debian's running
  local ctx=$work/systemd unit sysusers="" drop_in
  mkdir -p "$ctx/units" "$ctx/drop-ins"
  copy_programs "$ctx" "$spec_server" "$spec_client"
  for unit in "${spec_units[@]}"; do cp "$spec_units_dir/$unit" "$ctx/units/"; done
  for drop_in in "${spec_drop_in_files[@]}"; do cp "$spec_units_dir/$drop_in" "$ctx/drop-ins/"; done
  cp "$base_files/journald-console.conf" "$base_files/exit-on-failure.conf" "$base_files/exit-on-failure.service" \
    "$base_files/restart-direct.conf" "$ctx/"
  local major
  major=$(rootfs_systemd_major) || die "no systemd package in $cache/rootfs"
  [ -z "$spec_users_file" ] || { cp "$spec_users_file" "$ctx/sysusers.conf"; sysusers="systemd-sysusers /etc/sysusers.d/$spec_name.conf && "; }
  {
    echo "FROM $base"
    echo "COPY bin/ /bin/"
    echo "COPY units/ /etc/systemd/system/"
    for drop_in in "${spec_drop_ins[@]}"; do
      echo "COPY drop-ins/${drop_in#*.d/} /etc/systemd/system/$drop_in"
    done
    for unit in "${spec_exit_on_failure[@]}"; do
      echo "COPY exit-on-failure.conf /etc/systemd/system/$unit.d/exit-on-failure.conf"
      # systemd >= 254 (sid) would trigger OnFailure= on every restart without it;
      # 252 (bookworm) does not know the key (units/base/restart-direct.conf).
      if [[ $unit == *.service ]] && [ "$major" -ge 254 ]; then
        echo "COPY restart-direct.conf /etc/systemd/system/$unit.d/restart-direct.conf"
      fi
    done
    [ ${#spec_exit_on_failure[@]} -eq 0 ] || echo "COPY exit-on-failure.service /etc/systemd/system/"
    echo "COPY journald-console.conf /etc/systemd/journald.conf.d/duet-console.conf"
    users_lines
    echo "RUN ${sysusers}systemctl enable ${spec_enable[*]} \\"
    echo " && systemctl disable supervisor.service getty@.service \\"
    echo " && systemctl mask console-getty.service getty.target systemd-logind.service e2scrub_reap.service \\"
    echo "      systemd-pstore.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \\"
    echo "      e2scrub_all.timer fstrim.timer"
  } > "$ctx/Dockerfile"
  build systemd "$ctx"
}

supervisord_image() { # supervisord as PID 1, through the library's wrapper
  local ctx=$work/supervisord
  mkdir -p "$ctx"
  copy_programs "$ctx" "$spec_server" "$spec_client"
  cat "$base_files/supervisord.conf" "$spec_programs_file" > "$ctx/supervisord.conf"
  with_python "$base_files/supervisord-pid1.py" > "$ctx/supervisord"
  with_python "$base_files/exit-on-fatal.py" > "$ctx/supervisord-exit-on-fatal"
  chmod 755 "$ctx/supervisord" "$ctx/supervisord-exit-on-fatal"
  [ -z "$spec_users_file" ] || cp "$spec_users_file" "$ctx/sysusers.conf"
  {
    echo "FROM $base"
    echo "COPY bin/ /bin/"
    echo "COPY supervisord.conf /etc/supervisord.conf"
    echo "COPY supervisord supervisord-exit-on-fatal /bin/"
    users_lines
    [ -z "$spec_users_file" ] || echo "RUN systemd-sysusers /etc/sysusers.d/$spec_name.conf"
  } > "$ctx/Dockerfile"
  build supervisord "$ctx"
}

single_image() { # KEY EXECUTABLE...: FROM scratch, or the Debian base for scripts
  local key=$1 ctx=$work/$1 exe lib scripts=()
  shift
  mkdir -p "$ctx/root"
  copy_programs "$ctx/root" "$@"
  for exe in "$@"; do
    [ "$(executable_kind "$bin_dir/$exe")" = elf ] || scripts+=("$exe")
  done
  if [ ${#scripts[@]} -gt 0 ]; then
    echo "== $spec_name-$key: script executable(s) ${scripts[*]}: on the Debian base rootfs (it has their interpreter), not FROM scratch"
    printf 'FROM %s\nCOPY root/ /\n' "$base" > "$ctx/Dockerfile"
  else
    for exe in "$@"; do
      ldd "$bin_dir/$exe" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
        cp -L --parents "$lib" "$ctx/root/"
      done
    done
    printf 'FROM scratch\nCOPY root/ /\n' > "$ctx/Dockerfile"
  fi
  build "$key" "$ctx"
}

save_images() {
  local ref name
  mkdir -p "$save_dir"
  for ref in "${built[@]}"; do
    name=${ref#"$registry"/}
    echo "== $engine save $ref:latest $ref:$version | gzip > $save_dir/$name.tar.gz"
    # gzip -1: about as small as -6 for these layers, and several times faster.
    "$engine" save "$ref:latest" "$ref:$version" | gzip -1 > "$save_dir/$name.tar.gz.tmp"
    mv "$save_dir/$name.tar.gz.tmp" "$save_dir/$name.tar.gz"
  done
}

main() {
  spec=$repo/units/pair.json
  bin_dir=$repo/target/release
  version=
  suite=bookworm
  engine=docker
  save_dir=
  while [ $# -gt 0 ]; do
    case "$1" in
      --spec) [ $# -ge 2 ] || usage; spec=$2; shift 2 ;;
      --bin-dir) [ $# -ge 2 ] || usage; bin_dir=$2; shift 2 ;;
      --version) [ $# -ge 2 ] || usage; version=$2; shift 2 ;;
      --suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
      --engine) [ $# -ge 2 ] || usage; engine=$2; shift 2 ;;
      --save) [ $# -ge 2 ] || usage; save_dir=$2; shift 2 ;;
      -h|--help) usage ;;
      *) echo "build.sh: unknown argument: $1" >&2; usage ;;
    esac
  done
  case "$suite" in bookworm|sid) ;; *) echo "build.sh: unsupported suite: $suite (bookworm or sid)" >&2; exit 2 ;; esac
  case "$engine" in docker|podman) ;; *) echo "build.sh: unsupported engine: $engine (docker or podman)" >&2; exit 2 ;; esac

  local vars
  # Set by spec_vars:
  spec_name='' spec_version='' spec_server='' spec_client='' spec_units_dir='' spec_programs_file='' spec_users_file=''
  spec_programs_server=() spec_programs_client=() spec_units=() spec_enable=() spec_exit_on_failure=()
  spec_drop_in_files=() spec_drop_ins=()
  vars=$(spec_vars "$spec") || exit 1
  eval "$vars"
  version=${version:-$spec_version}
  [ -n "$version" ] || die "no version: $spec has no \"version\"; pass --version V"
  [[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--version $version is not a valid image tag"
  bin_dir=$(cd "$bin_dir" 2>/dev/null && pwd) || die "no directory $bin_dir (--bin-dir)"
  check_executables
  revision=$(revision_of "$(dirname "$spec")")

  # shellcheck source=tests/ci/lib.sh
  . "$repo/tests/ci/lib.sh"
  need debootstrap python3 ldd tar sha256sum gzip od
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  need_engine "$engine"

  cache=$repo/.cache/standins/$suite
  build_rootfs
  import_base
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  built=()
  systemd_image
  supervisord_image
  single_image server "${spec_programs_server[@]}"
  single_image client "${spec_programs_client[@]}"
  [ -z "$save_dir" ] || save_images
  echo "== built in $engine: ${built[*]} (tags latest and $version, revision $revision)"
}

main "$@"
