#!/usr/bin/env bash
# Runs one approach of a pair (a server and its client, described by a pair spec:
# units/pair-spec.md) in Docker or Podman with the flags that work on this host.
#
# The one place that knows the names and run flags of each approach: people use it,
# the Nix app `load-and-run` wraps it, the container contract (tests/contract/) and
# the benchmarks start every approach through it. It looks at the host first (engine,
# cgroup mode, the host port, the systemd version in the image), refuses in one line
# before creating anything when an approach cannot run here, and never adds
# --privileged. What it creates it removes again when interrupted or failing. Names,
# port, health path and stop timeout come from the spec, read by run/pairspec.py.
set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=run/policy.sh
. "$here/run/policy.sh"
# shellcheck source=run/host.sh
. "$here/run/host.sh"
# shellcheck source=run/containers.sh
. "$here/run/containers.sh"

# The state run.sh and run/*.sh share, grouped by what sets it, each with its default;
# everything else is local to its function.
# shellcheck disable=SC2034  # some are read only in run/*.sh
{
  # The arguments and the environment (parse_args):
  mode=run                   # run, stop, print-names, print-flags or help
  check_args=0               # 1: --check-args, stop once the arguments are checked
  approach=''                # systemd, supervisord or separate
  engine=docker              # docker or podman: also the CLI run
  project=${DUET_PROJECT:-}  # prefix of every container and network name
  port=''                    # the host port the server's port is published on
  spec_file=${DUET_SPEC:-$here/pair.json}   # the pair spec (units/pair-spec.md)
  spec_flag=''               # ` --spec FILE` as given, for the hints; else empty
  image_dir=${DUET_IMAGE_DIR:-}   # where NAME-KEY.tar.gz are loaded from, if set
  publish_addr=${DUET_PUBLISH_ADDR:-127.0.0.1}   # the host address the port is published on
  wait_secs=${DUET_WAIT_SECS:-120}  # how long to wait for the health path
  detach=0                   # 1: return once healthy (keep what was made)
  cgroup=''                  # v1, hybrid or v2: --cgroup, else the host's (main)
  sd_version=''              # systemd version: --systemd-version, else the image's
  # The spec (load_spec, from run/pairspec.py shell): also project and port, when not given.
  spec_name='' spec_port='' spec_stop_timeout='' spec_health_path='' spec_server_host_env=''
  spec_server_unit='' spec_client_unit='' spec_socket_unit='' spec_server_program='' spec_client_program=''
  spec_image_systemd='' spec_image_supervisord='' spec_image_server='' spec_image_client=''
  # One run (main, run/containers.sh):
  run_id=$$-$RANDOM$RANDOM   # the value of the label duet.run on all it creates
  workdir=''                 # its temp dir (mktemp -d), removed on exit
  out=''                     # the output of the last engine_call / tracked command
  inflight=''                # pid of the tracked command running, if any
  inflight_creates=0         # 1: that command creates or removes (let it finish)
  attempted=0                # 1: a create was attempted (look for labelled leftovers)
  serving=0                  # 1: the health path answered (stop gracefully from now on)
  keep=0                     # 1: leave what was made (--detach, --stop)
  started=()                 # containers started, in start order
  started_at=0               # $SECONDS when the first container was started
  probe_addr=''              # where the health path is asked
  followers=()               # pids of the log followers (process group leaders)
  limit_flags=()             # --ulimit flags for Podman (run/host.sh podman_limit_flags)
}

