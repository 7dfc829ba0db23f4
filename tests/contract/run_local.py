#!/usr/bin/env python3
"""Runs the container contract (checks.py) on this host against images already in
the engine (tests/standins/build.sh builds them), starting them with units/run.sh.

usage: run_local.py [--spec FILE] [--engine docker|podman] [--port N] [--image-dir DIR] [-v] [APPROACH ...]
APPROACH: systemd, supervisord, separate (default: all three). --spec: the pair spec
(default units/pair.json); the run script gets it as DUET_SPEC, the checks read the
pair's names from it; --port: the host port (default: the spec's port). Every step prints its
subtest name and time; a failure names its subtest. Exit 1 if any check fails.
"""

import argparse
import os
import shlex
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "units", "run"))

import checks  # noqa: E402
import pairspec  # noqa: E402
from machine import LocalShell, Machine, Subtests  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="container contract against local images")
    parser.add_argument("approaches", nargs="*", metavar="APPROACH", default=list(checks.CHECKS))
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument(
        "--spec",
        default=os.path.join(REPO, "units", "pair.json"),
        help="the pair spec (default units/pair.json)",
    )
    parser.add_argument("--port", type=int, help="host port (default: the spec's port)")
    parser.add_argument("--image-dir", help="let the run script load the image tarballs in DIR first")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo every command")
    args = parser.parse_args()
    unknown = [a for a in args.approaches if a not in checks.CHECKS]
    if unknown:
        parser.error(f"unknown approach {unknown[0]!r} (choose from {', '.join(checks.CHECKS)})")

    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"bad --port {args.port} (1-65535)")
    spec = pairspec.load_or_exit(args.spec, "run_local.py")

    run = f"DUET_SPEC={shlex.quote(os.path.abspath(args.spec))} {shlex.quote(os.path.join(REPO, 'units', 'run.sh'))}"
    if args.image_dir:
        run = f"DUET_IMAGE_DIR={shlex.quote(os.path.abspath(args.image_dir))} {run}"
    machine = Machine(LocalShell(cwd=REPO), name="host", verbose=args.verbose)

    results = []
    for approach in args.approaches:
        subtest = Subtests(prefix=f"{approach} on {args.engine}: ")
        started = time.monotonic()
        try:
            checks.CHECKS[approach](machine, run, spec, subtest=subtest, engine=args.engine, port=args.port)
            outcome = "PASS"
        except Exception as error:  # report every approach, then fail
            traceback.print_exc()
            where = f" in subtest {subtest.failed!r}" if subtest.failed else ""
            outcome = f"FAIL{where}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        results.append((approach, outcome, time.monotonic() - started))

    print()
    for approach, outcome, seconds in results:
        print(f"contract {approach} of {spec.name} on {args.engine}: {outcome} ({seconds:.1f} s)")
    return 0 if all(outcome == "PASS" for _, outcome, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
