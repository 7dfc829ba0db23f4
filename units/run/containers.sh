# shellcheck shell=bash
# Making, tracking and removing what one run makes, and following its logs.
# Everything a run creates carries the label duet.run=<run id>: what an interrupt
# catches half made is found by that label and removed, and nothing else is touched.
# Uses run.sh's globals (described where run.sh declares them).

engine_call() { # ARG...: "$engine" ARG..., output in $out, its exit status returned
  tracked "$engine" "$@"
}

tracked() { # COMMAND...: runs it in a process group of its own, output in $out
  # A Ctrl-C at the terminal then reaches this script alone. The engine CLI finishes a
  # create it started (a container the daemon makes after its CLI gave up would be
  # nobody's), and on_exit waits for it. It also keeps bash's trap: bash drops a SIGINT
  # that a foreground child catches and survives, as the engine CLIs do.
  local status=0
  case "$*" in
    *" run "*|*" network create "*|*" stop "*|*" rm "*) inflight_creates=1 ;;
    *) inflight_creates=0 ;;
  esac
  set -m
  "$@" >"$workdir/out" 2>&1 </dev/null &
  inflight=$!
  set +m
  wait "$inflight" || status=$?
  inflight=
  out=$(<"$workdir/out")
  return "$status"
}

last_line() { printf '%s\n' "$out" | grep -v -e '^\s*$' -e "^Run '" | tail -1; }

labelled() { # container|network: sets `names` to what this run made of that kind
  if [ "$1" = container ]; then
    engine_call ps -a --filter "label=duet.run=$run_id" --format '{{.Names}}' || return 1
  else
    engine_call network ls --filter "label=duet.run=$run_id" --format '{{.Name}}' || return 1
  fi
  mapfile -t names < <(printf '%s\n' "$out" | grep -v '^\s*$' || true)
}

remove_container() { # NAME: stop (with the image's own stop signal) and remove
  # Before /healthz answered, nothing is served yet: no drain to wait for, and a PID 1
  # that has not yet installed its signal handlers would ignore the stop signal (the
  # kernel drops it) and cost the whole stop timeout.
  [ "$serving" = 0 ] || stop_container "$1"
  engine_call rm -f "$1"
}

stop_container() { # NAME: with its stop signal; says so when the engine had to kill it
  local running=false why=''
  ! engine_call container inspect -f '{{.State.Running}}' "$1" || running=$out
  engine_call stop -t "$spec_stop_timeout" "$1" || return 0
  [ "$running" = true ] && engine_call container inspect -f '{{.State.ExitCode}}' "$1" && [ "$out" = 137 ] \
    || return 0
  # systemd's shutdown waits for every process left in the container, and cannot see the
  # end of one an exec started (not its child): it waits out its own timeout.
  [ "$approach" != systemd ] || why="; an exec session left open in it, such as journalctl -f, holds systemd's shutdown"
  say "container $1 did not stop within $spec_stop_timeout s of its stop signal: $engine killed it (SIGKILL)$why"
}

remove_made() { # everything labelled with this run's id; says what it removed
  local names=() name order=() key
  # A create in flight finishes first, so that its container is found below; a read
  # or a load in flight is cut short.
  if [ -n "$inflight" ]; then
    [ "$inflight_creates" = 1 ] || kill -TERM -- "-$inflight" 2>/dev/null || true
    wait "$inflight" 2>/dev/null || true
  fi
  inflight=
  [ "$attempted" = 1 ] || return 0
  if ! labelled container; then
    say "could not list the containers this run made ($(last_line)); look for label duet.run=$run_id"
    return 0
  fi
  # Start order reversed (the client before the server it polls), then anything else.
  for key in $(image_keys "$approach"); do order=("$(container_name "$project" "$key")" "${order[@]}"); done
  for name in "${names[@]}"; do [[ " ${order[*]} " == *" $name "* ]] || order+=("$name"); done
  for name in "${order[@]}"; do
    [[ " ${names[*]} " == *" $name "* ]] || continue
    if remove_container "$name"; then say "removed container $name"; else say "could not remove container $name: $(last_line)"; fi
  done
  if ! labelled network; then
    say "could not list the networks this run made ($(last_line)); look for label duet.run=$run_id"
    return 0
  fi
  for name in "${names[@]}"; do
    if engine_call network rm "$name"; then say "removed network $name"; else say "could not remove network $name: $(last_line)"; fi
  done
}

