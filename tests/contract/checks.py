"""The container contract: what a user would check, once per approach, for any pair.

Every check takes the loaded pair spec (units/run/pairspec.py `load`) and reads the
pair's names from it: images and containers (`NAME-KEY`), the systemd units, the
supervisord programs, the log lines, the health and readiness paths, the port. What the
checks expect of the images (PID 1 and its stop signal, states, exit codes, time bounds)
is written here, never read from the config under test; a runner on a slow machine
passes `Bounds().scaled(N)`.

Two kinds of checks (units/pair-spec.md has both tables; README.md lists them):
generic ones every pair must pass, and ability checks that run only where the spec's
`server.abilities` declares the ability (`ABILITY_APPROACH` says in which approach).

Written against the NixOS test driver's machine interface (succeed, fail, execute,
wait_until_succeeds) and its `subtest(name)`, so the same checks run in the NixOS VM
tests and, through tests/contract/machine.py, on this host (run_local.py) and in the
cgroup v2 guest (tests/cgroupv2/run_contract.py). Every command runs on the container
host and uses only bash, curl, the engine CLI, coreutils and timeout.

Each check starts its approach with `{run} APPROACH --engine E --project NAME --port P
--detach` (the project is the spec's name), asserts step by step under `subtest(...)`
names, and ends with `{run} APPROACH --engine E --project NAME --stop`. `run` is the run
script as a shell prefix that already knows the spec (`DUET_SPEC=FILE units/run.sh`, or
the load-and-run app).

The driver runs each command with `set -euo pipefail` (machine.py does the same): pipes
end in `grep PATTERN >/dev/null`, never `grep -q`, whose early exit would fail the pipe
with SIGPIPE; a backgrounded command closes its stdout.

Module-level `log` receives one line per finding; runners may replace it.
"""

import contextlib
import math
import re
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """The contract's time bounds. The behaviour bounds tell behaviours apart (a clean
    stop within 5 s against the engine's SIGKILL; a container that goes down within 30 s
    against one that stays up for ever); waits only cap how long a check waits for
    something that should happen (slow VMs included). `scaled(N)` stretches all for a
    machine N times slower than a host, such as an emulated guest; the figures measured
    are logged as they are."""

    serving_again_s: float = 5  # a SIGKILLed server answers the health path again
    stop_s: float = 5  # `E stop` of NAME-systemd or NAME-supervisord
    stop_separate_s: float = 2  # `E stop` of NAME-server or NAME-client
    down_s: float = 30  # a server that cannot start has taken its container down
    wait_scale: float = 1

    def scaled(self, factor):
        return Bounds(
            self.serving_again_s * factor,
            self.stop_s * factor,
            self.stop_separate_s * factor,
            self.down_s * factor,
            self.wait_scale * factor,
        )

    def wait(self, seconds):
        """A waiting bound of `seconds` on a host, for wait_until_succeeds."""
        return math.ceil(seconds * self.wait_scale)


# Waiting for systemd to reach `running` after boot.
SETTLE_S = 180

# The approach whose check proves each ability (units/pair-spec.md).
ABILITY_APPROACH = {
    "socket-activation": "systemd",
    "notify": "systemd",
    "readiness": "separate",
    "inherited-socket": "supervisord",
}


def log(line):
    print(line, flush=True)


