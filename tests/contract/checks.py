"""The container contract: what a user would check, once per approach.

Written against the NixOS test driver's machine interface (succeed, fail, execute,
wait_until_succeeds) and its `subtest(name)`, so the same checks run in the NixOS VM
tests and, through tests/contract/machine.py, on this host (run_local.py) and in the
cgroup v2 guest (tests/cgroupv2/run_contract.py). Every command runs on the container
host and uses only curl, the engine CLI, coreutils and timeout.

Each check starts its approach with `{run} APPROACH --engine E --port P --detach`,
asserts step by step under `subtest(...)` names, and ends with
`{run} APPROACH --engine E --stop`. Expected values (names, states, signals, exit codes,
time bounds) are written here, never read from the config under test; a runner on a
slow machine passes `Bounds().scaled(N)`.

The driver runs each command with `set -euo pipefail` (machine.py does the same): pipes
end in `grep PATTERN >/dev/null`, never `grep -q`, whose early exit would fail the pipe
with SIGPIPE; a backgrounded command closes its stdout.

Module-level `log` receives one line per finding; runners may replace it.
"""

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """The contract's time bounds. The behaviour bounds tell behaviours apart (a clean
    stop within 5 s against a 10 s SIGKILL); waits only cap how long a check waits for
    something that should happen (slow VMs included). `scaled(N)` stretches both for a
    machine N times slower than a host, such as an emulated guest; the figures measured
    are logged as they are."""

    serving_again_s: float = 5  # a SIGKILLed server answers /healthz again
    stop_s: float = 5  # `E stop` of duet-systemd or duet-supervisord
    stop_separate_s: float = 2  # `E stop` of duet-server or duet-client
    wait_scale: float = 1

    def scaled(self, factor):
        return Bounds(self.serving_again_s * factor, self.stop_s * factor,
                      self.stop_separate_s * factor, self.wait_scale * factor)

    def wait(self, seconds):
        """A waiting bound of `seconds` on a host, for wait_until_succeeds."""
        return math.ceil(seconds * self.wait_scale)


# Waiting for systemd to reach `running` after boot.
SETTLE_S = 180


def log(line):
    print(line, flush=True)


