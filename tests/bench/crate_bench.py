#!/usr/bin/env python3
"""Crate benchmark: duet-server against a bare hyper hello-world,
nginx and `python3 -m http.server`, all serving a body of the same size, loaded by wrk
(keep-alive, 50 connections, fixed duration, rounds alternated between servers).

Prints requests/s, p50, p99, the peak RSS of each server, the idle RSS of both duet
binaries and the ratios duet/nginx, duet/bare-hyper, duet/python against the targets.
It prints figures; it is not a timed test and asserts nothing about speed.

`--workers 1,2,8,64` adds one duet-server per count (`--workers N`), loaded like the others,
for resident memory by worker count; `--baseline BIN` adds another duet-server binary (say,
an earlier commit's) for the ratio duet/baseline.

Usage: tests/bench/crate_bench.py [--rounds N] [--duration S] [--no-build] ...
"""

import argparse
import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (
    BenchError,
    add_host_note_argument,
    child_pids,
    format_number,
    loadavg,
    proc_cpu_seconds,
    proc_status_kib,
    run_main,
    run_wrk,
    summarize,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = {"nginx": 1.0, "bare-hyper": 0.9, "python": 15.0}
# The request rate may fall at most 5 % from the baseline's (a change's budget).
BASELINE_TARGET = 0.95
OTHERS = ("bare-hyper", "nginx", "python")
IDLE_RSS_TARGET_KIB = 4_000_000 / 1024  # "under 4 MB", read strictly as 10^6 bytes


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port, path="/", timeout=2.0):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_serving(server, deadline_s=15.0):
    """Body of the first 200 on / from a server we just started."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if server.process.poll() is not None:
            raise BenchError(
                f"{server.name} exited with status {server.process.returncode} before "
                f"serving; its last output:\n{server.log_tail()}"
            )
        try:
            status, body = get(server.port, timeout=0.5)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(
        f"{server.name} did not answer 200 on 127.0.0.1:{server.port}/ within "
        f"{deadline_s:.0f} s; its last output:\n{server.log_tail()}"
    )


class Server:
    """One server under load: a process we started, its port, and how to read its memory."""

    def __init__(self, name, command, port, log_dir, env=None, cwd=None):
        self.name, self.command, self.port = name, command, port
        self.log_path = os.path.join(log_dir, f"{name}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def log_tail(self, lines=5):
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])

    def pids(self):
        """Processes that serve requests (nginx: the workers, not the master)."""
        return [self.process.pid]

    def peak_rss_kib(self):
        return sum(proc_status_kib(pid, "VmHWM") for pid in self.pids())

    def rss_kib(self):
        return sum(proc_status_kib(pid, "VmRSS") for pid in self.pids())

    def cpu_seconds(self):
        return sum(proc_cpu_seconds(pid) for pid in [self.process.pid] + child_pids(self.process.pid))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Nginx(Server):
    def pids(self):
        workers = child_pids(self.process.pid)
        if not workers:
            raise BenchError("nginx has no worker processes")
        return workers

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: master waits for its workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def nginx_config(root, prefix, port, workers):
    return f"""worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


def rotation(order, round_index):
    """The servers' order in round `round_index`: `order` rotated by one per round, except
    that baseline stays next to duet, in turn before and after it (see report)."""
    groups = [[name] for name in order if name != "baseline"]
    if "baseline" in order:
        groups[0] = ["duet", "baseline"] if round_index % 2 == 0 else ["baseline", "duet"]
    shift = round_index % len(groups)
    return [name for group in groups[shift:] + groups[:shift] for name in group]


def build():
    command = [
        "cargo",
        "build",
        "--release",
        "--bin",
        "duet-server",
        "--bin",
        "duet-client",
        "--example",
        "bare-hyper",
    ]
    print("$ " + " ".join(command), flush=True)
    if subprocess.run(command, cwd=REPO).returncode != 0:
        raise BenchError("cargo build --release failed")


def binary(path):
    full = os.path.join(REPO, path)
    if not os.access(full, os.X_OK):
        raise BenchError(f"{path} is missing: build it (drop --no-build) first")
    return full


def idle_client_rss_kib(client, server_port):
    """RSS of duet-client polling a live server every second, after a few polls."""
    process = subprocess.Popen(
        [client, "--host", "127.0.0.1", "--port", str(server_port), "--interval", "1s"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3.5)
        if process.poll() is not None:
            raise BenchError(f"duet-client exited with status {process.returncode} while polling")
        return proc_status_kib(process.pid, "VmRSS")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def host_facts():
    def first_line(command):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    cpu = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "wrk": first_line(["wrk", "-v"]).split(" Copyright")[0],
        "nginx": first_line(["nginx", "-v"]),
        "python": platform.python_version(),
        "revision": first_line(["git", "-C", REPO, "describe", "--always", "--dirty"]),
    }


