# shellcheck shell=bash
# Names and run flags of every approach: pure functions of their arguments and of the
# spec's values (run.sh's spec_* globals, from run/pairspec.py). They look at no engine
# and no host, so `run.sh --print-names` / `--print-flags` print exactly what a run
# would use, and tests/runscript/ checks every cell of the flag table.

valid_project() { # NAME: part of every container and network name, and of the
  # server's DNS name on the separate network: lowercase letters, digits and '-'.
  [[ "$1" =~ ^[a-z0-9][a-z0-9-]+$ ]] && [ ${#1} -le 56 ]
}

image_keys() { # APPROACH -> the images it runs, in start order
  case "$1" in
    systemd) echo systemd ;;
    supervisord) echo supervisord ;;
    separate) echo server client ;;
  esac
}

image_ref() { local ref=spec_image_$1; echo "${!ref}"; }   # KEY
container_name() { echo "$1-$2"; }                  # PROJECT KEY

print_names() { # APPROACH PROJECT: what a run makes and uses, one `KIND NAME` a line
  local key
  for key in $(image_keys "$1"); do echo "image $(image_ref "$key")"; done
  for key in $(image_keys "$1"); do echo "container $(container_name "$2" "$key")"; done
  [ "$1" != separate ] || echo "network $2"
}

systemd_refusal() { # CGROUP SYSTEMD_VERSION: why systemd cannot boot here, or nothing
  if [ "$1" != v2 ] && [ "$2" -ge 256 ]; then
    echo "systemd $2 in $(image_ref systemd) refuses cgroup v1 (since 256) and this host has cgroup $1: use a cgroup v2 host or an image with systemd < 256"
  fi
}

engine_flags() { # ENGINE CGROUP: what every container of this engine needs, one argument a line
  # crun refuses hybrid hosts; runc copes.
  [ "$1 $2" != "podman hybrid" ] || printf '%s\n' --runtime runc
}

systemd_cgroup_flags() { # ENGINE CGROUP: one argument a line
  case "$1 $2" in
    "docker v1"|"docker hybrid")
      # Docker's default (host cgroupns, the hierarchy read-only) plus tmpfs for /run.
      # Never combine a private cgroupns with a writable cgroup mount: services would
      # land in the host's root cgroups.
      printf '%s\n' --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock ;;
    "docker v2")
      # systemd must write its own cgroup: host cgroupns, Docker's read-only mount of
      # the host tree stays, only duet.slice (the parent the container is put in; the
      # library's one slice, whatever the pair) is bound read-write over it. `-v /sys/fs/cgroup:/sys/fs/cgroup:rw` would let the
      # container write the host's whole cgroup tree. `-v`, not --mount: it creates
      # duet.slice when no container is in it yet.
      printf '%s\n' --cgroupns=host --cgroup-parent=duet.slice \
        -v /sys/fs/cgroup/duet.slice:/sys/fs/cgroup/duet.slice:rw \
        --tmpfs /run --tmpfs /run/lock --tmpfs /tmp ;;
    "podman hybrid")
      # Without the cgroup2 `unified` mount, units end up stuck in `deactivating`.
      printf '%s\n' --systemd=always -v /sys/fs/cgroup/unified:/sys/fs/cgroup/unified:rw ;;
    "podman v1"|"podman v2") printf '%s\n' --systemd=always ;;
  esac
}

container_flags() { # ENGINE CGROUP SYSTEMD_VERSION APPROACH PROJECT KEY PUBLISH
  # The run flags of one container (one argument a line; no image, no label), PUBLISH
  # being `ADDR:PORT` of the host side. The caller checks systemd_refusal first.
  local engine=$1 cgroup=$2 approach=$4 project=$5 key=$6 publish=$7
  echo --name; container_name "$project" "$key"
  engine_flags "$engine" "$cgroup"
  case "$approach" in
    systemd)
      # -t: without a tty systemd has no /dev/console and the engine's logs stay empty.
      echo -t
      systemd_cgroup_flags "$engine" "$cgroup" ;;
    separate)
      # Each program is PID 1 of its own container: non-root (the image's User),
      # read-only root, no capabilities, no privilege gain.
      printf '%s\n' --network "$project" --read-only --cap-drop ALL --security-opt no-new-privileges
      [ "$key" != client ] || printf '%s\n' -e "$spec_server_host_env=$(container_name "$project" server)" ;;
  esac
  # The engine's bound between the stop signal and SIGKILL, for `ENGINE stop` of anyone.
  printf '%s\n' --stop-timeout "$spec_stop_timeout"
  # Every approach: the engine restarts a container whose PID 1 ends (a crashed
  # supervisord or systemd, a killed server), as they restart their own programs;
  # `unless-stopped` keeps `docker stop` and `run.sh --stop` final.
  printf '%s\n' --restart unless-stopped
  [ "$key" = client ] || printf '%s\n' -p "$publish:$spec_port"
}

print_flags() { # ENGINE CGROUP SYSTEMD_VERSION APPROACH PROJECT PUBLISH: `NAME ARG...` a container
  # (the caller checks systemd_refusal first)
  local key args
  for key in $(image_keys "$4"); do
    mapfile -t args < <(container_flags "$1" "$2" "$3" "$4" "$5" "$key" "$6")
    echo "$(container_name "$5" "$key") ${args[*]:2}"
  done
}
