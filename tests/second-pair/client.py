#!/usr/bin/python3
"""seed-client: polls an HTTP server and logs each answer (python3 standard library only).

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
Bad flags or environment: one line on stderr, exit 2.
"""

# The first line names the interpreter itself, not `/usr/bin/env python3`: the kernel names
# the process after the script (ps, pidof, the engine's PID 1 show seed-client), and env
# would exec python3 under its own name. Image builders may rewrite the line to their python.

import argparse
import http.client
import os
import signal
import sys
import threading
import time

VERSION = "1.0.0"
USAGE = "usage: seed-client [--probe] [--host H] [--port N] [--path P] [--interval S] [--timeout S]"


def say(line):
    # stdout is a pipe under every supervisor: flush each line.
    print(line, flush=True)


def fail(message, code):
    print(f"seed-client: {message}", file=sys.stderr, flush=True)
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
    def error(self, message):
        fail(f"{message} ({USAGE})", 2)


def setting(flag, env, default):
    """The flag's value, else the environment variable's (unless empty), else the
    default; with the name to quote when it is bad."""
    if flag is not None:
        return flag, None
    value = os.environ.get(env, "") if env else ""
    if value != "":
        return value, env
    return default, None


def parse_args(argv):
    parser = OneLineParser(prog="seed-client", add_help=False)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--host")
    parser.add_argument("--port")
    parser.add_argument("--path", default="/")
    parser.add_argument("--interval")
    parser.add_argument("--timeout", default="5")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    args = parser.parse_args(argv)
    if args.help:
        print(__doc__.strip())
        sys.exit(0)
    if args.version:
        print(f"seed-client {VERSION}")
        sys.exit(0)
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


def main(argv):
    args = parse_args(argv)
    if args.probe:
        return probe(args)
    # Signals blocked before the poller thread starts (it inherits the mask), taken by
    # sigtimedwait below: a stop never lands in the middle of a request's code.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    stop = threading.Event()
    poller = threading.Thread(target=poll_forever, args=(args, stop), daemon=True)
    say(f"seed-client {VERSION} polling {url_of(args)} every {args.interval:g} s")
    poller.start()
    while signal.sigtimedwait(stop_signals, 1) is None:
        if not poller.is_alive():
            fail("the polling loop ended unexpectedly", 1)
    stop.set()
    # A request in progress may take up to --timeout: do not wait that long for it.
    poller.join(0.5)
    say("seed-client stopping")
    if poller.is_alive():
        # Interpreter shutdown would wait on, or trip over, the thread still in a request.
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
