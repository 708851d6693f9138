"""The web app's report cache: one computation per revision of the data, shared by every reader.

An answer is current while the data keeps its revision (and for `seconds`). After a change, a
reader who may lag gets the previous answer at once, marked stale, while one refresh runs; a
reader who may not (their own write is newer, or the config changed) waits for a fresh one.
"""

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


def cache(seconds=60, stale_seconds=0, max_bytes=1 << 20, clock=None) -> ReportCache:
    return ReportCache(seconds, max_bytes, stale_seconds, clock=clock or Clock(), background=False)


def test_it_computes_a_report_once_per_revision():
    reports = cache()
    compute, calls = counting()
    first = reports.get("funnel", (1, 1), compute)
    second = reports.get("funnel", (1, 1), compute)
    assert (first.value, first.status, first.age, first.revision) == ("report", "miss", 0.0, (1, 1))
    assert (second.value, second.status) == ("report", "hit")
    assert len(calls) == 1


def test_it_recomputes_after_any_write_for_a_reader_who_may_not_lag():
    reports = cache(stale_seconds=300)
    compute, calls = counting()
    reports.get("funnel", (1, 1), compute)
    assert reports.get("funnel", (2, 1), compute).status == "miss"  # a new audit entry
    assert reports.get("funnel", (2, 2), compute).status == "miss"  # a new stage move
    assert len(calls) == 3


def test_it_keys_reports_by_their_options():
    reports = cache()
    reports.get(("funnel", "by=channel"), (1, 1), lambda: "by channel")
    reports.get(("funnel", "by=team"), (1, 1), lambda: "by team")
    assert reports.get(("funnel", "by=channel"), (1, 1), lambda: "wrong").value == "by channel"
    assert reports.get(("funnel", "by=team"), (1, 1), lambda: "wrong").value == "by team"


def test_a_report_as_of_now_ages_out():
    clock = Clock()
    reports = cache(clock=clock)
    compute, calls = counting()
    reports.get("sla", (1, 1), compute)
    clock.now += 59.9
    answer = reports.get("sla", (1, 1), compute)
    assert (answer.status, round(answer.age, 1)) == ("hit", 59.9)
    clock.now += 0.1
    assert reports.get("sla", (1, 1), compute).status == "miss"
    assert len(calls) == 2


def test_zero_seconds_turns_it_off():
    reports = cache(seconds=0)
    compute, calls = counting()
    reports.get("funnel", (1, 1), compute)
    reports.get("funnel", (1, 1), compute)
    assert len(calls) == 2


def test_fresh_asks_for_a_new_computation():
    reports = cache(stale_seconds=300)
    compute, calls = counting()
    reports.get("funnel", (1, 1), compute)
    assert reports.get("funnel", (1, 1), compute, fresh=True, may_lag=lambda _: True).status == "miss"
    assert len(calls) == 2


def test_a_failed_computation_is_not_kept():
    reports = cache()

    def broken():
        raise ValueError("bad period")

    with pytest.raises(ValueError, match="bad period"):
        reports.get("targets", (1, 1), broken)
    answer = reports.get("targets", (1, 1), lambda: "fine")
    assert (answer.value, answer.status) == ("fine", "miss")


def test_it_forgets_the_least_recently_read_report_when_full():
    # bytes are counted with sys.getsizeof: 33 bytes of header + one per byte of content
    reports = cache(max_bytes=3 * (33 + 100))
    for name in ("a", "b", "c"):
        reports.get(name, (1, 1), lambda: b"x" * 100)
    reports.get("a", (1, 1), lambda: b"recomputed")  # "a" read: "b" is now the oldest
    reports.get("d", (1, 1), lambda: b"y" * 100)
    assert reports.get("b", (1, 1), lambda: b"recomputed").status == "miss"
    assert reports.get("a", (1, 1), lambda: b"recomputed").value == b"x" * 100


def test_a_report_larger_than_the_cache_is_served_but_not_kept():
    reports = cache(max_bytes=50)
    assert reports.get("custody", (1, 1), lambda: b"z" * 100).status == "miss"
    assert reports.get("custody", (1, 1), lambda: b"z" * 100).status == "miss"


def test_after_a_change_a_reader_who_may_lag_gets_the_last_answer_while_it_is_refreshed():
    clock = Clock()
    reports = cache(stale_seconds=300, clock=clock)
    reports.get("roi", (1, 1), lambda: "roi at 1")
    clock.now += 10
    lagging = reports.get("roi", (2, 1), lambda: "roi at 2", may_lag=lambda older: True, revision_of=lambda: (2, 1))
    assert (lagging.value, lagging.status, lagging.age, lagging.revision) == ("roi at 1", "stale", 10.0, (1, 1))
    # The refresh asked for one computation, however many readers lag meanwhile.
    again = reports.get("roi", (2, 1), lambda: "roi at 2", may_lag=lambda older: True, revision_of=lambda: (2, 1))
    assert again.status == "stale"
    reports.refresh_pending()
    assert reports.counts["refreshed"] == 1
    current = reports.get("roi", (2, 1), lambda: "wrong")
    assert (current.value, current.status, current.revision) == ("roi at 2", "hit", (2, 1))


def test_a_reader_is_never_shown_an_answer_older_than_their_own_write():
    reports = cache(stale_seconds=300)
    reports.get("sla", (1, 1), lambda: "before the accept")
    wrote = (2, 1)

    def may_lag(older):
        return older[0] >= wrote[0] and older[1] >= wrote[1]

    mine = reports.get("sla", (2, 1), lambda: "after the accept", may_lag=may_lag)
    assert (mine.value, mine.status) == ("after the accept", "miss")


def test_an_answer_older_than_the_stale_limit_is_not_shown():
    clock = Clock()
    reports = cache(stale_seconds=300, clock=clock)
    reports.get("brief", (1, 1), lambda: "old brief")
    clock.now += 300
    answer = reports.get("brief", (2, 1), lambda: "new brief", may_lag=lambda older: True)
    assert (answer.value, answer.status) == ("new brief", "miss")


def test_a_failed_refresh_leaves_the_next_strict_reader_to_compute():
    reports = cache(stale_seconds=300)
    reports.get("targets", (1, 1), lambda: "targets at 1")

    def broken():
        raise RuntimeError("database went away")

    assert reports.get("targets", (2, 1), broken, may_lag=lambda older: True).status == "stale"
    reports.refresh_pending()
    assert reports.counts["refresh_failed"] == 1
    assert reports.get("targets", (2, 1), lambda: "targets at 2").value == "targets at 2"


def test_readers_arriving_together_share_one_computation():
    reports = ReportCache(seconds=60, max_bytes=1 << 20)
    started = threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return "brief"

    answers = []

    def read():
        answers.append(reports.get("brief", (1, 1), slow))

    first = threading.Thread(target=read)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=read) for _ in range(20)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    assert len(calls) == 1
    assert sorted(a.status for a in answers) == ["hit"] * 20 + ["miss"]
    assert {a.value for a in answers} == {"brief"}


def test_the_background_refresher_runs_by_itself():
    reports = ReportCache(seconds=60, max_bytes=1 << 20, stale_seconds=300)
    reports.get("pricing", (1, 1), lambda: "pricing at 1")
    assert reports.get("pricing", (2, 1), lambda: "pricing at 2", may_lag=lambda o: True,
                       revision_of=lambda: (2, 1)).status == "stale"  # fmt: skip
    deadline = time.monotonic() + 5
    while reports.counts["refreshed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reports.get("pricing", (2, 1), lambda: "wrong").value == "pricing at 2"
