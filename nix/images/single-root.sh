# shellcheck shell=bash
# Builds the root filesystem of a single-program image, NAME-server or NAME-client (run by
# nix/images/single.nix; plain bash + coreutils so tests/nix/test_image_roots.sh runs it
# without Nix). Only /bin/PROGRAM for each program given and the passwd/group entries of the
# image's numeric User: no shell, no /tmp, nothing to write, so a read-only root
# filesystem works.
#
# usage: bash single-root.sh OUT PROGRAM...
#   PROGRAM  an executable, linked as /bin/$(basename PROGRAM)
set -euo pipefail

usage() {
  echo "usage: single-root.sh OUT PROGRAM..." >&2
  exit 2
}

main() {
  [ $# -ge 2 ] || usage
  local out=$1 program
  # A new directory, as a build's $out is: never a tree that exists (such as /).
  if [ -z "$out" ] || [ -e "$out" ]; then
    echo "single-root.sh: OUT must be a directory that does not exist yet, got '$out'" >&2
    exit 1
  fi
  shift
  mkdir -p "$out/bin" "$out/etc"
  for program in "$@"; do
    [ -x "$program" ] || { echo "single-root.sh: $program is not an executable" >&2; exit 1; }
    ln -s "$program" "$out/bin/$(basename "$program")"
  done
  # The images run as 65534:65534 (units/pair-spec.md); name it for tools that look it up.
  cat > "$out/etc/passwd" <<'PASSWD'
nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
PASSWD
  cat > "$out/etc/group" <<'GROUP'
nogroup:x:65534:
GROUP
}

main "$@"
