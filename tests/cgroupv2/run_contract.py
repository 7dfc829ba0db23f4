#!/usr/bin/env python3
"""Runs the container contract, unchanged, in the running cgroup v2 guest.

Expects the guest started (vm.sh start), the repo's units/ at /root/duet/units
and the stand-in images already loaded into each engine (prove.sh does all that).
Prints one line per check with its time, then "N passed, N failed".

--time-scale N stretches the contract's time bounds (kill-to-serving, stop) and the
machine's waiting bounds by N: the guest runs under qemu TCG on a shared machine,
several times slower than a real host. The checks stay as they are; the measured
figures are logged unscaled, and the factor is printed with the results.
"""

import argparse
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "contract"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ssh_machine import default_machine  # noqa: E402

GUEST_RUN = "/root/duet/units/run.sh"
APPROACHES = ("systemd", "supervisord", "separate")
ENGINES = ("docker", "podman")


def csv(allowed):
    def parse(text):
        items = [x for x in text.split(",") if x]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        return items

    return parse


def scale_time_bounds(checks, factor):
    """Wraps the contract's two timed helpers so their limits grow by factor."""
    back, stop = checks.back_after_kill_ms, checks.stop_timed  # AttributeError = contract changed: fail loudly

    def back_scaled(machine, kill_command, port, limit_s):
        return back(machine, kill_command, port, int(limit_s * factor + 0.999))

    def stop_scaled(machine, engine, container, limit_ms, allowed_exit_codes):
        return stop(machine, engine, container, int(limit_ms * factor), allowed_exit_codes)

    checks.back_after_kill_ms, checks.stop_timed = back_scaled, stop_scaled


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", type=csv(ENGINES), default=list(ENGINES))
    ap.add_argument("--approach", type=csv(APPROACHES), default=list(APPROACHES))
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--time-scale", type=float, default=1.0)
    args = ap.parse_args()
    if args.time_scale < 1:
        ap.error("--time-scale must be >= 1")

    import checks  # tests/contract/checks.py, the same module the NixOS VM tests import

    if args.time_scale != 1:
        scale_time_bounds(checks, args.time_scale)
    machine = default_machine(wait_scale=args.time_scale)
    results = []
    for engine in args.engine:
        for approach in args.approach:
            check = getattr(checks, f"check_{approach}")
            print(f"== {engine} {approach}", flush=True)
            t0 = time.monotonic()
            try:
                check(machine, GUEST_RUN, engine=engine, port=args.port)
                ok = True
            except Exception:
                traceback.print_exc()
                ok = False
                machine.execute(f"{GUEST_RUN} {approach} --engine {engine} --stop", timeout=120)
            secs = time.monotonic() - t0
            results.append((engine, approach, ok, secs))
            print(f"== {engine} {approach}: {'PASS' if ok else 'FAIL'} in {secs:.0f} s", flush=True)

    scale = f" (time bounds x{args.time_scale:g}: emulated guest)" if args.time_scale != 1 else ""
    print(f"\ncgroup v2 guest contract results{scale}:")
    for engine, approach, ok, secs in results:
        print(f"  {engine:7} {approach:12} {'PASS' if ok else 'FAIL'}  {secs:5.0f} s")
    passed = sum(1 for r in results if r[2])
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
