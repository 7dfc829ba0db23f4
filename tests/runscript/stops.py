#!/usr/bin/env python3
"""units/run.sh --stop says when the engine had to kill, and its hints leave nothing open.

usage: stops.py [--spec FILE] [--engine docker|podman] [--port N]
Runs inside tests/ci/private-engines.sh with the stand-in images of the spec's pair (default
units/pair.json) in the engine. For the systemd approach, started with --detach:
  - every "look inside" hint that execs into the container (systemctl status, the journal)
    ends by itself, exit 0, with output;
  - --stop with nothing open in the container: exit 0, "removed container X" alone, within
    the spec's stop timeout;
  - --stop while an exec session follows the journal (journalctl -f, what the hint printed
    before): systemd's shutdown waits for it, the engine kills the container after the stop
    timeout, and run.sh says so in one line before "removed container X"; exit 0, nothing left.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "units", "run.sh")
sys.path.insert(0, os.path.join(REPO, "units", "run"))
import pairspec  # noqa: E402


def run_sh(args, *argv, timeout=180):
    return subprocess.run(
        [RUN, "systemd", "--spec", args.spec, "--engine", args.engine, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(args, project):
    done = run_sh(args, "--project", project, "--port", str(args.port), "--detach")
    if done.returncode != 0:
        raise SystemExit(
            f"stops: FAIL: start of {project} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def stop(args, project):
    started = time.monotonic()
    done = run_sh(args, "--project", project, "--stop")
    return done, time.monotonic() - started


def left(args, container):
    return (
        subprocess.run([args.engine, "container", "inspect", container], capture_output=True).returncode == 0
    )


def main():
    parser = argparse.ArgumentParser(prog="stops.py")
    parser.add_argument("--spec", default=os.path.join(REPO, "units", "pair.json"))
    parser.add_argument("--engine", default="docker", choices=("docker", "podman"))
    parser.add_argument("--port", type=int, default=18095)
    args = parser.parse_args()
    spec = pairspec.load(args.spec)
    timeout = spec.stop_timeout
    results = []  # (case, problems, detail)

    # The hints, and a stop with nothing open.
    project = "stops-a"
    container = f"{project}-systemd"
    up = start(args, project)
    hints = [
        line.strip().split("  #")[0]
        for line in up.splitlines()
        if line.startswith("  ") and f" exec {container} " in line
    ]
    problems = [] if len(hints) >= 2 else [f"expected two exec hints, got {hints}"]
    for hint in hints:
        argv = shlex.split(hint)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if done.returncode != 0 or not done.stdout.strip():
                problems.append(f"`{hint}` exited {done.returncode} with {len(done.stdout)} bytes of output")
        except subprocess.TimeoutExpired:
            problems.append(f"`{hint}` still running after 30 s")
    results.append(("exec hints end by themselves", problems, f"{len(hints)} hints"))
    done, took = stop(args, project)
    said = done.stderr.splitlines()
    problems = []
    if (done.returncode, said) != (0, [f"run.sh: removed container {container}"]):
        problems.append(f"exit {done.returncode}, said {said}")
    if took >= timeout:
        problems.append(f"took {took:.1f} s, the stop timeout is {timeout} s")
    if left(args, container):
        problems.append(f"{container} still there")
    results.append(("stop with nothing open", problems, f"{took:.1f} s"))

    # A stop while an exec session follows the journal.
    project = "stops-b"
    container = f"{project}-systemd"
    start(args, project)
    follower = subprocess.Popen(
        [args.engine, "exec", container, "journalctl", "-u", spec.server_unit, "-f"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The stop must come once the session runs in the container, not while the engine is
    # still starting it (under load that took longer than a fixed wait).
    following = running_in(args, container, "journalctl", within_s=30)
    done, took = stop(args, project)
    said = done.stderr.splitlines()
    forced = (
        f"run.sh: container {container} did not stop within {timeout} s of its stop signal: {args.engine} "
        f"killed it (SIGKILL); an exec session left open in it, such as journalctl -f, holds systemd's shutdown"
    )
    problems = [] if following else ["journalctl -f did not show in the container within 30 s"]
    if (done.returncode, said) != (0, [forced, f"run.sh: removed container {container}"]):
        problems.append(f"exit {done.returncode}, said {said}")
    if left(args, container):
        problems.append(f"{container} still there")
    try:
        follower.wait(timeout=30)
    except subprocess.TimeoutExpired:
        follower.kill()
        problems.append("the exec session did not end with the container")
    results.append(("stop with journalctl -f open", problems, f"{took:.1f} s: {said[0] if said else ''}"))

    return report(results)


def running_in(args, container, command, within_s):
    """Whether COMMAND shows among the container's processes (engine top) within WITHIN_S."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        top = subprocess.run([args.engine, "top", container], capture_output=True, text=True)
        if command in top.stdout:
            return True
        time.sleep(0.2)
    return False


def report(results):
    failed = 0
    for case, problems, detail in results:
        if problems:
            failed += 1
            print(f"FAIL: {case}: {'; '.join(problems)}")
        else:
            print(f"ok: {case} ({detail})")
    print(f"run.sh stops: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
