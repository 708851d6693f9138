"""The diagnostic survey: rounds, responses (CLI, import, web) and the report.

Writes: `open_round`, `record_response` (one respondent's 20 ratings) and
`import_responses` (a CSV from any survey tool). Each is one transaction with an audit
entry; a respondent answers once per round, so answering twice — or importing the same
file twice — is refused with the line it happens on, and nothing is written.

The report: `survey_report`. Anonymity (`[diagnostic] anonymity_threshold`, k):

- A team's figures (mean, spread, band) are shown only when every team that answered has
  at least k respondents. Otherwise a team of two could be read off as the company score
  minus the other team's. Withheld teams say so: {"respondents": n, "withheld": true}.
- The same rule splits a shown team into leaders and staff.
- The perception gap needs both teams with at least k respondents each.
- Per-respondent rows name the respondent, team and role only when the team figures are
  shown; otherwise they carry the score and band alone, highest first; with fewer than k
  respondents in all, there is no row and no company score at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from truce.config import TruceConfig
from truce.domain import calendar_range, diagnostic
from truce.domain.access import Forbidden
from truce.imports.csvfile import CsvFile
from truce.imports.service import file_digest
from truce.imports.values import EMAIL
from truce.store import work
from truce.store.models import (
    SURVEY_ROLES,
    SURVEY_SOURCES,
    SURVEY_TEAMS,
    ImportRun,
    SurveyResponse,
    SurveyRound,
    User,
)

KEYS = diagnostic.KEYS
COLUMNS = ("respondent", "team", "role", "round", *KEYS)
ROUND_NAME = re.compile(r"^[^\x00-\x1f]{1,32}$")
INDICATOR_DAYS = 90  # a round whose name spells no period is measured over the 90 days up to its opening
SHOWN_PROBLEMS = 20


class SurveyError(ValueError):
    """A survey write or report the rules refuse; the message says which rule and what to do."""


class NotYourTeam(Forbidden, SurveyError):
    """Answers are given in one's own name, as the team and role of one's account."""


class SurveyImportError(SurveyError):
    """A survey file with bad rows: every problem names the file, line and column. Nothing was written."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        shown = problems[:SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__(
            "\n".join(shown + ([f"… and {more} more problems"] if more else []))
            + f"\n{path}: nothing was imported; fix these lines and import the file again"
        )


def statements() -> list[dict]:
    return [{"statement": s.key, "number": s.number, "theme": s.theme, "text": s.text} for s in diagnostic.STATEMENTS]


def _clean_round(name: str) -> str:
    name = (name or "").strip()
    if not ROUND_NAME.match(name):
        raise SurveyError(f"a round needs a name of 1 to 32 characters, e.g. 2026-Q4, not {name!r}")
    try:
        diagnostic.period_of(name)
    except calendar_range.OutsideCalendar as exc:
        raise SurveyError(f"round {exc}") from None
    return name


def _audit(conn: Connection, actor: str, action: str, entity_type: str, entity_id, after: dict, at) -> None:
    work.record(conn, action, entity_type, entity_id, None, after, actor=actor, at=at)


def _round_id(conn: Connection, name: str, actor: str, now: dt.datetime, *, create: bool = True) -> int | None:
    found = conn.execute(select(SurveyRound.id).where(SurveyRound.name == name)).scalar_one_or_none()
    if found is not None or not create:
        return found
    round_id = conn.execute(
        insert(SurveyRound).returning(SurveyRound.id), {"name": name, "opened_at": now}
    ).scalar_one()
    _audit(conn, actor, "create", "survey_round", round_id, {"name": name}, now)
    return round_id


def open_round(
    engine: Engine, name: str, actor: str = "cli", at: dt.datetime | None = None, origin: str = "cli"
) -> dict:
    """Open a new round; a name already used is refused."""
    name = _clean_round(name)
    now = at or dt.datetime.now(dt.UTC)
    with work.unit_of_work(engine, actor, origin) as job:
        conn = job.conn
        if _round_id(conn, name, actor, now, create=False) is not None:
            raise SurveyError(f"round {name!r} already exists; answers go to it with --round {name}")
        round_id = _round_id(conn, name, actor, now)
    return {"id": round_id, "name": name, "opened_at": now}


