#!/usr/bin/env python3
"""Where start and stop time goes, per approach: one timeline per round, in seconds from the
engine's `State.StartedAt` of the container that serves.

Start: the server's log line (the spec's server.logLine: "listening" for duet); for
supervisord also its own "supervisord started" and "spawned: 'SERVER'" lines (SERVER: the
spec's supervisord.server); the first 200 on the container's own address (inside the
container network, no port proxy) and through the published port, polled side by side from
the engine's start event on (containers.StartWatch says why not sooner).
Stop: `ENGINE stop` of the serving container, split into the time until its PID 1 has exited
(seen from the host) and the engine's own time after that; for supervisord also its "received
SIGTERM" and "stopped: client/server" lines, in seconds from `ENGINE stop`.
Floor: the same start and stop of the pair's server image with nothing around it (`ENGINE run`
of the program alone, default network): what the engine itself costs. The pair is the one
--spec describes (default units/pair.json, duet's); requests go to --path (default /).

Prints a markdown table and writes it as startpath.md, with the figures of every round as
startpath.json, to --out (default: outside the repository, printed); both open with when it
ran, on what host and under what load (--host-note adds the host's state in words).

Usage: tests/bench/startpath.py [--rounds 3] [--engine docker|podman] [--spec FILE] [--approaches a,b] [--out DIR]
"""

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import threading
import time

from benchlib import (
    BenchError,
    add_host_note_argument,
    conditions_line,
    default_out_dir,
    loadavg,
    measured,
    run_main,
    summarize,
    then_clean_up,
    write_outputs,
)
import containers
import runscript
from enginefacts import host_facts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log_patterns(spec):
    """(start marks, stop marks): [(figure, pattern)] read from `ENGINE logs --timestamps`; the
    stop marks after `ENGINE stop`, when supervisord acts on the SIGTERM."""
    server, client = re.escape(spec.server_program), re.escape(spec.client_program)
    start = [
        ("supervisord_up_s", re.compile(r"supervisord started with pid")),
        ("spawned_server_s", re.compile(rf"spawned: '{server}")),
        ("listening_s", re.compile(spec.server_log_line)),
    ]
    stop = [
        ("sigterm_seen_s", re.compile(r"received SIGTERM indicating exit request")),
        ("client_stopped_s", re.compile(rf"stopped: {client}")),
        ("server_stopped_s", re.compile(rf"stopped: {server}")),
    ]
    return start, stop


def first_200(host, port, found, key, stop, path="/"):
    while not stop.is_set():
        connection = http.client.HTTPConnection(host, port, timeout=0.2)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                found[key] = time.time()
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.002)


def container_address(engine, name, deadline):
    while time.monotonic() < deadline:
        done = subprocess.run(
            [engine, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
            capture_output=True,
            text=True,
        )
        addresses = done.stdout.split() if done.returncode == 0 else []
        if addresses:
            return addresses[0]
        time.sleep(0.005)
    raise BenchError(f"{name} got no address")


def log_marks(engine, name, started, patterns):
    """Seconds from `started` (wall clock) to the first log line matching each pattern."""
    done = subprocess.run([engine, "logs", "--timestamps", name], capture_output=True, text=True)
    marks = {}
    for line in (done.stdout + done.stderr).splitlines():
        stamp, _, rest = line.partition(" ")
        for key, pattern in patterns:
            if key not in marks and pattern.search(rest):
                try:
                    marks[key] = containers.parse_timestamp(stamp) - started
                except ValueError:
                    pass
    return marks


def timed_stop(engine, name):
    """(seconds until PID 1 exited, seconds until `ENGINE stop` returned, wall clock of the
    stop)."""
    pid = containers.inspect(engine, name)["State"]["Pid"]
    exited = {}

    def watch():
        while True:
            try:
                with open(f"/proc/{pid}/stat") as file:
                    if file.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.002)
        exited["at"] = time.monotonic()

    watcher = threading.Thread(target=watch)
    began_wall, began = time.time(), time.monotonic()
    watcher.start()
    done = subprocess.run([engine, "stop", name], capture_output=True, text=True, timeout=60)
    ended = time.monotonic()
    watcher.join(10)
    if done.returncode != 0:
        raise BenchError(f"{engine} stop {name}: {done.stderr.strip()}")
    return exited.get("at", ended) - began, ended - began, began_wall


