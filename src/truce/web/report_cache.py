"""Reports computed once per change of the data, and shared by every reader.

At 100,000 contacts a report takes from a fraction of a second to half a minute to compute
(docs/performance.md); fifty people opening their dashboards at nine o'clock would queue behind
each other on a two-core server. So the web app keeps each computed report, keyed by its name
and options, together with the *revision* of the data it was computed from (truce.store.revision).
Every unit of work that changes data — the CLI and imports in another process included — moves
it, so a new revision means the report is computed afresh on the next read: nobody is shown
numbers older than the last write. Log-ins, sessions and token use do not move it. Reports "as of now" (SLA
clocks, cold leads) also age, so an entry is reused for `[serve] report_cache_seconds` at most.
A client that must see a fresh computation sends `Cache-Control: no-cache`; each person gets one
such recomputation per report per `[serve] fresh_seconds` (FreshLimit). Beyond that they are given
the kept report — a read is never refused — and the answer says so in `X-Truce-Fresh-Limited`.

When several readers ask for the same missing report at once, one computes it and the others
wait for its answer; otherwise a change of the data would start fifty computations of each report.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from truce.store.revision import data_revision

log = logging.getLogger("truce.web")


@dataclass
class _Entry:
    revision: Any
    made: float
    value: Any
    size: int


@dataclass(frozen=True)
class Answer:
    value: Any
    status: str  # "hit": current; "stale": older data, a refresh is under way; "miss": computed for this reader
    age: float  # seconds since it was computed
    revision: Any  # the revision of the data it was computed from


class ReportCache:
    """A size-bounded LRU of computed reports, each tagged with the revision of the data it was computed from.

    An answer is current for `seconds` while the data keeps its revision. After that — or once the
    data changed — a reader who may lag (`may_lag`) gets the previous answer at once, if it is younger
    than `stale_seconds`, and one background thread computes a fresh one; any other reader waits for
    a fresh computation, shared with every reader waiting for the same report.
    """

    def __init__(
        self,
        seconds: float,
        max_bytes: int,
        stale_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ):
        self.background = background  # False: refreshes wait in the queue for refresh_pending() (tests)
        self.seconds = seconds
        self.stale_seconds = stale_seconds
        self.max_bytes = max_bytes
        self.clock = clock
        self.counts = {"hit": 0, "stale": 0, "miss": 0, "refreshed": 0, "refresh_failed": 0}
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Event] = {}
        self._refreshes: dict[Hashable, tuple[Callable[[], Any], Callable[[], Any]]] = {}
        self._queue: queue.SimpleQueue[Hashable] = queue.SimpleQueue()
        self._refresher: threading.Thread | None = None

    def get(
        self,
        key: Hashable,
        revision: Any,
        compute: Callable[[], Any],
        *,
        fresh: bool = False,
        may_lag: Callable[[Any], bool] | None = None,
        revision_of: Callable[[], Any] | None = None,
    ) -> Answer:
        """The report `key` for data at `revision`. `compute` runs at most once at a time per key;
        `revision_of` reads the revision again when a refresh starts later, in the background."""
        while True:
            with self._lock:
                kept = None if fresh else self._kept(key, revision, compute, may_lag, revision_of)
                if kept is not None:
                    return kept
                computing = self._computing.get(key)
                if computing is None:
                    self._computing[key] = threading.Event()
                    break
            computing.wait()
            fresh = False  # the computation just finished is as fresh as the one asked for
        try:
            entry = _entry(revision, self.clock(), compute)
            self._keep(key, entry)
            self.counts["miss"] += 1
            return Answer(entry.value, "miss", 0.0, revision)
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def peek(
        self,
        key: Hashable,
        revision: Any,
        compute: Callable[[], Any],
        *,
        may_lag: Callable[[Any], bool] | None = None,
        revision_of: Callable[[], Any] | None = None,
    ) -> Answer | None:
        """A current or (for a reader who may lag) stale answer without waiting, else None."""
        with self._lock:
            return self._kept(key, revision, compute, may_lag, revision_of)

    def _kept(self, key, revision, compute, may_lag, revision_of) -> Answer | None:
        """The kept answer this reader may be given, queueing a refresh for a stale one (lock held)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self.clock() - entry.made
        if entry.revision == revision and age < self.seconds:
            return self._answer(key, entry, "hit", age)
        if may_lag is not None and age < self.stale_seconds and may_lag(entry.revision):
            self._refresh_later(key, compute, revision_of or (lambda: revision))
            return self._answer(key, entry, "stale", age)
        return None

    def _answer(self, key: Hashable, entry: _Entry, status: str, age: float) -> Answer:
        self._entries.move_to_end(key)
        self.counts[status] += 1
        return Answer(entry.value, status, age, entry.revision)

    def _refresh_later(self, key: Hashable, compute: Callable[[], Any], revision_of: Callable[[], Any]) -> None:
        """Queue one background computation of `key` (called with the lock held)."""
        if key in self._computing or key in self._refreshes:
            return
        self._refreshes[key] = (compute, revision_of)
        self._queue.put(key)
        if self._refresher is None and self.background:
            # One thread: refreshes must leave the other core to the readers and the writers.
            self._refresher = threading.Thread(target=self._refresh_forever, name="truce-report-refresh", daemon=True)
            self._refresher.start()

    def _refresh_forever(self) -> None:
        _yield_to_readers()
        while True:
            self.refresh_one(self._queue.get())

    def refresh_pending(self) -> None:
        """Run the queued refreshes in this thread (for a cache made with background=False)."""
        while not self._queue.empty():
            self.refresh_one(self._queue.get())

    def refresh_one(self, key: Hashable) -> None:
        with self._lock:
            job = self._refreshes.pop(key, None)
            if job is None or key in self._computing:
                return  # a reader is computing it already
            self._computing[key] = threading.Event()
        compute, revision_of = job
        try:
            revision = revision_of()
            self._keep(key, _entry(revision, self.clock(), compute))
            self.counts["refreshed"] += 1
        except Exception:
            # The next reader who may not lag computes it in the foreground and sees the error.
            self.counts["refresh_failed"] += 1
            log.exception("refreshing the report %r failed", key)
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if entry.size > self.max_bytes or self.seconds <= 0:
                return
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size


