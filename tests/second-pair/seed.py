#!/usr/bin/python3
"""seed-server and seed-client, the second pair's programs (python3 standard library only).

One script installed under two names, as one crate gives duet its two binaries: the name it
runs as says which program it is.
"""

# The first line names the interpreter itself, not `/usr/bin/env python3`: the kernel names
# the process after the script (ps, pidof, the engine's PID 1 show seed-server), and env
# would exec python3 under its own name. Image builders may rewrite the line to their python.

import argparse
import http.client
import http.server
import os
import signal
import socket
import sys
import threading
import time

VERSION = "1.0.0"
PROGRAM = os.path.basename(sys.argv[0])

SERVER_HELP = """seed-server: a small HTTP server.

GET / answers 200 with a short greeting, GET /health answers 200 "ok"; HEAD works,
other paths 404, other methods 405. One log line per request on stdout. Listens on
--port, else $PORT, else 8000; on --bind (default 0.0.0.0). SIGTERM or SIGINT: stop
accepting, let requests in progress finish (at most 2 s), exit 0.

usage: seed-server [--port N] [--bind ADDRESS] [--version]
Bad flags or environment: one line on stderr, exit 2. Cannot listen: one line, exit 1."""

CLIENT_HELP = """seed-client: polls an HTTP server and logs each answer.

Polls http://HOST:PORT/PATH every INTERVAL seconds and logs one line per poll:
"status=200 latency_ms=1.2 url=..." or "status=error ... error=...". A server that is
away (not started yet, restarting) is polled again at the next interval: the client
never gives up. SIGTERM or SIGINT: exit 0.

usage: seed-client [--host H] [--port N] [--path P] [--interval S] [--timeout S]
       seed-client --probe [--host H] [--port N] [--path P] [--timeout S]
  --probe      one request; exit 0 when it answers 200, else 1 (a health check)
  --host       default $SERVER_HOST, else 127.0.0.1
  --port       default $SERVER_PORT, else 8000
  --path       default /
  --interval   seconds between polls (a trailing "s" is allowed); default $POLL_INTERVAL, else 5
  --timeout    seconds a request may take, default 5
Bad flags or environment: one line on stderr, exit 2."""


def say(line):
    # stdout is a pipe under every supervisor: flush each line, or the engine's logs
    # show it only when the buffer fills.
    print(line, flush=True)


def fail(message, code):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def port_number(text, what):
    try:
        port = int(text, 10)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        fail(f"{what}: {text!r} is not a port number (1-65535)", 2)
    return port


def seconds(text, what):
    number = text[:-1] if text.endswith("s") else text
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        fail(f"{what}: {text!r} is not a number of seconds (more than 0, at most 86400)", 2)
    return value


class OneLineParser(argparse.ArgumentParser):
    """Refuses bad flags in one line that ends with the program's usage."""

    def __init__(self, usage_line, **kwargs):
        super().__init__(prog=PROGRAM, add_help=False, **kwargs)
        self.usage_line = usage_line

    def error(self, message):
        fail(f"{message} ({self.usage_line})", 2)


def parse_common(parser, argv, help_text):
    """Adds --version and --help, parses, and answers those two."""
    parser.add_argument("--version", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    args = parser.parse_args(argv)
    if args.help:
        print(help_text)
        sys.exit(0)
    if args.version:
        print(f"{PROGRAM} {VERSION}")
        sys.exit(0)
    return args


def run_until_stopped(start, what):
    """Starts the work's thread with SIGTERM and SIGINT blocked (threads inherit the mask)
    and takes them by sigtimedwait: a stop never lands in the middle of other code."""
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    thread = start()
    while signal.sigtimedwait(stop_signals, 1) is None:
        if not thread.is_alive():
            fail(f"the {what} loop ended unexpectedly", 1)
    return thread


# -- seed-server

DEFAULT_PORT = 8000
DRAIN_S = 2.0
# An idle keep-alive connection is closed after this long; a request must arrive in it.
IDLE_TIMEOUT_S = 30


def server_args(argv):
    parser = OneLineParser("usage: seed-server [--port N] [--bind ADDRESS] [--version]")
    parser.add_argument("--port")
    parser.add_argument("--bind", default="0.0.0.0")
    args = parse_common(parser, argv, SERVER_HELP)
    if args.port is not None:
        args.port = port_number(args.port, "--port")
    elif os.environ.get("PORT", "") != "":
        args.port = port_number(os.environ["PORT"], "PORT")
    else:
        args.port = DEFAULT_PORT
    return args


class InFlight:
    """Counts requests being answered, so that a stop can wait for them."""

    def __init__(self):
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self):
        with self._idle:
            self._count += 1

    def __exit__(self, *exc):
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, seconds):
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout=seconds)


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open, so clients (not the server) close them first.
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def send_error(self, code, message=None, explain=None):
        # A request line that does not parse leaves the version at HTTP/0.9, and the
        # answer would then be a bare body without a status line.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        super().send_error(code, message, explain)

    def version_string(self):
        return f"seed-server/{VERSION}"

    def _send(self, status, body, with_body=True, headers=()):
        # A request body is never read: the connection cannot carry another request.
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True
        data = body.encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def _answer(self, with_body):
        with self.server.in_flight:
            if self.path == "/":
                status, body = 200, f"hello from seed-server on {socket.gethostname()}\n"
            elif self.path == "/health":
                status, body = 200, "ok\n"
            else:
                status, body = 404, "not found\n"
            self._send(status, body, with_body)

    def do_GET(self):
        self._answer(with_body=True)

    def do_HEAD(self):
        self._answer(with_body=False)

    def _not_allowed(self):
        with self.server.in_flight:
            self._send(405, "method not allowed\n", headers=[("Allow", "GET, HEAD")])

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        say(f'{self.client_address[0]} "{self.requestline}" {code}')

    def log_error(self, format, *args):
        if format.startswith("Request timed out"):
            return  # an idle keep-alive connection closed: nothing went wrong
        if format.startswith("code "):
            return  # send_error: the request's own line (log_request) says it
        say(f"{self.client_address[0]} error: {format % args}")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address):
        self.in_flight = InFlight()
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        # A client that goes away mid-answer is not worth a traceback.
        say(f"{client_address[0]} connection error: {sys.exc_info()[1]!r}")


