#!/usr/bin/env bash
# Evaluates the flake of this checkout (its working tree, committed or not) without nixpkgs
# and without network, with Nix 2.34 or later from a Debian sid chroot:
#   1. nix flake show --all-systems
#   2. nix flake check --no-build --all-systems (instantiates every output)
#   3. the consumer flake tests/second-pair/flake.nix (the library on a second pair), its
#      duet input this checkout: nix flake show and check --no-build --all-systems
#   4. lib.mkImages on a broken spec stops the evaluation naming the field
#   5. every app's program is bin/NAME of its package (tests/nix/app-programs.nix), and
#      load-and-run's script, exactly as the stub's writeShellApplication writes it,
#      passes shellcheck (here, outside the chroot)
#   6. the drvPath of every package, check, app, dev shell and formatter, before and after
#      a commit that only changes README.md: nothing may change but the image-*-labelled
#      outputs, which must
#   7. the broken copies of tests/nix/broken/flake-copies.json, one per class of error the
#      stub catches, each rejected with the message expected.
# nixpkgs is replaced by tests/nix/stub-nixpkgs (nixpkgs' real lib, stand-ins of its own
# for packages and builders); crane and nix2container are the real ones at the revisions
# of flake.lock; advisory-db is an empty directory. See tests/nix/README.md.
#
# usage: tests/nix/eval-flake.sh
# env:   CRANE_GIT, NIX2CONTAINER_GIT, NIXPKGS_LIB_GIT  git directories (bare or not) of
#          github:ipetkov/crane, github:nlewo/nix2container, github:nix-community/nixpkgs.lib
#          (default: .cache/nix-eval/git/{crane,nix2container,nixpkgs.lib}.git)
#        NIXPKGS_LIB_REV  revision of nixpkgs.lib to use (default: lib_rev_default below,
#                         the lib nixos-26.05 branched with; see tests/nix/README.md)
#        NIX_EVAL_CACHE   where the chroot and inputs live (default: .cache/nix-eval)
#        DEBIAN_MIRROR    for the chroot (default: http://deb.debian.org/debian)
# Needs root (debootstrap, chroot), git, python3, debootstrap, unshare, shellcheck.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${NIX_EVAL_CACHE:-$repo/.cache/nix-eval}
chroot_dir=$cache/sid
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
min_nix=2.34
# nixpkgs.lib's merge of 2026-05-24 02:28 UTC: lib/.version 26.05, and its lib is nixpkgs
# master's at 20dd424f, the last lib commit before "26.11 is Zokor" (84c24e25, the
# branch-off of release-26.05, which flake.lock's nixos-26.05 follows). nixpkgs.lib
# mirrors master only, so the lib fixes backported to release-26.05 are not in it.
lib_rev_default=2db1633d3742103a1eb856f5d479e6a0477ddc42

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "missing tool: $tool"
  done
}

# The locked revision of a flake input, from this checkout's flake.lock.
locked_rev() { # input
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][sys.argv[2]]["locked"]["rev"])' \
    "$repo/flake.lock" "$1"
}

