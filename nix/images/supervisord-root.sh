# shellcheck shell=bash
# Builds the root filesystem of the duet-supervisord image (run by nix/images/supervisord.nix;
# plain bash + coreutils so tests/nix/test_image_roots.sh runs it without Nix).
#
# usage: bash supervisord-root.sh OUT SUPERVISOR DUET SUPERVISORD_CONF
#   SUPERVISOR        python3Packages.supervisor: bin/supervisord, bin/supervisorctl
#   DUET              crate package: bin/duet-server, bin/duet-client
#   SUPERVISORD_CONF  units/supervisord.conf, copied byte for byte to /etc/supervisord.conf
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: supervisord-root.sh OUT SUPERVISOR DUET SUPERVISORD_CONF" >&2; exit 2; }
out=$1 supervisor=$2 duet=$3 conf=$4

mkdir -p "$out/bin" "$out/etc" "$out/run" "$out/tmp" "$out/var/log" "$out/root"
for tool in supervisord supervisorctl; do
  [ -x "$supervisor/bin/$tool" ] || { echo "supervisord-root.sh: no $supervisor/bin/$tool" >&2; exit 1; }
  ln -s "$supervisor/bin/$tool" "$out/bin/$tool"
done
ln -s "$duet/bin/duet-server" "$out/bin/duet-server"
ln -s "$duet/bin/duet-client" "$out/bin/duet-client"
# supervisorctl finds /etc/supervisord.conf on its own (supervisor's default search path).
cp "$conf" "$out/etc/supervisord.conf"
ln -s ../run "$out/var/run"
cat > "$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
EOF
cat > "$out/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
