#!/usr/bin/python3
"""/bin/supervisord in the library's supervisord image: supervisord itself, run in this
process (PID 1 stays supervisord, `comm` "supervisord"), with one difference: supervisord
always exits 0, and this exits 1 when a program went FATAL (given up for good), which the
listener /bin/supervisord-exit-on-fatal records in /run/supervisord.fatal before it stops
supervisord. The engine's restart policy or an orchestrator then sees a failed container.

A marker left from an earlier run of the same container (its /run is not a tmpfs) is
removed first. The first line is rewritten by each image builder to a python that has
supervisor.
"""

import os
import sys

MARKER = "/run/supervisord.fatal"


def main():
    try:
        os.unlink(MARKER)
    except FileNotFoundError:
        pass
    except OSError as error:
        print(f"supervisord: cannot remove the stale {MARKER}: {error.strerror}", file=sys.stderr)
        return 1
    from supervisor.supervisord import main as supervisord_main

    supervisord_main()  # the arguments are sys.argv[1:], as for supervisord itself
    try:
        with open(MARKER, encoding="utf-8") as f:
            program = f.read().strip() or "a program"
    except FileNotFoundError:
        return 0
    print(
        f"supervisord: {program} went FATAL (exited too quickly too often; supervisord "
        "gave up restarting it): exiting 1",
        file=sys.stderr,
        flush=True,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
