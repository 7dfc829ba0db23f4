# shellcheck shell=bash
# Builds the root filesystem of a single-binary image, duet-server or duet-client (run by
# nix/images/single.nix; plain bash + coreutils so tests/nix/test_image_roots.sh runs it
# without Nix). Only /bin/NAME and the passwd/group entries of the image's numeric User:
# no shell, no /tmp, nothing to write, so a read-only root filesystem works.
#
# usage: bash single-root.sh OUT BINARY
#   BINARY  the program, linked as /bin/$(basename BINARY)
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: single-root.sh OUT BINARY" >&2; exit 2; }
out=$1 binary=$2

[ -x "$binary" ] || { echo "single-root.sh: $binary is not an executable" >&2; exit 1; }
mkdir -p "$out/bin" "$out/etc"
ln -s "$binary" "$out/bin/$(basename "$binary")"
# The images run as 65534:65534 (units/images.json); name it for tools that look it up.
cat > "$out/etc/passwd" <<'EOF'
nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
EOF
cat > "$out/etc/group" <<'EOF'
nogroup:x:65534:
EOF
