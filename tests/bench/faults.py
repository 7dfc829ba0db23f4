#!/usr/bin/env python3
"""Which approach keeps serving through faults: each approach started with units/run.sh under
a project name of its own, two steady request streams from the host through the published
port, and faults injected one at a time, each followed by a quiet spell, N rounds. The pair is
the one --spec describes (default units/pair.json, duet's): its units, program sections,
executables and the client's log line come from the spec; requests go to --path (default /).

Streams: a fresh connection per request at --rate per second, and one kept-alive connection
sending a request every --kept-interval. Faults (in this order each round):

  server-kill       SIGKILL of the server (systemctl kill / supervisorctl signal, of its first
                    process if the program is a group of several / kill of the server
                    container's PID 1 from the host)
  server-restart    a deploy's graceful restart (systemctl restart / supervisorctl restart, of
                    each process of the program in turn / the server container replaced by a
                    new one with the same settings)
  client-kill       SIGKILL of the client; its recovery is read from its own log (the
                    spec's client.logLine)
  oom               the server (one of its processes, if it has several) put alone in a
                    memory cgroup made from the host with a limit below its working set
                    under a burst of connections, so the kernel OOM-kills it (cgroup v1: a
                    child of its memory cgroup; v2: a cgroup of its own under the root)
  pid1-kill         SIGKILL of PID 1 of every container of the approach, from the host
  container-restart `ENGINE restart` of every container of the approach

Per approach and fault: requests sent, failed by kind (refused, reset, timeout, 5xx, other),
the longest gap without a successful answer, the time until serving again, p99 latency of the
window; per approach the availability (answered / sent) of the whole run. Writes faults.md,
faults.svg and faults.json to --out (default: outside the repository, printed).

Usage: tests/bench/faults.py [--rounds 3] [--engine docker|podman] [--spec FILE] [--faults a,b] [--out DIR]
"""

import argparse
import collections
import os
import re
import subprocess
import time