def _ordered_rounds(conn: Connection, zone: ZoneInfo) -> list[dict]:
    """Rounds oldest first: by the end of their period, then by opening."""
    rows = conn.execute(select(SurveyRound.id, SurveyRound.name, SurveyRound.opened_at)).all()
    rounds = []
    for round_id, name, opened_at in rows:
        start, end = round_period(name, opened_at, zone)
        rounds.append({"id": round_id, "name": name, "opened_at": opened_at, "from": start, "to": end})
    rounds.sort(key=lambda r: (r["to"], r["opened_at"], r["id"]))
    return rounds


def round_period(name: str, opened_at: dt.datetime, zone: ZoneInfo) -> tuple[dt.date, dt.date]:
    """The period a round measures: the one its name spells (2026-Q4, 2026-H1, 2026-11, 2026), else the 90 days up to its opening."""
    try:
        spelled = diagnostic.period_of(name)
    except calendar_range.OutsideCalendar:
        spelled = None  # kept before rounds were checked: measured like a name that spells nothing
    if spelled:
        return spelled
    last = opened_at.astimezone(zone).date()
    return last - dt.timedelta(days=INDICATOR_DAYS - 1), last


def latest_round(engine: Engine, config: TruceConfig) -> str | None:
    with engine.connect() as conn:
        rounds = _ordered_rounds(conn, ZoneInfo(config.company.timezone))
    return rounds[-1]["name"] if rounds else None


def _user(conn: Connection, email: str):
    return conn.execute(select(User).where(User.email == email)).mappings().one_or_none()


def answering_as(engine: Engine, email: str | None, team: str | None = None, role: str | None = None) -> dict:
    """{email, team, role} a user answers as: their account's. A team or role given must agree with it
    (NotYourTeam otherwise), so a person learns it before answering twenty statements."""
    who = respondent(engine, email)
    with engine.connect() as conn:
        user = _user(conn, who["email"])
    _as_account(user, team or user["team"], role or who["role"])
    return who


def respondent(engine: Engine, email: str | None) -> dict:
    """The user who answers: {email, team, role} with the team and role they answer as by default."""
    if not email:
        raise SurveyError("say who answers: --as EMAIL or TRUCE_USER")
    with engine.connect() as conn:
        user = _user(conn, email.strip().lower())
    if user is None:
        raise SurveyError(
            f"no user with email {email.strip()!r}; add them with truce import users, "
            "or load their answers with truce survey import"
        )
    return {
        "email": user["email"],
        "team": user["team"] if user["team"] in SURVEY_TEAMS else None,
        "role": "leader" if user["is_leader"] else "staff",
    }


def _answered(conn: Connection, round_name: str, user_id: int) -> bool:
    return (
        conn.execute(
            select(SurveyResponse.id)
            .join(SurveyRound, SurveyRound.id == SurveyResponse.round_id)
            .where(SurveyRound.name == round_name, SurveyResponse.respondent_id == user_id)
        ).first()
        is not None
    )


def _twice(email: str, round_name: str) -> str:
    return f"{email} has already answered round {round_name}; each respondent answers once per round"


def check_not_answered(engine: Engine, round_name: str, email: str) -> None:
    """Refuse before asking 20 questions whose answers could not be kept."""
    round_name, email = _clean_round(round_name), email.strip().lower()
    with engine.connect() as conn:
        user = _user(conn, email)
        if user is not None and _answered(conn, round_name, user["id"]):
            raise SurveyError(_twice(email, round_name))


def _check_choice(what: str, value: str, allowed) -> str:
    value = (value or "").strip().lower()
    if value not in allowed:
        raise SurveyError(f"{what} must be {' or '.join(allowed)}, not {value!r}")
    return value


