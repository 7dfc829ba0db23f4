# shellcheck shell=bash
# Names and run flags of every approach: pure functions of their arguments and of the
# spec's values (run.sh's spec_* globals, from run/pairspec.py). They look at no engine
# and no host, so `run.sh --print-names` / `--print-flags` print exactly what a run
# would use, and tests/runscript/ checks every cell of the flag table. Those with more
# than one input take them by name (`engine=docker cgroup=v2 ...`), read by `inputs`.

inputs() { # NAME... -- NAME=VALUE...: sets the caller's locals NAME (declared, unset) from
  # its NAME=VALUE arguments: every NAME given, and nothing else.
  local _wanted=() _arg _name
  while [ "$1" != -- ]; do _wanted+=("$1"); shift; done
  shift
  for _arg in "$@"; do
    _name=${_arg%%=*}
    if [[ "$_arg" != *=* || " ${_wanted[*]} " != *" $_name "* ]]; then
      echo "run.sh: internal error: ${FUNCNAME[1]} takes ${_wanted[*]}, not '$_arg'" >&2
      return 1
    fi
    printf -v "$_name" '%s' "${_arg#*=}"
  done
  for _name in "${_wanted[@]}"; do
    [ -n "${!_name+set}" ] || { echo "run.sh: internal error: ${FUNCNAME[1]} needs $_name=" >&2; return 1; }
  done
}

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
image_tarball() { echo "$1/$spec_name-$2.tar.gz"; }       # DIR KEY: what --image-dir holds
# The one place a container's name is made: PROJECT KEY (KEY: systemd, supervisord,
# server, client). The separate network is named PROJECT.
container_name() { echo "$1-$2"; }

print_names() { # approach= project=: what a run makes and uses, one `KIND NAME` a line
  local approach project key
  inputs approach project -- "$@" || return
  for key in $(image_keys "$approach"); do echo "image $(image_ref "$key")"; done
  for key in $(image_keys "$approach"); do echo "container $(container_name "$project" "$key")"; done
  [ "$approach" != separate ] || echo "network $project"
}

systemd_refusal() { # cgroup= systemd_version=: why systemd cannot boot here, or nothing
  local cgroup systemd_version
  inputs cgroup systemd_version -- "$@" || return
  if [ "$cgroup" != v2 ] && [ "$systemd_version" -ge 256 ]; then
    echo "systemd $systemd_version in $(image_ref systemd) refuses cgroup v1 (since 256) and this host has cgroup $cgroup: use a cgroup v2 host or an image with systemd < 256"
  fi
}

engine_flags() { # engine= cgroup=: what every container of this engine needs, one argument a line
  local engine cgroup
  inputs engine cgroup -- "$@" || return
  # crun refuses hybrid hosts; runc copes.
  [ "$engine $cgroup" != "podman hybrid" ] || printf '%s\n' --runtime runc
}

systemd_cgroup_flags() { # engine= cgroup=: one argument a line
  local engine cgroup
  inputs engine cgroup -- "$@" || return
  case "$engine $cgroup" in
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

container_flags() { # engine= cgroup= approach= project= key= publish=
  # The run flags of one container (one argument a line; no image, no label), publish
  # being `ADDR:PORT` of the host side. The caller checks systemd_refusal first.
  local engine cgroup approach project key publish
  inputs engine cgroup approach project key publish -- "$@" || return
  echo --name; container_name "$project" "$key"
  engine_flags engine="$engine" cgroup="$cgroup"
  case "$approach" in
    systemd)
      # -t: without a tty systemd has no /dev/console and the engine's logs stay empty.
      echo -t
      systemd_cgroup_flags engine="$engine" cgroup="$cgroup" ;;
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

print_flags() { # engine= cgroup= approach= project= publish=: `NAME ARG...` a container
  # (the caller checks systemd_refusal first)
  local engine cgroup approach project publish key args
  inputs engine cgroup approach project publish -- "$@" || return
  for key in $(image_keys "$approach"); do
    mapfile -t args < <(container_flags engine="$engine" cgroup="$cgroup" approach="$approach" \
      project="$project" key="$key" publish="$publish")
    echo "$(container_name "$project" "$key") ${args[*]:2}"
  done
}
