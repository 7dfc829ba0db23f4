#!/usr/bin/python3
"""seed-server: a small HTTP server (python3 standard library only).

GET / answers 200 with a short greeting, GET /health answers 200 "ok"; HEAD works,
other paths 404, other methods 405. One log line per request on stdout. Listens on
--port, else $PORT, else 8000; on --bind (default 0.0.0.0). SIGTERM or SIGINT: stop
accepting, let requests in progress finish (at most 2 s), exit 0.

usage: seed-server [--port N] [--bind ADDRESS] [--version]
Bad flags or environment: one line on stderr, exit 2. Cannot listen: one line, exit 1.
"""

# The first line names the interpreter itself, not `/usr/bin/env python3`: the kernel names
# the process after the script (ps, pidof, the engine's PID 1 show seed-server), and env
# would exec python3 under its own name. Image builders may rewrite the line to their python.

import argparse
import http.server
import os
import signal
import socket
import sys
import threading
import time

VERSION = "1.0.0"
DEFAULT_PORT = 8000
DRAIN_S = 2.0
# An idle keep-alive connection is closed after this long; a request must arrive in it.
IDLE_TIMEOUT_S = 30


def say(line):
    # stdout is a pipe under every supervisor: flush each line, or the engine's logs
    # show it only when the buffer fills.
    print(line, flush=True)


def fail(message, code):
    print(f"seed-server: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def port_number(text, what):
    try:
        port = int(text, 10)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        fail(f"{what}: {text!r} is not a port number (1-65535)", 2)
    return port


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(f"{message} (usage: seed-server [--port N] [--bind ADDRESS] [--version])", 2)


def parse_args(argv):
    parser = OneLineParser(prog="seed-server", add_help=False)
    parser.add_argument("--port")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    args = parser.parse_args(argv)
    if args.help:
        print(__doc__.strip())
        sys.exit(0)
    if args.version:
        print(f"seed-server {VERSION}")
        sys.exit(0)
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


def main(argv):
    args = parse_args(argv)
    # The signals are blocked before any thread starts (threads inherit the mask) and
    # taken by sigtimedwait below: no handler runs in the middle of other code.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        server = Server((args.bind, args.port))
    except OSError as error:
        fail(f"cannot listen on {args.bind}:{args.port}: {error.strerror or error}", 1)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    serving.start()
    say(f"seed-server {VERSION} listening on {args.bind}:{args.port}")
    while signal.sigtimedwait(stop_signals, 1) is None:
        if not serving.is_alive():
            fail("the listening loop ended unexpectedly", 1)
    started = time.monotonic()
    server.shutdown()
    server.server_close()
    drained = server.in_flight.wait_idle(DRAIN_S)
    say(
        f"seed-server stopping: {'drained' if drained else 'requests still in progress dropped'} "
        f"after {(time.monotonic() - started) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