def record_response(
    engine: Engine,
    *,
    round_name: str,
    respondent_email: str,
    team: str,
    role: str,
    ratings: list[int],
    source: str = "cli",
    actor: str | None = None,
    at: dt.datetime | None = None,
) -> dict:
    """Keep one respondent's 20 ratings in a round (opened if new); a second answer in the round is refused."""
    round_name = _clean_round(round_name)
    team = _check_choice("the team", team, SURVEY_TEAMS)
    role = _check_choice("the role", role, SURVEY_ROLES)
    source = _check_choice("the source", source, SURVEY_SOURCES)
    try:
        total = diagnostic.score(list(ratings))
    except diagnostic.BadRatings as exc:
        raise SurveyError(str(exc)) from None
    email = (respondent_email or "").strip().lower()
    now = at or dt.datetime.now(dt.UTC)
    actor = actor or email
    try:
        with work.unit_of_work(engine, actor, source) as job:
            conn = job.conn
            user = _user(conn, email)
            if user is None:
                raise SurveyError(f"no user with email {email!r}; add them with truce import users first")
            _as_account(user, team, role)
            if _answered(conn, round_name, user["id"]):
                raise SurveyError(_twice(email, round_name))
            round_id = _round_id(conn, round_name, actor, now)
            values = {"round_id": round_id, "respondent_id": user["id"], "team": team, "role": role}
            response_id = conn.execute(
                insert(SurveyResponse).returning(SurveyResponse.id),
                {**values, "source": source, "submitted_at": now, **dict(zip(KEYS, ratings, strict=True))},
            ).scalar_one()
            after: dict[str, Any] = {"round": round_name, "respondent": email, "team": team, "role": role}
            after |= {"source": source, "ratings": list(ratings), "score": total}
            _audit(conn, actor, "create", "survey_response", response_id, after, now)
    except IntegrityError:  # the same respondent answering twice at the same moment
        raise SurveyError(_twice(email, round_name)) from None
    return {
        "round": round_name,
        "respondent": email,
        "team": team,
        "role": role,
        "score": total,
        "type": diagnostic.state(total),
    }


def _as_account(user, team: str, role: str) -> None:
    """A seller answers as sales and a marketer as marketing, as the leader or staff their account says:
    otherwise one person could tilt the other team's score and the perception gap."""
    if user["team"] not in SURVEY_TEAMS:
        raise NotYourTeam(
            f"the diagnostic is answered by sales and marketing; {user['email']} is on the {user['team']} team"
        )
    if team != user["team"]:
        raise NotYourTeam(f"{user['email']} is on the {user['team']} team and answers as {user['team']}, not {team}")
    own_role = "leader" if user["is_leader"] else "staff"
    if role != own_role:
        raise NotYourTeam(f"{user['email']} answers as {own_role}, as their account says, not {role}")


# --- import -----------------------------------------------------------------------------------


