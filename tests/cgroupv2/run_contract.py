#!/usr/bin/env python3
"""Runs the container contract, unchanged, in the running cgroup v2 guest.

Expects the guest started (vm.sh start), the repo's units/ at /root/duet/units
and the stand-in images already loaded into each engine (prove.sh does all that).
--spec FILE (default units/pair.json) is the pair spec, a file of this checkout: the
checks read it here, and the guest's run script reads the same file at /root/duet/
(staged there with its directory: units/ always, other directories as cg2_stage PATHS).
The contract's machine (tests/contract/machine.py) reaches the guest through
`vm.sh ssh`. Prints every subtest with its time, one line per check, then
"N passed, N failed".

--time-scale N runs the contract with its time bounds stretched by N
(`checks.Bounds().scaled(N)`: kill-to-serving, stop, and every wait): the guest runs
under qemu TCG on a shared machine, several times slower than a real host. The
measured figures are logged unscaled, and the factor is printed with the results.

--systemd-layout IMAGE runs the systemd checks once more on each engine, after the
approaches, on IMAGE (already loaded) tagged as the spec's systemd image: the Nix image
layout built by tests/nix/layout_image.sh over the guest's own Debian sid systemd.

With more than one engine, each engine's runs go in a process of their own, side by side
(engine i on the port plus i), and every line they print is prefixed with the engine: the
checks mostly wait (on restarts, start limits, stops), and the guest has two CPUs.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "contract"))
sys.path.insert(0, str(REPO / "units" / "run"))

import checks  # noqa: E402  (tests/contract/checks.py, as in the NixOS VM tests)
import pairspec  # noqa: E402
from machine import Machine, Ssh, Subtests  # noqa: E402

GUEST_REPO = "/root/duet"
GUEST_RUN = f"{GUEST_REPO}/units/run.sh"
ENGINES = ("docker", "podman")


def csv(allowed):
    def parse(text):
        items = [x for x in text.split(",") if x]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"each at most once: {text}")
        return items

    return parse


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", type=csv(ENGINES), default=list(ENGINES))
    ap.add_argument("--approach", type=csv(tuple(checks.CHECKS)), default=list(checks.CHECKS))
    ap.add_argument(
        "--spec", default=str(REPO / "units" / "pair.json"), help="the pair spec (default units/pair.json)"
    )
    ap.add_argument("--port", type=int, help="host port in the guest (default: the spec's port)")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument(
        "--systemd-layout",
        metavar="IMAGE",
        help="also run the systemd checks on IMAGE, the Nix image layout (see above)",
    )
    args = ap.parse_args()
    if args.time_scale < 1:
        ap.error("--time-scale must be >= 1")

    spec = pairspec.load_or_exit(args.spec, "run_contract.py")
    relative = os.path.relpath(os.path.abspath(args.spec), REPO)
    if relative.startswith(".."):
        print(
            f"run_contract.py: the spec {args.spec} is not in this checkout, so the guest cannot have it",
            file=sys.stderr,
        )
        return 1
    guest_spec = f"{GUEST_REPO}/{relative}"
    run = f"DUET_SPEC={shlex.quote(guest_spec)} {GUEST_RUN}"

    bounds = checks.Bounds().scaled(args.time_scale)
    machine = Machine(Ssh([HERE / "vm.sh", "ssh"]), name="cg2guest", verbose=True)
    if machine.execute(f"test -f {shlex.quote(guest_spec)}")[0] != 0:
        print(
            f"run_contract.py: the guest has no {guest_spec}: stage {os.path.dirname(relative)} "
            "(tests/cgroupv2/lib.sh cg2_stage)",
            file=sys.stderr,
        )
        return 1
    if len(args.engine) > 1:
        return side_by_side(args, spec, spec.port if args.port is None else args.port)
    runs = [(engine, approach, approach) for engine in args.engine for approach in args.approach]
    if args.systemd_layout:
        runs += [(engine, "systemd", "systemd-layout") for engine in args.engine]
    results = []
    for engine, approach, label in runs:
        if label == "systemd-layout":
            machine.succeed(
                f"{engine} tag {shlex.quote(args.systemd_layout)} {shlex.quote(spec.image_ref('systemd'))}"
            )
        print(f"== {engine} {label}", flush=True)
        subtest = Subtests(prefix=f"{label} on {engine}: ")
        t0 = time.monotonic()
        try:
            checks.CHECKS[approach](
                machine, run, spec, subtest=subtest, engine=engine, port=args.port, bounds=bounds
            )
            ok = True
        except Exception:
            traceback.print_exc()
            ok = False
            machine.execute(f"{run} {approach} --engine {engine} --project {spec.name} --stop", timeout=120)
        secs = time.monotonic() - t0
        where = f" in subtest {subtest.failed!r}" if subtest.failed else ""
        results.append((engine, label, ok, secs, where))
        print(f"== {engine} {label}: {'PASS' if ok else 'FAIL' + where} in {secs:.0f} s", flush=True)

    return summary(spec.name, args.time_scale, results)


def summary(name, time_scale, results):
    scale = f" (time bounds x{time_scale:g}: emulated guest)" if time_scale != 1 else ""
    print(f"\ncgroup v2 guest contract results for {name}{scale}:")
    for engine, label, ok, secs, where in results:
        print(f"  {engine:7} {label:14} {'PASS' if ok else 'FAIL' + where}  {secs:5.0f} s")
    passed = sum(1 for r in results if r[2])
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


RESULT_LINE = re.compile(r"^== (\S+) (\S+): (PASS|FAIL)(.*) in (\d+) s$")


def side_by_side(args, spec, port):
    """Runs this script once per engine, at the same time, and sums up their results."""
    common = [
        "--approach",
        ",".join(args.approach),
        "--spec",
        args.spec,
        "--time-scale",
        str(args.time_scale),
    ]
    if args.systemd_layout:
        common += ["--systemd-layout", args.systemd_layout]
    lock = threading.Lock()
    results, children = [], []

    def relay(engine, child):
        for line in child.stdout:
            with lock:
                print(f"[{engine}] {line}", end="", flush=True)
                found = RESULT_LINE.match(line.rstrip("\n"))
                if found:
                    label, verdict, where, secs = found.group(2, 3, 4, 5)
                    results.append((engine, label, verdict == "PASS", float(secs), where))

    for i, engine in enumerate(args.engine):
        command = [sys.executable, "-u", __file__, "--engine", engine, "--port", str(port + i), *common]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        thread = threading.Thread(target=relay, args=(engine, child))
        thread.start()
        children.append((engine, child, thread))
    expected = len(args.approach) + (1 if args.systemd_layout else 0)
    for engine, child, thread in children:
        thread.join()
        reported = sum(1 for result in results if result[0] == engine)
        if child.wait() != 0 and reported < expected:
            # The child ended before it reported every run: say so, or those runs would vanish.
            where = f" (exit {child.returncode}, {reported} of {expected} runs reported)"
            results.append((engine, "(rest)", False, 0.0, where))
    results.sort(key=lambda result: args.engine.index(result[0]))  # stable: each engine's own order
    return summary(spec.name, args.time_scale, results)


if __name__ == "__main__":
    sys.exit(main())
