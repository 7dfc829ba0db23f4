#!/usr/bin/env python3
"""units/run.sh without --detach: it follows the logs until Ctrl-C (SIGINT) or SIGTERM,
then stops and removes the containers and the network it made.

usage: foreground.py [--engine docker|podman] [--port N] [APPROACH]   (default: separate)
Starts the approach in the foreground, waits for its "is up" line, sends SIGINT, and
checks the exit status (130) and that nothing of the approach is left in the engine.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEFTOVERS = {
    "systemd": (["duet-systemd"], False),
    "supervisord": (["duet-supervisord"], False),
    "separate": (["duet-server", "duet-client"], True),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("approach", nargs="?", default="separate", choices=sorted(LEFTOVERS))
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    command = [os.path.join(REPO, "units", "run.sh"), args.approach, "--engine", args.engine, "--port", str(args.port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    up = False
    for line in proc.stdout:
        if " is up on " in line:
            up = True
            break
        if time.monotonic() > deadline:
            break
    if not up:
        proc.kill()
        print(f"FAIL: {' '.join(command)} never said it is up", file=sys.stderr)
        return 1
    time.sleep(2)  # following the logs by now
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        print("FAIL: run.sh did not end within 60 s of SIGINT", file=sys.stderr)
        return 1

    problems = []
    if proc.returncode != 130:
        problems.append(f"exit status {proc.returncode} after SIGINT, expected 130")
    containers, network = LEFTOVERS[args.approach]
    for name in containers:
        if subprocess.run([args.engine, "container", "inspect", name], capture_output=True).returncode == 0:
            problems.append(f"container {name} left behind")
    if network and subprocess.run([args.engine, "network", "inspect", "duet"], capture_output=True).returncode == 0:
        problems.append("network duet left behind")
    for problem in problems:
        print(f"FAIL: foreground {args.approach}: {problem}", file=sys.stderr)
    if problems:
        print(rest[-2000:], file=sys.stderr)
        return 1
    print(f"foreground {args.approach} on {args.engine}: Ctrl-C stopped and removed everything (exit 130)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