class _Problems:
    """Problems found while reading; lines are looked up once at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.found: list[tuple[int | None, int, str | None, str, int | None]] = []  # line, record, column, …

    def add(self, record: int, column: str | None, message: str, refers_to: int | None = None) -> None:
        self.found.append((None, record, column, message, refers_to))

    def at_line(self, line: int, message: str) -> None:
        self.found.append((line, -1, None, message, None))

    def messages(self, csv: CsvFile) -> list[str]:
        wanted = {r for line, r, *_ in self.found if line is None} | {ref for *_, ref in self.found if ref is not None}
        lines = csv.locate(wanted)
        placed = []
        for at, record, column, message, refers_to in self.found:
            line = at if at is not None else lines.get(record, "?")
            if refers_to is not None:
                message = message.replace("{line}", str(lines.get(refers_to, "?")))
            where = f"{self.path}, line {line}" + (f", column {column}" if column else "")
            placed.append((line if isinstance(line, int) else 0, f"{where}: {message}"))
        return [text for _, text in sorted(placed, key=lambda p: p[0])]


def _rating(text: str) -> tuple[int | None, str | None]:
    text = text.strip()
    if not text:
        return None, "no rating; every statement needs a rating from 1 to 5"
    if text.isdigit() and int(text) in diagnostic.RATINGS:
        return int(text), None
    return None, f"{text} is not a rating from 1 to 5"


def _parse_record(cells: dict[str, str], record: int, problems: _Problems) -> dict | None:
    row: dict[str, Any] = {"record": record}
    ok = True
    email = cells["respondent"].strip().lower()
    if not EMAIL.match(email):
        problems.add(record, "respondent", f"{cells['respondent'].strip()!r} is not an email address")
        ok = False
    row["email"] = email
    for column, allowed in (("team", SURVEY_TEAMS), ("role", SURVEY_ROLES)):
        value = cells[column].strip().lower()
        if value not in allowed:
            problems.add(record, column, f"{cells[column].strip()!r} is neither {' nor '.join(allowed)}")
            ok = False
        row[column] = value
    name = cells["round"].strip()
    if not ROUND_NAME.match(name):
        problems.add(record, "round", f"{name!r} is not a round name of 1 to 32 characters, e.g. 2026-Q4")
        ok = False
    else:
        try:
            diagnostic.period_of(name)
        except calendar_range.OutsideCalendar as exc:
            problems.add(record, "round", f"round {exc}")
            ok = False
    row["round"] = name
    for key in KEYS:
        rating, problem = _rating(cells[key])
        if problem:
            problems.add(record, key, problem)
            ok = False
        row[key] = rating
    return row if ok else None


def _read_file(path: Path) -> tuple[CsvFile, list[dict], _Problems]:
    csv = CsvFile(path)
    problems = _Problems(path)
    by_name = {name.strip().lower(): name for name in csv.header}
    missing = [c for c in COLUMNS if c not in by_name]
    if missing:
        raise SurveyImportError(
            path,
            [
                f"{path}, line 1: missing column {', '.join(missing)}; a survey file has the columns "
                "respondent, team, role, round and s1 … s20"
            ],
        )
    rows: list[dict] = []
    first_seen: dict[tuple[str, str], int] = {}
    for batch in csv.batches(5000):
        for index in range(batch.size):
            record = batch.first_record + index
            raw = batch.cells(index)
            row = _parse_record({c: raw[by_name[c]] or "" for c in COLUMNS}, record, problems)
            if row is None:
                continue
            seen = first_seen.setdefault((row["round"], row["email"]), record)
            if seen != record:
                problems.add(
                    record,
                    "respondent",
                    f"{row['email']} answers round {row['round']} a second time (first on line {{line}})",
                    refers_to=seen,
                )
                continue
            rows.append(row)
    for line, problem, _cells in csv.malformed_lines() if csv.malformed else ():
        problems.at_line(line, problem)
    if not rows and not problems.found:
        raise SurveyImportError(path, [f"{path}: no responses below the header"])
    return csv, rows, problems


def _check_store(conn: Connection, rows: list[dict], problems: _Problems) -> None:
    """Answers already kept: the same respondent may not answer a round twice."""
    names = sorted({r["round"] for r in rows})
    kept = set(
        conn.execute(
            select(SurveyRound.name, User.email)
            .join(SurveyResponse, SurveyResponse.round_id == SurveyRound.id)
            .join(User, User.id == SurveyResponse.respondent_id)
            .where(SurveyRound.name.in_(names))
        ).all()
    )
    accounts = {
        user.email: user
        for user in conn.execute(
            select(User.email, User.team, User.is_leader).where(User.email.in_(sorted({r["email"] for r in rows})))
        )
    }
    for row in rows:
        if (row["round"], row["email"]) in kept:
            problems.add(row["record"], "respondent", _twice(row["email"], row["round"]))
        account = accounts.get(row["email"])
        if account is None:
            continue  # a new respondent becomes a user on the team they answered for
        if account.team != row["team"]:
            problems.add(row["record"], "team", f"{row['email']} is on the {account.team} team, not {row['team']}")
        elif row["role"] != ("leader" if account.is_leader else "staff"):
            own = "leader" if account.is_leader else "staff"
            problems.add(row["record"], "role", f"{row['email']} is {own} by their account, not {row['role']}")


def _name_from(email: str) -> str:
    local = email.split("@")[0]
    return " ".join(part.capitalize() for part in re.split(r"[._+-]+", local) if part) or local


def _users(conn: Connection, rows: list[dict], actor: str, now: dt.datetime) -> tuple[dict[str, int], list[str]]:
    """Every respondent's user id; a respondent who is not a user yet becomes one, on the team they answer for."""
    emails = sorted({r["email"] for r in rows})
    ids = dict(conn.execute(select(User.email, User.id).where(User.email.in_(emails))).all())
    created = []
    for row in rows:
        email = row["email"]
        if email in ids:
            continue
        ids[email] = conn.execute(
            insert(User).returning(User.id),
            {
                "email": email,
                "name": _name_from(email),
                "team": row["team"],
                "is_leader": row["role"] == "leader",
                "active": True,
                "created_at": now,
            },
        ).scalar_one()
        after = {"email": email, "team": row["team"], "is_leader": row["role"] == "leader"}
        _audit(conn, actor, "create", "user", ids[email], after, now)
        created.append(email)
    return ids, created