# Debian sid with nix-bin, made once; later runs reuse it.
ensure_chroot() {
  local stamp="sid minbase nix-bin libdbi-perl $mirror"
  if [ -x "$chroot_dir/usr/bin/nix" ] && [ "$(cat "$cache/sid.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  echo "-- debootstrap sid with nix-bin into $chroot_dir (a few minutes, once)"
  rm -rf "$chroot_dir" "$chroot_dir.tmp"
  mkdir -p "$cache"
  debootstrap --variant=minbase --include=nix-bin,libdbi-perl,ca-certificates sid "$chroot_dir.tmp" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -rf "$chroot_dir.tmp"/var/cache/apt/archives/*.deb
  mv "$chroot_dir.tmp" "$chroot_dir"
  echo "$stamp" >"$cache/sid.stamp"
}

# DIR of the chroot's /eval/inputs/NAME: REV of the git directory GIT, unpacked once.
unpack_input() { # name git rev
  local name=$1 git=$2 rev=$3 dir=$chroot_dir/eval/inputs/$1
  [ -d "$git" ] || fail "no git directory $git for $name (see tests/nix/README.md)"
  git --git-dir="$git" cat-file -e "$rev^{commit}" 2>/dev/null || fail "$git has no commit $rev ($name)"
  if [ "$(cat "$dir.rev" 2>/dev/null)" != "$rev" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    git --git-dir="$git" archive "$rev" | tar -x -C "$dir"
    echo "$rev" >"$dir.rev"
  fi
  echo "   $name $rev"
}

prepare_inputs() {
  local lib_git=${NIXPKGS_LIB_GIT:-$cache/git/nixpkgs.lib.git}
  local lib_rev
  echo "-- inputs"
  unpack_input crane "${CRANE_GIT:-$cache/git/crane.git}" "$(locked_rev crane)"
  unpack_input nix2container "${NIX2CONTAINER_GIT:-$cache/git/nix2container.git}" "$(locked_rev nix2container)"
  lib_rev=$(git --git-dir="$lib_git" rev-parse "${NIXPKGS_LIB_REV:-$lib_rev_default}^{commit}" 2>/dev/null) ||
    fail "no nixpkgs.lib revision ${NIXPKGS_LIB_REV:-$lib_rev_default} in $lib_git (see tests/nix/README.md)"
  unpack_input nixpkgs-lib "$lib_git" "$lib_rev"
  rm -rf "$chroot_dir/eval/inputs/advisory-db" "$chroot_dir/eval/stub-nixpkgs"
  mkdir -p "$chroot_dir/eval/inputs/advisory-db"
  echo "an empty stand-in for github:rustsec/advisory-db" >"$chroot_dir/eval/inputs/advisory-db/README"
  cp -r "$repo/tests/nix/stub-nixpkgs" "$chroot_dir/eval/stub-nixpkgs"
  cp "$repo/tests/nix/app-programs.nix" "$chroot_dir/eval/app-programs.nix"
}

# The checkout's working tree (tracked and untracked files, without ignored ones) as the
# first commit of a scratch repository in the chroot: the flake Nix evaluates.
prepare_flake() {
  local flake=$chroot_dir/eval/flake
  rm -rf "$flake"
  mkdir -p "$flake"
  git -C "$repo" ls-files -z --cached --others --exclude-standard | existing_files |
    tar -C "$repo" --null -T - -c | tar -C "$flake" -x
  scratch_git init -q
  scratch_git add -A
  scratch_git commit -q -m "working tree of $(git -C "$repo" rev-parse --short HEAD)"
}

# Of the NUL-separated paths on stdin, those that exist (a deleted file is still listed).
existing_files() {
  local f
  while IFS= read -r -d '' f; do
    if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then printf '%s\0' "$f"; fi
  done
}

scratch_git() {
  git -C "$chroot_dir/eval/flake" -c user.name=eval -c user.email=eval@localhost \
    -c commit.gpgsign=false "$@"
}

# Runs a command in the chroot, in a mount namespace of its own so /proc and /dev go
# away with it.
in_chroot() { # command...
  # shellcheck disable=SC2016 # the inner script's variables are its own
  unshare --mount --fork -- bash -c '
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    exec chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root NIX_CONFIG="$NIX_CONFIG" "$@"
  ' bash "$chroot_dir" "$@"
}

consumer='git+file:///eval/flake?dir=tests/second-pair'
nix_config=$'experimental-features = nix-command flakes\nsandbox = false\nsubstituters =\n'
nix_config+=$'flake-registry =\nbuild-users-group =\nwarn-dirty = false\naccept-flake-config = false\n'

# Runs nix in the chroot: no network, no substituters, no flake registry, and the lock
# file as it is.
chroot_nix() { # nix-arguments...
  NIX_CONFIG=$nix_config in_chroot nix "$@" --no-update-lock-file
}

# Locks the scratch flake's inputs to the local ones and commits the lock file there.
# (Overriding them at each command instead would drop self.rev: Nix gives a flake whose
# lock file differs from the committed one no revision.)
lock_inputs() {
  NIX_CONFIG=$nix_config in_chroot nix flake lock /eval/flake --output-lock-file /eval/flake.lock \
    --override-input nixpkgs path:/eval/stub-nixpkgs \
    --override-input nixpkgs/nixpkgs-lib path:/eval/inputs/nixpkgs-lib \
    --override-input crane path:/eval/inputs/crane \
    --override-input nix2container path:/eval/inputs/nix2container \
    --override-input nix2container/nixpkgs path:/eval/stub-nixpkgs \
    --override-input nix2container/nixpkgs/nixpkgs-lib path:/eval/inputs/nixpkgs-lib \
    --override-input advisory-db path:/eval/inputs/advisory-db 2>"$cache/lock.err" ||
    { cat "$cache/lock.err" >&2; fail "nix flake lock"; }
  mv "$chroot_dir/eval/flake.lock" "$chroot_dir/eval/flake/flake.lock"
  scratch_git commit -q -m "inputs locked to local paths" flake.lock
}

# Runs nix on the consumer flake with its duet input the scratch flake, whose own lock names
# the local inputs. Not locked into a file: Nix re-resolves a relative path input
# (path:../..) at each run and would find a committed lock out of date.
consumer_nix() { # nix-arguments...
  NIX_CONFIG=$nix_config in_chroot nix "$@" --override-input duet git+file:///eval/flake --no-write-lock-file
}

check_consumer() { # out-dir
  local out=$1
  [ -f "$chroot_dir/eval/flake/tests/second-pair/flake.nix" ] || fail "no tests/second-pair/flake.nix"
  echo "-- consumer flake tests/second-pair: nix flake show, check --no-build --all-systems"
  consumer_nix flake show --all-systems "$consumer" >"$out/consumer-show.txt" 2>"$out/consumer-show.err" ||
    { cat "$out/consumer-show.err" >&2; fail "nix flake show (consumer)"; }
  cat "$out/consumer-show.txt"
  consumer_nix flake check --no-build --all-systems "$consumer" 2>&1 | tee "$out/consumer-check.txt" ||
    fail "nix flake check --no-build (consumer)"
  grep -q '^error' "$out/consumer-check.txt" && fail "nix flake check (consumer) printed an error"
  local count
  # shellcheck disable=SC2016 # a Nix expression
  count=$(consumer_nix eval --json "$consumer#." --apply 'o: builtins.length (builtins.concatMap
    (kind: builtins.concatMap (s: builtins.attrNames o.${kind}.${s}) (builtins.attrNames o.${kind}))
    [ "packages" "apps" "checks" ])') || fail "counting the consumer's outputs"
  echo "consumer flake: $count outputs over both systems instantiated"
}

# lib.mkImages on a broken spec of tests/specs/bad/: the evaluation stops with the line of
# nix/lib/spec.nix naming the field (tests/nix/eval_bad_specs.py checks every case with
# nix-instantiate; this is the same through the flake and the real nixpkgs lib).
check_bad_spec() { # out-dir
  local out=$1 spec=/eval/flake/tests/specs/bad/unknown-ability.json
  local want="pair spec $spec: server.abilities: unknown ability"
  echo "-- lib.mkImages on a bad spec (tests/specs/bad/unknown-ability.json)"
  if chroot_nix eval --impure --raw --expr "let duet = builtins.getFlake \"git+file:///eval/flake\";
      pkgs = duet.inputs.nixpkgs.legacyPackages.x86_64-linux;
    in (duet.lib.mkImages { inherit pkgs; spec = $spec; server = pkgs.bash; client = pkgs.bash; })
      .packages.image-systemd.drvPath" >"$out/bad-spec.txt" 2>&1; then
    fail "lib.mkImages accepted $spec"
  fi
  grep -qF "$want" "$out/bad-spec.txt" || { cat "$out/bad-spec.txt" >&2; fail "no '$want' in the error"; }
  grep -F "$want" "$out/bad-spec.txt"
}

# {kind: {system: {name: drvPath}}} for packages, checks, dev shells and the formatter, and
# the store path each app runs, as JSON on stdout.
drv_paths() {
  local expr='outputs: {
    packages = builtins.mapAttrs (_: builtins.mapAttrs (_: p: p.drvPath)) outputs.packages;
    checks = builtins.mapAttrs (_: builtins.mapAttrs (_: c: c.drvPath)) outputs.checks;
    apps = builtins.mapAttrs (_: builtins.mapAttrs (_: a: builtins.unsafeDiscardStringContext a.program)) outputs.apps;
    devShells = builtins.mapAttrs (_: builtins.mapAttrs (_: d: d.drvPath)) outputs.devShells;
    formatter = builtins.mapAttrs (_: f: { formatter = f.drvPath; }) outputs.formatter;
  }'
  chroot_nix eval --json /eval/flake#. --apply "$expr"
}

compare_drv_paths() { # before.json after.json
  python3 - "$1" "$2" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
def flat(doc):
    return {f"{kind}.{system}.{name}": path
            for kind, systems in doc.items()
            for system, outputs in systems.items()
            for name, path in outputs.items()}
before, after = flat(before), flat(after)
if before.keys() != after.keys():
    sys.exit(f"FAIL: outputs differ: {sorted(before.keys() ^ after.keys())}")
labelled = {k for k in before if k.endswith("-labelled")}
changed = {k for k in before if before[k] != after[k]}
wrong = sorted(changed - labelled)
stuck = sorted(labelled - changed)
images = sorted(k for k in before if ".image-" in k or k.endswith(".images") or ".vm-" in k
                or k.startswith("apps."))
tools = sorted(k for k in before if k.startswith(("devShells.", "formatter.")))
if len(tools) != 4:
    sys.exit(f"FAIL: expected a dev shell and a formatter for each of two systems, found {tools}")
print(f"{len(before)} outputs compared: {len(before) - len(changed)} unchanged, "
      f"{len([k for k in images if k not in labelled and k not in changed])} of them image, "
      f"VM-test and app outputs, {len([k for k in tools if k not in changed])} dev shell and "
      f"formatter outputs; {len(changed)} changed: "
      f"{len(changed & labelled)} of the {len(labelled)} image-*-labelled outputs, "
      f"{len(wrong)} others")
if wrong:
    sys.exit("FAIL: a README-only commit changed " + ", ".join(wrong))
if stuck:
    sys.exit("FAIL: a new commit did not change " + ", ".join(stuck))
PY
}

# Every app's program, of this flake and of the consumer flake, is bin/NAME of its package.
check_app_programs() { # out-dir
  local out=$1
  echo "-- app programs: bin/NAME of their package (tests/nix/app-programs.nix)"
  chroot_nix eval --impure --json /eval/flake#apps --apply 'import /eval/app-programs.nix' \
    >"$out/apps.json" 2>"$out/apps.err" || { cat "$out/apps.err" >&2; fail "an app's program is not where its package puts it"; }
  consumer_nix eval --impure --json "$consumer#apps" --apply 'import /eval/app-programs.nix' \
    >"$out/consumer-apps.json" 2>"$out/consumer-apps.err" ||
    { cat "$out/consumer-apps.err" >&2; fail "an app's program is not where its package puts it (consumer)"; }
  python3 -c 'import json,sys; print(sum(len(a) for f in sys.argv[1:] for a in json.load(open(f)).values()), "app programs checked")' \
    "$out/apps.json" "$out/consumer-apps.json"
}

# load-and-run's script as the stub's writeShellApplication writes it (nixpkgs' header,
# store paths interpolated) through shellcheck, with its excludeShellChecks, as nixpkgs'
# checkPhase runs it at build time.
check_load_and_run_script() { # out-dir
  local out=$1 flags
  echo "-- shellcheck: load-and-run's script as writeShellApplication writes it"
  # shellcheck disable=SC2016 # a Nix expression
  chroot_nix eval --impure --raw --expr 'let duet = builtins.getFlake "git+file:///eval/flake";
      pkgs = duet.inputs.nixpkgs.legacyPackages.x86_64-linux;
      app = (duet.lib.mkImages { inherit pkgs; spec = /eval/flake/units/pair.json;
        server = pkgs.bash; client = pkgs.bash; }).loadAndRun;
    in builtins.unsafeDiscardStringContext app.text' >"$out/load-and-run.sh" ||
    fail "reading load-and-run's script"
  # shellcheck disable=SC2016
  flags=$(chroot_nix eval --impure --raw --expr 'let duet = builtins.getFlake "git+file:///eval/flake";
      pkgs = duet.inputs.nixpkgs.legacyPackages.x86_64-linux;
    in (duet.lib.mkImages { inherit pkgs; spec = /eval/flake/units/pair.json;
      server = pkgs.bash; client = pkgs.bash; }).loadAndRun.checkPhase') || fail "reading load-and-run's checkPhase"
  # shellcheck disable=SC2016 # the checkPhase's own $target
  case $flags in "shellcheck "*' "$target"') ;; *) fail "load-and-run's checkPhase is not shellcheck: $flags" ;; esac
  flags=${flags#shellcheck }
  flags=${flags%\"\$target\"}
  # shellcheck disable=SC2086 # the flags as the checkPhase words them
  shellcheck $flags "$out/load-and-run.sh" || fail "shellcheck of load-and-run's script"
  echo "load-and-run's script: shellcheck clean"
}

# Each broken copy of tests/nix/broken/flake-copies.json in the scratch flake: the
# evaluation must fail with the message expected. The scratch flake is reset after each.
check_broken_copies() { # out-dir
  local out=$1 count i probe expect log
  local copies=$repo/tests/nix/broken/flake-copies.json
  count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["copies"]))' "$copies")
  echo "-- broken copies (tests/nix/broken/flake-copies.json): each must be rejected"
  for ((i = 0; i < count; i++)); do
    { read -r probe; read -r expect; } < <(python3 - "$copies" "$i" "$chroot_dir/eval/flake" <<'PY'
import json, pathlib, sys
copy = json.load(open(sys.argv[1]))["copies"][int(sys.argv[2])]
path = pathlib.Path(sys.argv[3]) / copy["file"]
text = path.read_text()
if copy["old"] not in text:
    sys.exit(f"FAIL: broken copy ({copy['class']}): {copy['old']!r} is not in {copy['file']}")
path.write_text(text.replace(copy["old"], copy["new"], 1))
print(copy["probe"])
print(copy["expect"])
PY
    ) || fail "cannot make broken copy $i"
    [ -n "$expect" ] || fail "broken copy $i: no expected message"
    log=$out/broken-$i.txt
    case $probe in
      drv:*) chroot_nix eval --raw "/eval/flake#${probe#drv:}.drvPath" >"$log" 2>&1 ;;
      app:*) chroot_nix eval --impure --json "/eval/flake#${probe#app:}" --apply 'apps: import /eval/app-programs.nix { probe = apps; }' >"$log" 2>&1 ;;
      *) fail "broken copy $i: unknown probe $probe" ;;
    esac && { cat "$log" >&2; fail "broken copy $i evaluated: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["copies"][int(sys.argv[2])]["class"])' "$copies" "$i")"; }
    grep -qF -- "$expect" "$log" || { cat "$log" >&2; fail "broken copy $i: no '$expect' in the error"; }
    echo "rejected: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["copies"][int(sys.argv[2])]["class"])' "$copies" "$i"): $expect"
    scratch_git checkout -q -- .
  done
  echo "broken copies: all $count rejected"
}

main() {
  [ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"
  need git python3 debootstrap unshare chroot tar shellcheck
  ensure_chroot
  local version
  version=$(NIX_CONFIG=$nix_config in_chroot nix --version | awk '{print $NF}')
  python3 -c 'import sys; v = lambda s: tuple(int(x) for x in s.split(".")[:2]); sys.exit(v(sys.argv[1]) < v(sys.argv[2]))' \
    "$version" "$min_nix" || fail "nix $version in the chroot, need >= $min_nix"
  echo "-- nix $version (Debian sid chroot $chroot_dir)"
  prepare_inputs
  prepare_flake
  lock_inputs
  local out=$cache/out
  mkdir -p "$out"

  echo "-- nix flake show --all-systems"
  chroot_nix flake show --all-systems /eval/flake >"$out/show.txt" 2>"$out/show.err" ||
    { cat "$out/show.err" >&2; fail "nix flake show"; }
  cat "$out/show.txt"

  echo "-- nix flake check --no-build --all-systems"
  chroot_nix flake check --no-build --all-systems /eval/flake 2>&1 | tee "$out/check.txt" ||
    fail "nix flake check --no-build"
  grep -q '^error' "$out/check.txt" && fail "nix flake check printed an error"

  check_consumer "$out"
  check_bad_spec "$out"
  check_app_programs "$out"
  check_load_and_run_script "$out"

  echo "-- drvPaths across a commit that changes only README.md"
  drv_paths >"$out/before.json" || fail "drvPaths of the first commit"
  echo "A line that changes nothing a build uses." >>"$chroot_dir/eval/flake/README.md"
  scratch_git commit -q -a -m "README only"
  drv_paths >"$out/after.json" || fail "drvPaths after the README-only commit"
  compare_drv_paths "$out/before.json" "$out/after.json"
  check_broken_copies "$out"
  echo "eval-flake: all passed (outputs in $out)"
}

main "$@"