from benchlib import (
    BenchError,
    BenchRun,
    add_host_note_argument,
    loadavg,
    last_line,
    run_main,
    then_clean_up,
)
import enginefacts
from faultinject import FAULTS, Approach
from faultreport import render
import faultstats
import loadgen
import runscript

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Bench:
    def __init__(self, args, spec):
        self.args = args
        self.spec = spec
        self.engine = args.engine
        self.url = f"http://127.0.0.1:{args.port}{args.path}"
        self.client_ok = re.compile(spec.client_log_line)
        self.run = runscript.RunScript(args.run, args.engine, args.project, spec, tool="faults")

    def wait_serving(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done = subprocess.run(["curl", "-fs", "-o", "/dev/null", "--max-time", "1", self.url])
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise BenchError(f"no 200 on {self.url} within {timeout:.0f} s")

    def session(self, approach):
        """Starts the approach, runs every round of faults under load, stops it."""
        names = self.run.names(approach)
        print(f"{approach}: starting ({', '.join(names.containers)})", flush=True)
        target = Approach(self, names)
        windows, repairs = [], []
        load = {}  # the streams while they run

        def rounds_under_load():
            self.run.start(approach, self.args.port, self.args.image_dir)
            self.wait_serving(30)
            images = enginefacts.image_ids(self.engine, names.images)
            versions = enginefacts.versions_in_image(self.engine, approach, names.serving)
            streams = load["streams"] = loadgen.Streams(
                "127.0.0.1",
                self.args.port,
                rate=self.args.rate,
                kept_interval=self.args.kept_interval,
                timeout=self.args.timeout,
                path=self.args.path,
            ).start()
            time.sleep(self.args.quiet)
            streams.check()
            if not streams.events:
                raise BenchError(f"the load generator recorded no request in {self.args.quiet:g} s")
            baseline_end = time.monotonic()
            for index in range(self.args.rounds):
                for fault in self.args.faults:
                    windows.append(self.inject(target, streams, fault, index, repairs))
            events = streams.stop()
            streams.check()
            if enginefacts.image_ids(self.engine, names.images) != images:
                # A replaced server container or a repair started whatever the names meant then.
                raise BenchError(
                    "its images changed during the run (rebuilt or retagged meanwhile): "
                    "the rounds did not all measure the same images"
                )
            return images, versions, baseline_end, events, streams.skipped

        def stop():
            if "streams" in load:
                load.pop("streams").stop()
            self.run.stop(approach)

        # A failing stop must not hide why the rounds failed: both are named, that one first.
        images, versions, baseline_end, events, streams_skipped = then_clean_up(None, rounds_under_load, stop)
        rounds = []
        for window in windows:
            # Serving again is counted from the injection's start, not from its command's
            # return: `ENGINE exec` alone can take seconds on a loaded host.
            figures = faultstats.window_figures(events, window["start"], window["start"], window["end"])
            figures["timeline"] = faultstats.timeline(events, window["start"], window["end"])
            figures.update(
                window["extra"],
                fault=window["fault"],
                round=window["round"],
                inject_s=window["injected"] - window["start"],
                window_s=window["end"] - window["start"],
                repaired=window["repaired"],
            )
            rounds.append(figures)
        baseline = faultstats.window_figures(events, events[0].start if events else 0, 0, baseline_end)
        ok, sent = faultstats.availability(events, repairs)
        return {
            "names": names.containers,
            "images": images,
            "versions": versions,
            "windows": rounds,
            "baseline_p99_ms": baseline["p99_ms"],
            "skipped": streams_skipped,
            "ok": ok,
            "sent": sent,
            "repairs": len(repairs),
            "loadavg": loadavg(),
        }

    def inject(self, target, streams, fault, index, repairs):
        # Only the requests that end from now on can belong to this window: reading just
        # those keeps this loop from starving the load thread as the run's record grows.
        first = len(streams.events)
        start = time.monotonic()
        extra = getattr(target, fault.replace("-", "_"))()
        injected = time.monotonic()
        deadline = start + self.args.fault_timeout
        repaired = False
        while not faultstats.recovered(
            streams.since(first), injected, start, time.monotonic(), self.args.quiet
        ):
            streams.check()  # a dead load thread records nothing: never wait for it, never count it
            if time.monotonic() > deadline:
                # Not back on its own: the benchmark brings it back, outside every figure.
                recent = collections.Counter(
                    e.outcome for e in streams.since(first) if e.start > time.monotonic() - 5
                )
                print(
                    f"  {fault}: not serving again within {self.args.fault_timeout:.0f} s (last 5 s: "
                    f"{dict(recent)}); restarting the approach",
                    flush=True,
                )
                end = time.monotonic()
                self.run.stop(target.kind)
                self.run.start(target.kind, self.args.port, None)
                self.wait_serving(30)
                repairs.append((end, time.monotonic()))
                extra.pop("_client_killed", None)
                repaired = True
                time.sleep(self.args.quiet)
                break
            time.sleep(0.2)
        if not repaired:  # serving again on its own
            end = time.monotonic()
            streams.check()
            if "_client_killed" in extra:
                extra["client_back_s"] = target.client_back(extra.pop("_client_killed"))
                if extra["client_back_s"] is None:
                    print(
                        f"  round {index + 1} {fault}: the client logged no successful poll within "
                        f"{self.args.fault_timeout:g} s of its kill (counted as never back)",
                        flush=True,
                    )
            window = faultstats.window_figures(streams.since(first), start, start, end)
            failed = sum(window["failed"].values())
            client = extra.get("client_back_s")
            print(
                f"  round {index + 1} {fault:<17} sent {window['sent']:>5}  failed {failed:>4}  "
                f"gap {window['longest_gap_s']:.2f} s  back {window['back_s']:.2f} s"
                + (f"  client back {client:.2f} s" if client is not None else ""),
                flush=True,
            )
        return {
            "fault": fault,
            "round": index + 1,
            "start": start,
            "injected": injected,
            "end": end,
            "extra": extra,
            "repaired": repaired,
        }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    parser.add_argument("--approaches", default=",".join(runscript.APPROACHES))
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"subset of {','.join(FAULTS)}")
    parser.add_argument("--port", type=int, default=28081, help="published port (default 28081)")
    parser.add_argument(
        "--project",
        default=f"faults{os.getpid()}",
        help="run.sh project name: prefixes every container and network",
    )
    parser.add_argument("--image-dir", help="image tarballs for the run script to load at start")
    parser.add_argument("--rate", type=float, default=200.0, help="fresh connections per second")
    parser.add_argument(
        "--kept-interval",
        type=float,
        default=0.02,
        help="seconds between requests on the kept-alive connection",
    )
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds before a request counts as timed out"
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=3.0,
        help="seconds without a failure that end a fault's window (> --timeout)",
    )
    parser.add_argument(
        "--fault-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for serving again before the benchmark restarts the approach",
    )
    parser.add_argument(
        "--oom-limit-kib",
        type=int,
        default=1024,
        help="memory limit of the server's own cgroup in the oom fault",
    )
    parser.add_argument(
        "--oom-connections",
        type=int,
        default=500,
        help="connections of the burst that pushes the server past that limit",
    )
    parser.add_argument(
        "--oom-burst",
        type=int,
        default=5,
        help="seconds the burst lasts and the oom fault waits for the kill",
    )
    parser.add_argument("--run", default=os.path.join(REPO, "units", "run.sh"), help="run script command")
    runscript.add_spec_argument(parser)
    parser.add_argument(
        "--path",
        default="/",
        help="the HTTP path the streams request (default /; the spec's health path answers 200 in any pair)",
    )
    parser.add_argument("--out", help="directory for faults.md/.svg/.json (default: outside the repository)")
    parser.add_argument(
        "--render", metavar="JSON", help="only redraw faults.md and faults.svg from a faults.json"
    )
    add_host_note_argument(parser)
    args = parser.parse_args(argv)
    if args.render:
        return args
    args.approaches = args.approaches.split(",")
    args.faults = args.faults.split(",")
    if any(a not in runscript.APPROACHES for a in args.approaches) or len(set(args.approaches)) != len(
        args.approaches
    ):
        parser.error(f"--approaches takes a comma-separated subset of {','.join(runscript.APPROACHES)}")
    if any(f not in FAULTS for f in args.faults) or len(set(args.faults)) != len(args.faults):
        parser.error(f"--faults takes a comma-separated subset of {','.join(FAULTS)}")
    if (
        args.rounds < 1
        or args.rate <= 0
        or args.kept_interval <= 0
        or args.timeout <= 0
        or args.oom_burst < 1
    ):
        parser.error("--rounds must be >= 1; --rate, --kept-interval and --timeout > 0; --oom-burst >= 1")
    if args.fault_timeout <= 0 or args.oom_limit_kib <= 0 or args.oom_connections <= 0:
        parser.error("--fault-timeout, --oom-limit-kib and --oom-connections must be > 0")
    if not 1 <= args.port <= 65535:
        parser.error("--port must be 1-65535")
    if args.quiet <= args.timeout:
        parser.error("--quiet must be longer than --timeout (a request in flight could still fail)")
    runscript.check_project(parser, args.project)
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    args.spec_loaded = runscript.load_spec(parser, args.spec)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        print(render(args.render, args.out or os.path.dirname(os.path.abspath(args.render))))
        return
    if os.geteuid() != 0:
        raise BenchError("needs root: it kills host PIDs, makes memory cgroups and reads /dev/kmsg")
    runscript.preflight(args.run, args.engine, args.port, tools=("wrk", "curl"))
    spec = args.spec_loaded
    bench = Bench(args, spec)
    run = BenchRun("faults", args)
    print(
        f"faults: {', '.join(args.approaches)}; {args.rounds} round(s) of {', '.join(args.faults)}; "
        f"{args.engine}; project {args.project}; loadavg {run.start_load}",
        flush=True,
    )
    results = {}
    for approach in args.approaches:
        try:
            results[approach] = bench.session(approach)
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            raise BenchError(f"{approach}: {last_line(error)}") from None
    saved = {k: v for k, v in vars(args).items() if k not in ("render", "spec_loaded")}
    # As compare.json: the image IDs measured, and the supervisors' versions among the facts.
    images, versions = {}, {}
    for result in results.values():
        images.update(result.pop("images"))
        versions.update(result.pop("versions"))
    facts = enginefacts.host_facts(args.engine, versions)
    run.write(render, pair=spec.name, facts=facts, images=images, args=saved, results=results)


if __name__ == "__main__":
    run_main("faults", main)