def import_responses(engine: Engine, path: str | Path, actor: str = "cli") -> dict:
    """Load a survey CSV (respondent, team, role, round, s1 … s20): every row or none."""
    path = Path(path)
    started = dt.datetime.now(dt.UTC)
    csv, rows, problems = _read_file(path)
    if problems.found:
        raise SurveyImportError(path, problems.messages(csv))
    with work.unit_of_work(engine, actor, "import") as job:
        conn = job.conn
        _check_store(conn, rows, problems)
        if problems.found:
            raise SurveyImportError(path, problems.messages(csv))
        user_ids, created = _users(conn, rows, actor, started)
        rounds = {}
        for name in dict.fromkeys(r["round"] for r in rows):
            rounds[name] = _round_id(conn, name, actor, started)
        conn.execute(
            insert(SurveyResponse),
            [
                {
                    "round_id": rounds[r["round"]],
                    "respondent_id": user_ids[r["email"]],
                    "team": r["team"],
                    "role": r["role"],
                    "source": "import",
                    "submitted_at": started,
                    **{k: r[k] for k in KEYS},
                }
                for r in rows
            ],
        )
        _record_run(conn, path, actor, started, len(rows))
    return {
        "file": str(path),
        "responses": len(rows),
        "rounds": list(rounds),
        "users_created": created,
    }