create_network() { # NAME, unless it exists (then it is not ours to remove)
  engine_call network inspect "$1" && return 0
  attempted=1
  engine_call network create --label "duet.run=$run_id" "$1" \
    || die "$engine network create $1 failed: $(last_line)"
  say "created network $1"
}

start_container() { # KEY: one container of the approach, started detached
  local key=$1 name args tries=0 failure names=()
  name=$(container_name "$project" "$key")
  mapfile -t args < <(container_flags engine="$engine" cgroup="$cgroup" approach="$approach" project="$project" \
    key="$key" publish="$publish_addr:$port")
  attempted=1
  until engine_call run -d --label "duet.run=$run_id" "${limit_flags[@]}" "${args[@]}" "$(image_ref "$key")"; do
    failure=$out
    # A container created but not started (port taken, ...) is ours: remove it quietly.
    if labelled container && [[ " ${names[*]} " == *" $name "* ]]; then remove_container "$name" || true; fi
    case "$failure" in
      *"address already in use"*|*"port is already allocated"*)
        refuse_taken_port
        # No listener: Docker's proxy cannot bind a port that still has server-side
        # connections in TIME_WAIT (up to 60 s after an earlier server on it closed them).
        if time_wait_on_port "$port" && (( tries++ < 35 )); then
          [ "$tries" != 1 ] || say "host port $port still has connections in TIME_WAIT from an earlier server; waiting up to 70 s for them to expire"
          sleep 2
          continue
        fi ;;
    esac
    out=$failure
    die "$engine run $name failed: $(last_line)"
  done
  say "started container $name"
  started+=("$name")
}

probe_systemd_version() { # sets sd_version from systemctl in the engine's systemd image
  # `/sbin/init --version` prints nothing when it is PID 1; systemctl (on the image's
  # PATH) reports the same version. Newer systemd colours it anyway.
  local args line
  mapfile -t args < <(engine_flags engine="$engine" cgroup="$cgroup")
  attempted=1
  engine_call run --rm --label "duet.run=$run_id" "${limit_flags[@]}" "${args[@]}" -e SYSTEMD_COLORS=0 \
    --entrypoint systemctl "$(image_ref systemd)" --version || true
  line=$(printf '%s\n' "$out" | awk 'NR == 1 { gsub(/\033\[[0-9;]*m/, ""); print }')
  [[ "$line" =~ ^systemd\ ([0-9]+) ]] || die "cannot read the systemd version of $(image_ref systemd): $line"
  sd_version=${BASH_REMATCH[1]}
}

log_lines() { # NAME [MARK]: log lines as `NAME | line`, without the escape codes of the
  # container's tty; creates the file MARK at the first line. A read loop, not awk:
  # mawk (Debian's awk) reads a pipe in blocks and would hold short bursts back.
  local line mark=${2:-} esc=$'\e' bel=$'\a'
  shopt -s extglob
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line//$'\r'/}
    line=${line//"${esc}["*([0-9;?])*([ -'/'])[@-~]/}   # CSI: colours, cursor moves, modes
    line=${line//"$esc]"*([!$bel$esc])@($bel|"$esc\\")/}  # OSC: titles
    line=${line//[$'\001'-$'\010'$'\013'-$'\037'$'\177']/}  # any other control character
    printf '%s | %s\n' "$1" "$line"
    if [ -n "$mark" ]; then : >"$mark"; mark=; fi
  done
}

follow_logs() { # NAME: follows the container's logs across restarts by the engine; ends when it stays stopped
  local name=$1 since= status _
  while :; do
    "$engine" logs -f ${since:+--since "$since"} "$name" 2>&1 | log_lines "$name" "$workdir/seen-$name"
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      status=$("$engine" container inspect -f '{{.State.Status}}' "$name" 2>/dev/null) || return 0
      case "$status" in running|restarting) continue 2 ;; esac
      sleep 0.5
    done
    return 0
  done
}

start_following() { # NAME...: one follower per container, each in a process group of its own
  local name
  for name in "$@"; do
    set -m
    follow_logs "$name" &
    followers+=($!)
    set +m
  done
}

wait_first_lines() { # NAME...: until each follower printed a line (at most 10 s), and the burst after
  local name missing _
  for _ in $(seq 50); do
    missing=0
    for name in "$@"; do [ -e "$workdir/seen-$name" ] || missing=1; done
    [ "$missing" = 1 ] || break
    sleep 0.2
  done
  sleep 1
}

stop_following() {
  local pid
  for pid in "${followers[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  followers=()
}
