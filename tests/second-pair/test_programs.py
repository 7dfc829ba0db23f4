#!/usr/bin/env python3
"""seed-server and seed-client against each other on loopback: real processes, real
sockets, no engine. The script runs as the images carry it: copies of seed.py named
seed-server and seed-client, executed through their first line.
usage: python3 tests/second-pair/test_programs.py [-v] (about 15 s)"""

import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = tempfile.mkdtemp(prefix="seed-bin.")
SERVER = os.path.join(BIN, "seed-server")
CLIENT = os.path.join(BIN, "seed-client")


def setUpModule():
    for target in (SERVER, CLIENT):
        shutil.copyfile(os.path.join(HERE, "seed.py"), target)
        os.chmod(target, 0o755)


def tearDownModule():
    shutil.rmtree(BIN)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Program:
    """A running program; its stdout and stderr lines are collected as they come."""

    def __init__(self, path, *args, env=None):
        environment = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PORT", "SERVER_HOST", "SERVER_PORT", "POLL_INTERVAL")
        }
        environment.update(env or {})
        self.proc = subprocess.Popen(
            [path, *args],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self._new = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, pattern, timeout=10):
        """The first line (collected so far or to come) matching pattern."""
        regex = re.compile(pattern)
        for line in self.lines:
            if regex.search(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.lines)
                ) from None
            if line is None:
                raise AssertionError(
                    f"exited ({self.proc.wait()}) with no line matching {pattern!r}:\n"
                    + "\n".join(self.lines)
                )
            self.lines.append(line)
            if regex.search(line):
                return line

    def count(self, pattern):
        self.drain()
        return sum(1 for line in self.lines if re.search(pattern, line))

    def drain(self):
        while True:
            try:
                line = self._new.get_nowait()
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def stop(self, signum=signal.SIGTERM, timeout=5):
        """Sends signum; returns (exit code, seconds until it exited)."""
        started = time.monotonic()
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        elapsed = time.monotonic() - started
        return code, elapsed

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def start_server(port, *args, env=None):
    server = Program(SERVER, "--port", str(port), *args, env=env)
    server.wait_for(rf"listening on .*:{port}$")
    return server


def get(port, path="/", method="GET", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response
    finally:
        conn.close()


def run(path, *args, env=None):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PORT", "SERVER_HOST", "SERVER_PORT", "POLL_INTERVAL")
    }
    environment.update(env or {})
    return subprocess.run([path, *args], env=environment, capture_output=True, text=True, timeout=20)


class Processes(unittest.TestCase):
    def program(self, *args, **kwargs):
        program = Program(*args, **kwargs)
        self.addCleanup(program.kill)
        return program

    def server(self, port, *args, env=None):
        server = start_server(port, *args, env=env)
        self.addCleanup(server.kill)
        return server


