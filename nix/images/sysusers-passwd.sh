# shellcheck shell=bash
# Adds the users of a sysusers.d file (the spec's users) to ETC/passwd and ETC/group and
# installs the file as ETC/sysusers.d/NAME.conf, so the users exist before anything boots:
# supervisord has no systemd-sysusers, and the systemd image does not run it either.
# Supports what the pairs' sysusers files use, `u NAME ID "GECOS" HOME [SHELL]` with a numeric
# ID (uid = gid); any other line fails the build instead of silently missing a user.
#
# usage: bash sysusers-passwd.sh SYSUSERS_CONF ETC NAME
#   NAME  the pair's name (the spec's name)
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: sysusers-passwd.sh SYSUSERS_CONF ETC NAME" >&2; exit 2; }
conf=$1 etc=$2 pair=$3
# ETC is an image root's, never the running system's.
case $(realpath -m "$etc") in
  /etc | /) echo "sysusers-passwd.sh: ETC must be an image root's etc, not $etc" >&2; exit 1 ;;
esac

lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $line in '#'* | '') continue ;; esac
  # u NAME ID "GECOS" HOME SHELL: the quoted GECOS may hold spaces.
  if [[ $line =~ ^u[[:space:]]+([a-z_][a-z0-9_-]*)[[:space:]]+([0-9]+)[[:space:]]+\"([^\"]*)\"[[:space:]]+([^[:space:]]+)([[:space:]]+([^[:space:]]+))?[[:space:]]*$ ]]; then
    name=${BASH_REMATCH[1]} id=${BASH_REMATCH[2]} gecos=${BASH_REMATCH[3]}
    home=${BASH_REMATCH[4]} shell=${BASH_REMATCH[6]:--}
    [ "$home" = - ] && home=/
    [ "$shell" = - ] && shell=/sbin/nologin
    if grep -q "^$name:" "$etc/passwd" "$etc/group" 2>/dev/null; then
      echo "sysusers-passwd.sh: $conf:$lineno: $name already exists" >&2
      exit 1
    fi
    echo "$name:x:$id:$id:$gecos:$home:$shell" >> "$etc/passwd"
    echo "$name:x:$id:" >> "$etc/group"
  else
    echo "sysusers-passwd.sh: $conf:$lineno: unsupported line: $line" >&2
    exit 1
  fi
done < "$conf"

mkdir -p "$etc/sysusers.d"
cp "$conf" "$etc/sysusers.d/$pair.conf"