class ContractError(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise ContractError(message)


# --- shell snippets --------------------------------------------------------------


def q(text):
    return shlex.quote(str(text))


def url(port, path):
    return f"http://127.0.0.1:{port}{path}"


def http_status(machine, port, path):
    return machine.succeed(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 {q(url(port, path))} || true"
    ).strip()


def elapsed_ms(machine, command):
    """Runs command (must succeed) and returns how long it took, measured on the host."""
    out = machine.succeed(
        f"s=$(date +%s%N); {command} >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))"
    )
    return int(out.strip().splitlines()[-1])


def back_after_kill_ms(machine, kill_command, port, path, limit_s):
    """Runs kill_command, then returns the ms until `path` answers 200 again.
    Fails if that takes longer than limit_s."""
    out = machine.succeed(
        f"s=$(date +%s%N); {kill_command} >/dev/null; "
        f"deadline=$((s + {int(limit_s * 1000)} * 1000000)); "
        f"until curl -fs -o /dev/null --max-time 1 {q(url(port, path))}; do "
        f'  if [ "$(date +%s%N)" -gt "$deadline" ]; then echo "not back within {limit_s:g} s" >&2; exit 1; fi; '
        f"  sleep 0.05; "
        f"done; echo $(( ($(date +%s%N) - s) / 1000000 ))"
    )
    return int(out.strip().splitlines()[-1])


def exit_code_after(machine, engine, container, action, limit_s):
    """Runs action (which must succeed) and returns (exit code, ms) of the container's
    first exit after it, ms counting until the engine's restart policy had started it
    again; (None, ms) when it was not restarted within limit_s. The code comes from the
    engine's events: `E wait` misses an exit the restart policy follows at once (Podman),
    and State.ExitCode is reset when the container runs again."""
    restarts = int(inspect(machine, engine, container, "{{.RestartCount}}"))
    # Events are asked for by whole seconds: start in a second no earlier exit is in.
    out = machine.succeed(
        's=$(date +%s); while [ "$(date +%s)" = "$s" ]; do sleep 0.02; done; '
        'echo "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; s=$(date +%s%N); '
        f"{{ {action}; }} >/dev/null; "
        f"d=$(( s + {int(limit_s * 1000)} * 1000000 )); "
        f"until [ \"$({engine} inspect -f '{{{{.RestartCount}}}}' {container})\" -gt {restarts} ]; do "
        '  if [ "$(date +%s%N)" -gt "$d" ]; then echo "ms=none"; exit 0; fi; sleep 0.1; '
        'done; echo "ms=$(( ($(date +%s%N) - s) / 1000000 ))"'
    )
    found = dict(line.strip().split("=", 1) for line in out.splitlines() if "=" in line)
    if found["ms"] == "none":
        return None, int(limit_s * 1000)
    since = found["since"]
    if engine == "podman":
        events = (
            f"podman events --stream=false --since {since} --filter container={container} "
            "--filter event=died --format '{{.ContainerExitCode}}'"
        )
    else:
        events = (
            f"docker events --since {since} --until \"$(date -u -d '+1 second' +%Y-%m-%dT%H:%M:%SZ)\" "
            f"--filter container={container} --filter event=die --format '{{{{.Actor.Attributes.exitCode}}}}'"
        )
    codes = [line.strip() for line in machine.succeed(events).splitlines() if line.strip()]
    expect(
        codes and re.fullmatch(r"-?\d+", codes[0]),
        f"{engine} events shows no exit of {container} since {since}, yet it was restarted: {codes}",
    )
    return int(codes[0]), int(found["ms"])


def back_within(port, path, limit_s):
    """A shell loop that ends once `path` answers 200, or fails after limit_s."""
    return (
        f"d=$(( $(date +%s%N) + {int(limit_s * 1000)} * 1000000 )); "
        f"until curl -fs -o /dev/null --max-time 1 {q(url(port, path))}; do "
        f'if [ "$(date +%s%N)" -gt "$d" ]; then echo "not back within {limit_s:g} s" >&2; exit 1; fi; '
        "sleep 0.05; done"
    )


def now_utc(machine):
    """Host time, in a form both `docker logs --since` and `podman logs --since` accept:
    whole seconds, so it waits for a new second to begin, and a line logged before the
    call is never `--since` it."""
    return machine.succeed(
        's=$(date +%s); while [ "$(date +%s)" = "$s" ]; do sleep 0.02; done; date -u +%Y-%m-%dT%H:%M:%SZ'
    ).strip()


def logs(engine, container, since=None):
    since_flag = f"--since {since} " if since else ""
    return f"{engine} logs {since_flag}{container} 2>&1"


def inspect(machine, engine, what, template):
    return machine.succeed(f"{engine} inspect -f '{template}' {what}").strip()


def stop_timed(machine, engine, container, limit_s, allowed_exit_codes, stop_timeout_s):
    """`E stop` must finish within limit_s and end with an allowed exit code (137 = SIGKILL).
    The engine kills after the spec's stop timeout, or after limit_s where the bounds are
    stretched past it (an emulated guest): a SIGKILL then means a stop that hung, not a slow
    machine."""
    limit_ms = int(limit_s * 1000)
    grace_s = max(stop_timeout_s, math.ceil(limit_s))
    ms = elapsed_ms(machine, f"{engine} stop -t {grace_s} {container}")
    code = int(inspect(machine, engine, container, "{{.State.ExitCode}}"))
    log(f"{engine} stop {container}: {ms} ms, exit code {code}")
    expect(code != 137, f"{container} was SIGKILLed on stop (exit 137)")
    expect(
        code in allowed_exit_codes,
        f"{container} stopped with exit code {code}, expected one of {allowed_exit_codes}",
    )
    expect(ms < limit_ms, f"{engine} stop {container} took {ms} ms, limit {limit_ms} ms")


def requests_during(machine, port, path, action):
    """Sends requests one after another from the host while `action` runs;
    returns (total, failures): failures maps "HTTP code / curl exit code" to a count
    for every answer that was not a 200."""
    out = machine.succeed(
        "out=$(mktemp); flag=$(mktemp -u); "
        f'( while [ ! -e "$flag" ]; do curl -s -o /dev/null -w \'http=%{{http_code}}/curl=%{{exitcode}}\\n\' --max-time 10 {q(url(port, path))} >> "$out" || true; done ) >/dev/null 2>&1 & '
        "loop=$!; sleep 1; "
        f"{action}; "
        'sleep 1; touch "$flag"; wait $loop; '
        'echo total=$(wc -l < "$out"); sort "$out" | uniq -c; rm -f "$out" "$flag"'
    )
    total, counts = 0, {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("total="):
            total = int(line.split("=", 1)[1])
        elif "http=" in line:
            count, kind = line.split(None, 1)
            if kind != "http=200/curl=0":
                counts[kind] = int(count)
    return total, counts


def lost_message(total, failures, during):
    failed = sum(failures.values())
    log(f"{during}: {total} requests, {failed} failed {failures or ''}")
    expect(total >= 10, f"only {total} requests went out during {during}")
    return (
        None
        if failed == 0
        else (
            f"{failed} of {total} requests failed during {during}: {failures}"
            " (curl 7 = connection refused, 52 = closed without an answer)"
        )
    )


# curl's exit codes for a connection that was accepted and then closed without an answer.
CLOSED_UNANSWERED = ("http=000/curl=52", "http=000/curl=56")


def refused_message(total, failures, during):
    """inherited-socket: a killed process's twin accepts every new connection. The one
    request the killed process may have accepted before the kill (requests go one at a time)
    may end without an answer; a refusal, or anything else, fails."""
    log(f"{during}: {total} requests, {sum(failures.values())} failed {failures or ''}")
    expect(total >= 10, f"only {total} requests went out during {during}")
    unanswered = sum(n for kind, n in failures.items() if kind in CLOSED_UNANSWERED)
    others = {kind: n for kind, n in failures.items() if kind not in CLOSED_UNANSWERED}
    if others or unanswered > 1:
        return (
            f"{sum(failures.values())} of {total} requests failed during {during}: {failures}"
            " (curl 7 = connection refused; at most one 52/56, closed without an answer, is "
            "the killed process's own request)"
        )
    return None


# --- supervisord's names -----------------------------------------------------------


def program_processes(status, program):
    """{namespec: state} of a supervisord program's processes, from `supervisorctl status`:
    `program` itself ([program:x]) or `program:program_00`, `program:program_01` ...
    (the processes of a group such as [fcgi-program:x] with numprocs)."""
    found = {}
    for line in status.splitlines():
        fields = line.split()
        if len(fields) >= 2 and (fields[0] == program or fields[0].startswith(program + ":")):
            found[fields[0]] = fields[1]
    return found


def process_name(namespec):
    """The process part of a namespec: what supervisord's own log lines name."""
    return namespec.split(":", 1)[-1]


# --- one approach of one pair on one engine ------------------------------------------


class Target:
    """What every check of one approach needs: the machine, the run script, the spec, the
    engine, the host port, the bounds and the driver's subtest."""

    def __init__(self, machine, run, spec, approach, subtest, engine, port, bounds):
        self.machine, self.run, self.spec, self.approach = machine, run, spec, approach
        self.subtest, self.engine, self.bounds = subtest, engine, bounds
        self.port = spec.port if port is None else port
        self.project = spec.name

    def container(self, key):
        return f"{self.project}-{key}"

    def image(self, key):
        return self.spec.image_ref(key)

    def start(self):
        """Starts the approach. Called before the try/finally that stops it: when the
        start fails, run.sh has removed what it made, and what it did not make is not ours."""
        with self.subtest(f"start {self.approach} on {self.engine}"):
            log(f"== {self.approach} of {self.spec.name} on {self.engine}: starting with {self.run}")
            declared = ", ".join(self.spec.abilities) or "none"
            here = [a for a in self.spec.abilities if ABILITY_APPROACH[a] == self.approach]
            log(f"abilities declared: {declared}; checked in this approach: {', '.join(here) or 'none'}")
            self.machine.succeed(
                f"{self.run} {self.approach} --engine {self.engine} --project {self.project} "
                f"--port {self.port} --detach"
            )

    @contextlib.contextmanager
    def started(self):
        """The approach started, and stopped in the end whatever happens in between."""
        self.start()
        try:
            yield
        finally:
            self.stop()

    def stop(self):
        self.machine.succeed(
            f"{self.run} {self.approach} --engine {self.engine} --project {self.project} --stop"
        )

    def inspect(self, what, template):
        return inspect(self.machine, self.engine, what, template)

    def pid1(self, container):
        pid = self.inspect(container, "{{.State.Pid}}")
        comm = self.machine.succeed(f"cat /proc/{pid}/comm").strip()
        argv = self.machine.succeed(f"tr '\\0' '\\n' < /proc/{pid}/cmdline").splitlines()
        return pid, comm, argv

    def check_pid1(self, container, key, comm_expected, signal_expected):
        """PID 1 of the container is the expected program, its image's StopSignal the
        expected signal, and the container is not privileged."""
        _, comm, argv = self.pid1(container)
        expect(
            comm == comm_expected[:15],
            f"PID 1 of {container} is {comm!r} ({' '.join(argv)}), expected {comm_expected!r}",
        )
        signal = self.inspect(self.image(key), "{{.Config.StopSignal}}")
        expect(
            signal == signal_expected,
            f"image {self.image(key)} StopSignal is {signal!r}, expected {signal_expected}",
        )
        privileged = self.inspect(container, "{{.HostConfig.Privileged}}")
        expect(privileged == "false", f"{container} runs privileged (HostConfig.Privileged {privileged})")
        log(f"{container}: PID 1 {comm}, StopSignal {signal}, not privileged")

    def log_line_since(self, container, regex, since):
        self.machine.wait_until_succeeds(
            f"{logs(self.engine, container, since)} | grep -E {q(regex)} >/dev/null",
            timeout=self.bounds.wait(60),
        )

    def check_log_lines(self, container, lines):
        """Each (what, regex) of lines matches a line of the container's logs."""
        out = self.machine.succeed(logs(self.engine, container))
        for what, regex in lines:
            expect(re.search(regex, out), f"{self.engine} logs {container} has no {what} line (/{regex}/)")
        return out

    def serving(self):
        status = http_status(self.machine, self.port, self.spec.health_path)
        expect(status == "200", f"GET {self.spec.health_path} from the host: {status}, expected 200")
        log(f"HTTP 200 from the host on {self.spec.health_path}")

    def wait_serving(self):
        self.machine.wait_until_succeeds(
            f"curl -fs -o /dev/null --max-time 2 {q(url(self.port, self.spec.health_path))}",
            timeout=self.bounds.wait(SETTLE_S),
        )

    def down_for_good(self, container, break_command, kill_command, what):
        """A server that cannot start (break_command) is killed (kill_command): the
        container must exit non-zero within the bound, and the engine's restart policy
        (run.sh: unless-stopped) must then act. The restarted container keeps what
        break_command changed, so it fails again: only its restart is asserted."""
        self.machine.succeed(break_command)
        code, ms = exit_code_after(self.machine, self.engine, container, kill_command, self.bounds.down_s)
        expect(
            code is not None,
            f"{container} not down and restarted {self.bounds.down_s:g} s after {what}: "
            f"the server cannot start, and nothing took the container down",
        )
        log(
            f"{container} exited with code {code} after {what}; restarted by the engine's restart policy "
            f"{ms} ms after the kill"
        )
        expect(code != 0, f"{container} exited 0 after {what}: a failure must not look like a clean stop")


# --- the programs under systemd or supervisord as PID 1 ------------------------------


class Supervised:
    """The pair's programs under the PID 1 of one container (systemd's units, supervisord's
    programs), and the steps both approaches check alike. A subclass says how to read a
    program's pids ({process: pid}), SIGKILL it, and wait until it runs again."""

    stop_signal = None  # the image's StopSignal
    running_anew = None  # what a program killed and back is, in the supervisor's words

    def __init__(self, t):
        self.t, self.container = t, t.container(t.approach)
        self.machine, self.bounds = t.machine, t.bounds
        self.sx = f"{t.engine} exec {self.container}"

    def check_pid1(self):
        """PID 1 is the approach's supervisor itself (systemd, supervisord)."""
        pid1, signal = self.t.approach, self.stop_signal
        with self.t.subtest(f"PID 1 is {pid1}, StopSignal {signal}, not privileged"):
            self.t.check_pid1(self.container, self.t.approach, pid1, signal)

    def server_killed(self, server, client):
        """A SIGKILL of the server: serving again within the bound, every process of it with a
        new pid; the client is not restarted and logs its line again."""
        with self.t.subtest(
            f"a SIGKILLed server serves again within {self.bounds.serving_again_s:g} s; {client} is not restarted"
        ):
            spec = self.t.spec
            server_pids, client_pids = self.pids(server), self.pids(client)
            since = now_utc(self.machine)
            ms = back_after_kill_ms(
                self.machine, self.kill(server), self.t.port, spec.health_path, self.bounds.serving_again_s
            )
            log(f"killed {', '.join(sorted(server_pids))}: serving again after {ms} ms")
            self.wait_running(server)
            new = self.pids(server)
            same = [n for n in server_pids if new.get(n) == server_pids[n]]
            expect(not same, f"pid unchanged after the kill: {', '.join(same)}")
            self.t.log_line_since(self.container, spec.client_log_line, since)
            after = self.pids(client)
            expect(after == client_pids, f"{client} was restarted with the server ({client_pids} -> {after})")
            log("the client recovered without a restart")

    def client_killed(self, client):
        """A SIGKILL of the client: it runs again with a new pid and logs its line again."""
        with self.t.subtest(
            f"a SIGKILLed client comes back ({client} {self.running_anew}, its log line again)"
        ):
            before = self.pids(client)
            since = now_utc(self.machine)
            self.machine.succeed(self.kill(client))
            self.wait_replaced(client, before)
            self.t.log_line_since(self.container, self.t.spec.client_log_line, since)
            log(f"killed {client} back as {self.pids(client)}, logging /{self.t.spec.client_log_line}/")

    def cannot_start(self, server, wait_up):
        """After the stop step: the container started again and up (wait_up()), then its
        server made unable to start and SIGKILLed must take it down (Target.down_for_good)."""
        executable = f"/bin/{self.t.spec.server}"
        with self.t.subtest(
            f"a server that cannot start takes the container down (non-zero exit within "
            f"{self.bounds.down_s:g} s), then the restart policy acts"
        ):
            self.expect_down_with_server(server)
            self.machine.succeed(f"{self.t.engine} start {self.container}")
            wait_up()
            self.t.down_for_good(
                self.container,
                f"{self.sx} chmod a-x {executable}",
                self.kill(server),
                f"chmod a-x {executable} and a SIGKILL of {server}",
            )

    def expect_down_with_server(self, server):
        """Fails where the approach would leave the container up when its server cannot start."""


class Units(Supervised):
    """systemd's units: the main pid, `systemctl kill`, active."""

    stop_signal = "SIGRTMIN+3"
    running_anew = "active with a new MainPID"

    def main_pid(self, unit):
        return self.machine.succeed(f"{self.sx} systemctl show -p MainPID --value {unit}").strip()

    def pids(self, unit):
        return {unit: self.main_pid(unit)}

    def kill(self, unit):
        return f"{self.sx} systemctl kill --signal=SIGKILL {unit}"

    def expect_down_with_server(self, server):
        expect(
            server in self.t.spec.exit_on_failure,
            f"the spec's systemd.exitOnFailure does not list {server}: a server that cannot come back "
            "would leave the container up",
        )

    def wait_running(self, unit):
        self.machine.wait_until_succeeds(
            f"{self.sx} systemctl is-active {unit}", timeout=self.bounds.wait(30)
        )

    def wait_replaced(self, unit, before):
        main_pid = f"$({self.sx} systemctl show -p MainPID --value {unit})"
        self.machine.wait_until_succeeds(
            f'[ "{main_pid}" != {before[unit]} ] && [ "{main_pid}" != 0 ] && {self.sx} systemctl is-active {unit}',
            timeout=self.bounds.wait(30),
        )


class Programs(Supervised):
    """supervisord's programs: every process of one (a group has several), `supervisorctl
    signal KILL`, RUNNING."""

    stop_signal = "SIGTERM"
    running_anew = "RUNNING with a new pid"

    def status(self):
        # `status` exits non-zero while any process is not RUNNING.
        return self.machine.succeed(f"{self.sx} supervisorctl status || true")

    def pids(self, program):
        names = sorted(program_processes(self.status(), program))
        expect(names, f"supervisorctl status lists no process of {program}")
        out = self.machine.succeed(f"{self.sx} supervisorctl pid {' '.join(names)} || true").split()
        return dict(zip(names, out))

    def kill(self, program):
        return f"{self.sx} supervisorctl signal KILL {program}:*"

    def wait_running(self, program):
        """Every process of the program RUNNING (`status` exits 0 for STARTING too)."""
        pattern = f"^{re.escape(program)}(:[^ ]+)? "
        self.machine.wait_until_succeeds(
            f'out=$({self.sx} supervisorctl status || true) && echo "$out" | grep -E {q(pattern)} >/dev/null && '
            f'! echo "$out" | grep -E {q(pattern)} | grep -Ev {q(pattern.rstrip(" ") + " +RUNNING")} >/dev/null',
            timeout=self.bounds.wait(60),
        )

    def wait_replaced(self, program, before):
        self.machine.wait_until_succeeds(
            f"{self.sx} supervisorctl pid {' '.join(before)} | grep -Evx {q('|'.join(before.values()) + '|0')} >/dev/null",
            timeout=self.bounds.wait(30),
        )
        self.wait_running(program)


# --- systemd ---------------------------------------------------------------------


def system_running(machine, sx, bounds):
    """Until systemd in the container (sx: `E exec C`) has finished booting."""
    # The bus can refuse for a moment right after boot: retry until it answers.
    machine.wait_until_succeeds(
        f"timeout 60 {sx} systemctl is-system-running --wait", timeout=bounds.wait(SETTLE_S)
    )


def check_systemd(machine, run, spec, *, subtest, engine="docker", port=None, bounds=Bounds()):
    t = Target(machine, run, spec, "systemd", subtest, engine, port, bounds)
    pid1 = Units(t)
    e, c, sx, main_pid = engine, pid1.container, pid1.sx, pid1.main_pid
    server, client = spec.server_unit, spec.client_unit
    lost = None

    with t.started():
        pid1.check_pid1()

        with subtest(f"systemd reaches running; {server} and {client} are active, nothing stray runs"):
            system_running(machine, sx, bounds)
            state = machine.succeed(f"{sx} systemctl is-system-running || true").strip()
            expect(
                state == "running",
                f"system state is {state!r}, expected 'running' (failed units: "
                + machine.succeed(f"{sx} systemctl --failed --no-legend --plain || true").strip()
                + ")",
            )
            states = machine.succeed(f"{sx} systemctl is-active {server} {client} || true").split()
            expect(states == ["active"] * 2, f"{server}, {client}: {states}")
            log(f"system running; {server}, {client} active")
            running = machine.succeed(
                f"{sx} systemctl list-units --type=service --state=running --no-legend --plain"
            )
            strays = [
                line.split()[0] for line in running.splitlines() if re.search(r"getty|supervisor", line)
            ]
            expect(not strays, f"services that have no business in this container are running: {strays}")

        with subtest(f"HTTP 200 from the host; the client's log line in the journal of {client}"):
            t.serving()
            machine.wait_until_succeeds(
                f"{sx} journalctl -u {client} -o cat | grep -E {q(spec.client_log_line)} >/dev/null",
                timeout=bounds.wait(60),
            )
            log(f"the client's line /{spec.client_log_line}/ in the journal")

        with subtest(
            "the pair's units in the image verify clean"
            + (", their drop-ins applied" if spec.drop_ins else "")
        ):
            # The units as they are in the image must verify, with the executables present.
            # verify exits 0 on mere warnings (an unknown key, say): its output must not
            # mention the pair's units, drop-ins or executables either.
            units = spec.unit_files()
            for path, _ in spec.drop_in_paths():
                unit = path.split("/")[-2][: -len(".d")]
                loaded = machine.succeed(f"{sx} systemctl show -p DropInPaths --value {unit}").split()
                expect(path in loaded, f"{unit} runs without its drop-in {path} (DropInPaths: {loaded})")
            if spec.drop_ins:
                log("drop-ins applied: " + ", ".join(path for path, _ in spec.drop_in_paths()))
            out = machine.succeed(
                f"{sx} systemd-analyze verify "
                + " ".join(f"/etc/systemd/system/{u}" for u in units)
                + " 2>&1"
            )
            names = "|".join(re.escape(n) for n in units + list(spec.drop_ins) + [spec.server, spec.client])
            ours = [line for line in out.splitlines() if re.search(names, line)]
            expect(not ours, "systemd-analyze verify warns about the units:\n" + "\n".join(ours))
            log(f"systemd-analyze verify {' '.join(units)}: clean")
            security = machine.succeed(f"{sx} systemd-analyze security --no-pager {server} {client}")
            for line in security.splitlines():
                if "Overall exposure level" in line:
                    log("systemd-analyze security: " + line.strip("→ ").strip())

        if spec.has("socket-activation"):
            socket = spec.socket_unit
            with subtest(f"socket-activation: {socket} active; {server} restarts under a stream of requests"):
                state = machine.succeed(f"{sx} systemctl is-active {socket} || true").strip()
                expect(state == "active", f"{socket} is {state!r}, expected active")
                server_pid = main_pid(server)
                total, failures = requests_during(
                    machine,
                    t.port,
                    spec.health_path,
                    " && ".join([f"{sx} systemctl restart {server} && sleep 0.5"] * 3),
                )
                # Asserted after the stop, so that the steps after this one still run.
                lost = lost_message(total, failures, f"3 x systemctl restart {server}")
                expect(
                    main_pid(server) != server_pid, f"{server} MainPID did not change: no restart happened"
                )

        if spec.has("notify"):
            with subtest(f"notify: {server} is Type=notify and active"):
                shown = machine.succeed(f"{sx} systemctl show -p Type -p ActiveState -p SubState {server}")
                props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
                expect(
                    props.get("Type") == "notify", f"{server} is Type={props.get('Type')}, expected notify"
                )
                expect(
                    props.get("ActiveState") == "active",
                    f"{server} is {props.get('ActiveState')}/{props.get('SubState')}, expected active",
                )
                log(f"{server}: Type=notify, {props['ActiveState']}/{props.get('SubState')}")

        pid1.server_killed(server, client)
        pid1.client_killed(client)

        with subtest(f"{e} logs shows both programs' log lines and no login prompt"):
            out = t.check_log_lines(c, [("server", spec.server_log_line), ("client", spec.client_log_line)])
            expect("login:" not in out, f"{e} logs {c} shows a login prompt (console-getty not masked)")
            log(f"{e} logs shows /{spec.server_log_line}/ and /{spec.client_log_line}/")

        with subtest(f"{e} stop within {bounds.stop_s:g} s without SIGKILL, exit 0"):
            # 130: systemd may end in reboot() where the container has CAP_SYS_BOOT.
            stop_timed(machine, e, c, bounds.stop_s, (0, 130), spec.stop_timeout)

        # Asserted here, after the steps that follow the restarts, and before the
        # step that breaks the container.
        if spec.has("socket-activation"):
            with subtest("socket-activation: no request was lost while the server restarted"):
                expect(lost is None, lost)
        pid1.cannot_start(server, lambda: system_running(machine, sx, bounds))


# --- supervisord -----------------------------------------------------------------


def check_supervisord(machine, run, spec, *, subtest, engine="docker", port=None, bounds=Bounds()):
    t = Target(machine, run, spec, "supervisord", subtest, engine, port, bounds)
    pid1 = Programs(t)
    e, c, sx = engine, pid1.container, pid1.sx
    status, pids, wait_running = pid1.status, pid1.pids, pid1.wait_running
    server, client = spec.server_program, spec.client_program
    lost = None

    with t.started():
        pid1.check_pid1()

        with subtest(f"supervisorctl status: every process of {server} and {client} RUNNING"):
            wait_running(server)
            wait_running(client)
            out = status()
            servers, clients = program_processes(out, server), program_processes(out, client)
            log(
                f"supervisorctl status: {', '.join(sorted(servers))} and {', '.join(sorted(clients))} RUNNING"
            )

        with subtest("HTTP 200 from the host"):
            t.serving()

        if spec.has("inherited-socket"):
            with subtest(
                f"inherited-socket: a killed {server} process refuses no connection while its twin runs"
            ):
                before = pids(server)
                expect(
                    len(before) >= 2,
                    f"{server} has {len(before)} process ({', '.join(before)}): "
                    "inherited-socket needs a group of at least two (numprocs=2), or the socket closes with it",
                )
                victim = sorted(before)[0]
                total, failures = requests_during(
                    machine, t.port, spec.health_path, f"{sx} supervisorctl signal KILL {victim}"
                )
                lost = refused_message(total, failures, f"a SIGKILL of {victim}")
                wait_running(server)
                after = pids(server)
                expect(after[victim] != before[victim], f"{victim} pid did not change after the kill")
                log(f"{victim} back as pid {after[victim]}")

        pid1.server_killed(server, client)
        pid1.client_killed(client)

        with subtest(f"{e} logs shows both programs' log lines and supervisord's spawn lines"):
            names = sorted(program_processes(status(), server)) + sorted(program_processes(status(), client))
            spawned = [
                (f"supervisord spawn ({n})", rf"spawned: '{re.escape(process_name(n))}'") for n in names
            ]
            t.check_log_lines(
                c, [("server", spec.server_log_line), ("client", spec.client_log_line)] + spawned
            )
            log(
                f"{e} logs shows /{spec.server_log_line}/, /{spec.client_log_line}/ and the spawn of {', '.join(names)}"
            )

        with subtest(f"{e} stop within {bounds.stop_s:g} s, exit 0"):
            stop_timed(machine, e, c, bounds.stop_s, (0,), spec.stop_timeout)

        if spec.has("inherited-socket"):
            with subtest("inherited-socket: no connection was refused while a server process restarted"):
                expect(lost is None, lost)
        pid1.cannot_start(server, lambda: (t.wait_serving(), wait_running(server)))


# --- separate --------------------------------------------------------------------


def check_readiness(t, container):
    """readiness: after the stop signal the readiness path answers 503 while the server
    drains. The image runs as shipped: a connection the server accepted before the
    signal sends its request after it, and a draining server still answers a
    connection it has accepted. The container then exits 0 and the restart policy
    brings it back (a host `kill`, not `E stop`, which would make the stop final)."""
    machine, spec = t.machine, t.spec
    path = spec.readiness_path
    status = http_status(machine, t.port, path)
    expect(status == "200", f"GET {path} while serving: {status}, expected 200")
    pid = t.inspect(container, "{{.State.Pid}}")
    # The connection is accepted 0.5 s before the signal; its request goes 0.5 s after.
    request = f"GET {path} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"
    answer_file = machine.succeed("mktemp").strip()
    action = (
        f"exec 3<>/dev/tcp/127.0.0.1/{t.port}; sleep 0.5; kill -TERM {pid}; sleep 0.5; "
        f"printf {q(request)} >&3; line=''; IFS= read -r -t 10 line <&3 || true; exec 3<&-; "
        f"echo \"${{line%$'\\r'}}\" > {answer_file}"
    )
    code, _ = exit_code_after(machine, t.engine, container, action, t.bounds.down_s)
    answer = machine.succeed(f"cat {answer_file}; rm -f {answer_file}").strip()
    log(f"GET {path} after SIGTERM: {answer!r}; {container} exited with {code}")
    expect(
        re.match(r"HTTP/1\.[01] 503", answer), f"GET {path} after SIGTERM answered {answer!r}, expected 503"
    )
    expect(
        code == 0,
        f"{container} exited with {code} after SIGTERM, expected 0 (None: not restarted "
        f"within {t.bounds.down_s:g} s)",
    )
    t.wait_serving()
    log(f"{container} back by restart policy and serving")


def check_separate(machine, run, spec, *, subtest, engine="docker", port=None, bounds=Bounds()):
    t = Target(machine, run, spec, "separate", subtest, engine, port, bounds)
    e = engine
    sc, cc = t.container("server"), t.container("client")
    with t.started():
        with subtest(
            f"PID 1 of {sc} is {spec.server}, of {cc} {spec.client}; StopSignal SIGTERM; not privileged"
        ):
            t.check_pid1(sc, "server", spec.server, "SIGTERM")
            t.check_pid1(cc, "client", spec.client, "SIGTERM")

        with subtest(f"both containers are on the user-defined network {t.project} only"):
            for c in (sc, cc):
                networks = t.inspect(c, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}").split()
                expect(networks == [t.project], f"{c} is on networks {networks}, expected only {t.project!r}")
            log(f"both containers on the user-defined network {t.project}")

        with subtest("HTTP 200 from the host; the client reaches the server by name and logs its line"):
            t.serving()
            # The client finds the server by its container name (user-defined network DNS).
            client_pid = t.inspect(cc, "{{.State.Pid}}")
            environ = machine.succeed(f"tr '\\0' '\\n' < /proc/{client_pid}/environ").split("\n")
            wanted = f"{spec.server_host_env}={sc}"
            expect(
                wanted in environ, f"{cc} does not find the server by name ({wanted} not in its environment)"
            )
            t.log_line_since(cc, spec.client_log_line, None)
            log(f"{cc} has {wanted} and logs /{spec.client_log_line}/")

        for c, executable in ((sc, spec.server), (cc, spec.client)):
            with subtest(f"{c}: non-root, no capabilities, no_new_privs, read-only root"):
                pid, _, argv = t.pid1(c)
                status_file = machine.succeed(f"cat /proc/{pid}/status")
                uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status_file, re.M)
                expect(
                    uid and uid.group(1) != "0" and uid.group(2) != "0", f"{c} runs as root:\n{status_file}"
                )
                expect(re.search(r"^CapEff:\s+0+$", status_file, re.M), f"{c} has capabilities")
                expect(re.search(r"^NoNewPrivs:\s+1$", status_file, re.M), f"{c} may gain privileges")
                expect(
                    t.inspect(c, "{{.HostConfig.ReadonlyRootfs}}") == "true",
                    f"{c} root filesystem is writable",
                )
                # An executable that is itself the process (not a script run by an
                # interpreter, which the kernel would put first in argv) needs no other
                # program in the image: then there must be no shell. A script's image
                # carries its interpreter's runtime, shell included (units/pair-spec.md).
                if argv[:1] == [f"/bin/{executable}"]:
                    expect(machine.execute(f"{e} exec {c} /bin/sh -c true")[0] != 0, f"{c} has a shell")
                    shell = ", no shell"
                else:
                    shell = f" (PID 1 is {argv[0]} running /bin/{executable}: a shell is not checked for)"
                log(f"{c}: uid {uid.group(1)}, no capabilities, no_new_privs, read-only root{shell}")

        if spec.has("readiness"):
            with subtest(
                f"readiness: after SIGTERM, {spec.readiness_path} answers 503 while the server drains"
            ):
                check_readiness(t, sc)

        with subtest(
            f"a SIGKILLed server exits non-zero, is back by restart policy within "
            f"{bounds.serving_again_s:g} s; the client rides through"
        ):
            client_restarts = t.inspect(cc, "{{.RestartCount}}")
            since = now_utc(machine)
            pid = t.inspect(sc, "{{.State.Pid}}")
            code, ms = exit_code_after(
                machine,
                e,
                sc,
                f"kill -KILL {pid}; {back_within(t.port, spec.health_path, bounds.serving_again_s)}",
                bounds.serving_again_s,
            )
            expect(code is not None, f"{sc} not restarted within {bounds.serving_again_s:g} s of a SIGKILL")
            log(
                f"{sc} exited with code {code}; restarted by the restart policy and serving {ms} ms after the kill"
            )
            expect(code != 0, f"{sc} exit code after SIGKILL: {code}, expected non-zero")
            t.log_line_since(cc, spec.client_log_line, since)
            expect(t.inspect(cc, "{{.RestartCount}}") == client_restarts, "the client was restarted")
            log("the client rode through the server's restart")

        with subtest("a SIGKILLed client is back by restart policy and logs its line again"):
            restarts = int(t.inspect(cc, "{{.RestartCount}}"))
            since = now_utc(machine)
            pid = t.inspect(cc, "{{.State.Pid}}")
            machine.succeed(f"kill -KILL {pid}")
            machine.wait_until_succeeds(
                f"[ \"$({e} inspect -f '{{{{.RestartCount}}}}' {cc})\" -gt {restarts} ] && "
                f"[ \"$({e} inspect -f '{{{{.State.Running}}}}' {cc})\" = true ]",
                timeout=bounds.wait(30),
            )
            t.log_line_since(cc, spec.client_log_line, since)
            log(f"{cc} restarted, logging /{spec.client_log_line}/")

        with subtest(f"{e} logs of each container shows its program's log line"):
            t.check_log_lines(sc, [("server", spec.server_log_line)])
            t.check_log_lines(cc, [("client", spec.client_log_line)])
            log(f"{e} logs: /{spec.server_log_line}/ in {sc}, /{spec.client_log_line}/ in {cc}")

        with subtest(
            f"{e} stop of the client, then the server, each within {bounds.stop_separate_s:g} s, exit 0"
        ):
            for c in (cc, sc):
                stop_timed(machine, e, c, bounds.stop_separate_s, (0,), spec.stop_timeout)


CHECKS = {
    "systemd": check_systemd,
    "supervisord": check_supervisord,
    "separate": check_separate,
}