def _yield_to_readers() -> None:
    """Run this thread at a lower priority (Linux: a thread has its own nice value), so that
    serving readers and writers comes before refreshing what they may already be shown."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: refresh at the same priority
        pass


def _entry(revision: Any, made: float, compute: Callable[[], Any]) -> _Entry:
    value = compute()
    return _Entry(revision, made, value, _size(value))


def _size(value: Any) -> int:
    """Bytes a value holds: exact for encoded reports, a deep count of Python objects otherwise."""
    if isinstance(value, bytes | str):
        return sys.getsizeof(value)
    seen: set[int] = set()
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif hasattr(item, "__dict__"):
            pending.append(vars(item))
    return total


WROTE = "truce_wrote"  # a browser's cookie: the data revision right after its last write
FRESH_LIMITED = "X-Truce-Fresh-Limited"  # seconds until the reader may have this report recomputed again


class FreshLimit:
    """One recomputation on demand (`no-cache`) per report per person per `seconds`: without it any
    reader could keep a core busy recomputing the slowest report, over and over."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, most: int = 10_000):
        self.seconds, self.clock, self.most = seconds, clock, most
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def wait(self, who: Hashable, key: Hashable) -> float:
        """0 when `who` may have `key` recomputed now (and it is noted), else the seconds left to wait."""
        if self.seconds <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            last = self._last.get((who, key))
            if last is not None and now - last < self.seconds:
                return self.seconds - (now - last)
            if len(self._last) >= self.most:  # forget those whose wait is over
                self._last = {k: t for k, t in self._last.items() if now - t < self.seconds}
            self._last[(who, key)] = now
            return 0.0


def fresh_limit_of(request: Request) -> FreshLimit:
    state = request.app.state
    found = getattr(state, "fresh_limit", None)
    if found is None:
        found = state.fresh_limit = FreshLimit(state.config.serve.fresh_seconds)
    return found


def cache_of(request: Request) -> ReportCache:
    state = request.app.state
    cache = getattr(state, "report_cache", None)
    if cache is None:
        serve = state.config.serve
        cache = state.report_cache = ReportCache(
            serve.report_cache_seconds, serve.report_cache_megabytes << 20, serve.report_stale_seconds
        )
    return cache


