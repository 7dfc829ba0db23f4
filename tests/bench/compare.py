#!/usr/bin/env python3
"""Side-by-side comparison of the three approaches: systemd, supervisord and
separate containers, on this host, in one run, N rounds each.

Per approach it measures image size (uncompressed and gzip-compressed, from `ENGINE save`),
time to the first 200 on / (from invoking the run script, and from the engine's container
start time), idle memory 10 s after the first 200 (container cgroup memory and RSS of each
process in it), `ENGINE stop` time and exit status, and req/s + p99 under wrk through the
published port. Writes compare.md, compare.svg and compare.json to --out (default: outside
the repository, printed); exits non-zero without writing them when any approach cannot run here.
The run script starts every approach under a project name of this run's own; the pair is
the one --spec describes (default units/pair.json, duet's), and every request goes to --path
(default /).

Usage: tests/bench/compare.py [--rounds 5] [--engine docker|podman] [--spec FILE] [--image-dir DIR] [--out DIR]
"""

import argparse
import http.client
import os
import random
import shlex
import subprocess
import sys
import time

from benchlib import (
    BenchError,
    BenchRun,
    RENDER_ERRORS,
    add_host_note_argument,
    conditions_line,
    loadavg,
    read_run,
    run_main,
    run_wrk,
    summarize,
    write_outputs,
)
import containers
import enginefacts
import runscript
import svgchart

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPROACHES = runscript.APPROACHES
MIB = 1024 * 1024

# (key, title, unit, scale) of each figure in table and chart order.
FIGURES = [
    ("image_bytes", "image size, uncompressed", "MB", 1e-6),
    ("image_gz_bytes", "image size, gzip", "MB", 1e-6),
    ("first200_script_s", "first 200: from run.sh", "s", 1.0),
    ("first200_started_s", "first 200: from container start", "s", 1.0),
    ("idle_cgroup_bytes", "idle cgroup memory", "MiB", 1 / MIB),
    ("idle_working_set_bytes", "idle working set", "MiB, cgroup minus inactive file", 1 / MIB),
    ("idle_rss_kib", "idle RSS, all processes", "MiB", 1 / 1024),
    ("stop_s", "stop time", "s", 1.0),
    ("rps", "requests/s", "req/s", 1.0),
    ("p99_ms", "p99 latency", "ms", 1.0),
]