usage() {
  cat <<EOF
usage: $prog [APPROACH] [--spec FILE] [--engine E] [--project NAME] [--port N] [--image-dir DIR] [--detach]
       $prog [APPROACH] [--spec FILE] [--engine E] [--project NAME] --stop
       $prog [APPROACH] [--spec FILE] [--project NAME] --print-names
       $prog [APPROACH] [--spec FILE] [--engine E] [--project NAME] [--port N] --print-flags --cgroup v1|hybrid|v2 [--systemd-version N]
Runs one approach of the pair the spec describes with the run flags that work on this
host, waits until the spec's health path answers on the host port, then follows the
logs (NAME | line) until Ctrl-C, which stops and removes what it made.
  APPROACH           systemd (default), supervisord or separate
  --spec FILE        the pair spec (env DUET_SPEC; default pair.json beside run.sh);
                     images SPECNAME-systemd, ... (units/pair-spec.md)
  --engine E         docker (default) or podman
  --project NAME     prefix of every container and network (default: the spec's name, env
                     DUET_PROJECT; lowercase letters, digits, '-', 2-56 characters): containers
                     NAME-systemd, NAME-supervisord, NAME-server, NAME-client; network NAME
  --port N           host port for the server's port (default: the spec's port)
  --image-dir DIR    load DIR/<image name>.tar.gz first (env DUET_IMAGE_DIR)
  --detach           return once the health path answers; remove later with --stop
  --stop             stop and remove the approach's containers (and network) of the project
  --print-names      print the images, containers and network a run uses, one
                     'KIND NAME' a line (KIND: image, container, network); needs no engine
  --print-flags      print the run flags of each container, one 'NAME ARG...' a line, for
                     --cgroup and --systemd-version as given; looks at no host or engine
  --check-args       check the arguments as above and exit (0, or the usage error and 2);
                     reads no spec, looks at no engine, needs bash alone
  -h, --help         this text
env: DUET_PUBLISH_ADDR (host address to publish on, default 127.0.0.1),
     DUET_WAIT_SECS (how long to wait for the health path, default 120)
Needs bash, python3 (it reads the spec), and the engine's CLI.
EOF
}

say() { echo "$prog: $*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*; see $prog --help"; exit 2; }

parse_args() { # sets the globals of the arguments (above); a usage error exits 2
  local given_cgroup='' given_sd=''
  while [ $# -gt 0 ]; do
    case "$1" in
      systemd|supervisord|separate)
        [ -z "$approach" ] || usage_error "more than one approach: $approach and $1"
        approach=$1; shift; continue ;;
      -h|--help) mode=help; shift; continue ;;
      --detach) detach=1; shift; continue ;;
      --check-args) check_args=1; shift; continue ;;
      --stop|--print-names|--print-flags)
        [ "$mode" = run ] || [ "$mode" = "${1#--}" ] || usage_error "--$mode and $1 do not go together"
        mode=${1#--}; shift; continue ;;
      --spec|--engine|--project|--port|--image-dir|--cgroup|--systemd-version)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        set -- "$1=$2" "${@:3}" ;;
    esac
    case "$1" in
      --spec=*) spec_file=${1#*=} spec_flag=" --spec $(printf '%q' "${1#*=}")" ;;
      --engine=*) engine=${1#*=} ;;
      --project=*) project=${1#*=} ;;
      --port=*) port=${1#*=} ;;
      --image-dir=*) image_dir=${1#*=} ;;
      --cgroup=*) given_cgroup=${1#*=} ;;
      --systemd-version=*) given_sd=${1#*=} ;;
      -*) usage_error "unknown option: $1" ;;
      *) usage_error "unknown approach: $1 (systemd, supervisord or separate)" ;;
    esac
    shift
  done
  [ "$mode" != help ] || return 0
  approach=${approach:-systemd}
  case "$engine" in docker|podman) ;; *) usage_error "unknown engine: $engine (docker or podman)" ;; esac
  [ -n "$spec_file" ] || usage_error "--spec needs a file"
  [ -z "$project" ] || valid_project "$project" \
    || usage_error "bad project name: '$project' (lowercase letters, digits and '-', 2-56 characters, not starting with '-')"
  if [ -n "$port" ] && { ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; }; then
    usage_error "bad port: $port (1-65535)"
  fi
  [[ "$wait_secs" =~ ^[0-9]+$ ]] || usage_error "bad DUET_WAIT_SECS: $wait_secs (whole seconds)"
  if [ "$mode" = print-flags ]; then
    case "$given_cgroup" in
      v1|hybrid|v2) cgroup=$given_cgroup ;;
      '') usage_error "--print-flags needs --cgroup v1|hybrid|v2" ;;
      *) usage_error "bad --cgroup: $given_cgroup (v1, hybrid or v2)" ;;
    esac
    if [ "$approach" = systemd ] || [ -n "$given_sd" ]; then
      [[ "$given_sd" =~ ^[0-9]+$ ]] || usage_error "--print-flags for systemd needs --systemd-version N (a whole number)"
      sd_version=$given_sd
    fi
  elif [ -n "$given_cgroup$given_sd" ]; then
    usage_error "--cgroup and --systemd-version go only with --print-flags (a run reads them from the host and the image)"
  fi
  if [ "$detach" = 1 ] && [ "$mode" != run ]; then usage_error "--detach goes only with a run"; fi
}

