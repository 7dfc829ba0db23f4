#!/usr/bin/env bash
# Installs what the tests and the stand-in images need on Debian or Ubuntu (run as root):
# apt packages (container engines, debootstrap, qemu, Nix's evaluator, benchmark and lint
# tools), Rust >= 1.85 with rustfmt and clippy, deadnix and nixfmt (cargo install, a few
# minutes of compiling the first time) and the Python packages kubernetes-validate, pyflakes, mypy and ruff.
# Only what is missing is installed; when all is present it changes nothing and takes a
# second or two. Quiet when it works; on a failure it prints the tail of the tool's log
# (apt's own reason included). It starts no service: the tests run their own engines
# (tests/ci/private-engines.sh) and tests/try.sh starts dockerd when it needs it.
#
# usage: tests/install-deps.sh [--for tests|try] [--check]
#   --for try  only what tests/try.sh needs to build and run the images (engines,
#              debootstrap, Rust without its lint components); default: everything the
#              tests need
#   --check    install nothing: list what is missing (one line each), exit 1 if anything is
set -euo pipefail

prog=${0##*/}
rust_min=1.85
kubernetes_validate_version=1.37.0
# pyflakes and mypy for the VM test scripts' lint (tests/*/vm_lint.py); ruff for the lint stage.
python_lint=(pyflakes==3.4.0 mypy==1.19.1 ruff==0.17.6)
log_dir=${TMPDIR:-/tmp}/duet-install-deps
# Commands the tests call, each with the Debian package that provides it.
# A command already on PATH (whatever installed it) counts as present.
commands=(
  docker:docker.io dockerd:docker.io podman:podman runc:runc slirp4netns:slirp4netns
  debootstrap:debootstrap docker-compose:docker-compose wrk:wrk nginx:NGINX
  qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils ssh:openssh-client
  ssh-keygen:openssh-client mkfs.ext4:e2fsprogs nix-instantiate:nix-bin shellcheck:shellcheck
  python3:python3 curl:curl jq:jq ip:iproute2 nsenter:util-linux setsid:util-linux
  ps:procps git:git gzip:gzip tar:tar timeout:coreutils cc:gcc promtool:prometheus
  busybox:busybox
)
# The subset tests/try.sh needs (--for try).
try_commands=(
  docker:docker.io dockerd:docker.io podman:podman runc:runc debootstrap:debootstrap
  python3:python3 curl:curl ip:iproute2 git:git gzip:gzip tar:tar cc:gcc
)
profile=tests

say() { echo "$prog: $*"; }
die() { echo "$prog: $*" >&2; exit 1; }

# Runs a command with its output in a log; on failure shows the log's tail and stops.
quietly() { # label command...
  local label=$1 log
  shift
  mkdir -p "$log_dir"
  log=$log_dir/${label// /-}.log
  "$@" >"$log" 2>&1 && return 0
  echo "$prog: $label failed: $*" >&2
  tail -n 25 "$log" | sed 's/^/  | /' >&2
  die "$label failed (full log: $log)"
}

# nginx-light where the release has it (Debian 12, Ubuntu 22.04), else nginx.
nginx_package() {
  if apt-cache show nginx-light >/dev/null 2>&1; then echo nginx-light; else echo nginx; fi
}

missing_packages() { # prints the package of every missing command, once each
  local entry cmd pkg
  [ "$profile" = try ] && commands=("${try_commands[@]}")
  for entry in "${commands[@]}"; do
    cmd=${entry%%:*} pkg=${entry#*:}
    command -v "$cmd" >/dev/null 2>&1 && continue
    [ "$pkg" = NGINX ] && pkg=$(nginx_package)
    echo "$pkg"
  done
  # Not commands: the host's systemd units (the image root checks read them), libc headers
  # for linking, pip for kubernetes-validate.
  [ -f /usr/include/stdio.h ] || echo libc6-dev
  [ "$profile" = try ] && return 0
  [ -f /usr/lib/systemd/system/halt.target ] || echo systemd
  python3 -m pip --version >/dev/null 2>&1 || echo python3-pip
}

# A newer qemu-utils (e.g. from bookworm-backports) Breaks the archive's qemu-system-common:
# install every qemu package already present at the version qemu-system-x86 will get.
qemu_pins() { # packages... (the ones about to be installed)
  [[ " $* " == *" qemu-system-x86 "* ]] || return 0
  local candidate pkg installed
  candidate=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ] || return 0
  while read -r pkg installed; do
    dpkg --compare-versions "$installed" gt "$candidate" || continue
    apt-cache madison "$pkg" | awk -v v="$candidate" '$3 == v {found=1} END {exit !found}' || continue
    echo "$pkg=$candidate"
  done < <(dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' 'qemu-*' 2>/dev/null | awk '$1 == "ii" {print $2, $3}')
}

# Only promtool is wanted from Debian's prometheus package, whose install starts the
# Prometheus server on a host booted with systemd.
stop_prometheus_server() { # packages just installed...
  [[ " $* " == *" prometheus "* ]] && [ -d /run/systemd/system ] || return 0
  quietly "systemctl disable prometheus" systemctl disable --now prometheus.service
}

install_packages() {
  local packages pins
  mapfile -t packages < <(missing_packages | sort -u)
  [ ${#packages[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "no apt-get: install by hand: ${packages[*]}"
  say "apt: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  quietly "apt-get update" apt-get update
  # The package names may differ by release: resolve nginx now that the lists are fresh.
  mapfile -t packages < <(missing_packages | sort -u)
  mapfile -t pins < <(qemu_pins "${packages[@]}")
  [ ${#pins[@]} -eq 0 ] || say "apt: pinning ${pins[*]} (a newer build is installed that the archive's qemu-system-x86 cannot use)"
  quietly "apt-get install" apt-get install -y --no-install-recommends --allow-downgrades \
    "${packages[@]}" "${pins[@]}"
  stop_prometheus_server "${packages[@]}"
}

rust_version_ok() {
  local v
  v=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "$rust_min"
}

install_rust() {
  export PATH=$HOME/.cargo/bin:$PATH
  if ! command -v cargo >/dev/null || ! rust_version_ok; then
    command -v rustup >/dev/null || {
      say "rust: installing rustup and the stable toolchain (Rust >= $rust_min; Debian's rustc is older)"
      local script=$log_dir/rustup-init.sh
      mkdir -p "$log_dir"
      quietly "download rustup" curl --proto '=https' --tlsv1.2 -sSf -o "$script" https://sh.rustup.rs
      quietly "rustup-init" sh "$script" -y --profile minimal
    }
    quietly "rustup toolchain" rustup toolchain install stable --profile minimal
    quietly "rustup default" rustup default stable
  fi
  [ "$profile" = try ] && return 0
  if ! command -v rustfmt >/dev/null || ! command -v cargo-clippy >/dev/null; then
    say "rust: adding components rustfmt clippy"
    quietly "rustup component add" rustup component add rustfmt clippy
  fi
  local crate bin
  for crate in deadnix nixfmt_rs; do
    bin=$crate
    [ $crate = nixfmt_rs ] && bin=nixfmt
    command -v "$bin" >/dev/null && continue
    say "rust: cargo install --locked $crate (compiles for a few minutes)"
    quietly "cargo install $crate" cargo install --locked "$crate"
  done
}

kubernetes_validate_ok() {
  [ "$(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" = "$kubernetes_validate_version" ]
}

python_lint_ok() {
  local spec
  for spec in "${python_lint[@]}"; do
    [ "$(python3 -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "${spec%%==*}" 2>/dev/null)" = "${spec#*==}" ] || return 1
  done
}

install_python_packages() {
  [ "$profile" = try ] && return 0
  local wanted=()
  kubernetes_validate_ok || wanted+=("kubernetes-validate==$kubernetes_validate_version")
  python_lint_ok || wanted+=("${python_lint[@]}")
  [ ${#wanted[@]} -gt 0 ] || return 0
  say "pip: ${wanted[*]}"
  # Debian marks its python3 externally managed; these packages with their few
  # dependencies go to /usr/local, which Debian's packages do not use.
  quietly "pip install" env PIP_BREAK_SYSTEM_PACKAGES=1 \
    python3 -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
}

check_only() {
  local missing=() pkg
  export PATH=$HOME/.cargo/bin:$PATH
  while read -r pkg; do missing+=("apt package $pkg"); done < <(missing_packages | sort -u)
  if ! command -v cargo >/dev/null || ! rust_version_ok; then missing+=("Rust >= $rust_min (cargo, rustc)"); fi
  if [ "$profile" != try ]; then
    command -v rustfmt >/dev/null || missing+=("rustfmt (rustup component add rustfmt)")
    command -v cargo-clippy >/dev/null || missing+=("clippy (rustup component add clippy)")
    command -v deadnix >/dev/null || missing+=("deadnix (cargo install --locked deadnix)")
    command -v nixfmt >/dev/null || missing+=("nixfmt (cargo install --locked nixfmt_rs)")
    kubernetes_validate_ok || missing+=("kubernetes-validate==$kubernetes_validate_version (pip)")
    python_lint_ok || missing+=("${python_lint[*]} (pip)")
    # kubectl renders units/kubernetes with its built-in kustomize; this machine kind ships
    # it. Debian's kubernetes-client (1.20, kustomize v2) cannot read the kustomization.
    command -v kubectl >/dev/null || missing+=("kubectl with kustomize v5 (not from Debian: its 1.20 is too old)")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  printf 'missing: %s\n' "${missing[@]}"
  return 1
}

main() {
  local check=0
  while [ $# -gt 0 ]; do
    case $1 in
      --check) check=1; shift ;;
      --for)
        case ${2:-} in tests | try) profile=$2 ;; *) echo "$prog: --for needs tests or try" >&2; exit 2 ;; esac
        shift 2 ;;
      -h | --help) echo "usage: $prog [--for tests|try] [--check]"; exit 0 ;;
      *) echo "$prog: unknown argument: $1 (usage: $prog [--for tests|try] [--check])" >&2; exit 2 ;;
    esac
  done
  [ $check = 0 ] || { check_only; return; }
  [ "$(id -u)" = 0 ] || die "run as root (apt-get, and the tests need root too)"
  local start=$SECONDS
  install_packages
  install_rust
  install_python_packages
  check_only >&2 || die "still missing after installing (see above)"
  say "all present ($((SECONDS - start)) s)"
}

main "$@"