class Server(Processes):
    def test_serves_root_and_health_and_logs_each_request(self):
        port = free_port()
        server = self.server(port)
        status, body, _ = get(port, "/")
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"hello from seed-server on "), body)
        self.assertEqual(get(port, "/health")[:2], (200, b"ok\n"))
        self.assertEqual(get(port, "/nowhere")[0], 404)
        status, body, _ = get(port, "/", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        status, _, response = get(port, "/", method="POST", body=b"x")
        self.assertEqual((status, response.getheader("Allow")), (405, "GET, HEAD"))
        server.wait_for(r'^127\.0\.0\.1 "GET / HTTP/1\.1" 200$')
        server.wait_for(r'^127\.0\.0\.1 "GET /health HTTP/1\.1" 200$')
        server.wait_for(r'^127\.0\.0\.1 "GET /nowhere HTTP/1\.1" 404$')
        server.wait_for(r'^127\.0\.0\.1 "HEAD / HTTP/1\.1" 200$')
        server.wait_for(r'^127\.0\.0\.1 "POST / HTTP/1\.1" 405$')
        # One line per request, nothing else besides the start-up line.
        self.assertEqual(len(server.lines), 6, server.lines)
        with open(f"/proc/{server.proc.pid}/comm", encoding="utf-8") as comm:
            self.assertEqual(comm.read(), "seed-server\n")

    def test_keeps_a_connection_alive_for_the_next_request(self):
        port = free_port()
        self.server(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(conn.close)
        for _ in range(3):
            conn.request("GET", "/health")
            response = conn.getresponse()
            self.assertEqual((response.status, response.read(), response.will_close), (200, b"ok\n", False))

    def test_port_from_the_environment_and_the_flag_over_it(self):
        port, other = free_port(), free_port()
        server = self.program(SERVER, env={"PORT": str(port)})
        server.wait_for(rf"listening on 0\.0\.0\.0:{port}$")
        self.assertEqual(get(port, "/health")[0], 200)
        flagged = self.program(SERVER, "--port", str(other), env={"PORT": str(port)})
        flagged.wait_for(rf"listening on 0\.0\.0\.0:{other}$")
        self.assertEqual(get(other, "/health")[0], 200)

    def test_a_bad_request_gets_400_and_the_server_keeps_serving(self):
        port = free_port()
        server = self.server(port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/one\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        server.wait_for(r'"GET / HTTP/one" 400$')
        self.assertEqual(get(port, "/")[0], 200)

    def test_sigterm_and_sigint_exit_0_promptly(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name):
                port = free_port()
                server = self.server(port)
                # An idle kept-alive connection does not hold the stop up.
                idle = socket.create_connection(("127.0.0.1", port), timeout=5)
                self.addCleanup(idle.close)
                code, seconds = server.stop(signum)
                self.assertEqual(code, 0, server.lines)
                self.assertLess(seconds, 3)
                server.wait_for(r"^seed-server stopping: drained")
                with self.assertRaises(ConnectionRefusedError):
                    get(port, "/")

    def test_a_port_in_use_is_one_line_and_exit_1(self):
        with socket.socket() as taken:
            taken.bind(("0.0.0.0", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = run(SERVER, "--port", str(port))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertRegex(result.stderr, rf"^seed-server: cannot listen on 0\.0\.0\.0:{port}: .+\n$")


class Client(Processes):
    def test_polls_and_logs_status_and_latency(self):
        port = free_port()
        server = self.server(port)
        client = self.program(
            CLIENT, env={"SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(port), "POLL_INTERVAL": "0.2"}
        )
        client.wait_for(rf"^seed-client .* polling http://127\.0\.0\.1:{port}/ every 0\.2 s$")
        with open(f"/proc/{client.proc.pid}/comm", encoding="utf-8") as comm:
            self.assertEqual(comm.read(), "seed-client\n")
        for n in (1, 2, 3):
            client.wait_for(rf"^poll {n}: status=200 latency_ms=\d+\.\d url=http://127\.0\.0\.1:{port}/$")
        server.wait_for(r'^127\.0\.0\.1 "GET / HTTP/1\.1" 200$')

    def test_rides_out_an_absent_server_and_a_restarted_one(self):
        port = free_port()
        client = self.program(CLIENT, "--port", str(port), "--interval", "0.2s")
        client.wait_for(r"^poll 2: status=error error='ConnectionRefusedError: .*' latency_ms=")
        server = self.server(port)
        client.wait_for(r"status=200")
        self.assertEqual(server.stop()[0], 0)
        polls = client.count(r"^poll ")
        client.wait_for(rf"^poll {polls + 2}: status=error")
        restarted = self.server(port)
        before = client.count(r"status=200")
        deadline = time.monotonic() + 10
        while client.count(r"status=200") == before:
            self.assertLess(time.monotonic(), deadline, client.lines)
            time.sleep(0.1)
        restarted.wait_for(r'"GET / HTTP/1\.1" 200$')
        self.assertIsNone(client.proc.poll())

    def test_sigterm_exits_0_even_in_a_request_that_hangs(self):
        # A listener that never answers: the client's request waits for its 30 s timeout.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            port = silent.getsockname()[1]
            client = self.program(CLIENT, "--port", str(port), "--timeout", "30")
            client.wait_for(r"^seed-client .* polling")
            time.sleep(0.5)
            self.assertEqual(client.count(r"^poll "), 0)
            code, seconds = client.stop()
        self.assertEqual(code, 0, client.lines)
        self.assertLess(seconds, 3)
        client.wait_for(r"^seed-client stopping$")

    def test_sigint_exits_0(self):
        client = self.program(CLIENT, "--port", str(free_port()), "--interval", "0.2")
        client.wait_for(r"^poll 1: ")
        code, seconds = client.stop(signal.SIGINT)
        self.assertEqual(code, 0, client.lines)
        self.assertLess(seconds, 3)


class Probe(Processes):
    def test_exit_codes(self):
        port = free_port()
        self.server(port)
        ok = run(CLIENT, "--probe", "--host", "127.0.0.1", "--port", str(port), "--path", "/health")
        self.assertEqual(
            (ok.returncode, ok.stdout), (0, f"probe http://127.0.0.1:{port}/health: status=200\n")
        )
        missing = run(CLIENT, "--probe", "--port", str(port), "--path", "/nowhere")
        self.assertEqual(
            (missing.returncode, missing.stdout), (1, f"probe http://127.0.0.1:{port}/nowhere: status=404\n")
        )
        absent = run(CLIENT, "--probe", "--port", str(free_port()))
        self.assertEqual(absent.returncode, 1)
        self.assertRegex(absent.stdout, r"status=error error='ConnectionRefusedError")
        from_env = run(CLIENT, "--probe", env={"SERVER_PORT": str(port)})
        self.assertEqual(from_env.returncode, 0)

    def test_a_server_that_never_answers_fails_the_probe_at_its_timeout(self):
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            result = run(CLIENT, "--probe", "--port", str(silent.getsockname()[1]), "--timeout", "0.5")
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stdout, r"status=error error='TimeoutError")


class BadInput(unittest.TestCase):
    CASES = [
        (SERVER, ["--port", "0"], {}, r"--port: '0' is not a port number"),
        (SERVER, ["--port", "65536"], {}, r"--port: '65536' is not a port number"),
        (SERVER, [], {"PORT": "http"}, r"PORT: 'http' is not a port number"),
        (SERVER, ["--listen", "x"], {}, r"unrecognized arguments: --listen x"),
        (SERVER, ["stray"], {}, r"unrecognized arguments: stray"),
        (CLIENT, ["--port", "-1"], {}, r"--port: '-1' is not a port number"),
        (CLIENT, [], {"SERVER_PORT": "99999"}, r"SERVER_PORT: '99999' is not a port number"),
        (CLIENT, [], {"POLL_INTERVAL": "0"}, r"POLL_INTERVAL: '0' is not a number of seconds"),
        (CLIENT, [], {"POLL_INTERVAL": "5m"}, r"POLL_INTERVAL: '5m' is not a number of seconds"),
        (CLIENT, ["--interval", "nan"], {}, r"--interval: 'nan' is not a number of seconds"),
        (CLIENT, ["--timeout", "-3"], {}, r"--timeout: '-3' is not a number of seconds"),
        (CLIENT, [], {"SERVER_HOST": "a b"}, r"SERVER_HOST: 'a b' is not a host name"),
        (CLIENT, ["--path", "health"], {}, r"--path: 'health' is not a path"),
        (CLIENT, ["--probe", "--interval", "1"], {}, r"--interval means nothing with --probe"),
        (CLIENT, ["--count", "3"], {}, r"unrecognized arguments: --count 3"),
        (CLIENT, ["--port"], {}, r"argument --port: expected one argument"),
    ]

    def test_one_line_and_exit_2(self):
        for program, args, env, message in self.CASES:
            name = os.path.basename(program)
            with self.subTest(program=name, args=args, env=env):
                result = run(program, *args, env=env)
                self.assertEqual(result.returncode, 2, result)
                self.assertEqual(result.stdout, "")
                lines = result.stderr.splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                prefix = "seed-server: " if program == SERVER else "seed-client: "
                self.assertTrue(lines[0].startswith(prefix), lines[0])
                self.assertRegex(lines[0], message)


class AgreesWithTheSpec(Processes):
    """pair.json says what the programs print and which version they are: check the
    programs say so."""

    def setUp(self):
        with open(os.path.join(HERE, "pair.json"), encoding="utf-8") as f:
            self.spec = json.load(f)

    def test_versions(self):
        for program, name in ((SERVER, "seed-server"), (CLIENT, "seed-client")):
            self.assertEqual(run(program, "--version").stdout, f"{name} {self.spec['version']}\n")

    def test_log_lines_match_and_do_not_match_each_other(self):
        port = free_port()
        server = self.server(port)
        client = self.program(CLIENT, "--port", str(port), "--interval", "0.2")
        client_line = client.wait_for(r"status=200")
        server_line = server.wait_for(r'"GET / ')
        self.assertRegex(server_line, self.spec["server"]["logLine"])
        self.assertRegex(client_line, self.spec["client"]["logLine"])
        self.assertNotRegex(client_line, self.spec["server"]["logLine"])
        self.assertNotRegex(server_line, self.spec["client"]["logLine"])


if __name__ == "__main__":
    unittest.main()