def measured_line(facts, note):
    """The line the output opens with: when, on what host, which commit of duet, what load."""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    return (
        f"Measured {when} UTC on {facts['cpus']} CPUs ({facts['cpu']}), kernel {facts['kernel']}, "
        f"loopback, no containers; duet at commit {facts['revision']}; load average {loadavg()} "
        f"at the start{f'; {note}' if note else ''}."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per server (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of untimed load per server first")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: 2-core host)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries in target/release")
    parser.add_argument(
        "--servers",
        default="duet,bare-hyper,nginx,python",
        help="comma-separated subset (ratios need duet and the other)",
    )
    parser.add_argument(
        "--workers",
        default="",
        metavar="N,N,...",
        help="also load one duet-server per worker count (--workers N), named duet-wN",
    )
    parser.add_argument(
        "--malloc-arena-max",
        type=int,
        metavar="N",
        help="glibc's arena limit for the duet-wN servers (GLIBC_TUNABLES); glibc "
        "allows 8 per core, so 512 lets 64 workers on a small host each have "
        "their own arena as on a 64-core node",
    )
    parser.add_argument(
        "--baseline", metavar="BIN", help="also load this duet-server binary (same flags), named baseline"
    )
    add_host_note_argument(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.threads < 1:
        parser.error("--rounds, --duration, --connections and --threads must be >= 1")
    wanted = args.servers.split(",")
    unknown = set(wanted) - {"duet", *OTHERS}
    if unknown or "duet" not in wanted:
        parser.error(f"--servers must include duet and name only known servers, got {args.servers}")
    try:
        worker_counts = [int(text) for text in args.workers.split(",") if text]
    except ValueError:
        parser.error(f"--workers takes whole numbers separated by commas, got {args.workers}")
    if any(count < 1 for count in worker_counts) or len(set(worker_counts)) != len(worker_counts):
        parser.error(f"--workers takes distinct counts >= 1, got {args.workers}")
    if args.malloc_arena_max is not None and args.malloc_arena_max < 1:
        parser.error(f"--malloc-arena-max must be >= 1, got {args.malloc_arena_max}")
    if args.baseline and not os.access(args.baseline, os.X_OK):
        parser.error(f"--baseline {args.baseline} is not an executable file")
    for tool in ("wrk",) + (("nginx",) if "nginx" in wanted else ()):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")

    facts = host_facts()
    print(measured_line(facts, args.host_note), flush=True)
    if not args.no_build:
        build()
    server_bin = binary("target/release/duet-server")
    client_bin = binary("target/release/duet-client")
    bare_bin = binary("target/release/examples/bare-hyper")

    print(
        f"host: {facts['cpus']} CPUs ({facts['cpu']}), kernel {facts['kernel']}, "
        f"{facts['wrk']}, {facts['nginx']}, python {facts['python']}"
    )
    print(
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, keep-alive, "
        f"{args.rounds} rounds per server, order rotated each round; loadavg at start {loadavg()}"
    )

    scratch = tempfile.mkdtemp(prefix="duet-bench-")
    os.chmod(scratch, 0o755)  # nginx workers run as nobody
    servers = {}
    try:
        env = dict(os.environ)  # duet's own default log level unless RUST_LOG is set
        env.pop("NOTIFY_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        port = free_port()
        duet = Server("duet", [server_bin, "--listen", f"127.0.0.1:{port}"], port, scratch, env=env)
        servers["duet"] = duet
        body = wait_serving(duet)
        time.sleep(1.0)
        idle = {"duet-server": duet.rss_kib()}
        idle["duet-client"] = idle_client_rss_kib(client_bin, port)
        variants = [(f"duet-w{count}", [server_bin, "--workers", str(count)]) for count in worker_counts]
        if args.baseline:
            variants.insert(0, ("baseline", [os.path.abspath(args.baseline)]))
        variant_env = dict(env)
        if args.malloc_arena_max:
            variant_env["GLIBC_TUNABLES"] = f"glibc.malloc.arena_max={args.malloc_arena_max}"
            print(f"duet-wN servers run with GLIBC_TUNABLES={variant_env['GLIBC_TUNABLES']}")
        for name, command in variants:
            port = free_port()
            servers[name] = Server(
                name,
                command + ["--listen", f"127.0.0.1:{port}"],
                port,
                scratch,
                env=env if name == "baseline" else variant_env,
            )
        for name, _ in variants:
            # Each one's first request, then idle as duet-server's was.
            wait_serving(servers[name])
        time.sleep(1.0)
        for name, _ in variants:
            idle[name] = servers[name].rss_kib()
        size = len(body)
        print(f"body: duet's GET / is {size} bytes; every other server serves {size} bytes")

        root = os.path.join(scratch, "www")
        os.makedirs(root)
        with open(os.path.join(root, "index.html"), "wb") as file:
            file.write(body)
        os.chmod(root, 0o755)

        if "bare-hyper" in wanted:
            port = free_port()
            servers["bare-hyper"] = Server(
                "bare-hyper", [bare_bin, f"127.0.0.1:{port}", str(size)], port, scratch
            )
        if "nginx" in wanted:
            port = free_port()
            config = os.path.join(scratch, "nginx.conf")
            with open(config, "w") as file:
                file.write(nginx_config(root, scratch, port, os.cpu_count()))
            servers["nginx"] = Nginx(
                "nginx", ["nginx", "-p", scratch, "-e", f"{scratch}/error.log", "-c", config], port, scratch
            )
        if "python" in wanted:
            port = free_port()
            servers["python"] = Server(
                "python",
                [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                port,
                scratch,
                cwd=root,
            )
        for name, server in servers.items():
            served = wait_serving(server)
            if len(served) != size:
                raise BenchError(f"{name} serves {len(served)} bytes, expected {size}")
        time.sleep(0.5)
        idle["bare-hyper"] = servers["bare-hyper"].rss_kib() if "bare-hyper" in servers else None

        order = ["duet"] + [name for name, _ in variants] + [name for name in OTHERS if name in servers]
        for name in order:
            run_wrk(f"http://127.0.0.1:{servers[name].port}/", args.warmup, args.connections, args.threads)

        runs = {name: [] for name in order}
        for round_index in range(args.rounds):
            rotated = rotation(order, round_index)
            for name in rotated:
                server = servers[name]
                before_load = loadavg()
                cpu_before = server.cpu_seconds()
                figures = run_wrk(
                    f"http://127.0.0.1:{server.port}/", args.duration, args.connections, args.threads
                )
                figures["cpu_s"] = server.cpu_seconds() - cpu_before
                figures["loadavg"] = before_load
                runs[name].append(figures)
                errors = {k: v for k, v in figures["errors"].items() if v}
                print(
                    f"round {round_index + 1} {name:<10} {figures['rps']:>10.0f} req/s  "
                    f"p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms  "
                    f"server CPU {figures['cpu_s']:.1f} s  loadavg before {before_load}"
                    + (f"  errors {errors}" if errors else ""),
                    flush=True,
                )
        peak = {name: servers[name].peak_rss_kib() for name in order}
        for name in order:
            if servers[name].process.poll() is not None:
                raise BenchError(f"{name} died during the load (status {servers[name].process.returncode})")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    report(order, runs, peak, idle, args, [name for name, _ in variants])


def report(order, runs, peak, idle, args, variants):
    summary = {
        name: {
            key: summarize([run[key] for run in runs[name]]) for key in ("rps", "p50_ms", "p99_ms", "cpu_s")
        }
        for name in order
    }
    print()
    print(f"## Figures (median of {args.rounds} rounds, range in brackets), loadavg at end {loadavg()}")
    print()
    print("| server | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS |")
    print("|---|---|---|---|---|---|")
    for name in order:
        s = summary[name]
        requests = sum(run.get("requests", 0) for run in runs[name])
        cpu_per_request = sum(run["cpu_s"] for run in runs[name]) / requests * 1e6 if requests else None
        rss = f"{peak[name] / 1024:.1f} MiB" + (" (workers)" if name == "nginx" else "")
        print(
            f"| {name} | {s['rps']['median']:.0f} ({format_number(s['rps']['min'])}–"
            f"{format_number(s['rps']['max'])}) | {s['p50_ms']['median']:.3f} | "
            f"{s['p99_ms']['median']:.3f} ({format_number(s['p99_ms']['min'])}–"
            f"{format_number(s['p99_ms']['max'])}) | "
            f"{format_number(cpu_per_request)} | {rss} |"
        )
    print()
    print("| idle RSS | KiB | target < 4 MB (3906 KiB) |")
    print("|---|---|---|")
    for name in ("duet-server", "duet-client"):
        print(f"| {name} | {idle[name]} | {'meets' if idle[name] < IDLE_RSS_TARGET_KIB else 'MISSES'} |")
    for name in variants:
        print(f"| {name} (before load) | {idle[name]} | |")
    if idle.get("bare-hyper") is not None:
        print(f"| bare-hyper (reference) | {idle['bare-hyper']} | |")
    print()
    print("| ratio of req/s (medians) | value | target | verdict |")
    print("|---|---|---|---|")
    duet_rps = summary["duet"]["rps"]["median"]
    for name, target in TARGETS.items():
        if name not in summary:
            continue
        ratio = duet_rps / summary[name]["rps"]["median"]
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"| duet/{name} | {ratio:.2f}x | >= {target}x | {verdict} |")
    if "baseline" in summary:
        ratio = duet_rps / summary["baseline"]["rps"]["median"]
        verdict = "meets" if ratio >= BASELINE_TARGET else "MISSES"
        print(f"| duet/baseline | {ratio:.2f}x | >= {BASELINE_TARGET}x | {verdict} |")
        # The two run next to each other in every round, so a round's ratio sees nearly the
        # same machine: on a busy host it varies far less than either rate does.
        paired = summarize(
            [mine["rps"] / theirs["rps"] for mine, theirs in zip(runs["duet"], runs["baseline"])]
        )
        verdict = "meets" if paired["median"] >= BASELINE_TARGET else "MISSES"
        print(
            f"| duet/baseline, median of the rounds' ratios ({paired['min']:.2f}–{paired['max']:.2f}) "
            f"| {paired['median']:.2f}x | >= {BASELINE_TARGET}x | {verdict} |"
        )


if __name__ == "__main__":
    run_main("crate_bench", main)
