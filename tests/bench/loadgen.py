"""Steady, bounded request streams from the host, each request recorded with its outcome.

Two streams run side by side on one asyncio loop in a thread of its own:
- `fresh`: a new TCP connection per request, started at a fixed rate (default 200/s)
  whether or not earlier ones have answered; in flight at most rate x timeout requests.
- `kept`: one kept-alive connection, one request after another at a fixed pace (as
  duet-client polls, only faster); after a failure it reconnects for the next request.

The client always closes first (HTTP/1.1 keep-alive, close after reading the whole answer):
a server-side close would leave the host port in TIME_WAIT, and Docker's proxy then cannot
bind it again for a minute when a container restarts.

Each request becomes an Event(stream, start, end, outcome, status) with monotonic times;
outcome is "ok" (2xx) or one of FAILURE_KINDS.

Anything else a request or the loop raises stops the streams: the caller learns it from
check() (a BenchError), so a run never goes on recording nothing.
"""

import asyncio
import collections
import threading
import time

from benchlib import BenchError

FAILURE_KINDS = ("refused", "reset", "timeout", "5xx", "other")
CATCH_UP_S = 0.25  # how far behind its schedule the fresh stream catches up

Event = collections.namedtuple("Event", "stream start end outcome status")


class BadAnswer(Exception):
    """The peer answered something that is not an HTTP/1.x response."""


async def read_response(reader):
    """Reads one HTTP/1.x response (Content-Length or chunked body); returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP status line: {lines[0][:60]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


# What one request can fail with; classify() names the kind.
REQUEST_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    BadAnswer,
    ValueError,
)


def classify(error):
    """The failure kind of an exception raised while connecting or reading."""
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    if isinstance(error, (ConnectionError, asyncio.IncompleteReadError, EOFError)):
        return "reset"  # reset, broken pipe, or closed before a whole answer
    return "other"


def outcome_of(status):
    if 200 <= status < 300:
        return "ok"
    if status >= 500:
        return "5xx"
    return "other"


def _request_bytes(host, path):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: duet-faults\r\n\r\n".encode()


def _close(connection):
    """Closes the connection in `connection` ([reader, writer] or empty) and empties it."""
    if connection:
        connection[1].close()
    connection.clear()


class Streams:
    def __init__(self, host, port, rate=200.0, kept_interval=0.02, timeout=2.0, path="/"):
        if rate <= 0 or kept_interval <= 0 or timeout <= 0:
            raise ValueError("rate, kept_interval and timeout must be positive")
        self.host, self.port, self.path = host, port, path
        self.rate, self.kept_interval, self.timeout = rate, kept_interval, timeout
        self.events = []  # appended by the loop thread; list.append is atomic
        self.skipped = 0  # fresh requests not sent because the loop fell behind its schedule
        self._request = _request_bytes(host, path)
        self._loop = None
        self._thread = None
        self._stopping = None
        self._started = threading.Event()
        self._stopped = False  # stop() was called
        self.error = None  # what ended the load thread or a request task other than a request error

    # --- the two streams --------------------------------------------------------------

    async def _exchange(self, reader, writer):
        """Sends the request on an open connection and returns the answer's status."""
        writer.write(self._request)
        await writer.drain()
        return await read_response(reader)

    async def _connect_and_exchange(self, connection):
        """Opens a connection when `connection` (a one-slot list: [reader, writer] or empty)
        has none, and exchanges one request on it."""
        if not connection:
            connection.extend(await asyncio.open_connection(self.host, self.port))
        return await self._exchange(*connection)

    async def _record_one(self, stream, connection):
        """One request on `connection` (see _connect_and_exchange) within the timeout, recorded
        as an Event of `stream`; a failed request closes the connection and empties it."""
        start = time.monotonic()
        status = None
        try:
            # asyncio.wait_for rather than `async with asyncio.timeout()` (Python 3.11+): the
            # benchmarks run on Python 3.10 (Ubuntu 22.04) as well.
            status = await asyncio.wait_for(self._connect_and_exchange(connection), self.timeout)
            outcome = outcome_of(status)
        except REQUEST_ERRORS as error:
            outcome = classify(error)
            _close(connection)
        self.events.append(Event(stream, start, time.monotonic(), outcome, status))

    async def _fresh_one(self):
        connection = []
        try:
            await self._record_one("fresh", connection)
        finally:
            _close(connection)

    async def _fresh(self):
        tasks = set()
        began = time.monotonic()
        index = 0
        while not self._stopping.is_set():
            task = asyncio.ensure_future(self._fresh_one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(self._task_done)
            index += 1
            delay = began + index / self.rate - time.monotonic()
            if delay < -CATCH_UP_S:
                # Starved of CPU for a while: skip the missed slots instead of sending them
                # all at once (the stream stays bounded), and count them. Shorter delays,
                # the loop's ordinary jitter, are caught up.
                self.skipped += int(-delay * self.rate)
                began, index, delay = time.monotonic(), 0, 1 / self.rate
            try:
                await asyncio.wait_for(self._stopping.wait(), max(delay, 0))
            except asyncio.TimeoutError:
                pass
        if tasks:
            await asyncio.wait(tasks)

    async def _kept(self):
        connection = []  # [reader, writer] while the kept-alive connection is open
        next_at = time.monotonic()
        while not self._stopping.is_set():
            await self._record_one("kept", connection)
            next_at = max(next_at + self.kept_interval, time.monotonic())
            try:
                await asyncio.wait_for(self._stopping.wait(), next_at - time.monotonic())
            except asyncio.TimeoutError:
                pass
        _close(connection)

    def _task_done(self, task):
        """A fresh request that raised what no request should (a bug, or a bad host or port):
        the error is kept and the streams stop."""
        if not task.cancelled() and task.exception() is not None and self.error is None:
            self.error = task.exception()
            self._stopping.set()

    async def _main(self):
        self._stopping = asyncio.Event()
        self._started.set()
        await asyncio.gather(self._fresh(), self._kept())

    # --- control from the calling thread ----------------------------------------------

    def start(self):
        def run():
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._main())
            except BaseException as error:  # noqa: B902 (kept for check(), the thread ends)
                if self.error is None:
                    self.error = error
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="duet-load", daemon=True)
        self._thread.start()
        end = time.monotonic() + 10
        while not self._started.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > end:
                self.check()
                raise BenchError("the load generator did not start within 10 s")
        return self

    def check(self):
        """Raises BenchError when the streams have stopped on their own: an error in the load
        thread, or the thread gone before stop(). The recorded requests would then end early."""
        if self.error is not None:
            raise BenchError(f"the load generator stopped: {type(self.error).__name__}: {self.error}")
        if self._thread is not None and not self._thread.is_alive() and not self._stopped:
            raise BenchError("the load generator's thread ended before it was stopped")

    def stop(self):
        """Stops sending and waits for the requests in flight (at most the timeout). Raises
        nothing: call check() for how the streams ended."""
        self._stopped = True
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop closed meanwhile: the thread is ending anyway
                pass
            self._thread.join(self.timeout + 10)
        return list(self.events)

    def since(self, index):
        """The events recorded from position `index` on (events are appended as requests end)."""
        return self.events[index:]
