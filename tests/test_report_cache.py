"""The web app's report cache: one computation per revision of the data, never older than the last write."""

from __future__ import annotations

import threading
import time

import pytest

from truce.web.report_cache import ReportCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(value="report"):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_it_computes_a_report_once_per_revision():
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=Clock())
    compute, calls = counting()
    assert cache.get("funnel", (1, 1), compute) == ("report", "miss", 0.0)
    assert cache.get("funnel", (1, 1), compute)[:2] == ("report", "hit")
    assert len(calls) == 1


def test_it_recomputes_after_any_write():
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=Clock())
    compute, calls = counting()
    cache.get("funnel", (1, 1), compute)
    assert cache.get("funnel", (2, 1), compute)[1] == "miss"  # a new audit entry
    assert cache.get("funnel", (2, 2), compute)[1] == "miss"  # a new stage move
    assert len(calls) == 3


def test_it_keys_reports_by_their_options():
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=Clock())
    cache.get(("funnel", "by=channel"), (1, 1), lambda: "by channel")
    cache.get(("funnel", "by=team"), (1, 1), lambda: "by team")
    assert cache.get(("funnel", "by=channel"), (1, 1), lambda: "wrong")[0] == "by channel"
    assert cache.get(("funnel", "by=team"), (1, 1), lambda: "wrong")[0] == "by team"


def test_a_report_as_of_now_ages_out():
    clock = Clock()
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=clock)
    compute, calls = counting()
    cache.get("sla", (1, 1), compute)
    clock.now += 59.9
    value, status, age = cache.get("sla", (1, 1), compute)
    assert (status, round(age, 1)) == ("hit", 59.9)
    clock.now += 0.1
    assert cache.get("sla", (1, 1), compute)[1] == "miss"
    assert len(calls) == 2


def test_zero_seconds_turns_it_off():
    cache = ReportCache(seconds=0, max_bytes=1 << 20, clock=Clock())
    compute, calls = counting()
    cache.get("funnel", (1, 1), compute)
    cache.get("funnel", (1, 1), compute)
    assert len(calls) == 2


def test_no_cache_asks_for_a_fresh_computation():
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=Clock())
    compute, calls = counting()
    cache.get("funnel", (1, 1), compute)
    assert cache.get("funnel", (1, 1), compute, fresh=True)[1] == "miss"
    assert len(calls) == 2


def test_a_failed_computation_is_not_kept():
    cache = ReportCache(seconds=60, max_bytes=1 << 20, clock=Clock())

    def broken():
        raise ValueError("bad period")

    with pytest.raises(ValueError, match="bad period"):
        cache.get("targets", (1, 1), broken)
    assert cache.get("targets", (1, 1), lambda: "fine")[:2] == ("fine", "miss")


def test_it_forgets_the_least_recently_read_report_when_full():
    # bytes are counted with sys.getsizeof: 33 bytes of header + one per byte of content
    cache = ReportCache(seconds=60, max_bytes=3 * (33 + 100), clock=Clock())
    for name in ("a", "b", "c"):
        cache.get(name, (1, 1), lambda: b"x" * 100)
    cache.get("a", (1, 1), lambda: b"recomputed")  # "a" read: "b" is now the oldest
    cache.get("d", (1, 1), lambda: b"y" * 100)
    assert cache.get("b", (1, 1), lambda: b"recomputed")[1] == "miss"
    assert cache.get("a", (1, 1), lambda: b"recomputed")[0] == b"x" * 100


def test_a_report_larger_than_the_cache_is_served_but_not_kept():
    cache = ReportCache(seconds=60, max_bytes=50, clock=Clock())
    assert cache.get("custody", (1, 1), lambda: b"z" * 100)[1] == "miss"
    assert cache.get("custody", (1, 1), lambda: b"z" * 100)[1] == "miss"


def test_readers_arriving_together_share_one_computation():
    cache = ReportCache(seconds=60, max_bytes=1 << 20)
    started = threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return "brief"

    answers = []

    def read():
        answers.append(cache.get("brief", (1, 1), slow))

    first = threading.Thread(target=read)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=read) for _ in range(20)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    assert len(calls) == 1
    assert sorted(status for _, status, _ in answers) == ["hit"] * 20 + ["miss"]
    assert {value for value, _, _ in answers} == {"brief"}
