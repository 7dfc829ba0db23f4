"""Unit checks of the fault benchmark's pieces: the request streams against real local
servers (each failure kind produced for real), the window figures, the run script's names,
the container replacement and the client-log reading.
Run: python3 -m unittest discover -s tests/bench -p 'test_*.py'"""

import contextlib
import http.server
import io
import os
import re
import socket
import sys
import threading
import time
import unittest

import benchlib
import faultinject
import faultoom
import faultreplace
import faultreport
import faults
import faultstats
import loadgen
import runscript
import startpath
from loadgen import Event

DUET = runscript.pairspec.load(runscript.DEFAULT_SPEC)
# The run script's fixture pair: every name unlike duet's (tests/runscript/README.md).
OTHER = runscript.pairspec.load(os.path.join(runscript.REPO, "tests", "runscript", "other-pair", "pair.json"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200

    def do_GET(self):  # noqa: N802 (the http.server interface)
        body = b"hello\n"
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512  # the default 5 drops connections under a burst


def http_server(status=200):
    server = Server(("127.0.0.1", 0), Handler)
    server.status = status
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def raw_server(behaviour):
    """A listener whose accepted connections are closed at once ('close') or left silent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if behaviour == "close":
                connection.recv(1024)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                connection.close()
            else:
                held.append(connection)

    threading.Thread(target=serve, daemon=True).start()
    return listener, held


def run_streams(port, seconds=0.4, timeout=1.0):
    streams = loadgen.Streams("127.0.0.1", port, rate=100, kept_interval=0.02, timeout=timeout).start()
    time.sleep(seconds)
    return streams.stop()


class StreamsAgainstRealServers(unittest.TestCase):
    def test_all_answered(self):
        server = http_server()
        try:
            events = run_streams(server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
        fresh = [e for e in events if e.stream == "fresh"]
        kept = [e for e in events if e.stream == "kept"]
        self.assertGreaterEqual(len(fresh), 10)
        self.assertGreaterEqual(len(kept), 2)
        self.assertEqual({e.outcome for e in events}, {"ok"})
        self.assertEqual({e.status for e in events}, {200})

    def test_5xx(self):
        server = http_server(503)
        try:
            events = run_streams(server.server_address[1], seconds=0.2)
        finally:
            server.shutdown()
            server.server_close()
        self.assertEqual({e.outcome for e in events}, {"5xx"})

    def test_refused(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        events = run_streams(port, seconds=0.2)
        self.assertTrue(events)
        self.assertEqual({e.outcome for e in events}, {"refused"})

    def test_reset(self):
        listener, _ = raw_server("close")
        try:
            events = run_streams(listener.getsockname()[1], seconds=0.2)
        finally:
            listener.close()
        self.assertTrue(events)
        self.assertEqual({e.outcome for e in events}, {"reset"})

    def test_timeout(self):
        listener, held = raw_server("silent")
        try:
            events = run_streams(listener.getsockname()[1], seconds=0.2, timeout=0.3)
        finally:
            listener.close()
            for connection in held:
                connection.close()
        self.assertTrue(events)
        self.assertEqual({e.outcome for e in events}, {"timeout"})
        self.assertTrue(all(0.29 <= e.end - e.start < 0.6 for e in events))


class StreamsThatStop(unittest.TestCase):
    def test_an_error_in_the_load_thread_is_reported(self):
        # Port 70000 makes every connect raise OverflowError, no request error: the streams
        # stop at once and check() says why instead of the run recording nothing.
        streams = loadgen.Streams("127.0.0.1", 70000, rate=100, timeout=0.5).start()
        end = time.monotonic() + 5
        while streams.error is None and time.monotonic() < end:
            time.sleep(0.01)
        with self.assertRaisesRegex(benchlib.BenchError, "load generator stopped: OverflowError"):
            streams.check()
        streams.stop()
        with self.assertRaises(benchlib.BenchError):
            streams.check()

    def test_a_stopped_stream_checks_clean(self):
        server = http_server()
        try:
            streams = loadgen.Streams("127.0.0.1", server.server_address[1], rate=50).start()
            time.sleep(0.1)
            streams.check()
            streams.stop()
            streams.check()
        finally:
            server.shutdown()
            server.server_close()


def ok(start, end, stream="fresh"):
    return Event(stream, start, end, "ok", 200)


def failed(start, end, kind="reset"):
    return Event("fresh", start, end, kind, None)


class WindowFigures(unittest.TestCase):
    # A fault at t=10 (its command returned at 10.1): failures from 10.2 to 11.0, back at 11.5.
    EVENTS = (
        [ok(t / 10, t / 10 + 0.01) for t in range(90, 102)]
        + [failed(10.2, 10.21, "refused"), failed(10.5, 10.6), failed(11.0, 13.0, "timeout")]
        + [ok(11.4, 11.5), ok(11.6, 11.61), ok(12.0, 12.3, "kept")]
    )

    def test_figures(self):
        figures = faultstats.window_figures(self.EVENTS, 10.0, 10.1, 15.0)
        self.assertEqual(figures["sent"], 2 + 3 + 3)  # starts at 10.0 and 10.1, three failures, three after
        self.assertEqual(figures["failed"], {"refused": 1, "reset": 1, "timeout": 1, "5xx": 0, "other": 0})
        self.assertAlmostEqual(figures["back_s"], 1.5)  # 11.5, the first success started after 11.0
        self.assertAlmostEqual(figures["longest_gap_s"], 15.0 - 12.3)  # the quiet tail is the longest here
        self.assertAlmostEqual(faultstats.longest_gap(self.EVENTS, 10.0, 12.0), 11.5 - 10.11)
        self.assertAlmostEqual(figures["p99_ms"], 300.0)

    def test_timeline_bins_what_ended_around_the_fault(self):
        line = faultstats.timeline(self.EVENTS, 10.0, 12.0)
        self.assertEqual(
            (line["from_s"], line["bin_s"], len(line["ok"]), len(line["failed"])), (-1.0, 0.1, 30, 30)
        )
        self.assertEqual(sum(line["ok"]) + sum(line["failed"]), 12 + 2 + 2)  # ended in [9.0, 12.0)
        self.assertEqual(line["failed"][12], 1)  # the refusal ended at 10.21
        self.assertEqual(line["ok"][25], 1)  # 11.5
        self.assertEqual(
            faultstats.window_figures(self.EVENTS, 10.0, 10.1, 15.0)["sent"], 8
        )  # figures unchanged

    def test_never_back(self):
        events = [failed(10.0 + t / 10, 10.05 + t / 10) for t in range(20)]
        figures = faultstats.window_figures(events, 10.0, 10.0, 12.0)
        self.assertIsNone(figures["back_s"])
        self.assertIsNone(figures["p99_ms"])
        self.assertAlmostEqual(figures["longest_gap_s"], 2.0)

    def test_recovered_waits_for_quiet(self):
        self.assertFalse(faultstats.recovered(self.EVENTS, 10.1, 10.0, 11.3, 1.0))
        self.assertFalse(
            faultstats.recovered(self.EVENTS, 10.1, 10.0, 13.5, 1.0)
        )  # the timeout ended at 13.0
        self.assertTrue(faultstats.recovered(self.EVENTS, 10.1, 10.0, 14.1, 1.0))

    def test_availability_leaves_out_repairs(self):
        self.assertEqual(faultstats.availability(self.EVENTS), (15, 18))
        self.assertEqual(faultstats.availability(self.EVENTS, [(10.15, 11.1)]), (15, 15))

    def test_summary_over_rounds(self):
        rounds = [
            faultstats.window_figures(self.EVENTS, 10.0, 10.1, 15.0),
            faultstats.window_figures([failed(10.0, 10.1)], 10.0, 10.0, 12.0),
        ]
        summary = faultstats.summarize_fault(rounds)
        self.assertEqual(summary["not_back"], 1)
        self.assertEqual(summary["back_s"]["n"], 1)
        self.assertEqual(summary["failed"]["reset"], 2)
        self.assertIsNone(summary["client_back_s"])
        self.assertEqual(summary["client_not_back"], 0)

    def test_client_never_back_is_counted(self):
        rounds = []
        for back in (0.39, None):
            figures = faultstats.window_figures(self.EVENTS, 10.0, 10.1, 15.0)
            figures["client_back_s"] = back
            rounds.append(figures)
        summary = faultstats.summarize_fault(rounds)
        self.assertEqual(summary["client_not_back"], 1)
        self.assertEqual(summary["client_back_s"]["n"], 1)
        self.assertEqual(faultreport.client_cell(summary), "0.39; 1 round never")
        rounds[0]["client_back_s"] = None
        self.assertEqual(faultreport.client_cell(faultstats.summarize_fault(rounds)), "n/a; 2 rounds never")


class RunScriptNames(unittest.TestCase):
    def test_parse(self):
        found = runscript.parse_names(
            "image localhost/duet-server:latest\nimage localhost/duet-client:latest\n"
            "container p-server\ncontainer p-client\nnetwork p\n"
        )
        self.assertEqual(found["container"], ["p-server", "p-client"])
        self.assertEqual(found["network"], ["p"])
        for bad in ("container", "volume x\ncontainer y", "image a\n"):
            with self.assertRaises(ValueError):
                runscript.parse_names(bad)

    def test_names_from_the_real_run_script(self):
        # units/run.sh --print-names needs no engine.
        run = runscript.RunScript(os.path.join(runscript.REPO, "units", "run.sh"), "docker", "p-7", OTHER)
        names = run.names("separate")
        self.assertEqual(names.images, ["localhost/tally-server:latest", "localhost/tally-client:latest"])
        self.assertEqual((names.containers, names.network), (["p-7-server", "p-7-client"], "p-7"))
        self.assertEqual(run.role("p-7-server"), "tally-server")
        self.assertEqual(
            runscript.RunScript(os.path.join(runscript.REPO, "units", "run.sh"), "docker", "p-7", DUET)
            .names("systemd")
            .images,
            ["localhost/duet-systemd:latest"],
        )

    def test_bad_spec_is_one_line(self):
        bad = os.path.join(self._tmp(), "pair.json")
        with open(bad, "w") as file:
            file.write('{"name": "x"}')
        stderr = io.StringIO()
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(stderr):
            faults.parse_args(["--spec", bad])
        self.assertIn(": error: --spec: pair.json: client: missing\n", stderr.getvalue())

    def _tmp(self):
        import tempfile

        return tempfile.mkdtemp()


SERVER_IMAGE = "localhost/duet-server:latest"


def replaced(*flags):
    """What replacement_run_args gives for the container p-server of SERVER_IMAGE: `flags`
    between its name and its image."""
    return ["run", "-d", "--name", "p-server", *flags, SERVER_IMAGE]


class Replacement(unittest.TestCase):
    def test_run_args_from_inspect(self):
        info = {
            "Name": "/p-server",
            "Id": "0123456789abcdef",
            "NetworkSettings": {"Networks": {"p": {"Aliases": ["0123456789ab", "duet-server"]}}},
            "Config": {"Image": SERVER_IMAGE, "User": "65534:65534", "Env": ["PATH=/bin"]},
            "HostConfig": {
                "ReadonlyRootfs": True,
                "CapDrop": ["ALL"],
                "CapAdd": None,
                "SecurityOpt": ["no-new-privileges"],
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
                "NetworkMode": "p",
                "Binds": None,
                "Tmpfs": None,
                "Memory": 0,
                "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "28081"}]},
            },
        }
        self.assertEqual(
            faultreplace.replacement_run_args(info),
            replaced(
                "--read-only",
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges",
                "--restart",
                "unless-stopped",
                "--network",
                "p",
                "--network-alias",
                "duet-server",
                "-p",
                "127.0.0.1:28081:8080/tcp",
                "--user",
                "65534:65534",
                "-e",
                "PATH=/bin",
            ),
        )

    def test_labels_and_ulimits_are_kept(self):
        # What units/run.sh gives a container beside its flags: the run's label, and on
        # Podman --ulimit flags (inspected as RLIMIT_*; Docker inspects them as nofile).
        info = {
            "Name": "/p-server",
            "Id": "0123456789abcdef",
            "Config": {
                "Image": SERVER_IMAGE,
                "Labels": {"duet.run": "123-456", "org.opencontainers.image.title": "duet-server"},
            },
            "HostConfig": {
                "Ulimits": [
                    {"Name": "RLIMIT_NOFILE", "Soft": 524288, "Hard": 524288},
                    {"Name": "nproc", "Soft": 4194304, "Hard": 4194304},
                ]
            },
        }
        self.assertEqual(
            faultreplace.replacement_run_args(info),
            replaced(
                "--label",
                "duet.run=123-456",
                "--label",
                "org.opencontainers.image.title=duet-server",
                "--ulimit",
                "nofile=524288:524288",
                "--ulimit",
                "nproc=4194304:4194304",
            ),
        )

    def test_podman_network_is_read_from_its_networks(self):
        # Podman says "bridge" in NetworkMode for its own networks too: a replacement
        # without --network would land on the default network, out of the client's reach.
        info = {
            "Name": "/p-server",
            "Id": "0123456789abcdef",
            "NetworkSettings": {"Networks": {"p": {"Aliases": ["0123456789ab"]}}},
            "Config": {"Image": SERVER_IMAGE},
            "HostConfig": {"NetworkMode": "bridge"},
        }
        self.assertEqual(
            faultreplace.replacement_run_args(info),
            replaced("--network", "p"),
        )
        for networks in ({"podman": {}}, {"bridge": {}}, {}):
            info["NetworkSettings"]["Networks"] = networks
            self.assertIsNone(faultreplace.user_network(info))


class ClientLog(unittest.TestCase):
    def test_first_successful_poll_after_the_kill(self):
        log = (
            "1970-01-01T00:00:09.000000000Z INFO poll status=200 latency=1ms\n"
            "1970-01-01T00:00:10.500000000Z WARN server unreachable\n"
            "1970-01-01T00:00:11.250000000Z duet-client[7]: INFO poll status=200 latency=1ms\n"
        )
        client_ok = re.compile(DUET.client_log_line)
        self.assertAlmostEqual(faultinject.client_back_from_log(log, 10.0, client_ok), 1.25)
        self.assertIsNone(faultinject.client_back_from_log(log, 12.0, client_ok))
        self.assertIsNone(faultinject.client_back_from_log(log, 10.0, re.compile(OTHER.client_log_line)))


class FromTheSpec(unittest.TestCase):
    """What the faults and start-path benchmarks take from the spec instead of duet's names."""

    class Bench:
        engine = "docker"

        def __init__(self, spec):
            self.spec = spec

    def test_fault_targets(self):
        names = runscript.Names("systemd", [], ["p-systemd"], None)
        duet = faultinject.Approach(self.Bench(DUET), names)
        self.assertEqual(
            (duet.units, duet.programs, duet.comms),
            (("server.service", "client.service"), ("server", "client"), ("duet-server", "duet-client")),
        )
        other = faultinject.Approach(self.Bench(OTHER), names)
        self.assertEqual(
            (other.units, other.programs, other.comms),
            (("tally-web.service", "tally-poll.service"), ("web", "poll"), ("tally-web", "tally-poll")),
        )

    def test_start_path_log_marks(self):
        start, stop = startpath.log_patterns(DUET)
        lines = {
            "supervisord_up_s": "2024-01-01 INFO supervisord started with pid 1",
            "spawned_server_s": "2024-01-01 INFO spawned: 'server' with pid 7",
            "listening_s": "duet-server: INFO listening address=0.0.0.0:8080 socket=bound workers=2",
        }
        for key, pattern in start:
            self.assertRegex(lines[key], pattern)
        self.assertNotRegex("INFO spawned: 'client' with pid 8", dict(start)["spawned_server_s"])
        self.assertRegex("INFO stopped: client (exit status 0)", dict(stop)["client_stopped_s"])
        start, stop = startpath.log_patterns(OTHER)
        self.assertRegex("INFO spawned: 'web' with pid 7", dict(start)["spawned_server_s"])
        self.assertRegex("serving on 9431", dict(start)["listening_s"])
        self.assertRegex("INFO stopped: poll (exit status 0)", dict(stop)["client_stopped_s"])
        self.assertNotRegex("INFO stopped: poll (exit status 0)", dict(stop)["server_stopped_s"])


class ProgramProcesses(unittest.TestCase):
    """supervisorctl's names of a program's processes, as supervisor 4.2 prints `status`."""

    PLAIN = (
        "client                           RUNNING   pid 9, uptime 0:00:03\n"
        "exit-on-fatal                    RUNNING   pid 6, uptime 0:00:04\n"
        "server                           RUNNING   pid 7, uptime 0:00:03\n"
    )
    GROUP = (
        "client                           RUNNING   pid 9, uptime 0:00:03\n"
        "exit-on-fatal                    RUNNING   pid 6, uptime 0:00:04\n"
        "server:server_00                 RUNNING   pid 7, uptime 0:00:03\n"
        "server:server_01                 STARTING  \n"
    )

    def test_a_program_and_a_group(self):
        self.assertEqual(faultinject.program_processes(self.PLAIN, "server"), ["server"])
        self.assertEqual(
            faultinject.program_processes(self.GROUP, "server"), ["server:server_00", "server:server_01"]
        )
        self.assertEqual(faultinject.program_processes(self.GROUP, "client"), ["client"])

    def test_names_that_only_begin_alike(self):
        self.assertEqual(
            faultinject.program_processes("servers   RUNNING   pid 7\nserver-2   RUNNING\n", "server"), []
        )
        self.assertEqual(faultinject.program_processes(self.PLAIN, "web"), [])


class OomCgroup(unittest.TestCase):
    V1 = (
        "12:pids:/docker/abc\n9:memory:/docker/abc/system.slice/server.service\n"
        "1:name=systemd:/docker/abc/system.slice/server.service\n0::/docker/abc\n"
    )
    V2 = "0::/duet.slice/docker-abc.scope/system.slice/server.service\n"

    def test_v1_child_of_its_memory_cgroup(self):
        self.assertEqual(
            faultoom.oom_cgroup_dir("v1", self.V1, "/cg"),
            "/cg/memory/docker/abc/system.slice/server.service/" + faultoom.OOM_CGROUP,
        )
        with self.assertRaises(benchlib.BenchError):
            faultoom.oom_cgroup_dir("v1", "12:pids:/docker/abc\n0::/docker/abc\n", "/cg")

    def test_v2_own_cgroup_under_the_root(self):
        # Not under the container's cgroup: that one holds processes, so it cannot give a
        # child the memory controller (no-internal-process rule).
        self.assertEqual(faultoom.oom_cgroup_dir("v2", self.V2, "/cg"), "/cg/" + faultoom.OOM_CGROUP)

    def test_limit_files(self):
        self.assertEqual(
            faultoom.oom_limit_files("v1", 1048576, ["memory.limit_in_bytes"]),
            [("memory.limit_in_bytes", "1048576")],
        )
        self.assertEqual(
            faultoom.oom_limit_files("v2", 1048576, ["memory.max", "memory.swap.max"]),
            [("memory.max", "1048576"), ("memory.swap.max", "0")],
        )
        self.assertEqual(faultoom.oom_limit_files("v2", 1048576, ["memory.max"]), [("memory.max", "1048576")])

    def test_kill_count(self):
        self.assertEqual(faultoom.oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2)
        self.assertEqual(
            faultoom.oom_kill_count("low 0\nhigh 0\nmax 31\noom 1\noom_kill 1\noom_group_kill 0\n"), 1
        )
        self.assertEqual(faultoom.oom_kill_count("low 0\nmax 0\noom 0\n"), 0)


class Outputs(unittest.TestCase):
    def test_default_out_dir_is_outside_the_repository(self):
        path = benchlib.default_out_dir("faults", {"XDG_CACHE_HOME": "/c"}, now=0)
        self.assertTrue(path.startswith("/c/duet/faults-"))
        self.assertTrue(benchlib.default_out_dir("x", {"HOME": "/h"}).startswith("/h/.cache/duet/x-"))

    def test_a_run_is_written_with_its_measured_record_first_then_rendered(self):
        import argparse
        import json
        import shutil
        import tempfile

        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out)
        run = benchlib.BenchRun("faults", argparse.Namespace(out=out, host_note="shared"))

        def render(path, where):
            with open(path) as file:
                return f"{where}: {list(json.load(file))}"

        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            run.write(render, pair="duet", results={})
        self.assertEqual(
            stdout.getvalue(),
            f"\n{out}: ['measured', 'pair', 'results']\nwrote {out}/faults.md, faults.svg, faults.json\n",
        )
        with open(os.path.join(out, "faults.json")) as file:
            self.assertEqual(json.load(file)["measured"]["host_note"], "shared")

    def test_percentile(self):
        self.assertEqual(benchlib.percentile(list(range(1, 101)), 99), 99)
        self.assertEqual(benchlib.percentile([5], 99), 5)

    def test_chart_median_of_failures_is_the_tables(self):
        windows = [{"fault": "server-kill", "failed": {"refused": n, "reset": 0}} for n in (0, 10)]
        windows.append({"fault": "oom", "failed": {"refused": 99, "reset": 1}})
        figure = faultreport.failed_per_round({"windows": windows}, "server-kill")
        self.assertEqual((figure["median"], figure["min"], figure["max"]), (5, 0, 10))

    def test_chart_has_one_lane_per_approach_and_a_mark_per_fault(self):
        import xml.dom.minidom

        events = [ok(t / 10, t / 10 + 0.01) for t in range(90, 130)] + [failed(10.2, 10.21, "refused")]
        window = faultstats.window_figures(events, 10.0, 10.1, 13.0)
        window.update(fault="server-kill", round=1, timeline=faultstats.timeline(events, 10.0, 13.0))
        result = {"windows": [window], "ok": 40, "sent": 41, "repairs": 0, "baseline_p99_ms": 1.0}
        run = {
            "facts": {"engine": "docker", "cgroup": "v1", "kernel": "k", "cpus": 2},
            "args": {
                "rounds": 1,
                "rate": 200.0,
                "kept_interval": 0.02,
                "timeout": 2.0,
                "quiet": 3.0,
                "fault_timeout": 30.0,
            },
            "results": {"systemd": result, "separate": result},
        }
        text = faultreport.svg(run)
        document = xml.dom.minidom.parseString(text)
        self.assertEqual(
            len([n for n in document.getElementsByTagName("line") if n.getAttribute("stroke-dasharray")]), 2
        )
        self.assertIn("1 failed", text)
        for window in result["windows"]:
            del window["timeline"]
        self.assertIn("longest gap", faultreport.svg(run))  # without timelines: the bar panels

    def test_render_refuses_what_is_not_its_json(self):
        import compare
        import tempfile

        directory = tempfile.mkdtemp()
        cases = {
            "missing.json": None,
            "bad.json": "nope",
            "list.json": "[1]",
            "other.json": '{"facts": {}, "args": {}, "rounds": {}}',
            "broken.json": '{"facts": {}, "args": {}, "results": {"a": []}}',
        }
        for name, text in cases.items():
            path = os.path.join(directory, name)
            if text is not None:
                with open(path, "w") as file:
                    file.write(text)
            with self.assertRaisesRegex(
                benchlib.BenchError, "^" + path + ": (cannot read|not a faults.json)"
            ):
                faultreport.render(path, directory)
            with self.assertRaisesRegex(
                benchlib.BenchError, "^" + path + ": (cannot read|not a compare.json)"
            ):
                compare.render(path, directory)

    def test_bad_arguments_are_refused(self):
        for argv in (
            ["--faults", "server-kill,nope"],
            ["--quiet", "1", "--timeout", "2"],
            ["--rounds", "0"],
            ["--project", "a b"],
            ["--oom-burst", "0"],
            ["--fault-timeout", "0"],
            ["--oom-limit-kib", "-1"],
            ["--oom-connections", "0"],
            ["--port", "0"],
            ["--port", "65536"],
            ["--rounds", "-1"],
        ):
            with self.assertRaises(SystemExit):
                with open(os.devnull, "w") as devnull:
                    stderr, sys.stderr = sys.stderr, devnull
                    try:
                        faults.parse_args(argv)
                    finally:
                        sys.stderr = stderr


if __name__ == "__main__":
    unittest.main()
