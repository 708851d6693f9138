"""One HTTP client for both CRMs: backoff on 429/503, the vendors' limit headers, token refresh.

Both vendors answer "slow down" the same ways: 429 (with or without Retry-After), 503, or a limit
header that says the allowance is spent. CrmHttp waits and tries again (Retry-After when given,
else doubling from `first_wait`, at most `max_attempts` tries), lets the vendor's `pace` hook read
its own limit headers after every answer, refreshes an expired access token once per request,
and turns a refused credential into CredentialRevoked, which stops the sync with a clear message.
Network failures (a page that fails once) are retried like a 503. `sleep` is injectable so tests
can run a minute of backoff in no time; the waits taken are kept in `waits`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from truce.services.connectors.errors import CredentialRevoked, CrmError, RateLimited

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT = 120.0


@dataclass
class VendorRules:
    """What differs between vendors: how an answer says "token expired", "credential revoked",
    what its error message is, and how long its limit headers ask us to pause."""

    name: str
    expired: Callable[[httpx.Response], bool]
    revoked: Callable[[httpx.Response], bool]
    message: Callable[[httpx.Response], str]
    pace: Callable[[httpx.Response], float] = lambda response: 0.0  # seconds to wait before the next call
    # An answer that is "limit spent" although its status is not 429 (Salesforce's REQUEST_LIMIT_EXCEEDED is a 403).
    limited: Callable[[httpx.Response], bool] = lambda response: False


@dataclass
class CrmHttp:
    base_url: str
    rules: VendorRules
    token: Callable[[bool], str]  # the access token; True = get a fresh one (the old one expired)
    max_attempts: int = 6
    first_wait: float = 0.5
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    waits: list[float] = field(default_factory=list)
    calls: int = 0
    client: httpx.Client | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.client = self.client or httpx.Client(timeout=self.timeout, follow_redirects=False)
        self._access: str | None = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, authorised: bool = True, **kwargs) -> httpx.Response:
        """The answer once it is a success (2xx or 3xx); raises CrmError/RateLimited/CredentialRevoked."""
        refreshed, attempt = False, 0
        while True:
            attempt += 1
            headers = dict(kwargs.pop("headers", None) or {})
            if authorised:
                headers["Authorization"] = f"Bearer {self._token(False)}"
            try:
                self.calls += 1
                assert self.client is not None  # made in __post_init__ when not given
                response = self.client.request(method, self.url(path), headers=headers, **kwargs)
            except httpx.TransportError as exc:
                self._wait_or_give_up(attempt, None, f"{self.rules.name} did not answer ({type(exc).__name__}: {exc})")
                kwargs["headers"] = headers
                continue
            kwargs["headers"] = headers
            if authorised and not refreshed and self.rules.expired(response):
                refreshed = True  # once: a token refused twice is not merely expired
                self._access = self.token(True)
                attempt -= 1
                continue
            if response.status_code in RETRY_STATUSES or self.rules.limited(response):
                self._wait_or_give_up(attempt, response, self._describe(response))
                continue
            if self.rules.revoked(response) or (authorised and self.rules.expired(response)):
                raise CredentialRevoked(
                    f"{self.rules.name} refused truce's credential: {self._describe(response)}. "
                    "Make a new token or key and run `truce connect` again.",
                    response.status_code,
                )
            if response.status_code >= 400:
                raise CrmError(f"{method} {path}: {self._describe(response)}", response.status_code)
            pause = self.rules.pace(response)
            if pause > 0:
                self._pause(pause)
            return response

    def _token(self, fresh: bool) -> str:
        if self._access is None or fresh:
            self._access = self.token(fresh)
        return self._access

    def _describe(self, response: httpx.Response) -> str:
        try:
            detail = self.rules.message(response)
        except Exception:  # an error page that is not the vendor's JSON
            detail = response.text[:300]
        return f"{response.status_code} {detail}".strip()

    def _wait_or_give_up(self, attempt: int, response: httpx.Response | None, problem: str) -> None:
        if attempt >= self.max_attempts:
            kind = RateLimited if response is not None and response.status_code == 429 else CrmError
            raise kind(f"{problem} — still failing after {attempt} attempts; the sync stops here and resumes from its cursor",
                       response.status_code if response is not None else None)  # fmt: skip
        wait = retry_after(response) if response is not None else None
        if wait is None:
            wait = self.first_wait * 2 ** (attempt - 1)
        self._pause(min(wait, MAX_WAIT))

    def _pause(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sleep(seconds)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
