#!/usr/bin/env python3
"""units/run.sh interrupted at several moments of its start-up leaves nothing behind
and says only what it did.

usage: interrupt.py [--spec FILE] [--engine docker|podman] [--port N] [--at MOMENT,...] [APPROACH ...]
  APPROACH  systemd, supervisord, separate (default: all three)
  --spec    the pair spec given to run.sh (default units/pair.json)
  --at      moments to interrupt, each SECONDS, `started` (right after the first "started
            container" line: for separate, while the client is being created) or `up`
            (after the "is up" line), with
            the signal: `0.3` sends SIGINT to run.sh's process group (what Ctrl-C at a
            terminal does), `0.3:TERM` sends SIGTERM to run.sh alone (what `kill` does)
            (default: 0.1,0.3,0.5:TERM,0.5,1,2,2:TERM,up,up:TERM)

For each approach and moment it starts run.sh in the foreground under a project name of
its own and an empty TMPDIR, interrupts it, and checks: exit status 130 (SIGINT) or 143
(SIGTERM); no container, network or temp file left (by the names `run.sh --print-names`
gives and by the label every run's objects carry); and, from the engine's events, that
every container and network run.sh created was removed and that run.sh said "removed
container X" / "removed network X" exactly for those. Needs a reachable engine with the
approach's images (tests/standins/build.sh); run it inside tests/ci/private-engines.sh.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "units", "run.sh")
DEFAULT_AT = "0.1,0.3,0.5:TERM,0.5,1,2,2:TERM,started,started:TERM,up,up:TERM"
MARKERS = {"started": "run.sh: started container ", "up": " is up on "}


def names(spec, approach, project):
    out = subprocess.run(
        [RUN, approach, "--spec", spec, "--project", project, "--print-names"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {"image": [], "container": [], "network": []}
    for line in out.splitlines():
        kind, name = line.split(" ", 1)
        found[kind].append(name)
    return found


def events(engine, since, until, project):
    """(kind, action, name) of this project's containers and networks between since and until."""
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    out = subprocess.run(
        [engine, "events", "--since", since, "--until", until, "--format", fmt],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    seen = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("container", "network") and parts[2].startswith(project):
            seen.append(tuple(parts))
    return seen


def leftovers(engine, found):
    left = []
    for name in found["container"]:
        if subprocess.run([engine, "container", "inspect", name], capture_output=True).returncode == 0:
            left.append(f"container {name}")
    for name in found["network"]:
        if subprocess.run([engine, "network", "inspect", name], capture_output=True).returncode == 0:
            left.append(f"network {name}")
    for kind, cmd in (("container", ["ps", "-a"]), ("network", ["network", "ls"])):
        out = subprocess.run(
            [engine, *cmd, "-q", "--filter", "label=duet.run"], capture_output=True, text=True
        ).stdout.split()
        left += [f"{kind} {x} (labelled duet.run)" for x in out]
    return left


def one(args, approach, at, sig):
    project = f"int-{approach[:3]}"
    found = names(args.spec, approach, project)
    tmp = tempfile.mkdtemp(prefix="interrupt-")
    env = dict(os.environ, TMPDIR=tmp, DUET_PROJECT=project)
    since = str(time.time())  # the engine runs on this host: the same clock
    proc = subprocess.Popen(
        [RUN, approach, "--spec", args.spec, "--engine", args.engine, "--port", str(args.port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines = []
    marker = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if at in MARKERS and MARKERS[at] in line:
                marker.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    problems = []
    t0 = time.monotonic()
    if at in MARKERS:
        if not marker.wait(180):
            problems.append(f"never printed {MARKERS[at]!r}")
    else:
        time.sleep(float(at))
    ended_before = proc.poll() is not None
    try:
        if sig == "INT":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole foreground group
        else:
            proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        ended_before = True
    try:
        status = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
        problems.append("did not end within 90 s of the signal")
    reader.join(10)
    took = time.monotonic() - t0
    until = str(time.time() + 1)
    time.sleep(1)  # `events --until` in the future waits for it

    expected = 130 if sig == "INT" else 143
    if ended_before:
        problems.append(f"run.sh had ended before the signal (status {status})")
    elif status != expected:
        problems.append(f"exit status {status}, expected {expected}")
    problems += [f"{x} left behind" for x in leftovers(args.engine, found)]
    left_tmp = os.listdir(tmp)
    if left_tmp:
        problems.append(f"temp files left in TMPDIR: {left_tmp}")
    if not left_tmp:
        os.rmdir(tmp)

    text = "".join(lines)
    said = {tuple(m) for m in re.findall(r"removed (container|network) (\S+)", text)}
    seen = events(args.engine, since, until, project)
    created = {(k, n) for k, a, n in seen if a == "create"}
    destroyed = {(k, n) for k, a, n in seen if a == "destroy"}
    if created - destroyed:
        problems.append(f"created but not removed: {sorted(created - destroyed)}")
    if said != created:
        problems.append(f"said it removed {sorted(said)}, but the engine saw it create {sorted(created)}")
    if "stopped and removed" in text:
        problems.append("still says 'stopped and removed'")

    what = f"{approach} {sig} at {at}" + ("" if at in MARKERS else " s")
    if problems:
        for p in problems:
            print(f"FAIL: {what}: {p}", file=sys.stderr)
        print("  output:\n" + "".join("    " + x for x in lines[-25:]), file=sys.stderr)
        return False
    made = ", ".join(f"{k} {n}" for k, n in sorted(created)) or "nothing yet"
    print(f"ok: {what}: exit {status} after {took:.1f} s; made and removed: {made}", flush=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("approaches", nargs="*", metavar="APPROACH")
    parser.add_argument("--spec", default=os.path.join(REPO, "units", "pair.json"))
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DUET_CONTRACT_PORT", "8080")))
    parser.add_argument("--at", default=DEFAULT_AT)
    args = parser.parse_args()
    # run.sh must meet SIGINT as a Ctrl-C at a terminal does, even when this test was
    # started with SIGINT ignored (a `cmd &` in a script): a handler, unlike an ignored
    # signal, is reset to the default in the children (foreground.py says more).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for approach in args.approaches:
        if approach not in ("systemd", "supervisord", "separate"):
            parser.error(f"unknown approach: {approach} (systemd, supervisord or separate)")
    moments = []
    for entry in args.at.split(","):
        at, _, sig = entry.partition(":")
        sig = sig or "INT"
        if sig not in ("INT", "TERM") or (at not in MARKERS and not re.fullmatch(r"\d+(\.\d+)?", at)):
            parser.error(f"bad --at entry: {entry} (SECONDS, started or up, optionally :TERM or :INT)")
        moments.append((at, sig))
    passed = failed = 0
    for approach in args.approaches or ("systemd", "supervisord", "separate"):
        for at, sig in moments:
            if one(args, approach, at, sig):
                passed += 1
            else:
                failed += 1
    print(f"interrupt: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