class Runner:
    def __init__(self, args, spec):
        self.args = args
        self.engine = args.engine
        self.script = runscript.RunScript(args.run, args.engine, args.project, spec, tool="compare")
        self.names = {approach: self.script.names(approach) for approach in args.approaches}
        self.active = set()  # approaches this run started and has not stopped

    def sh(self, command, check=True, timeout=300):
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise BenchError(
                f"`{shlex.join(command)}` exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
        return done

    def stop_approach(self, approach):
        self.active.discard(approach)
        self.script.stop(approach)

    def first_200(self, deadline_s, script, started):
        """Poll / in a tight loop from the serving container's start event on; returns (wall
        clock, monotonic) of the first 200, or None at the deadline or as soon as the run
        script has failed."""
        end = time.monotonic() + deadline_s
        failed = lambda: script.poll() not in (None, 0)  # noqa: E731
        if not started.wait(end, failed):
            return None
        while time.monotonic() < end:
            if failed():
                return None
            connection = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=1)
            try:
                connection.request("GET", self.args.path)
                if connection.getresponse().status == 200:
                    return time.time(), time.monotonic()
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(0.005)
        return None

    def start(self, approach, image_dir=None):
        """Start an approach detached; returns seconds from invoking the run script to the
        first 200 and from the engine's start time of the serving container to the first 200."""
        command = self.script.start_command(approach, self.args.port, image_dir)
        with containers.StartWatch(self.engine, self.names[approach].serving) as started:
            invoked_mono = time.monotonic()
            script = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            first = self.first_200(self.args.start_timeout, script, started)
        try:
            output, _ = script.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            script.kill()
            output, _ = script.communicate()
        if script.returncode != 0:  # the run script removes what it made when it fails
            raise BenchError(f"`{shlex.join(command)}` exited {script.returncode}:\n{output.strip()[-1500:]}")
        self.active.add(approach)
        if first is None:
            raise BenchError(
                f"{approach}: no 200 on 127.0.0.1:{self.args.port}{self.args.path} within "
                f"{self.args.start_timeout:.0f} s of `{shlex.join(command)}`"
            )
        first_wall, first_mono = first
        serving = containers.inspect(self.engine, self.names[approach].serving)
        started = containers.parse_timestamp(serving["State"]["StartedAt"])
        return {
            "first200_script_s": first_mono - invoked_mono,
            "first200_started_s": first_wall - started,
            "_first200_mono": first_mono,
        }

    def idle_memory(self, approach):
        usage = working = rss_total = 0
        processes = []
        names = self.names[approach].containers
        for name in names:
            info = containers.inspect(self.engine, name)
            if not info["State"]["Running"]:
                raise BenchError(f"{approach}: container {name} is not running when idle memory is read")
            directory = containers.memory_cgroup_dir(info["State"]["Pid"], info["Id"])
            memory = containers.cgroup_memory(directory)
            usage += memory["usage"]
            working += memory["working_set"]
            for process, rss in containers.process_rss(containers.cgroup_pids(directory)):
                role = self.script.role(name)
                processes.append(
                    (process if process == role or len(names) == 1 else f"{role}:{process}", rss)
                )
                rss_total += rss
        return {
            "idle_cgroup_bytes": usage,
            "idle_working_set_bytes": working,
            "idle_rss_kib": rss_total,
            "processes": processes,
        }

    def stop(self, approach):
        names = self.names[approach].containers
        waiters = [
            subprocess.Popen(
                [self.engine, "wait", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for name in names
        ]
        # Let the waiters attach; then a random part of a second more, so that the stop comes
        # at a random point of supervisord's 1 s event loop, as a real one does.
        time.sleep(0.2 + random.random())
        began = time.monotonic()
        self.sh([self.engine, "stop", *names], timeout=120)
        elapsed = time.monotonic() - began
        codes = []
        for name, waiter in zip(names, waiters):
            output, error = waiter.communicate(timeout=30)
            if waiter.returncode != 0 or not output.strip().isdigit():
                raise BenchError(f"`{self.engine} wait {name}` failed: {error.strip()}")
            codes.append(int(output.strip()))
        return {"stop_s": elapsed, "exit_codes": codes}

    def image_sizes(self, approach):
        """Bytes of `ENGINE save` of the approach's images (shared layers counted once), raw and
        gzip -6: the uncompressed and compressed size of what a registry or VM has to carry."""
        refs = self.names[approach].images
        save = [self.engine, "save", *refs]
        pipeline = f"{shlex.join(save)} | tee >(gzip -6 -c | wc -c >&2) | wc -c"
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise BenchError(f"{approach}: `{shlex.join(save)}` failed: {done.stderr.strip()[-500:]}")
        return {
            "image_bytes": int(done.stdout.split()[0]),
            "image_gz_bytes": int(done.stderr.split()[-1]),
            "images": refs,
        }

    def image_ids(self, approaches):
        return enginefacts.image_ids(self.engine, [ref for a in approaches for ref in self.names[a].images])

    def round(self, approach, index):
        image_ids = self.image_ids([approach])
        figures = self.start(approach)
        time.sleep(max(0.0, figures.pop("_first200_mono") + self.args.idle - time.monotonic()))
        figures.update(self.idle_memory(approach))
        url = f"http://127.0.0.1:{self.args.port}{self.args.path}"
        run_wrk(url, 2, self.args.connections, 1)  # warm-up, not counted
        load = run_wrk(url, self.args.duration, self.args.connections, 1)
        failed = sum(load["errors"].get(key, 0) for key in ("connect", "non2xx"))
        if failed:
            raise BenchError(f"{approach}: {failed} failed requests under load: {load['errors']}")
        figures.update(rps=load["rps"], p99_ms=load["p99_ms"], p50_ms=load["p50_ms"])
        figures.update(self.stop(approach))
        figures["loadavg"] = loadavg()
        figures["image_ids"] = image_ids
        self.stop_approach(approach)
        return figures


def rebuilt_approaches(results, images_before):
    """Approaches whose rounds did not all run the images measured at the start."""
    rebuilt = []
    for approach, rounds in results.items():
        for figures in rounds:
            if any(images_before.get(ref) != image for ref, image in figures["image_ids"].items()):
                rebuilt.append(approach)
                break
    return rebuilt


def summarize_rounds(results):
    summary = {}
    for approach, rounds in results.items():
        summary[approach] = {
            key: summarize([r[key] for r in rounds]) for key, *_ in FIGURES if key in rounds[0]
        }
    return summary


def cell(figure, scale):
    median, low, high = (figure[k] * scale for k in ("median", "min", "max"))
    digits = 3 if median < 100 else 0
    if low == high:
        return f"{median:.{digits}f}" if digits == 0 else f"{median:.3g}"
    return f"{median:.0f} ({low:.0f}–{high:.0f})" if digits == 0 else f"{median:.3g} ({low:.3g}–{high:.3g})"


def markdown(summary, results, facts, args, approaches):
    lines = [
        f"Median of {args.rounds} rounds, (min–max) of the rounds when they differ. "
        f"Load: wrk -t1 -c{args.connections} -d{args.duration}s, keep-alive, through the "
        f"published port. Idle: {args.idle:g} s after the first 200. MB = 10^6 bytes.",
        "",
        "| figure | " + " | ".join(approaches) + " |",
        "|---|" + "---|" * len(approaches),
    ]
    for key, title, unit, scale in FIGURES:
        lines.append(
            f"| {title} ({unit}) | " + " | ".join(cell(summary[a][key], scale) for a in approaches) + " |"
        )
    exits = []
    for approach in approaches:
        codes = sorted({tuple(r["exit_codes"]) for r in results[approach]})
        exits.append(", ".join("/".join(map(str, c)) for c in codes))
    lines.append("| stop exit status | " + " | ".join(exits) + " |")
    lines += [
        "",
        "Idle RSS per process (KiB, median over rounds; Nx: N processes of that name, each):",
        "",
        "| approach | processes |",
        "|---|---|",
    ]
    for approach in approaches:
        per_process, copies = {}, {}
        for r in results[approach]:
            for name, rss in r["processes"]:
                per_process.setdefault(name, []).append(rss)
            for name in {name for name, _rss in r["processes"]}:
                copies[name] = max(copies.get(name, 1), sum(n == name for n, _rss in r["processes"]))
        text = ", ".join(
            f"{name}{f' {copies[name]}x' if copies[name] > 1 else ''} {summarize(v)['median']:.0f}"
            for name, v in sorted(per_process.items())
        )
        lines.append(f"| {approach} | {text} |")
    lines += ["", "Host: " + ", ".join(f"{k} {v}" for k, v in facts.items()), ""]
    return "\n".join(lines)


def distinct_panels(panels):
    """The panels without those that repeat an earlier one: same unit, and every approach's
    median, min and max within 1 % of it (on cgroup v1 with no file cache to speak of, the
    idle working set is the idle cgroup memory but for a few KiB)."""

    def same(a, b):
        return (
            a[1].split(",")[0] == b[1].split(",")[0]
            and a[2].keys() == b[2].keys()
            and all(
                abs(a[2][n][k] - b[2][n][k]) <= 0.01 * max(abs(a[2][n][k]), abs(b[2][n][k]))
                for n in a[2]
                for k in ("median", "min", "max")
            )
        )

    kept = []
    for panel in panels:
        if not any(same(panel, other) for other in kept):
            kept.append(panel)
    return kept


def svg(summary, facts, args, approaches, pair, when="date not recorded"):
    panels = distinct_panels(
        [
            (
                title,
                unit,
                {a: {k: summary[a][key][k] * scale for k in ("median", "min", "max")} for a in approaches},
            )
            for key, title, unit, scale in FIGURES
        ]
    )
    footnote = (
        f"bars: median of {args.rounds} rounds; whiskers: min-max. "
        f"{facts['engine']}, cgroup {facts['cgroup']}, {facts['cpus']} CPUs, "
        f"{facts.get('systemd in image', '')}, {when}"
    )
    return svgchart.chart(
        f"{pair}: the three approaches side by side", panels, approaches, columns=3, footnote=footnote
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    parser.add_argument("--image-dir", help="docker-archive tarballs for the run script to load")
    parser.add_argument("--approaches", default="systemd,supervisord,separate")
    parser.add_argument("--port", type=int, default=28080, help="published port (default 28080)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per round")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds after first 200 to read memory")
    parser.add_argument("--start-timeout", type=float, default=90.0)
    parser.add_argument(
        "--project",
        default=f"compare{os.getpid()}",
        help="run.sh project name: prefixes every container and network",
    )
    parser.add_argument(
        "--run",
        default=os.path.join(REPO, "units", "run.sh"),
        help="run script command (default units/run.sh)",
    )
    runscript.add_spec_argument(parser)
    parser.add_argument(
        "--path",
        default="/",
        help="the HTTP path of the first-200 probe and the load "
        "(default /; the spec's health path answers 200 in any pair)",
    )
    parser.add_argument(
        "--out",
        help="directory for compare.md/.svg/.json (default: outside the "
        "repository, printed; with --render: beside the JSON)",
    )
    parser.add_argument(
        "--render", metavar="JSON", help="only redraw compare.md and compare.svg from a compare.json of a run"
    )
    add_host_note_argument(parser)
    args = parser.parse_args()
    if args.render:
        print(render(args.render, args.out or os.path.dirname(os.path.abspath(args.render))))
        return
    approaches = args.approaches.split(",")
    bad = [a for a in approaches if a not in APPROACHES]
    if bad or len(set(approaches)) != len(approaches):
        parser.error(f"--approaches takes a comma-separated subset of {', '.join(APPROACHES)}")
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.idle < 0:
        parser.error("--rounds, --duration and --connections must be >= 1, --idle >= 0")
    runscript.check_project(parser, args.project)
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    spec = runscript.load_spec(parser, args.spec)
    args.approaches = approaches
    runscript.preflight(args.run, args.engine, args.port, tools=("wrk", "gzip", "bash"))
    runner = Runner(args, spec)

    run = BenchRun("compare", args)
    print(
        f"compare: {', '.join(approaches)}; {args.rounds} rounds; {args.engine}; loadavg {run.start_load}",
        flush=True,
    )
    versions, sizes = {}, {}
    approach = approaches[0]
    try:
        images_before = runner.image_ids(approaches)
        # One untimed start per approach first: proves it runs here (before anything is
        # measured), loads images from --image-dir, and reads the versions in the images.
        for approach in approaches:
            print(f"{approach}: warm-up start", flush=True)

            runner.start(approach, args.image_dir)
            versions.update(
                enginefacts.versions_in_image(args.engine, approach, runner.names[approach].serving)
            )
            runner.stop_approach(approach)
            sizes[approach] = runner.image_sizes(approach)
        results = {approach: [] for approach in approaches}
        for index in range(args.rounds):
            rotated = approaches[index % len(approaches) :] + approaches[: index % len(approaches)]
            for approach in rotated:
                figures = runner.round(approach, index)
                figures.update({k: v for k, v in sizes[approach].items() if k != "images"})
                results[approach].append(figures)
                print(
                    f"round {index + 1} {approach:<11} first200 {figures['first200_script_s']:.2f} s "
                    f"(container {figures['first200_started_s']:.2f} s)  idle "
                    f"{figures['idle_cgroup_bytes'] / MIB:.1f} MiB  {figures['rps']:.0f} req/s  "
                    f"p99 {figures['p99_ms']:.2f} ms  stop {figures['stop_s']:.2f} s "
                    f"exit {figures['exit_codes']}  loadavg {figures['loadavg']}",
                    flush=True,
                )
        rebuilt = rebuilt_approaches(results, images_before)
        if rebuilt:
            raise BenchError(
                f"the images of {', '.join(rebuilt)} changed during the run; the rounds "
                "did not all measure the same images"
            )
    except BenchError as error:
        raise BenchError(f"{approach}: {error}\nno table written: the comparison is incomplete") from None
    finally:
        for name in sorted(runner.active):  # only what this run started
            try:
                runner.stop_approach(name)
            except (BenchError, OSError, subprocess.TimeoutExpired) as error:
                print(f"compare: warning: cleanup of {name} failed: {error}", file=sys.stderr)

    facts = enginefacts.host_facts(args.engine, versions)
    run.write(render, pair=spec.name, facts=facts, images=images_before, args=vars(args), rounds=results)


def render(path, out):
    """Writes compare.md and compare.svg from the figures of a run; returns the table."""
    run = read_run(path, "compare.json", ("facts", "args", "rounds"))
    try:
        args = argparse.Namespace(**run["args"])
        approaches = list(run["rounds"])
        summary = summarize_rounds(run["rounds"])
        table = (
            conditions_line(run) + "\n\n" + markdown(summary, run["rounds"], run["facts"], args, approaches)
        )
        measured = run.get("measured")
        when = f"{measured['from_utc']} UTC" if measured else "date not recorded"
        # compare.json files from before the spec measured duet and do not say so.
        chart = svg(summary, run["facts"], args, approaches, run.get("pair", "duet"), when)
    except RENDER_ERRORS as error:
        raise BenchError(
            f"{path}: not a compare.json of this tool: {type(error).__name__}: {error}"
        ) from None
    write_outputs(out, {"compare.md": table, "compare.svg": chart})
    return table


if __name__ == "__main__":
    run_main("compare", main)