def _record_run(conn: Connection, path: Path, actor: str, started: dt.datetime, count: int) -> None:
    finished = dt.datetime.now(dt.UTC)
    run = {
        "target_table": "survey_responses",
        "file_name": str(path),
        "file_sha256": file_digest(path),
        "dialect": "survey",
        "actor": actor,
        "started_at": started,
        "finished_at": finished,
        "rows_read": count,
        "inserted": count,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    run_id = conn.execute(insert(ImportRun).returning(ImportRun.id), run).scalar_one()
    summary = {"file_name": str(path), "file_sha256": run["file_sha256"], "rows_read": count, "inserted": count}
    _audit(conn, actor, "import", "survey_responses", run_id, summary, finished)


# --- report -----------------------------------------------------------------------------------


def _responses(conn: Connection, round_ids: list[int]) -> dict[int, list[dict]]:
    rows = conn.execute(
        select(SurveyResponse, User.email)
        .join(User, User.id == SurveyResponse.respondent_id)
        .where(SurveyResponse.round_id.in_(round_ids))
    ).mappings()
    by_round = defaultdict(list)
    for row in rows:
        ratings = [row[k] for k in KEYS]
        by_round[row["round_id"]].append(
            {
                "respondent": row["email"],
                "team": row["team"],
                "role": row["role"],
                "ratings": ratings,
                "score": diagnostic.score(ratings),
            }
        )
    return by_round


def _all_meet(groups: dict[str, list], threshold: int) -> bool:
    """No group that answered is smaller than the threshold (an empty group reveals nothing)."""
    return all(len(members) >= threshold for members in groups.values() if members)


def _split(answers: list[dict], field: str, values) -> dict[str, list[dict]]:
    return {value: [a for a in answers if a[field] == value] for value in values}


def _withheld(members: list) -> dict:
    keys = ("mean", "spread", "min", "max", "type", "roles")
    return {"respondents": len(members), "withheld": bool(members), **dict.fromkeys(keys)}


def _team(members: list[dict], threshold: int) -> dict:
    if not members:
        return _withheld(members)
    roles = _split(members, "role", SURVEY_ROLES)
    shown_roles = None
    if _all_meet(roles, threshold):
        shown_roles = {
            role: diagnostic.group_stats([a["score"] for a in people]) if people else None
            for role, people in roles.items()
        }
    return {"withheld": False, **diagnostic.group_stats([a["score"] for a in members]), "roles": shown_roles}


def _figures(answers: list[dict], threshold: int) -> dict:
    """Company, teams, gaps and rows for one round's answers, with anonymity applied."""
    teams = _split(answers, "team", SURVEY_TEAMS)
    company_shown = len(answers) >= threshold
    teams_shown = company_shown and _all_meet(teams, threshold)
    both = all(len(teams[t]) >= threshold for t in SURVEY_TEAMS)
    company = {"respondents": len(answers), "score": None, "type": None, "spread": None, "min": None, "max": None}
    if company_shown:
        stats = diagnostic.group_stats([a["score"] for a in answers])
        company.update({"score": stats["mean"], **{k: stats[k] for k in ("type", "spread", "min", "max")}})
    return {
        "company": company,
        "teams": {t: _team(m, threshold) if teams_shown else _withheld(m) for t, m in teams.items()},
        "gaps": diagnostic.gaps(*[[a["ratings"] for a in teams[t]] for t in SURVEY_TEAMS]) if both else [],
        "teams_shown": teams_shown,
        "gaps_shown": both,
    }


def _rows(answers: list[dict], figures: dict) -> tuple[str, list[dict]]:
    ranked = sorted(answers, key=lambda a: (-a["score"], a["respondent"]))
    if figures["teams_shown"]:
        rows = [
            {k: a[k] for k in ("respondent", "team", "role", "score")} | {"type": diagnostic.state(a["score"])}
            for a in ranked
        ]
        return "named", rows
    if figures["company"]["score"] is not None:
        return "anonymous", [{"score": a["score"], "type": diagnostic.state(a["score"])} for a in ranked]
    return "withheld", []


def _notes(figures: dict, threshold: int) -> list[str]:
    notes = []
    small = [t for t, team in figures["teams"].items() if team["withheld"]]
    if figures["company"]["score"] is None:
        notes.append(f"fewer than {threshold} respondents in all: no score is shown (anonymity)")
    elif small:
        notes.append(
            f"fewer than {threshold} respondents from {' and '.join(small)}: no team figure and no names are "
            "shown, since a small team's score could be read off the others' (anonymity)"
        )
    if not figures["gaps_shown"] and figures["company"]["score"] is not None:
        notes.append(f"the perception gap needs at least {threshold} respondents from each team")
    return notes


def _context(config: TruceConfig) -> diagnostic.Context:
    d = config.diagnostic
    return diagnostic.Context(d.employees, d.market_change, d.offering_complexity, d.informal_relationship)


def _choose(rounds: list[dict], round_name: str | None) -> int:
    if not rounds:
        raise SurveyError(
            "no survey rounds yet; answer with truce survey take, or load answers with truce survey import"
        )
    if round_name is None:
        return len(rounds) - 1
    for index, found in enumerate(rounds):
        if found["name"] == round_name.strip():
            return index
    raise SurveyError(f"no survey round {round_name!r}; the rounds are {', '.join(r['name'] for r in rounds)}")


def _trend(rounds: list[dict], answers: dict[int, list[dict]], threshold: int) -> list[dict]:
    trend = []
    for found in rounds:
        figures = _figures(answers.get(found["id"], []), threshold)
        company = figures["company"]
        trend.append(
            {
                "round": found["name"],
                "respondents": company["respondents"],
                "score": company["score"],
                "type": company["type"],
                **{str(t): figures["teams"][t]["mean"] for t in SURVEY_TEAMS},
            }
        )
    return trend


def survey_report(
    engine: Engine,
    config: TruceConfig,
    round_name: str | None = None,
    *,
    with_indicators: bool = True,
    now: dt.datetime | None = None,
) -> dict:
    """The diagnostic for one round (the latest by default): scores, gaps, trend, indicators, target, playbook."""
    threshold = config.diagnostic.anonymity_threshold
    zone = ZoneInfo(config.company.timezone)
    with engine.connect() as conn:
        rounds = _ordered_rounds(conn, zone)
        chosen = _choose(rounds, round_name)
        rounds_so_far = rounds[: chosen + 1]
        answers = _responses(conn, [r["id"] for r in rounds_so_far])
    this = rounds_so_far[-1]
    figures = _figures(answers.get(this["id"], []), threshold)
    shown, rows = _rows(answers.get(this["id"], []), figures)
    measured = None
    if with_indicators:
        from truce.services.indicators import indicators

        measured = indicators(engine, config, this["from"], this["to"], now)
    current = figures["company"]["type"]
    target = diagnostic.recommend_target(_context(config), current)
    return {
        "round": this["name"],
        "period": {"from": this["from"].isoformat(), "to": this["to"].isoformat()},
        "rounds": [r["name"] for r in rounds],
        "anonymity_threshold": threshold,
        "company": figures["company"],
        "teams": figures["teams"],
        "gaps": figures["gaps"],
        "respondents_shown": shown,
        "respondents": rows,
        "trend": _trend(rounds_so_far, answers, threshold),
        "indicators": measured,
        "target": target,
        "playbook": _playbook(current, target["state"], measured),
        "notes": _notes(figures, threshold),
        "initiatives": _initiatives(engine, config, now) if with_indicators else None,
    }


def _initiatives(engine: Engine, config: TruceConfig, now: dt.datetime | None) -> list[dict]:
    """The playbook's moves the company adopted, with their indicators before and now and the score change."""
    from truce.services.meetings.initiatives import list_initiatives

    return list_initiatives(engine, config, now=now)


def _playbook(current: str | None, target: str, measured: dict | None) -> list[dict] | None:
    if current is None:
        return None  # no current state without enough respondents
    moves = diagnostic.playbook(current, target)
    for move in moves:
        move["indicator_value"] = diagnostic.indicator_value(measured, move["indicator"]) if measured else None
    return moves