def remembered(request: Request, key: Hashable, compute: Callable[[], Any]) -> Answer:
    """The report `key` for the data and config the app has now, or one a little older (see the module)."""
    revision, fresh, may_lag, revision_of = _asking(request, data_revision(request.app.state.engine))
    fresh = fresh and _fresh_allowed(request, key)
    answer = cache_of(request).get(key, revision, compute, fresh=fresh, may_lag=may_lag, revision_of=revision_of)
    _note_lag(request, answer)
    return answer


async def remembered_soon(request: Request, key: Hashable, compute: Callable[[], Any]) -> Answer:
    """`remembered` for an async route: an answer already computed is given without leaving the event
    loop; a computation (or the wait for someone else's) runs in a worker thread."""
    from truce.web.app import off_the_loop

    engine = request.app.state.engine
    revision, fresh, may_lag, revision_of = _asking(request, await off_the_loop(engine, data_revision, engine))
    fresh = fresh and _fresh_allowed(request, key)
    answer = None if fresh else cache_of(request).peek(key, revision, compute, may_lag=may_lag, revision_of=revision_of)
    if answer is None:
        cache = cache_of(request)
        answer = await run_in_threadpool(
            lambda: cache.get(key, revision, compute, fresh=fresh, may_lag=may_lag, revision_of=revision_of)
        )
    _note_lag(request, answer)
    return answer


def _asking(request: Request, data: int):
    """(revision, fresh, may_lag, revision_of) for this reader."""
    engine, config = request.app.state.engine, request.app.state.config
    fresh = "no-cache" in request.headers.get("cache-control", "")
    wrote = written(request)

    def may_lag(older: Any) -> bool:
        # A funnel edit changes what every number means: never lag one. And people see their own writes.
        revision, its_config = older
        return its_config is config and (wrote is None or revision >= wrote)

    # The config belongs to the revision: an edit of the funnel replaces the object.
    return (data, config), fresh, may_lag, lambda: (data_revision(engine), config)


def _fresh_allowed(request: Request, key: Hashable) -> bool:
    """Whether this reader's `no-cache` may recompute `key` now; when not, the answer will say so."""
    who = getattr(request.state, "user_id", None)
    if who is None:
        who = ("address", request.client.host if request.client else None)
    wait = fresh_limit_of(request).wait(who, key)
    if wait:
        request.state.fresh_limited = max(getattr(request.state, "fresh_limited", 0), wait)
    return not wait


class FreshNote:
    """Tell a reader whose `no-cache` was not honoured (FreshLimit) when they may ask again."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def noted(message):
            if message["type"] == "http.response.start":
                wait = scope.get("state", {}).get("fresh_limited")
                if wait:
                    header = (FRESH_LIMITED.lower().encode(), str(max(1, math.ceil(wait))).encode())
                    message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, noted)


def _note_lag(request: Request, answer: Answer) -> None:
    if answer.status == "stale":
        request.state.report_lag = max(getattr(request.state, "report_lag", 0.0), answer.age)


def written(request: Request) -> int | None:
    """The revision this browser wrote last (its cookie), so that its next pages show that write."""
    try:
        return int(request.cookies.get(WROTE, ""))
    except ValueError:
        return None


def revision_text(revision: Any) -> str:
    data, _ = revision
    return str(data)


def cached_report(route: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """An API report route whose JSON is computed once per revision of the data, for every reader.

    The route is keyed by its path and query, so two readers asking the same question share one
    computation. The answer says `X-Truce-Cache: hit|stale|miss`, its `Age` in seconds and the
    `X-Truce-Revision` of the data it was computed from (truce.store.revision).
    """

    @functools.wraps(route)
    async def answer(*args, **kwargs) -> Response:
        request: Request = kwargs["request"]
        key = ("api", request.url.path, tuple(sorted(request.query_params.multi_items())))
        found = await remembered_soon(request, key, lambda: _body(route(*args, **kwargs)))
        headers = {
            "X-Truce-Cache": found.status,
            "Age": str(int(found.age)),
            "X-Truce-Revision": revision_text(found.revision),
        }
        return Response(found.value, media_type="application/json", headers=headers)

    return answer


def _body(answer: Response) -> bytes:
    # Only answers are kept: a refusal is raised as an exception and never reaches here.
    if answer.status_code != 200:
        raise RuntimeError(f"a report route answered {answer.status_code}; raise an HTTP error instead")
    return bytes(answer.body)
