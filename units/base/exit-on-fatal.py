#!/usr/bin/python3
"""/bin/supervisord-exit-on-fatal: a supervisord event listener (the [eventlistener:...]
section of the library's supervisord.conf) for PROCESS_STATE_FATAL, the state of a program
that supervisord has given up restarting. supervisord alone would stay up with that
program gone; this listener writes the program's name to /run/supervisord.fatal and sends
SIGTERM to supervisord, which stops the other programs and exits. /bin/supervisord
(supervisord-pid1.py) then exits 1, so the engine's restart policy or an orchestrator acts.

stdin/stdout carry supervisord's listener protocol; this program's own lines go to stderr.
The first line is rewritten by each image builder to a python that has supervisor.
"""

import os
import signal
import sys

MARKER = "/run/supervisord.fatal"


def say(line):
    print(f"supervisord-exit-on-fatal: {line}", file=sys.stderr, flush=True)


def fields(text):
    """`key:value key:value ...` (a header line or a process-state payload) as a dict."""
    return dict(part.split(":", 1) for part in text.split() if ":" in part)


def program_name(payload):
    """The name supervisorctl uses: GROUP:PROCESS, or PROCESS when they are the same."""
    process, group = payload.get("processname", "?"), payload.get("groupname", "")
    return process if not group or group == process else f"{group}:{process}"


def take_down(name):
    tmp = MARKER + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
    os.replace(tmp, MARKER)
    # The listener is supervisord's child: its parent is the supervisord to stop.
    supervisord = os.getppid()
    say(
        f"{name} is FATAL (supervisord gave up restarting it): stopping supervisord "
        f"(pid {supervisord}) so the container exits 1"
    )
    os.kill(supervisord, signal.SIGTERM)


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        header = stdin.readline()
        if not header:
            return 0  # supervisord closed the channel: it is stopping
        head = fields(header.decode("utf-8", "replace"))
        try:
            length = int(head["len"])
        except (KeyError, ValueError):
            say(f"not a listener protocol header: {header[:200]!r}")
            return 1
        payload = fields(stdin.read(length).decode("utf-8", "replace"))
        if head.get("eventname") == "PROCESS_STATE_FATAL":
            try:
                take_down(program_name(payload))
            except OSError as error:
                say(f"cannot stop supervisord: {error}")
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
