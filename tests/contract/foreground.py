#!/usr/bin/env python3
"""units/run.sh without --detach: it follows the logs until Ctrl-C (SIGINT) or SIGTERM,
then stops and removes the containers and the network it made.

usage: foreground.py [--spec FILE] [--engine docker|podman] [--port N] [--project NAME] [APPROACH]
  (default: separate, spec units/pair.json, its port, project SPECNAME-fg; the run script
  gets the spec as DUET_SPEC)
Starts the approach in the foreground, waits for its "is up" line, checks that every log
line it follows names its container (`NAME | line`) and carries no escape code, sends
SIGINT, and checks the exit status (130) and that nothing run.sh --print-names lists as
a container or network is left in the engine.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "units", "run.sh")
sys.path.insert(0, os.path.join(REPO, "units", "run"))

import pairspec  # noqa: E402

# The spec for run.sh (DUET_SPEC), set by main.
ENV = dict(os.environ)


def made_by(approach, project):
    """(kind, name) of the containers and network a run of approach makes."""
    out = subprocess.run(
        [RUN, approach, "--project", project, "--print-names"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    ).stdout
    return [
        tuple(line.split(" ", 1))
        for line in out.splitlines()
        if line.split(" ", 1)[0] in ("container", "network")
    ]


def process_tree(root):
    """`ps` lines of root and every process descended from it (by parent PID)."""
    table = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,pgid=,stat=,etime=,args="], capture_output=True, text=True
    ).stdout.splitlines()
    parent = {int(line.split()[0]): int(line.split()[1]) for line in table}

    def descends(pid):
        while pid > 1:
            if pid == root:
                return True
            pid = parent.get(pid, 0)
        return False

    return "\n".join(line for line in table if descends(int(line.split()[0]))) or "(no process)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "approach", nargs="?", default="separate", choices=("systemd", "supervisord", "separate")
    )
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--spec", default=os.path.join(REPO, "units", "pair.json"))
    parser.add_argument("--port", type=int, help="host port (default: the spec's port)")
    parser.add_argument("--project", help="default: the spec's name, then -fg")
    args = parser.parse_args()
    spec = pairspec.load_or_exit(args.spec, "foreground.py")
    ENV["DUET_SPEC"] = os.path.abspath(args.spec)
    args.port = spec.port if args.port is None else args.port
    args.project = args.project or f"{spec.name}-fg"
    # run.sh must meet SIGINT as a Ctrl-C at a terminal does. A runner that started this
    # test in the background (`cmd &` in a script) passed SIGINT down ignored, run.sh would
    # inherit that, and bash cannot trap a signal ignored on entry. A handler, unlike an
    # ignored signal, is reset to the default in the children.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    made = made_by(args.approach, args.project)
    containers = [name for kind, name in made if kind == "container"]
    command = [
        RUN,
        args.approach,
        "--engine",
        args.engine,
        "--port",
        str(args.port),
        "--project",
        args.project,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    deadline = time.monotonic() + 180
    up = False
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if " is up on " in line:
            up = True
            break
        if time.monotonic() > deadline:
            break
    if not up:
        proc.kill()
        print(f"FAIL: {' '.join(command)} never said it is up", file=sys.stderr)
        print("".join(lines[-20:]), file=sys.stderr)
        return 1
    time.sleep(3)  # following the logs by now
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Its output ends only when every process holding it has ended: say which are left.
        alive = "ended" if proc.poll() is not None else "still running"
        print(
            f"FAIL: run.sh did not end within 60 s of SIGINT (run.sh itself: {alive}); what is left of it:",
            file=sys.stderr,
        )
        print(process_tree(proc.pid), file=sys.stderr)
        proc.kill()
        try:
            rest, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a descendant still holds the output
            rest = ""
        print("".join(lines[-10:]) + rest[-2000:], file=sys.stderr)
        return 1
    lines += rest.splitlines(keepends=True)

    problems = []
    if proc.returncode != 130:
        problems.append(f"exit status {proc.returncode} after SIGINT, expected 130")
    log_lines = [line for line in lines if " | " in line]
    for name in containers:
        if not any(line.startswith(f"{name} | ") for line in log_lines):
            problems.append(f"no log line starts with '{name} | '")
    escaped = [line for line in log_lines if "\x1b" in line or "\r" in line]
    if escaped:
        problems.append(f"{len(escaped)} followed log lines carry escape codes or CR, e.g. {escaped[0]!r}")
    for kind, name in made:
        if subprocess.run([args.engine, kind, "inspect", name], capture_output=True).returncode == 0:
            problems.append(f"{kind} {name} left behind")
    for problem in problems:
        print(f"FAIL: foreground {args.approach}: {problem}", file=sys.stderr)
    if problems:
        print("".join(lines)[-2000:], file=sys.stderr)
        return 1
    print(
        f"foreground {args.approach} on {args.engine}: log lines named by container; "
        f"Ctrl-C stopped and removed everything (exit 130)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
