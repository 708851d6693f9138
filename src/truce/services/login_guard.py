"""What stands in front of a password check: throttling per email and per client address, and a bound
on how many Argon2 checks run at once.

- Throttling (the rules are truce.domain.throttle): the counts live in the store (`login_throttles`,
  an access table), so every server process on one store shares them and a restart forgets
  nothing. A blocked key is refused before the password is looked at — no Argon2, no write —
  and the caller is told how many seconds to wait. The failure that blocks an email or an
  address is audited (`login_throttled`). An email nobody has is counted exactly like one that
  exists, so the throttle tells a stranger nothing about who has an account.
- Bound: one Argon2id check takes 64 MiB and a core for about a fifth of a second. At most
  `slots` (the cores this process may use) run at once; a check that cannot start within
  `wait` seconds is refused as busy (ChecksBusy), instead of queueing without end while memory grows.

Why our own code and not a rate-limit library: the kept ones (`limits`, `pyrate-limiter`) count
hits in memory, Redis, Memcached or MongoDB, or in their own SQLite file or PostgreSQL pool —
none in the store truce already has, through its unit of work. A count in one process's memory
would let each of several server processes on one store allow its own share of guesses, and
forget them on every restart.

What it does not do: attempts that are checked at the same moment all pass the throttle before
any of them is counted, so a key can get up to `slots` (per process) more guesses than `free`
before its first block, and as many after each block ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, delete, or_, select, update

from truce.domain import throttle
from truce.store.models import LoginThrottle
from truce.store.work import unit_of_work

KINDS = ("account", "address")


class Throttled(Exception):
    """Too many failed log-ins for an email or from an address: refused before any password check."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ChecksBusy(Exception):
    """Every password-check slot stayed taken for longer than a caller may wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class PasswordChecks:
    """At most `slots` Argon2 computations at once in this process; the rest wait up to `wait` seconds."""

    slots: int = field(default_factory=_cores)
    wait: float = 2.0

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError("password checks need at least one slot")
        self._free = threading.BoundedSemaphore(self.slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(timeout=self.wait):
            raise ChecksBusy(
                "the server is busy checking other log-ins; nothing was changed — try again in a moment",
                retry_after=max(1, math.ceil(self.wait)),
            )
        try:
            yield
        finally:
            self._free.release()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class LoginGuard:
    """The throttle policies, the password-check slots and the clock one server uses."""

    account: throttle.Policy = throttle.ACCOUNT
    address: throttle.Policy = throttle.ADDRESS
    checks: PasswordChecks = field(default_factory=PasswordChecks)
    clock: Callable[[], dt.datetime] = _now

    def policy(self, kind: str) -> throttle.Policy:
        return self.account if kind == "account" else self.address

    # ---- before the check -------------------------------------------------------------------

    def refuse_if_blocked(self, engine: Engine, email: str, address: str | None) -> None:
        """Throttled when the email or the address must still wait; a read only."""
        keys = dict(_keys(email, address))
        with engine.connect() as conn:
            rows = conn.execute(select(LoginThrottle).where(LoginThrottle.key_hash.in_(keys.values()))).all()
        now = self.clock()
        waits = {row.kind: throttle.seconds_to_wait(_count(row), now) for row in rows}
        if any(waits.values()):
            kind = max(waits, key=lambda k: waits[k])
            raise Throttled(_too_many(kind, waits[kind]), waits[kind])

    # ---- after it ----------------------------------------------------------------------------

    def failed(self, engine: Engine, email: str, address: str | None, user_id: int | None, actor: str, origin: str):
        """Count one failed check for the email and the address. Returns a Throttled to raise when
        this failure blocked either of them (the block is audited), else None."""
        now = self.clock()
        blocked: list[tuple[str, int, int]] = []  # (kind, failures, seconds)
        with unit_of_work(engine, actor, origin) as work:
            for kind, key in _keys(email, address):
                count = _counted(work.conn, kind, key, now, self.policy(kind))
                if wait := throttle.seconds_to_wait(count, now):
                    blocked.append((kind, count.failures, wait))
            _forget_old(work.conn, now, max(self.account.forget_after, self.address.forget_after))
            for kind, failures, wait in blocked:
                after = {"by": kind, "email": email[:254], "address": address, "failures": failures,
                         "blocked_seconds": wait}  # fmt: skip
                work.record("login_throttled", "user", user_id, None, after)
        if not blocked:
            return None
        kind, _, wait = max(blocked, key=lambda b: b[2])
        return Throttled(f"wrong email or password, and {_too_many(kind, wait)}", wait)

    def succeeded(self, conn: Connection, email: str) -> None:
        """A right password clears the email's count (inside the unit of work that logs the user in).
        The address keeps its count: one account of one's own must not reset guesses at others."""
        conn.execute(delete(LoginThrottle).where(LoginThrottle.key_hash == account_key(email)))


# The guard of this process, for callers not given one (the CLI; an app makes its own).
GUARD = LoginGuard()


def clear_account(conn: Connection, email: str) -> None:
    """Forget an email's failures (its password was just set by someone entitled to)."""
    conn.execute(delete(LoginThrottle).where(LoginThrottle.key_hash == account_key(email)))


def _too_many(kind: str, seconds: int) -> str:
    where = "for this email" if kind == "account" else "from your address"
    return f"too many failed log-ins {where}: try again in {seconds} s"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def account_key(email: str) -> str:
    return _sha("account:" + email.strip().lower())


def address_key(address: str) -> str:
    return _sha("address:" + address_block(address))


def address_block(address: str) -> str:
    """The address a client is counted under: IPv4 as it is, IPv6 by its /64 (one home or host has a
    whole /64 to change addresses within)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def _keys(email: str, address: str | None) -> list[tuple[str, str]]:
    keys = [("account", account_key(email))]
    if address:
        keys.append(("address", address_key(address)))
    return keys


def _count(row) -> throttle.Count:
    return throttle.Count(row.failures, row.last_failed_at, row.blocked_until)


def _counted(conn: Connection, kind: str, key: str, now: dt.datetime, policy: throttle.Policy) -> throttle.Count:
    """Add one failure to a key's count in the store; the count after it."""
    # The row first (nothing happens when it is there), then read it locked: two failures at once
    # on PostgreSQL count twice rather than both reading the same old count.
    conn.execute(
        _insert(conn)(LoginThrottle)
        .values(key_hash=key, kind=kind, failures=0, last_failed_at=now, blocked_until=None)
        .on_conflict_do_nothing()
    )
    row = conn.execute(select(LoginThrottle).where(LoginThrottle.key_hash == key).with_for_update()).one()
    count = throttle.after_failure(_count(row), now, policy)
    conn.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key_hash == key)
        .values(failures=count.failures, last_failed_at=now, blocked_until=count.blocked_until)
    )
    return count


def _forget_old(conn: Connection, now: dt.datetime, forget_after: float) -> None:
    """Drop counts nobody needs any more, so emails strangers made up do not pile up."""
    cutoff = now - dt.timedelta(seconds=forget_after)
    conn.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_at < cutoff,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        )
    )


def _insert(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