load_spec() { # the spec's values (spec_*), and the defaults they give; touches no engine
  local lines
  command -v python3 >/dev/null || die "python3 not found in PATH: run.sh reads the pair spec with it"
  # A bad spec: pairspec's one line naming the field.
  lines=$(python3 "$here/run/pairspec.py" shell "$spec_file" 2>&1) \
    || die "$(printf '%s\n' "$lines" | tail -1 | sed 's/^pairspec: //')"
  eval "$lines"   # `spec_*=value` lines, every value shell-quoted by pairspec.py
  project=${project:-$spec_name}
  port=${port:-$spec_port}
}

# shellcheck disable=SC2317  # the EXIT trap
on_exit() { # remove what this run made (unless kept), then its temp dir
  local status=$?
  trap '' INT TERM
  stop_following
  [ "$keep" = 1 ] || remove_made
  [ -z "$workdir" ] || rm -rf "$workdir"
  # The container's tty output may have changed the terminal's modes.
  if [ -t 0 ]; then stty sane 2>/dev/null || true; fi
  exit "$status"
}

check_engine() {
  command -v "$engine" >/dev/null || die "$engine not found in PATH"
  engine_call info || die "$engine engine not reachable: $(last_line)"
}

stop_project() { # --stop: the approach's containers of this project (client first), then its network
  local keys name found=0 i
  read -r -a keys <<<"$(image_keys "$approach")"
  for ((i = ${#keys[@]} - 1; i >= 0; i--)); do
    name=$(container_name "$project" "${keys[i]}")
    engine_call container inspect "$name" || continue
    found=1
    remove_container "$name" || die "could not remove container $name: $(last_line)"
    say "removed container $name"
  done
  if [ "$approach" = separate ] && engine_call network inspect "$project"; then
    found=1
    engine_call network rm "$project" || die "could not remove network $project: $(last_line)"
    say "removed network $project"
  fi
  [ "$found" = 1 ] || say "nothing to stop for $approach of project $project on $engine"
}

refuse_taken_port() { # dies naming who holds the host port, if anyone does
  local holders inode owner pid comm cmdline
  engine_call ps --format '{{.Names}} {{.Ports}}' || die "$engine ps failed: $(last_line)"
  holders=$(publishing_containers "$port" <<<"$out" | paste -sd, -)
  [ -z "$holders" ] || die "host port $port is published by container $holders of $engine: stop it or use --port N"
  for inode in $(port_listeners "$publish_addr" "$port"); do
    owner=$(socket_owners "$inode" | head -1)
    [ -n "$owner" ] || die "host port $port is in use by a process this user cannot see: use --port N"
    read -r pid comm <<<"$owner"
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80) || true
    die "host port $port is in use by $comm (pid $pid: ${cmdline% }): stop it or use --port N"
  done
}

check_images() { # the tarballs given, or the images already in the engine
  local key tarball hint
  for key in $(image_keys "$approach"); do
    tarball=$(image_tarball "$image_dir" "$key")
    if [ -n "$image_dir" ]; then
      [ -f "$tarball" ] || die "missing image tarball $tarball"
    elif ! engine_call image inspect "$(image_ref "$key")"; then
      hint="build it (the stand-in builder: tests/standins/README.md)"
      die "image $(image_ref "$key") not in $engine; $hint or pass --image-dir DIR with $(image_tarball DIR "$key")"
    fi
  done
}

check_podman() {
  [ "$engine" = podman ] || return 0
  if [ "$cgroup" = hybrid ]; then
    command -v runc >/dev/null || die "podman on a hybrid cgroup host needs runc (crun refuses hybrid mode)"
  fi
  [ "$approach" != separate ] || check_podman_dns
}

check_podman_dns() { # separate on Podman: the client finds the server by its container name
  # Before anything is created (the network, if there, else what the backend offers),
  # and again once run.sh created the network (its DNSEnabled, which Podman sets from
  # the plugins it finds, is the last word).
  local why fix dns made_by backend
  engine_call info --format '{{.Host.NetworkBackend}}' || out=unknown
  backend=$out fix=$(podman_dns_fix "$out")
  if engine_call network inspect "$project" -f '{{.DNSEnabled}} {{index .Labels "duet.run"}}'; then
    read -r dns made_by <<<"$out"
    [ "$dns" != true ] || return 0
    why="podman network $project has no DNS"
    [ "$made_by" = "$run_id" ] || fix="$fix, then remove the network (podman network rm $project) for run.sh to make it anew"
  else
    why=$(podman_dns_missing "$backend")
    [ -n "$why" ] || return 0
  fi
  die "$why: the client cannot find $(container_name "$project" server) by name, so separate cannot run here; $fix"
}

refuse_systemd_version() {
  local refusal
  refusal=$(systemd_refusal cgroup="$cgroup" systemd_version="$sd_version")
  [ -z "$refusal" ] || die "$refusal"
}

check_systemd_version() { # from the tarball when it tells, so that a refusal loads nothing
  [ "$approach" = systemd ] && [ "$cgroup" != v2 ] || return 0
  if [ -n "$image_dir" ]; then
    sd_version=$(archive_systemd_version "$(image_tarball "$image_dir" systemd)") || sd_version=
    [ -z "$sd_version" ] || refuse_systemd_version   # else load_images asks the loaded image
  else
    probe_systemd_version
    refuse_systemd_version
  fi
}

# shellcheck disable=SC2317  # run through `tracked`
load_archive() { # FILE: a gzip'd docker-archive into the engine
  if [ "$engine" = podman ]; then
    gzip -dc "$1" | podman load   # Podman 4 does not read a gzip'd docker-archive itself
  else
    docker load -i "$1"
  fi
}

load_images() { # adds or retags images: nothing a run removes again
  local key file
  [ -n "$image_dir" ] || return 0
  for key in $(image_keys "$approach"); do
    file=$(image_tarball "$image_dir" "$key")
    tracked load_archive "$file" || die "$engine load of $file failed: $(last_line)"
    say "loaded $(image_ref "$key") from $file"
  done
  if [ "$approach" = systemd ] && [ "$cgroup" != v2 ] && [ -z "$sd_version" ]; then
    probe_systemd_version
    refuse_systemd_version
  fi
}

healthy() { # GET the spec's health path through bash's /dev/tcp: no curl needed on the host
  # HTTP/1.1 keep-alive, so that we close first: a server-side close would leave the
  # host port in TIME_WAIT, and Docker's proxy then cannot bind it for a minute. A
  # subshell, not `timeout`: it dies of a Ctrl-C as bash's trap needs (timeout runs
  # in a process group of its own and survives it).
  ( exec 3<>"/dev/tcp/$probe_addr/$port" && printf 'GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n' "$spec_health_path" >&3 \
      && read -r -t 3 reply <&3 && [[ "$reply" == HTTP/1.[01]" 200"* ]] ) 2>/dev/null
}

wait_healthy() {
  local name
  until healthy; do
    for name in "${started[@]}"; do
      engine_call container inspect -f '{{.State.Running}} {{.RestartCount}}' "$name" || out=gone
      if [ "$out" != "true 0" ]; then
        engine_call logs --tail 20 "$name" || true
        log_lines "$name" <<<"$out" >&2
        die "container $name stopped before $spec_health_path answered (its last log lines are above)"
      fi
    done
    if (( SECONDS - started_at >= wait_secs )); then
      for name in "${started[@]}"; do
        engine_call logs --tail 20 "$name" || true
        log_lines "$name" <<<"$out" >&2
      done
      die "no answer from http://$probe_addr:$port$spec_health_path after $wait_secs s"
    fi
    sleep 0.3
  done
}

stop_command() { echo "$0 $approach$spec_flag --engine $engine --project $project --stop"; }

print_up() { # the "is up" line and how to look inside
  local c key
  c=$(container_name "$project" "$approach")   # systemd, supervisord: the one container
  echo "$spec_name $approach is up on $engine: http://$probe_addr:$port/ (healthy after $((SECONDS - started_at)) s)"
  echo "look inside:"
  case "$approach" in
    systemd)
      echo "  $engine exec $c systemctl status ${spec_socket_unit:+$spec_socket_unit }$spec_server_unit $spec_client_unit"
      # Not journalctl -f: an exec session still open holds systemd's shutdown at --stop.
      echo "  $engine exec $c journalctl -u $spec_server_unit -u $spec_client_unit -n 50 --no-pager"
      echo "  $engine logs -f $c   # the journal too, as it comes" ;;
    supervisord)
      echo "  $engine exec $c supervisorctl status '$spec_server_program:*' '$spec_client_program:*'"
      echo "  $engine logs -f $c" ;;
    separate)
      echo "  $engine ps --filter network=$project"
      for key in $(image_keys separate); do echo "  $engine logs -f $(container_name "$project" "$key")"; done ;;
  esac
}