class ContractError(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise ContractError(message)


# --- shell snippets --------------------------------------------------------------

def url(port, path="/"):
    return f"http://127.0.0.1:{port}{path}"


def http_status(machine, port, path="/"):
    return machine.succeed(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 {url(port, path)} || true"
    ).strip()


def elapsed_ms(machine, command):
    """Runs command (must succeed) and returns how long it took, measured on the host."""
    out = machine.succeed(
        f"s=$(date +%s%N); {command} >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))"
    )
    return int(out.strip().splitlines()[-1])


def back_after_kill_ms(machine, kill_command, port, limit_s):
    """Runs kill_command, then returns the ms until /healthz answers 200 again.
    Fails if that takes longer than limit_s."""
    out = machine.succeed(
        f"s=$(date +%s%N); {kill_command} >/dev/null; "
        f"deadline=$((s + {int(limit_s * 1000)} * 1000000)); "
        f"until curl -fs -o /dev/null --max-time 1 {url(port, '/healthz')}; do "
        f'  if [ "$(date +%s%N)" -gt "$deadline" ]; then echo "not back within {limit_s:g} s" >&2; exit 1; fi; '
        f"  sleep 0.05; "
        f"done; echo $(( ($(date +%s%N) - s) / 1000000 ))"
    )
    return int(out.strip().splitlines()[-1])


def now_utc(machine):
    """Host time, in a form both `docker logs --since` and `podman logs --since` accept."""
    return machine.succeed("date -u +%Y-%m-%dT%H:%M:%SZ").strip()


def logs(engine, container, since=None):
    since_flag = f"--since {since} " if since else ""
    return f"{engine} logs {since_flag}{container} 2>&1"


def inspect(machine, engine, what, template):
    return machine.succeed(f"{engine} inspect -f '{template}' {what}").strip()


def stop_timed(machine, engine, container, limit_s, allowed_exit_codes):
    """`E stop` must finish within limit_s and end with an allowed exit code (137 = SIGKILL)."""
    limit_ms = int(limit_s * 1000)
    ms = elapsed_ms(machine, f"{engine} stop {container}")
    code = int(inspect(machine, engine, container, "{{.State.ExitCode}}"))
    log(f"{engine} stop {container}: {ms} ms, exit code {code}")
    expect(code != 137, f"{container} was SIGKILLed on stop (exit 137)")
    expect(code in allowed_exit_codes, f"{container} stopped with exit code {code}, expected one of {allowed_exit_codes}")
    expect(ms < limit_ms, f"{engine} stop {container} took {ms} ms, limit {limit_ms} ms")


def requests_during(machine, port, action):
    """Sends requests one after another from the host while `action` runs;
    returns (total, failures): failures maps "HTTP code / curl exit code" to a count
    for every answer that was not a 200."""
    out = machine.succeed(
        "out=$(mktemp); flag=$(mktemp -u); "
        f"( while [ ! -e \"$flag\" ]; do curl -s -o /dev/null -w 'http=%{{http_code}}/curl=%{{exitcode}}\\n' --max-time 10 {url(port)} >> \"$out\" || true; done ) >/dev/null 2>&1 & "
        "loop=$!; sleep 1; "
        f"{action}; "
        "sleep 1; touch \"$flag\"; wait $loop; "
        "echo total=$(wc -l < \"$out\"); sort \"$out\" | uniq -c; rm -f \"$out\" \"$flag\""
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


def start(machine, run, approach, engine, port):
    """Starts the approach. Called before the try/finally that stops it: when the start
    fails, run.sh has removed what it made, and what it did not make is not ours."""
    log(f"== {approach} on {engine}: starting with {run}")
    machine.succeed(f"{run} {approach} --engine {engine} --port {port} --detach")


def stop(machine, run, approach, engine):
    machine.succeed(f"{run} {approach} --engine {engine} --stop")


# --- systemd ---------------------------------------------------------------------

def check_systemd(machine, run, *, subtest, engine="docker", port=8080, bounds=Bounds()):
    e, c = engine, "duet-systemd"
    sx = f"{e} exec {c}"
    with subtest(f"start systemd on {e}"):
        start(machine, run, "systemd", e, port)
    try:
        with subtest("systemd reaches running; the socket, server and client units are active, nothing stray runs"):
            # The bus can refuse for a moment right after boot: retry until it answers.
            machine.wait_until_succeeds(f"timeout 60 {sx} systemctl is-system-running --wait",
                                        timeout=bounds.wait(SETTLE_S))
            state = machine.succeed(f"{sx} systemctl is-system-running || true").strip()
            expect(state == "running", f"system state is {state!r}, expected 'running' (failed units: "
                   + machine.succeed(f"{sx} systemctl --failed --no-legend --plain || true").strip() + ")")
            states = machine.succeed(f"{sx} systemctl is-active server.socket server.service client.service || true").split()
            expect(states == ["active"] * 3, f"server.socket, server.service, client.service: {states}")
            log("system running; server.socket, server.service, client.service active")
            running = machine.succeed(f"{sx} systemctl list-units --type=service --state=running --no-legend --plain")
            strays = [line.split()[0] for line in running.splitlines() if re.search(r"getty|supervisor", line)]
            expect(not strays, f"services that have no business in this container are running: {strays}")

        with subtest("HTTP 200 from the host; the client's polls get 200 (journal)"):
            status = http_status(machine, port)
            expect(status == "200", f"GET / from the host: {status}, expected 200")
            log("HTTP 200 from the host")
            machine.wait_until_succeeds(f"{sx} journalctl -u client.service -o cat | grep 'status=200' >/dev/null",
                                        timeout=bounds.wait(60))
            log("client polls get status=200 (journal)")

        with subtest("the units in the image verify clean"):
            # The units as they are in the image must verify, with the binaries present.
            # verify exits 0 on mere warnings (an unknown key, say): its output must not
            # mention our units either.
            out = machine.succeed(
                f"{sx} systemd-analyze verify /etc/systemd/system/server.socket "
                "/etc/systemd/system/server.service /etc/systemd/system/client.service 2>&1"
            )
            ours = [line for line in out.splitlines() if re.search(r"server\.(service|socket)|client\.service|duet", line)]
            expect(not ours, "systemd-analyze verify warns about the units:\n" + "\n".join(ours))
            log("systemd-analyze verify: clean")
            security = machine.succeed(f"{sx} systemd-analyze security --no-pager server.service client.service")
            for line in security.splitlines():
                if "Overall exposure level" in line:
                    log("systemd-analyze security: " + line.strip("→ ").strip())

        with subtest("server.service restarts under a stream of requests; the client is not restarted with it"):
            # Socket activation: restarts under a stream of requests lose none, and the
            # client is not restarted with the server (client.service uses Wants=).
            server_pid = machine.succeed(f"{sx} systemctl show -p MainPID --value server.service").strip()
            client_pid = machine.succeed(f"{sx} systemctl show -p MainPID --value client.service").strip()
            total, failures = requests_during(
                machine, port,
                " && ".join([f"{sx} systemctl restart server.service && sleep 0.5"] * 3),
            )
            failed = sum(failures.values())
            log(f"3 x systemctl restart server.service under load: {total} requests, {failed} failed {failures or ''}")
            # Asserted in the last subtest, so that the steps after this one still run.
            lost = None if failed == 0 else (
                f"{failed} of {total} requests failed while server.service restarted: {failures}"
                " (curl 52 = connection closed without an answer)")
            expect(total >= 10, f"only {total} requests went out during the restarts")
            new_server_pid = machine.succeed(f"{sx} systemctl show -p MainPID --value server.service").strip()
            expect(new_server_pid != server_pid, "server.service MainPID did not change: no restart happened")
            new_client_pid = machine.succeed(f"{sx} systemctl show -p MainPID --value client.service").strip()
            expect(new_client_pid == client_pid, f"client.service was restarted with the server ({client_pid} -> {new_client_pid})")

        with subtest(f"a SIGKILLed server serves again within {bounds.serving_again_s:g} s (Restart=always); the client's polls recover"):
            since = now_utc(machine)
            ms = back_after_kill_ms(machine, f"{sx} systemctl kill --signal=SIGKILL server.service", port,
                                    bounds.serving_again_s)
            log(f"killed server serving again after {ms} ms")
            machine.wait_until_succeeds(f"{sx} systemctl is-active server.service", timeout=bounds.wait(30))
            machine.wait_until_succeeds(f"{logs(e, c, since)} | grep -E 'duet-client\\[[0-9]+\\]:.*status=200' >/dev/null",
                                        timeout=bounds.wait(60))
            log("client polls succeed after the kill")

        with subtest(f"{e} logs shows server and client lines and no login prompt"):
            out = machine.succeed(logs(e, c))
            expect("login:" not in out, f"{e} logs {c} shows a login prompt (console-getty not masked)")
            expect(re.search(r"duet-server\[\d+\]:", out), f"{e} logs {c} has no duet-server line")
            expect(re.search(r"duet-client\[\d+\]:.*status=200", out), f"{e} logs {c} has no duet-client poll line with status=200")
            log(f"{e} logs shows server and client lines")

        with subtest(f"StopSignal SIGRTMIN+3; {e} stop within {bounds.stop_s:g} s without SIGKILL"):
            signal = inspect(machine, e, f"localhost/{c}:latest", "{{.Config.StopSignal}}")
            expect(signal == "SIGRTMIN+3", f"image StopSignal is {signal!r}, expected SIGRTMIN+3")
            log("image StopSignal SIGRTMIN+3")
            # 130: systemd may end in reboot() where the container has CAP_SYS_BOOT.
            stop_timed(machine, e, c, bounds.stop_s, (0, 130))

        with subtest("no request was lost while server.service restarted"):
            expect(lost is None, lost)
    finally:
        stop(machine, run, "systemd", e)


# --- supervisord -----------------------------------------------------------------

# supervisorctl's name of a server process: `server` ([program:server]), or `server:server_00`,
# `server:server_01` ... (the processes of an [fcgi-program:server] group with numprocs).
SERVER_PROCESS = r"server(?::server_\d+)?"
SERVER_PROCESS_ERE = "server(:server_[0-9]+)?"


def check_supervisord(machine, run, *, subtest, engine="docker", port=8080, bounds=Bounds()):
    e, c = engine, "duet-supervisord"
    sx = f"{e} exec {c}"
    with subtest(f"start supervisord on {e}"):
        start(machine, run, "supervisord", e, port)
    try:
        with subtest("supervisorctl status: server and client RUNNING"):
            # `status` exits 0 for STARTING too: wait for RUNNING itself, of every process.
            machine.wait_until_succeeds(
                f"out=$({sx} supervisorctl status) && "
                f"echo \"$out\" | grep -E '^{SERVER_PROCESS_ERE} +RUNNING' >/dev/null && "
                "echo \"$out\" | grep -E '^client +RUNNING' >/dev/null && "
                "! echo \"$out\" | grep -Ev '^[^ ]+ +RUNNING' >/dev/null",
                timeout=bounds.wait(60),
            )
            out = machine.succeed(f"{sx} supervisorctl status")
            servers = re.findall(rf"^({SERVER_PROCESS})\s+RUNNING", out, re.M)
            expect(servers, f"supervisorctl status: no server process RUNNING:\n{out}")
            expect(re.search(r"^client\s+RUNNING", out, re.M), f"supervisorctl status: client not RUNNING:\n{out}")
            log(f"supervisorctl status: {', '.join(servers)} and client RUNNING")

        with subtest("HTTP 200 from the host"):
            status = http_status(machine, port)
            expect(status == "200", f"GET / from the host: {status}, expected 200")
            log("HTTP 200 from the host")

        with subtest(f"a SIGKILLed server serves again within {bounds.serving_again_s:g} s; the client recovers without a restart"):
            client_pid = machine.succeed(f"{sx} supervisorctl pid client").strip()
            server = servers[0]
            server_pid = machine.succeed(f"{sx} supervisorctl pid {server}").strip()
            since = now_utc(machine)
            ms = back_after_kill_ms(machine, f"{sx} supervisorctl signal KILL {server}", port, bounds.serving_again_s)
            log(f"killed {server} serving again after {ms} ms")
            new_server_pid = machine.succeed(f"{sx} supervisorctl pid {server}").strip()
            expect(new_server_pid != server_pid, "server pid did not change after the kill")
            machine.wait_until_succeeds(f"{logs(e, c, since)} | grep 'status=200' >/dev/null", timeout=bounds.wait(60))
            expect(machine.succeed(f"{sx} supervisorctl pid client").strip() == client_pid, "the client was restarted")
            log("client recovered without a restart")

        with subtest(f"{e} logs shows both programs and supervisord's spawn lines"):
            out = machine.succeed(logs(e, c))
            expect(re.search(r"listening", out), f"{e} logs {c} has no server line ('listening')")
            expect(re.search(r"status=200", out), f"{e} logs {c} has no client poll line with status=200")
            expect(re.search(r"spawned: 'server(_\d+)?'", out) and re.search(r"spawned: 'client'", out),
                   f"{e} logs {c} lacks supervisord's spawn lines")
            log(f"{e} logs shows both programs")

        with subtest(f"{e} stop within {bounds.stop_s:g} s, exit 0"):
            stop_timed(machine, e, c, bounds.stop_s, (0,))
    finally:
        stop(machine, run, "supervisord", e)


# --- separate --------------------------------------------------------------------

def check_separate(machine, run, *, subtest, engine="docker", port=8080, bounds=Bounds()):
    e = engine
    with subtest(f"start separate on {e}"):
        start(machine, run, "separate", e, port)
    try:
        with subtest("both containers are on the user-defined network duet only"):
            for c in ("duet-server", "duet-client"):
                networks = inspect(machine, e, c, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}").split()
                expect(networks == ["duet"], f"{c} is on networks {networks}, expected only the user-defined 'duet'")
            log("both containers on the user-defined network duet")

        with subtest("HTTP 200 from the host; the client reaches the server by name"):
            status = http_status(machine, port)
            expect(status == "200", f"GET / from the host: {status}, expected 200")
            # The client finds the server by its container name (user-defined network DNS).
            client_pid = inspect(machine, e, "duet-client", "{{.State.Pid}}")
            environ = machine.succeed(f"tr '\\0' '\\n' < /proc/{client_pid}/environ").split()
            expect("SERVER_HOST=duet-server" in environ, f"duet-client does not poll by name: {environ}")
            machine.wait_until_succeeds(f"{logs(e, 'duet-client')} | grep 'status=200' >/dev/null", timeout=bounds.wait(60))
            log("HTTP 200 from the host; the client reaches the server by name")

        for c in ("duet-server", "duet-client"):
            with subtest(f"{c}: non-root, no capabilities, no_new_privs, read-only root, no shell"):
                pid = inspect(machine, e, c, "{{.State.Pid}}")
                status_file = machine.succeed(f"cat /proc/{pid}/status")
                uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status_file, re.M)
                expect(uid and uid.group(1) != "0" and uid.group(2) != "0", f"{c} runs as root:\n{status_file}")
                expect(re.search(r"^CapEff:\s+0+$", status_file, re.M), f"{c} has capabilities")
                expect(re.search(r"^NoNewPrivs:\s+1$", status_file, re.M), f"{c} may gain privileges")
                expect(inspect(machine, e, c, "{{.HostConfig.ReadonlyRootfs}}") == "true", f"{c} root filesystem is writable")
                expect(machine.execute(f"{e} exec {c} /bin/sh -c true")[0] != 0, f"{c} has a shell")
                log(f"{c}: uid {uid.group(1)}, no capabilities, no_new_privs, read-only root, no shell")

        with subtest(f"a SIGKILLed server is back by restart policy within {bounds.serving_again_s:g} s; the client rides through"):
            client_restarts = inspect(machine, e, "duet-client", "{{.RestartCount}}")
            since = now_utc(machine)
            pid = inspect(machine, e, "duet-server", "{{.State.Pid}}")
            ms = back_after_kill_ms(machine, f"kill -KILL {pid}", port, bounds.serving_again_s)
            log(f"killed server back by restart policy, serving after {ms} ms")
            restarts = int(inspect(machine, e, "duet-server", "{{.RestartCount}}"))
            expect(restarts >= 1, f"duet-server RestartCount {restarts}, expected >= 1")
            machine.wait_until_succeeds(f"{logs(e, 'duet-client', since)} | grep 'status=200' >/dev/null",
                                        timeout=bounds.wait(60))
            expect(inspect(machine, e, "duet-client", "{{.RestartCount}}") == client_restarts, "the client was restarted")
            log("client rode through the server's restart")

        with subtest(f"{e} stop of the client, then the server, each within {bounds.stop_separate_s:g} s, exit 0"):
            for c in ("duet-client", "duet-server"):
                stop_timed(machine, e, c, bounds.stop_separate_s, (0,))
    finally:
        stop(machine, run, "separate", e)


CHECKS = {
    "systemd": check_systemd,
    "supervisord": check_supervisord,
    "separate": check_separate,
}