def server_main(argv):
    args = server_args(argv)
    server = None

    def start():
        nonlocal server
        try:
            server = Server((args.bind, args.port))
        except OSError as error:
            fail(f"cannot listen on {args.bind}:{args.port}: {error.strerror or error}", 1)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
        serving.start()
        say(f"seed-server {VERSION} listening on {args.bind}:{args.port}")
        return serving

    run_until_stopped(start, "listening")
    started = time.monotonic()
    server.shutdown()
    server.server_close()
    drained = server.in_flight.wait_idle(DRAIN_S)
    say(
        f"seed-server stopping: {'drained' if drained else 'requests still in progress dropped'} "
        f"after {(time.monotonic() - started) * 1000:.0f} ms"
    )
    return 0


# -- seed-client

CLIENT_USAGE = "usage: seed-client [--probe] [--host H] [--port N] [--path P] [--interval S] [--timeout S]"


def setting(flag, env, default):
    """The flag's value, else the environment variable's (unless empty), else the
    default; with the name to quote when it is bad."""
    if flag is not None:
        return flag, None
    value = os.environ.get(env, "") if env else ""
    if value != "":
        return value, env
    return default, None


def client_args(argv):
    parser = OneLineParser(CLIENT_USAGE)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--host")
    parser.add_argument("--port")
    parser.add_argument("--path", default="/")
    parser.add_argument("--interval")
    parser.add_argument("--timeout", default="5")
    args = parse_common(parser, argv, CLIENT_HELP)
    if args.probe and args.interval is not None:
        fail("--interval means nothing with --probe", 2)

    host, env = setting(args.host, "SERVER_HOST", "127.0.0.1")
    if any(c.isspace() or c in "/?#@" for c in host):
        fail(f"{env or '--host'}: {host!r} is not a host name or address", 2)
    args.host = host
    port, env = setting(args.port, "SERVER_PORT", "8000")
    args.port = port_number(port, env or "--port")
    if not args.path.startswith("/") or any(c.isspace() for c in args.path):
        fail(f"--path: {args.path!r} is not a path starting with '/'", 2)
    interval, env = setting(args.interval, None if args.probe else "POLL_INTERVAL", "5")
    args.interval = seconds(interval, env or "--interval")
    args.timeout = seconds(args.timeout, "--timeout")
    return args


def url_of(args):
    host = f"[{args.host}]" if ":" in args.host else args.host
    return f"http://{host}:{args.port}{args.path}"


class Poller:
    """GETs the URL, reusing one keep-alive connection while it works."""

    def __init__(self, args):
        self.args = args
        self.conn = None

    def _fresh(self):
        self.close()
        self.conn = http.client.HTTPConnection(self.args.host, self.args.port, timeout=self.args.timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self):
        """Returns the status code; raises OSError or http.client.HTTPException."""
        reused = self.conn is not None
        try:
            return self._get(self.conn or self._fresh())
        except (OSError, http.client.HTTPException):
            self.close()
            if not reused:
                raise
        # The server closed the kept-alive connection (it restarted, or timed it out):
        # that says nothing about the server now, so ask again on a new connection.
        return self._get(self._fresh())

    def _get(self, conn):
        conn.request("GET", self.args.path, headers={"User-Agent": f"seed-client/{VERSION}"})
        response = conn.getresponse()
        response.read()
        if response.will_close:
            self.close()
        return response.status


def describe(error):
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


def probe(args):
    poller = Poller(args)
    try:
        status = poller.get()
    except (OSError, http.client.HTTPException) as error:
        say(f"probe {url_of(args)}: status=error error={describe(error)!r}")
        return 1
    finally:
        poller.close()
    say(f"probe {url_of(args)}: status={status}")
    return 0 if status == 200 else 1


def poll_forever(args, stop):
    poller = Poller(args)
    url = url_of(args)
    polls = 0
    while not stop.is_set():
        polls += 1
        started = time.monotonic()
        try:
            status = poller.get()
            result = f"status={status}"
        except (OSError, http.client.HTTPException) as error:
            result = f"status=error error={describe(error)!r}"
        latency_ms = (time.monotonic() - started) * 1000
        say(f"poll {polls}: {result} latency_ms={latency_ms:.1f} url={url}")
        stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    poller.close()


def client_main(argv):
    args = client_args(argv)
    if args.probe:
        return probe(args)
    stop = threading.Event()

    def start():
        poller = threading.Thread(target=poll_forever, args=(args, stop), daemon=True)
        say(f"seed-client {VERSION} polling {url_of(args)} every {args.interval:g} s")
        poller.start()
        return poller

    poller = run_until_stopped(start, "polling")
    stop.set()
    # A request in progress may take up to --timeout: do not wait that long for it.
    poller.join(0.5)
    say("seed-client stopping")
    if poller.is_alive():
        # Interpreter shutdown would wait on, or trip over, the thread still in a request.
        sys.stdout.flush()
        os._exit(0)
    return 0


PROGRAMS = {"seed-server": server_main, "seed-client": client_main}


def main(argv):
    program = PROGRAMS.get(PROGRAM)
    if program is None:
        fail(f"run as {' or '.join(PROGRAMS)} (the name it is installed under says which)", 2)
    return program(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
