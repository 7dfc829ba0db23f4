# shellcheck shell=bash
# What this host offers: its cgroup mode, who holds a host port, what Podman can do
# here, and the systemd version inside an image. Reads only; creates nothing.

cgroup_mode() { # v1, hybrid or v2, from the filesystem types under /sys/fs/cgroup
  case "$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo missing)" in
    cgroup2fs) echo v2 ;;
    tmpfs)
      if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || true)" = cgroup2fs ]; then echo hybrid; else echo v1; fi ;;
    *) return 1 ;;
  esac
}

hex_ipv4() { # A.B.C.D -> the byte order of /proc/net/tcp
  local IFS=. octets
  read -r -a octets <<<"$1"
  printf '%02X%02X%02X%02X' "${octets[3]}" "${octets[2]}" "${octets[1]}" "${octets[0]}"
}

port_listeners() { # ADDR PORT: inodes of listening TCP sockets that a bind of ADDR:PORT collides with
  local addr=any
  [[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ "$1" != 0.0.0.0 ] && addr=$(hex_ipv4 "$1")
  # state 0A is LISTEN; a wildcard listener (v4 or dual-stack v6) collides with every
  # address, a specific one only with itself (or its v4-mapped form).
  awk -v port="$(printf '%04X' "$2")" -v addr="$addr" '
    FNR > 1 && $4 == "0A" {
      split($2, local, ":")
      if (local[2] != port) next
      a = local[1]
      if (addr == "any" || a == addr || a ~ /^0+$/ || a == "0000000000000000FFFF0000" addr) print $10
    }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

socket_owners() { # INODE: `PID COMM` of each process holding that socket
  # One `ls` over every fd instead of a readlink per fd (it fails on processes that
  # end meanwhile); processes of other users stay invisible without root.
  local pid
  { ls -l /proc/[0-9]*/fd/ 2>/dev/null || true; } | awk -v target="socket:[$1]" '
    /^\/proc\/[0-9]+\/fd\/?:$/ { split($0, p, "/"); pid = p[3]; next }
    $NF == target && !seen[pid]++ { print pid }' | while read -r pid; do
      echo "$pid $(cat "/proc/$pid/comm" 2>/dev/null || true)"
    done
}

time_wait_on_port() { # PORT: true while server-side connections of PORT linger in TIME_WAIT
  awk -v port="$(printf '%04X' "$1")" '
    FNR > 1 && $4 == "06" { split($2, local, ":"); if (local[2] == port) found = 1 }
    END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

publishing_containers() { # PORT: from `ps --format '{{.Names}} {{.Ports}}'` on stdin, who publishes it
  awk -v port="$1" '{ for (i = 2; i <= NF; i++) if ($i ~ ":" port "->") { print $1; next } }'
}

podman_dns_missing() { # BACKEND: why a new Podman network would have no DNS, or nothing
  local backend=$1 dir
  case "$backend" in
    netavark)
      for dir in /usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman; do
        [ ! -x "$dir/aardvark-dns" ] || return 0
      done
      echo "podman's netavark backend without aardvark-dns" ;;
    cni)
      for dir in /usr/local/libexec/cni /usr/libexec/cni /usr/local/lib/cni /usr/lib/cni /opt/cni/bin; do
        [ ! -x "$dir/dnsname" ] || return 0
      done
      echo "podman's CNI backend without the dnsname plugin" ;;
    *) echo "podman's network backend '$backend', which run.sh does not know" ;;
  esac
}

podman_dns_fix() { # BACKEND: what gives Podman's networks of that backend DNS
  case "$1" in
    netavark) echo "install aardvark-dns (Debian, Ubuntu: apt-get install aardvark-dns)" ;;
    cni) echo "install the dnsname CNI plugin (Debian, Ubuntu: apt-get install golang-github-containernetworking-plugin-dnsname)" ;;
    *) echo "use the netavark backend with aardvark-dns, or CNI with the dnsname plugin" ;;
  esac
}

podman_limit_flags() { # one argument a line
  # Podman raises nofile/nproc above our hard limits by default; that needs
  # CAP_SYS_RESOURCE, which some hosts withhold. Ask for what we may have (for nproc
  # also no more than pid_max, which Podman caps its own limit at).
  local cap_eff nofile nproc pid_max
  cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  (( (16#$cap_eff >> 24 & 1) == 0 )) || return 0
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  pid_max=$(cat /proc/sys/kernel/pid_max)
  if [ "$nproc" = unlimited ] || { [ -n "$pid_max" ] && [ "$nproc" -gt "$pid_max" ]; }; then nproc=$pid_max; fi
  [ "$nofile" = unlimited ] || printf '%s\n' --ulimit "nofile=$nofile:$nofile"
  [ -z "$nproc" ] || printf '%s\n' --ulimit "nproc=$nproc:$nproc"
}

archive_systemd_version() { # TARBALL.tar.gz: the systemd version inside a gzip'd docker-archive
  # Read before loading, so that a refusal loads nothing: the manifest names the layer
  # tarballs, whose file lists hold libsystemd-shared-<version>.so.
  local layers
  command -v tar >/dev/null && command -v gzip >/dev/null || return 1
  mapfile -t layers < <(gzip -dc "$1" | tar -xOf - manifest.json 2>/dev/null \
    | grep -o '"Layers"[[:space:]]*:[[:space:]]*\[[^]]*\]' | grep -o '"[^"]*"' | grep -v '^"Layers"$' | tr -d '"')
  [ ${#layers[@]} -gt 0 ] || return 1
  gzip -dc "$1" | tar -xOf - "${layers[@]}" 2>/dev/null | tar -tif - 2>/dev/null \
    | awk 'match($0, /libsystemd-shared-[0-9]+/) && !v { v = substr($0, RSTART + 18, RLENGTH - 18) } END { if (!v) exit 1; print v }'
}