follow_until_stopped() { # foreground: logs until Ctrl-C, or until a container stays stopped
  local ended name
  start_following "${started[@]}"
  wait_first_lines "${started[@]}"   # the boot burst first, so that the lines below stay on screen
  print_up
  echo "following the logs (container | line); Ctrl-C stops and removes what this run made"
  wait -n -p ended "${followers[@]}" || true
  for name in "${started[@]}"; do
    engine_call container inspect -f '{{.State.Status}}' "$name" || out=gone
    [ "$out" = running ] || die "container $name stopped ($out) and the engine did not restart it"
  done
  die "following the logs ended (follower pid $ended)"
}

main() {
  trap on_exit EXIT
  # bash before 5.3 runs a trap left pending when it next parses a command substitution,
  # with its parser still waiting for that substitution's `)`: a plain `exit 130` then
  # fails to parse and the signal is lost. There the action reads on to the `)` of its
  # second line; anywhere else the exit on its first line comes before it.
  local close=$'\n)'
  # shellcheck disable=SC2064  # expanded now on purpose: the action's second line
  trap "exit 130$close" INT
  # shellcheck disable=SC2064
  trap "exit 143$close" TERM
  parse_args "$@"
  [ "$check_args" = 0 ] || exit 0
  [ "$mode" = help ] || load_spec
  case "$mode" in
    help) usage; exit 0 ;;
    print-names) print_names approach="$approach" project="$project"; exit 0 ;;
    print-flags)
      [ "$approach" != systemd ] || refuse_systemd_version
      print_flags engine="$engine" cgroup="$cgroup" approach="$approach" project="$project" publish="$publish_addr:$port"
      exit 0 ;;
  esac
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/$spec_name-run.XXXXXX")

  check_engine
  if [ "$mode" = stop ]; then keep=1 serving=1; stop_project; exit 0; fi
  local key name
  for key in $(image_keys "$approach"); do
    name=$(container_name "$project" "$key")
    ! engine_call container inspect "$name" \
      || die "container $name already exists; remove it first: $(stop_command)"
  done
  cgroup=$(cgroup_mode) || die "cannot tell the cgroup mode: /sys/fs/cgroup is neither cgroup2fs nor tmpfs"
  refuse_taken_port
  check_images
  check_podman
  [ "$engine" != podman ] || mapfile -t limit_flags < <(podman_limit_flags)
  check_systemd_version

  load_images
  if [ "$approach" = separate ]; then
    create_network "$project"
    [ "$engine" != podman ] || check_podman_dns
  fi
  started_at=$SECONDS
  for key in $(image_keys "$approach"); do start_container "$key"; done
  probe_addr=$publish_addr
  [ "$probe_addr" != 0.0.0.0 ] || probe_addr=127.0.0.1
  say "waiting for http://$probe_addr:$port$spec_health_path"
  wait_healthy
  serving=1

  if [ "$detach" = 1 ]; then
    keep=1
    print_up
    echo "remove with: $(stop_command)"
    exit 0
  fi
  follow_until_stopped
}

main "$@"
