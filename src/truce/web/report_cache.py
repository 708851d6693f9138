"""Reports computed once per change of the data, and shared by every reader.

At 100,000 contacts a report takes from a fraction of a second to half a minute to compute
(docs/performance.md); fifty people opening their dashboards at nine o'clock would queue behind
each other on a two-core server. So the web app keeps each computed report, keyed by its name
and options, together with the *revision* of the data it was computed from: the newest audit
entry and the newest stage move. Every write through every face — the CLI and imports in another
process included — adds an audit entry, so a new revision means the report is computed afresh on
the next read: nobody is shown numbers older than the last write. Reports "as of now" (SLA
clocks, cold leads) also age, so an entry is reused for `[serve] report_cache_seconds` at most.
A client that must see a fresh computation sends `Cache-Control: no-cache`.

When several readers ask for the same missing report at once, one computes it and the others
wait for its answer; otherwise a change of the data would start fifty computations of each report.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Engine, func, select

from truce.store.models import AuditEntry, StageChange


def data_revision(engine: Engine) -> tuple[int, int]:
    """(newest audit entry, newest stage move): both tables only grow, so any write moves one of them."""
    with engine.connect() as conn:
        newest = conn.execute(
            select(select(func.max(AuditEntry.id)).scalar_subquery(), select(func.max(StageChange.id)).scalar_subquery())
        ).one()
    return (newest[0] or 0, newest[1] or 0)


@dataclass
class _Entry:
    revision: Any
    made: float
    value: Any
    size: int


class ReportCache:
    """A size-bounded LRU of computed reports, each valid for one data revision and a number of seconds."""

    def __init__(self, seconds: float, max_bytes: int, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.clock = clock
        self.hits = 0
        self.computed = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Event] = {}

    def get(self, key: Hashable, revision: Any, compute: Callable[[], Any], fresh: bool = False):
        """(value, "hit" or "miss", age in seconds). `compute` runs at most once at a time per key."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if not fresh and self._valid(entry, revision):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry.value, "hit", self.clock() - entry.made
                computing = self._computing.get(key)
                if computing is None:
                    self._computing[key] = threading.Event()
                    break
            computing.wait()
            fresh = False  # the computation just finished is as fresh as the one asked for
        try:
            made = self.clock()
            value = compute()
            self._keep(key, _Entry(revision, made, value, _size(value)))
            return value, "miss", 0.0
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def _valid(self, entry: _Entry | None, revision: Any) -> bool:
        return entry is not None and entry.revision == revision and self.clock() - entry.made < self.seconds

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            self.computed += 1
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


def cache_of(request: Request) -> ReportCache:
    state = request.app.state
    cache = getattr(state, "report_cache", None)
    if cache is None:
        serve = state.config.serve
        cache = state.report_cache = ReportCache(serve.report_cache_seconds, serve.report_cache_megabytes << 20)
    return cache


def remembered(request: Request, key: Hashable, compute: Callable[[], Any]):
    """(value, "hit" or "miss", age): the report `key` for the data and config the app has now."""
    state = request.app.state
    fresh = "no-cache" in request.headers.get("cache-control", "")
    # The config belongs to the revision: an edit of the funnel replaces it, and changes every report.
    revision = (data_revision(state.engine), state.config)
    return cache_of(request).get(key, revision, compute, fresh=fresh)


def cached_report(route: Callable[..., Any]) -> Callable[..., Response]:
    """An API report route whose JSON is computed once per revision of the data, for every reader.

    The route is keyed by its path and query, so two readers asking the same question share one
    computation; the answer says `X-Truce-Cache: hit|miss` and its `Age` in seconds.
    """

    @functools.wraps(route)
    def answer(*args, **kwargs) -> Response:
        request: Request = kwargs["request"]
        key = ("api", request.url.path, tuple(sorted(request.query_params.multi_items())))
        body, status, age = remembered(request, key, lambda: _body(route(*args, **kwargs)))
        return Response(body, media_type="application/json", headers={"X-Truce-Cache": status, "Age": str(int(age))})

    return answer


def _body(answer: Response) -> bytes:
    # Only answers are kept: a refusal is raised as an exception and never reaches here.
    if answer.status_code != 200:
        raise RuntimeError(f"a report route answered {answer.status_code}; raise an HTTP error instead")
    return bytes(answer.body)
