"""The demo company's staff, the accounts it sells to, and the people at those accounts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from truce.demo import names
from truce.demo.clock import DAY, HOUR, REGION_UTC_OFFSET_H, Window
from truce.vocabulary import TEAMS as TEAMS  # the demo's team codes index it: MARKETING, SALES, REVOPS

MARKETING, SALES, REVOPS = range(3)
FOCUS = ("upstream", "downstream")
SEGMENTS = ("smb", "mid_market", "enterprise")
SMB, MID_MARKET, ENTERPRISE = range(3)
# Share of the reps in each region (rows: NA, EMEA, APAC) and segment (columns).
REP_CELLS = np.array([[0.16, 0.16, 0.14], [0.10, 0.14, 0.08], [0.08, 0.08, 0.06]])
REGION_SHARE = np.array([0.55, 0.30, 0.15])
BASE_CONTACTS = 5_000


def size_factor(contacts: int) -> float:
    return max(1.0, contacts / BASE_CONTACTS)


@dataclass
class Users:
    first: list[str]
    last: list[str]
    team: np.ndarray
    focus: np.ndarray  # -1, or an index into FOCUS
    leader: np.ndarray
    region: np.ndarray  # -1, or an index into REGIONS
    segment: np.ndarray  # -1, or an index into SEGMENTS
    active: np.ndarray
    created: np.ndarray
    # How each seller works; meaningless for other users.
    response_median_s: np.ndarray
    p_unanswered: np.ndarray
    accept_bias: np.ndarray
    skill: np.ndarray
    heavy_discounter: np.ndarray
    slow: np.ndarray
    reps: np.ndarray
    departed: int
    departed_at: int
    successor: int

    @property
    def count(self) -> int:
        return len(self.first)

    def of(self, team: int, focus: int | None = None, leaders: bool = True) -> np.ndarray:
        wanted = self.team == team
        if focus is not None:
            wanted &= self.focus == focus
        if not leaders:
            wanted &= ~self.leader
        return np.flatnonzero(wanted)

    def cell(self, region: int, segment: int) -> np.ndarray:
        reps = self.reps
        return reps[(self.region[reps] == region) & (self.segment[reps] == segment)]


def _unique_names(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    seen: set[tuple[str, str]] = set()
    first: list[str] = []
    last: list[str] = []
    while len(first) < count:
        pair = (str(rng.choice(names.FIRST_NAMES)), str(rng.choice(names.LAST_NAMES)))
        if pair not in seen:
            seen.add(pair)
            first.append(pair[0])
            last.append(pair[1])
    return first, last


def _rep_cells(count: int) -> list[tuple[int, int]]:
    """Every region and segment gets a rep; the rest follow the volume (largest remainder)."""
    share = REP_CELLS.ravel() * count
    seats = np.maximum(1, np.floor(share)).astype(int)
    for cell in np.argsort(-(share - np.floor(share)), kind="stable")[: max(0, count - seats.sum())]:
        seats[cell] += 1
    return [divmod(cell, 3) for cell in range(9) for _ in range(seats[cell])]


def make_users(rng: np.random.Generator, contacts: int, window: Window) -> Users:
    scale = size_factor(contacts)
    n_marketing = max(8, round(8 * scale**0.3))
    n_upstream = max(2, round(n_marketing / 4))
    cells = _rep_cells(max(13, round(13 * scale**0.43)))
    n_revops = max(2, round(2 * scale**0.2))
    n_sales = 1 + len(cells)
    count = n_marketing + n_sales + n_revops

    team = np.repeat(np.array([MARKETING, SALES, REVOPS], np.int8), [n_marketing, n_sales, n_revops])
    focus = np.full(count, -1, np.int8)
    focus[:n_marketing] = np.where(np.arange(n_marketing) < n_upstream, 0, 1)
    leader = np.zeros(count, bool)
    leader[[0, n_marketing]] = True
    region = np.full(count, -1, np.int8)
    segment = np.full(count, -1, np.int8)
    reps = np.arange(n_marketing + 1, n_marketing + n_sales)
    region[reps] = [r for r, _ in cells]
    segment[reps] = [s for _, s in cells]

    hired_days_before = rng.integers(60, 1_500, count)
    created = window.start - hired_days_before * DAY + 9 * HOUR
    first, last = _unique_names(rng, count)

    users = Users(
        first=first,
        last=last,
        team=team,
        focus=focus,
        leader=leader,
        region=region,
        segment=segment,
        active=np.ones(count, bool),
        created=created,
        response_median_s=np.zeros(count),
        p_unanswered=np.zeros(count),
        accept_bias=np.ones(count),
        skill=np.ones(count),
        heavy_discounter=np.zeros(count, bool),
        slow=np.zeros(count, bool),
        reps=reps,
        departed=-1,
        departed_at=0,
        successor=-1,
    )
    _give_sellers_habits(rng, users, window)
    return users


def _give_sellers_habits(rng: np.random.Generator, users: Users, window: Window) -> None:
    reps = users.reps
    n = reps.size
    users.departed = int(rng.choice(users.cell(0, SMB)))
    others = users.cell(0, SMB)
    users.successor = int(rng.choice(others[others != users.departed]))
    leave_day = window.end // DAY - rng.integers(150, 260)
    users.departed_at = int(leave_day * DAY + 17 * HOUR - REGION_UTC_OFFSET_H[0] * HOUR)
    users.active[users.departed] = False

    stayers = reps[reps != users.departed]
    n_slow = max(2, round(0.2 * n))
    slow = rng.choice(stayers, n_slow, replace=False)
    heavy = rng.choice(stayers, max(2, round(0.2 * n)), replace=False)
    users.slow[slow] = True
    users.heavy_discounter[heavy] = True

    # Most reps answer within a working day; the slow ones take most of a week.
    users.response_median_s[reps] = np.clip(rng.lognormal(np.log(9 * HOUR), 0.5, n), 2 * HOUR, 30 * HOUR)
    users.response_median_s[slow] = rng.uniform(3 * DAY, 7 * DAY, n_slow)
    users.p_unanswered[reps] = rng.uniform(0.02, 0.05, n)
    users.p_unanswered[slow] = rng.uniform(0.10, 0.18, n_slow)
    users.accept_bias[reps] = np.clip(rng.normal(1.0, 0.06, n), 0.85, 1.15)
    picky = rng.choice(np.setdiff1d(stayers, slow), max(1, round(0.1 * n)), replace=False)
    users.accept_bias[picky] = 0.8
    users.skill[reps] = np.clip(rng.normal(1.0, 0.12, n), 0.75, 1.3)


@dataclass
class Accounts:
    employees: np.ndarray
    region: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    key: np.ndarray
    name_word: np.ndarray
    name_noun: np.ndarray
    name_legal: np.ndarray
    # Filled by later steps of the generation (creation times, then owners); unset until then.
    created: np.ndarray = field(init=False)
    owner: np.ndarray = field(init=False)

    @property
    def count(self) -> int:
        return self.employees.size

    def reorder(self, order: np.ndarray) -> None:
        for name in (
            "employees",
            "region",
            "segment",
            "industry",
            "key",
            "name_word",
            "name_noun",
            "name_legal",
            "created",
            "owner",
        ):
            value = getattr(self, name, None)  # a column filled later is not there yet
            if value is not None:
                setattr(self, name, value[order])


def segment_of(employees: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array([200, 2_000]), employees, side="right").astype(np.int8)


def make_accounts(rng: np.random.Generator, count: int) -> Accounts:
    employees = np.clip(np.round(rng.lognormal(np.log(150), 1.5, count)), 3, 250_000).astype(np.int64)
    industry_share = np.array([share for _, share, _, _ in names.INDUSTRIES])
    # The largest enterprises are the key accounts (about 2 %).
    n_key = max(1, round(0.02 * count))
    key = np.zeros(count, bool)
    key[np.argsort(-employees, kind="stable")[:n_key]] = True
    return Accounts(
        employees=employees,
        region=rng.choice(3, count, p=REGION_SHARE).astype(np.int8),
        segment=segment_of(employees),
        industry=rng.choice(len(names.INDUSTRIES), count, p=industry_share / industry_share.sum()).astype(np.int8),
        key=key,
        name_word=rng.integers(0, len(names.COMPANY_WORDS), count),
        name_noun=rng.integers(0, 4, count).astype(np.int8),
        name_legal=rng.integers(0, 4, count).astype(np.int8),
    )


def assign_owners(rng: np.random.Generator, accounts: Accounts, users: Users) -> None:
    """Route each account to a rep of its region and segment; nobody routes to a rep who left."""
    owner = np.empty(accounts.count, np.int64)
    for region in range(3):
        for segment in range(3):
            here = np.flatnonzero((accounts.region == region) & (accounts.segment == segment))
            cell = users.cell(region, segment)
            owner[here] = cell[rng.integers(0, cell.size, here.size)]
    late = (owner == users.departed) & (accounts.created >= users.departed_at)
    owner[late] = users.successor
    accounts.owner = owner


@dataclass
class Contacts:
    account: np.ndarray
    first: np.ndarray
    last: np.ndarray
    title_class: np.ndarray
    title: np.ndarray  # index within the class
    channel: np.ndarray
    created: np.ndarray
    has_phone: np.ndarray
    source_campaign: np.ndarray = field(init=False)  # filled once the campaigns exist

    @property
    def count(self) -> int:
        return self.account.size

    def reorder(self, order: np.ndarray) -> None:
        for name in (
            "account",
            "first",
            "last",
            "title_class",
            "title",
            "channel",
            "created",
            "has_phone",
            "source_campaign",
        ):
            value = getattr(self, name, None)  # a column filled later is not there yet
            if value is not None:
                setattr(self, name, value[order])


# Who fills in our forms, by segment (rows) and title class (columns: junk → decision maker).
TITLE_CLASS_SHARE = np.array([[0.10, 0.30, 0.32, 0.28], [0.08, 0.38, 0.34, 0.20], [0.07, 0.45, 0.33, 0.15]])


def make_contacts(
    rng: np.random.Generator, count: int, accounts: Accounts, channel_share: np.ndarray, window: Window
) -> Contacts:
    """People at the accounts; bigger accounts bring bigger buying groups.

    channel_share: rows = segments, columns = channels; where the contact first came from.
    """
    n_acc = accounts.count
    weight = accounts.employees.astype(float) ** 0.35
    account = np.concatenate([rng.permutation(n_acc), rng.choice(n_acc, count - n_acc, p=weight / weight.sum())])
    segment = accounts.segment[account]
    title_class = np.empty(count, np.int8)
    channel = np.empty(count, np.int8)
    for s in range(3):
        here = np.flatnonzero(segment == s)
        title_class[here] = rng.choice(4, here.size, p=TITLE_CLASS_SHARE[s])
        channel[here] = rng.choice(channel_share.shape[1], here.size, p=channel_share[s])
    class_sizes = np.array([len(t) for t in names.TITLES])
    return Contacts(
        account=account,
        first=rng.integers(0, len(names.FIRST_NAMES), count),
        last=rng.integers(0, len(names.LAST_NAMES), count),
        title_class=title_class,
        title=(rng.random(count) * class_sizes[title_class]).astype(np.int64),
        channel=channel,
        created=_creation_times(rng, account, accounts, window),
        has_phone=rng.random(count) < 0.6,
    )


def _daily_volume(window: Window) -> np.ndarray:
    """Leads per day: doubling over two years, quiet weekends, a holiday lull."""
    day = window.start // DAY + np.arange(window.days)
    growth = np.exp(np.log(2.2) * np.arange(window.days) / window.days)
    weekend = np.where((day + 3) % 7 >= 5, 0.25, 1.0)
    day_of_year = (np.datetime64("1970-01-01") + day.astype("timedelta64[D]")).astype("datetime64[D]")
    month_day = (day_of_year - day_of_year.astype("datetime64[M]")).astype(int) + 1
    month = day_of_year.astype("datetime64[M]").astype(int) % 12 + 1
    holidays = np.where(((month == 12) & (month_day >= 20)) | ((month == 1) & (month_day <= 3)), 0.4, 1.0)
    summer = np.where(month == 8, 0.85, 1.0)
    volume = growth * weekend * holidays * summer
    return volume / volume.sum()


def _creation_times(rng: np.random.Generator, account: np.ndarray, accounts: Accounts, window: Window) -> np.ndarray:
    """A buying group shows up together: later contacts follow the account's first by weeks."""
    n_acc = accounts.count
    first_day = rng.choice(window.days, n_acc, p=_daily_volume(window))
    day = first_day[account].astype(np.int64)
    follower = np.ones(account.size, bool)
    follower[:n_acc] = False  # the first n_acc contacts are one per account
    lag = rng.exponential(45, account.size).astype(np.int64)
    day = np.where(follower, day + lag, day)
    late = day >= window.days
    start = first_day[account[late]]
    day[late] = (start + rng.random(late.sum()) * (window.days - start)).astype(np.int64)
    # Most weekend sign-ups are really the next working week's, once someone opens the inbox.
    dow = (window.start // DAY + day + 3) % 7
    next_week = 7 - dow + rng.integers(0, 5, day.size)
    moved = (dow >= 5) & (rng.random(day.size) < 0.75) & (day + next_week < window.days)
    day = np.where(moved, day + next_week, day)
    offset = REGION_UTC_OFFSET_H[accounts.region[account]] * HOUR
    local_second = np.clip(rng.normal(13 * HOUR, 3 * HOUR, account.size), 0, DAY - 1).astype(np.int64)
    return np.clip(window.start + day * DAY + local_second - offset, window.start, window.end - HOUR)