def measure(engine, name, port, command, spec, path):
    """Runs `command` (which starts the container(s)) and returns the timeline figures of the
    serving container; both pollers run while the command is still going."""
    found, stop = {}, threading.Event()
    start_marks, stop_marks = log_patterns(spec)
    published = threading.Thread(target=first_200, args=("127.0.0.1", port, found, "published", stop, path))
    with containers.StartWatch(engine, name) as watch:
        launched = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            if not watch.wait(time.monotonic() + 60, lambda: launched.poll() not in (None, 0)):
                raise BenchError(f"{name} did not start within 60 s")
            published.start()
            address = container_address(engine, name, time.monotonic() + 60)
            direct = threading.Thread(
                target=first_200, args=(address, spec.port, found, "direct", stop, path)
            )
            direct.start()
            direct.join(60)
            published.join(60)
        finally:
            stop.set()
            if published.is_alive():
                published.join()
            output, _ = launched.communicate(timeout=300)
    if launched.returncode != 0:
        raise BenchError(f"start failed: {output.strip()[-300:]}")
    if "direct" not in found or "published" not in found:
        raise BenchError(f"{name}: no 200 within 60 s")
    info = containers.inspect(engine, name)
    started = containers.parse_timestamp(info["State"]["StartedAt"])
    created = containers.parse_timestamp(info["Created"])
    figures = {
        "create_to_start_s": started - created,
        "first200_direct_s": found["direct"] - started,
        "first200_published_s": found["published"] - started,
    }
    figures.update(log_marks(engine, name, started, start_marks))
    # The stop comes at a random point of supervisord's 1 s event loop, as a real one does.
    time.sleep(1 + random.random())
    figures["pid1_exit_s"], figures["stop_s"], stopped_at = timed_stop(engine, name)
    figures.update(log_marks(engine, name, stopped_at, stop_marks))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    parser.add_argument("--approaches", default=",".join(runscript.APPROACHES))
    parser.add_argument("--port", type=int, default=28082, help="published port (default 28082)")
    parser.add_argument("--project", default=f"startpath{os.getpid()}")
    parser.add_argument("--run", default=os.path.join(REPO, "units", "run.sh"), help="run script command")
    runscript.add_spec_argument(parser)
    parser.add_argument("--path", default="/", help="the HTTP path of the first-200 probes (default /)")
    parser.add_argument(
        "--out",
        help="directory for startpath.md and startpath.json (default: outside the repository, printed)",
    )
    add_host_note_argument(parser)
    args = parser.parse_args()
    approaches = args.approaches.split(",")
    if any(a not in runscript.APPROACHES for a in approaches) or len(set(approaches)) != len(approaches):
        parser.error(f"--approaches takes a comma-separated subset of {','.join(runscript.APPROACHES)}")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if not 1 <= args.port <= 65535:
        parser.error("--port must be 1-65535")
    runscript.check_project(parser, args.project)
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    spec = runscript.load_spec(parser, args.spec)
    runscript.preflight(args.run, args.engine, args.port)
    script = runscript.RunScript(args.run, args.engine, args.project, spec, tool="startpath")
    engine = args.engine
    results = {}
    started, start_load = time.time(), loadavg()
    print(
        f"startpath: {', '.join(approaches)} + floor; {args.rounds} rounds; loadavg {loadavg()}", flush=True
    )
    for index in range(args.rounds):
        for approach in approaches:
            names = script.names(approach)
            command = script.start_command(approach, args.port)
            figures = then_clean_up(
                approach,
                lambda: measure(engine, names.serving, args.port, command, spec, args.path),
                lambda: script.stop(approach),
            )
            results.setdefault(approach, []).append(figures)
            print(
                f"round {index + 1} {approach}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()),
                flush=True,
            )
        floor = f"{args.project}-floor"
        image = runscript.RunScript(args.run, engine, args.project, spec).names("separate").images[0]
        figures = then_clean_up(
            "floor",
            lambda: measure(
                engine,
                floor,
                args.port,
                [engine, "run", "-d", "--name", floor, "-p", f"127.0.0.1:{args.port}:{spec.port}", image],
                spec,
                args.path,
            ),
            lambda: subprocess.run([engine, "rm", "-f", floor], capture_output=True, timeout=120),
        )
        results.setdefault("floor", []).append(figures)
        print(
            f"round {index + 1} floor: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True
        )
    keys = [
        "create_to_start_s",
        "supervisord_up_s",
        "spawned_server_s",
        "listening_s",
        "first200_direct_s",
        "first200_published_s",
        "sigterm_seen_s",
        "client_stopped_s",
        "server_stopped_s",
        "pid1_exit_s",
        "stop_s",
    ]
    columns = list(results)
    lines = [
        f"Seconds from the serving container's StartedAt; stop: from `{engine} stop`. "
        f"Median (min–max) of {args.rounds} rounds.",
        "",
        "| step | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for key in keys:
        cells = []
        for column in columns:
            values = [r[key] for r in results[column] if key in r]
            if not values:
                cells.append("")
                continue
            s = summarize(values)
            cells.append(f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})")
        if any(cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    run = {
        "measured": measured(started, start_load, args.host_note),
        "facts": host_facts(engine),
        "args": vars(args),
        "results": results,
    }
    table = conditions_line(run) + "\n\n" + "\n".join(lines)
    out = args.out or default_out_dir("startpath")
    write_outputs(out, {"startpath.json": json.dumps(run, indent=1), "startpath.md": table + "\n"})
    print()
    print(table)
    print(f"wrote {out}/startpath.md, startpath.json")


if __name__ == "__main__":
    run_main("startpath", main)
