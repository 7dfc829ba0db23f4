"""Figures of one fault window from the recorded requests (loadgen.Event), and their summary
over rounds. Pure functions: no engine, no clock.

A window runs from the moment the fault is injected to the moment the approach has served
for a quiet spell after it. A request belongs to the window it started in.
"""

import collections
import math

from benchlib import percentile, summarize
from loadgen import FAILURE_KINDS


def in_window(events, start, end):
    return [e for e in events if start <= e.start < end]


def serving_again_at(events, injected, start, end):
    """The monotonic time the first successful request ends that started after the fault had
    been injected (`injected`: the injecting command returned) and after the last failed one
    started; None when no such request finished before `end`."""
    window = in_window(events, start, end)
    after = max([injected] + [e.start for e in window if e.outcome != "ok"])
    ends = [e.end for e in window if e.outcome == "ok" and e.start >= after and e.end < end]
    return min(ends) if ends else None


def longest_gap(events, start, end):
    """The longest time within [start, end) in which no request ended successfully."""
    ends = sorted(e.end for e in events if e.outcome == "ok" and start <= e.end < end)
    points = [start, *ends, end]
    return max(b - a for a, b in zip(points, points[1:]))


def window_figures(events, start, injected, end):
    """{'sent', 'failed': {kind: n}, 'longest_gap_s', 'back_s', 'p99_ms'} of one fault window.
    back_s is None when the approach was not serving again before `end`; p99_ms covers the
    successful requests of the window (None when there were none)."""
    window = in_window(events, start, end)
    counts = collections.Counter(e.outcome for e in window)
    back = serving_again_at(events, injected, start, end)
    latencies = [(e.end - e.start) * 1000 for e in window if e.outcome == "ok"]
    return {
        "sent": len(window),
        "ok": counts["ok"],
        "failed": {kind: counts[kind] for kind in FAILURE_KINDS},
        "longest_gap_s": longest_gap(events, start, end),
        "back_s": None if back is None else back - start,
        "p99_ms": percentile(latencies, 99) if latencies else None,
    }


def recovered(events, injected, start, now, quiet):
    """True once the approach serves again and no request has failed for `quiet` seconds
    (longer than a request's timeout, so a request still in flight cannot fail later)."""
    back = serving_again_at(events, injected, start, now)
    if back is None:
        return False
    failures = [e.end for e in in_window(events, start, now) if e.outcome != "ok"]
    last_failure = max(failures, default=start)
    return now - max(back, last_failure) >= quiet


def timeline(events, start, end, before_s=1.0, bin_s=0.1):
    """What a user felt around one fault: requests answered and failed per bin_s, by the
    time each ended, from before_s ahead of `start` (the injection) until `end`.
    {'from_s': -before_s, 'bin_s', 'ok': [n per bin], 'failed': [n per bin]}; it adds to the
    window's figures and changes none."""
    bins = max(1, int(round((end - start + before_s) / bin_s)))
    ok, failed = [0] * bins, [0] * bins
    for e in events:
        index = math.floor(round((e.end - start + before_s) / bin_s, 9))  # 2.5 // 0.1 is 24.0
        if 0 <= index < bins:
            (ok if e.outcome == "ok" else failed)[index] += 1
    return {"from_s": -before_s, "bin_s": bin_s, "ok": ok, "failed": failed}


def availability(events, excluded=()):
    """(ok, sent) of all requests outside the excluded (start, end) spans."""

    def counted(e):
        return not any(lo <= e.start < hi for lo, hi in excluded)

    kept = [e for e in events if counted(e)]
    return sum(e.outcome == "ok" for e in kept), len(kept)


def summarize_fault(rounds):
    """Per fault over rounds: totals of the counts, median/min/max of the times (rounds in
    which the approach never served again are counted in `not_back`, rounds of client-kill in
    which the client never polled successfully again in `client_not_back`; both are left out
    of the times)."""
    summary = {
        "rounds": len(rounds),
        "sent": sum(r["sent"] for r in rounds),
        "ok": sum(r["ok"] for r in rounds),
        "failed": {k: sum(r["failed"][k] for r in rounds) for k in FAILURE_KINDS},
        "not_back": sum(r["back_s"] is None for r in rounds),
        "client_not_back": sum("client_back_s" in r and r["client_back_s"] is None for r in rounds),
    }
    for key in ("longest_gap_s", "back_s", "p99_ms", "client_back_s"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        summary[key] = summarize(values) if values else None
    return summary
