"""Editing the funnel and its SLA: the [funnel] and [sla] sections of truce.toml, from the web or the API.

`edit_from_toml` takes the two sections as TOML text (the web form), `edit_from_data` as
plain data (the API's JSON). Both validate the whole config with the models `truce config
check` uses, refuse a change the store cannot live with, save the two sections as a new
version in the store (funnel_config_versions) with an audit entry, write truce.toml atomically
(a temporary file, then os.replace) with every other section left as it was, and return the
new TruceConfig for the caller to use from then on.

Which funnel is in force: the store's newest version, when there is one, overrides the
[funnel] and [sla] sections of every process's truce.toml (`in_force`); the file's sections
count only until the first edit. So every server, worker and command on one store agrees,
whichever host's file an edit was written to. Each server asks for the newest version number
at most every `RECHECK_SECONDS` (truce.web.app.FunnelWatch), one primary-key read.

How the file is rewritten: the lines of the old [funnel] and [sla] tables (with the comment
lines right above each header) are replaced by the new text; every other line stays as it
was, comments included. Text from the web form keeps its own comments; the API's JSON has
none, so truce writes those two sections as plain TOML. The result is parsed back and must
hold exactly the other sections as they were and the new two, or nothing is written.

What the store refuses: a stage key (stage or exit) that contacts stand at or the stage
ledger names, since the ledger is append-only and custody needs each stage's team; and a
new handoff stage while handoffs are open at the old one, which nobody could decide then.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from truce.config import CONFIG_FILE, ConfigError, Funnel, TruceConfig, default_text, parse, with_funnel
from truce.store.models import Contact, FunnelConfigVersion, Handoff, StageChange
from truce.store.work import unit_of_work

SECTIONS = ("funnel", "sla")
ACTION = "funnel_config_edit"
# One edit at a time: each reads the file, then replaces it.
_WRITING = threading.Lock()
# How stale a server's funnel may be after an edit made through another process: half of the 1 s promised.
RECHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "funnel.stages.2.team"; "" for the config as a whole
    message: str
    line: int | None = None  # in the TOML text sent, counting from 1
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.path + ': ' if self.path else ''}{self.message}"


class FunnelConfigInvalid(ValueError):
    """The new sections are not a valid funnel and SLA; `problems` names each key (and line)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("the funnel config is not valid: " + "; ".join(str(p) for p in problems))


class FunnelConfigRefused(ValueError):
    """A valid config the store or the file cannot take; the message says why and what to do."""


def config_file(config: TruceConfig) -> Path:
    """The truce.toml an edit writes: the file the config was loaded from, else ./truce.toml,
    where `truce serve` and every command look when no file is named (truce.config.find)."""
    source = config.source_path
    if source and Path(source).is_file():
        return Path(source).resolve()
    return (Path.cwd() / CONFIG_FILE).resolve()


def current_text(config: TruceConfig, path: Path) -> str:
    """The [funnel] and [sla] sections as the file has them, comments included (the web form's text)."""
    base = path.read_text(encoding="utf-8") if path.is_file() else default_text()
    blocks = _blocks(base.splitlines(keepends=True))
    found = "".join("".join(lines) for name, lines in blocks if name in SECTIONS).strip("\n")
    try:
        spelt = tomllib.loads(found)
    except tomllib.TOMLDecodeError:
        spelt = {"": None}
    if not set(spelt) <= set(SECTIONS) or not _file_says(config, spelt):
        # e.g. the version in force was saved through a server on another host, into its own file
        return to_toml(sections_of(config))
    missing = {k: v for k, v in sections_of(config).items() if k not in spelt}  # [sla] left to its defaults
    return "\n\n".join(filter(None, [found, to_toml(missing).strip("\n") if missing else ""])) + "\n"


def _file_says(config: TruceConfig, spelt: dict) -> bool:
    """Whether the file's sections (those it spells out) are the funnel and SLA in force."""
    try:
        read = with_funnel(config, sections_of(config) | spelt, 0)
    except ConfigError:
        return False
    return sections_of(read) == sections_of(config)


def edit_from_toml(
    engine: Engine, config: TruceConfig, text: str, *, actor: str, path: Path | None = None
) -> TruceConfig:
    """Replace [funnel] and [sla] with `text` (TOML holding exactly those two tables)."""
    text = text.replace("\r\n", "\n").strip("\n") + "\n"
    try:
        sections = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FunnelConfigInvalid([_syntax_problem(exc)]) from None
    problems = [
        Problem(
            key,
            "only [funnel] and [sla] are edited here; other sections stay as truce.toml has them",
            *_at(text, (key,)),
        )
        for key in sections
        if key not in SECTIONS
    ] + [Problem(key, f"the text needs its [{key}] section") for key in SECTIONS if key not in sections]
    if problems:
        raise FunnelConfigInvalid(problems)
    return _save(engine, config, sections, text, actor, path or config_file(config), "web")


def edit_from_data(
    engine: Engine, config: TruceConfig, *, funnel: dict, sla: dict, actor: str, path: Path | None = None
) -> TruceConfig:
    """Replace [funnel] and [sla] with these values (as the JSON of GET /api/v1/config/funnel has them)."""
    return _save(engine, config, {"funnel": funnel, "sla": sla}, None, actor, path or config_file(config), "api")


def _save(
    engine, config: TruceConfig, sections: dict, text: str | None, actor: str, path: Path, origin: str
) -> TruceConfig:
    with _WRITING:
        base_text = path.read_text(encoding="utf-8") if path.is_file() else default_text()
        try:
            base = tomllib.loads(base_text)
        except tomllib.TOMLDecodeError as exc:
            raise FunnelConfigRefused(f"{path} is not valid TOML as it stands ({exc}); fix it by hand first") from None
        new = _validated(base, sections, path, text)
        text = text if text is not None else to_toml(sections_of(new))
        new_text = _splice(base_text, text, base, path)
        try:
            new_text.encode("utf-8")
        except UnicodeEncodeError:
            raise FunnelConfigInvalid([Problem("", "text cannot contain lone UTF-16 surrogates")]) from None
        with unit_of_work(engine, actor, origin) as work:
            _check_store(work.conn, config.funnel, new.funnel)
            version = _keep_version(work, sections_of(new), text)
            after = {**sections_of(new), "file": str(path), "version": version}
            work.record(ACTION, "config", None, sections_of(config), after)
            # Last, inside the transaction: a file that cannot be written leaves no version and no audit entry.
            _write(path, new_text)
    return parse(new_text, source=str(path)).model_copy(update={"funnel_version": version})


def _keep_version(work, sections: dict, text: str) -> int:
    """Save the sections as the next version; the version number is the key, so of two edits made at
    once through two servers one saves and the other is refused (neither overwrites the other unseen)."""
    version = (newest_version(work.conn) or 0) + 1
    row = {"version": version, "sections": sections, "toml_text": text, "saved_by": work.actor, "saved_at": work.now}
    try:
        work.conn.execute(insert(FunnelConfigVersion).values(row))
    except IntegrityError:
        raise FunnelConfigRefused(
            "another edit of the funnel was saved at the same moment: reload the funnel and make your change again"
        ) from None
    return version


# ---- the version in force -------------------------------------------------------------------------


def newest_version(conn: Connection) -> int | None:
    """The newest saved version's number (None: never edited, the file's sections are in force)."""
    return conn.execute(select(func.max(FunnelConfigVersion.version))).scalar_one_or_none()


def in_force(engine: Engine, config: TruceConfig) -> TruceConfig:
    """`config` with the store's newest funnel and SLA (the same object when it already has them).
    ConfigError when the stored sections do not fit this process's other sections."""
    with engine.connect() as conn:
        version = newest_version(conn)
        if version is None or version == config.funnel_version:
            return config
        sections = conn.execute(
            select(FunnelConfigVersion.sections).where(FunnelConfigVersion.version == version)
        ).scalar_one()
    return with_funnel(config, sections, version)


def versions(engine: Engine) -> list[dict]:
    """Every saved version, newest first: number, who, when (the text is in the store, and the audit log)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(FunnelConfigVersion.version, FunnelConfigVersion.saved_by, FunnelConfigVersion.saved_at).order_by(
                FunnelConfigVersion.version.desc()
            )
        ).all()
    return [{"version": v, "saved_by": who, "saved_at": at.isoformat()} for v, who, at in rows]


def sections_of(config: TruceConfig) -> dict:
    return {
        "funnel": config.funnel.model_dump(mode="json", exclude_none=True),
        "sla": config.sla.model_dump(mode="json"),
    }


# ---- validation -----------------------------------------------------------------------------------


def _validated(base: dict, sections: dict, path: Path, text: str | None) -> TruceConfig:
    merged = {k: v for k, v in base.items() if k not in SECTIONS} | sections
    try:
        config = TruceConfig.model_validate(merged)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    else:
        errors = _beyond_the_clock(config)
        if not errors:
            return config
    ours = [e for e in errors if not e["loc"] or e["loc"][0] in SECTIONS]
    if len(ours) < len(errors):
        others = "; ".join(f"{_where(e['loc'])}: {_message(e)}" for e in errors if e not in ours)
        raise FunnelConfigRefused(f"{path} is not valid outside [funnel] and [sla] ({others}); fix it by hand first")
    located = (lambda loc: _at(text, loc)) if text is not None else (lambda loc: (None, None))
    raise FunnelConfigInvalid([Problem(_where(e["loc"]), _message(e), *located(e["loc"])) for e in ours])


def _beyond_the_clock(config: TruceConfig) -> list[dict]:
    """Promises the SLA clock cannot count (it looks ten years ahead): every new MQL would fail on them."""
    from truce.domain.business_hours import MAX_DAYS, OutOfRange

    clock = config.business_hours.clock(config.company.timezone)
    now, promise = dt.datetime.now(dt.UTC), config.sla.sales
    errors = []
    for name in ("first_touch_hours", "decision_hours"):
        try:
            clock.add(now, dt.timedelta(hours=getattr(promise, name)))
        except (OutOfRange, OverflowError):
            message = (
                f"more business hours than {MAX_DAYS} days of [business_hours] hold; the SLA clock cannot count them"
            )
            errors.append({"loc": ("sla", "sales", name), "msg": message})
    if promise.attempt_window_days > MAX_DAYS:
        errors.append({"loc": ("sla", "sales", "attempt_window_days"), "msg": f"at most {MAX_DAYS} days"})
    return errors


def _where(loc) -> str:
    return ".".join(str(part) for part in loc if part != "function-after")


def _message(error: dict) -> str:
    return error["msg"].removeprefix("Value error, ")


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return Problem("", "not valid TOML: " + message[: found.start()], int(found[1]), int(found[2]))
    return Problem("", f"not valid TOML: {message}")


def _check_store(conn: Connection, old: Funnel, new: Funnel) -> None:
    kept = set(new.stage_keys)
    at = dict(
        conn.execute(
            select(Contact.stage, func.count()).where(Contact.stage.not_in(kept)).group_by(Contact.stage)
        ).all()
    )
    named: dict[str | None, int] = {}
    for column in (StageChange.to_stage, StageChange.from_stage):
        rows = conn.execute(
            select(column, func.count())
            .where(StageChange.entity_type == "contact", column.is_not(None), column.not_in(kept))
            .group_by(column)
        ).all()
        for stage, moves in rows:
            named[stage] = named.get(stage, 0) + moves
    in_use = sorted(s for s in set(at) | set(named) if s is not None)  # NOT IN leaves out NULL stages
    if in_use:
        said = "; ".join(
            f"{stage!r}: {at.get(stage, 0)} contacts stand at it, {named.get(stage, 0)} ledger moves name it"
            for stage in in_use
        )
        raise FunnelConfigRefused(
            f"cannot remove stages the records use ({said}). The stage ledger is append-only and custody needs "
            "each stage's team, so keep the key: change its label, team or moves instead"
        )
    if new.handoff_stage != old.handoff_stage:
        waiting = conn.execute(select(func.count()).select_from(Handoff).where(Handoff.status == "open")).scalar_one()
        if waiting:
            raise FunnelConfigRefused(
                f"{waiting} handoffs are open at {old.handoff_stage!r}: decide them (accept or reject) "
                f"before the handoff moves to {new.handoff_stage!r}, or nobody could"
            )


# ---- the file -------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]\[]+?)\s*\]\]?\s*(#.*)?$")
_KEY_TEXT = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+"
_KEY = re.compile(_KEY_TEXT)
_ASSIGNED = re.compile(rf"^\s*((?:{_KEY_TEXT})(?:\s*\.\s*(?:{_KEY_TEXT}))*)\s*=")


def _keys(dotted: str) -> list[str]:
    return [k[1:-1] if k[0] in "\"'" else k for k in _KEY.findall(dotted)]


def _blocks(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """The file as (top-level table, lines) blocks: each header with the comment lines right above it
    and what follows up to the next block; None for what comes before the first header."""
    starts = []
    for index, line in enumerate(lines):
        found = _HEADER.match(line)
        if found:
            start = index
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            starts.append((start, (_keys(found[1]) or [""])[0]))
    blocks: list[tuple[str | None, list[str]]] = [(None, lines[: starts[0][0]] if starts else lines)]
    for (start, name), following in zip(starts, [*starts[1:], (len(lines), None)], strict=True):
        blocks.append((name, lines[start : following[0]]))
    return blocks


def _splice(base_text: str, sections_text: str, base: dict, path: Path) -> str:
    """base_text with its [funnel] and [sla] blocks replaced by sections_text, where [funnel] was."""
    out, placed = [], False
    for name, lines in _blocks(base_text.splitlines(keepends=True)):
        if name not in SECTIONS:
            out.extend(lines)
            continue
        if not placed:
            if out and out[-1].strip():
                out.append("\n")
            out.append(sections_text.rstrip("\n") + "\n\n")
            placed = True
    if not placed:
        out.append(("\n" if out and out[-1].strip() else "") + sections_text.rstrip("\n") + "\n")
    new_text = "".join(out).rstrip("\n") + "\n"
    expected = {k: v for k, v in base.items() if k not in SECTIONS} | tomllib.loads(sections_text)
    try:
        same = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        same = False
    if not same:  # e.g. [funnel] keys written as dotted keys at the top of the file
        raise FunnelConfigRefused(
            f"{path} spells [funnel] or [sla] in a way this editor cannot replace without touching other "
            "sections; write them as [funnel] and [sla] tables by hand once, then edit here"
        )
    return new_text


def _write(path: Path, text: str) -> None:
    """Replace the file in one step: readers see the old file or the new one, never half of either."""
    path = Path(os.path.realpath(path))
    crlf = path.is_file() and b"\r\n" in path.read_bytes()
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FunnelConfigRefused(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\r\n" if crlf else "\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise FunnelConfigRefused(f"cannot write {path}: {exc.strerror}") from None


# ---- where a key is in the text -------------------------------------------------------------------


def _at(text: str | None, loc) -> tuple[int | None, int | None]:
    """Line and column (from 1) of the deepest key of `loc` the TOML text spells out, or (None, None)."""
    if text is None:
        return None, None
    wanted = tuple(str(part) for part in loc if part != "function-after")
    best, found = -1, (None, None)
    for place, line, column in _places(text):
        if len(place) > best and wanted[: len(place)] == place:
            best, found = len(place), (line, column)
    return found


def _places(text: str):
    """(key path, line, column) for every table header and key in the text; arrays of tables count 0, 1, …"""
    table: tuple[str, ...] = ()
    seen: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        column = len(line) - len(line.lstrip()) + 1
        header = _HEADER.match(line)
        if header:
            names, table = _keys(header[1]), ()
            for index, name in enumerate(names):
                table += (name,)
                whole = tuple(names[: index + 1])
                if index == len(names) - 1 and line.lstrip().startswith("[["):
                    seen[whole] = seen.get(whole, -1) + 1
                if whole in seen:
                    table += (str(seen[whole]),)
            yield table, number, column
            continue
        key = _ASSIGNED.match(line)
        if key:
            yield table + tuple(_keys(key[1])), number, column


# ---- writing TOML ---------------------------------------------------------------------------------


def to_toml(data: dict) -> str:
    """Tables of plain values as TOML (what the API's JSON becomes in truce.toml)."""
    out: list[str] = []
    for key, value in data.items():
        _table(out, [key], value, array=False)
    return "\n".join(out).strip("\n") + "\n"


def _table(out: list[str], path: list[str], table: dict, array: bool) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict) and not _tables(v)}
    nested = len(plain) < len(table)
    if array or plain or not nested:
        header = ".".join(_key(p) for p in path)
        out.extend(["", f"[[{header}]]" if array else f"[{header}]"])
        out.extend(f"{_key(k)} = {_value(v)}" for k, v in plain.items())
    for key, value in table.items():
        if isinstance(value, dict):
            _table(out, [*path, key], value, array=False)
        elif _tables(value):
            for item in value:
                _table(out, [*path, key], item, array=True)


def _tables(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    return (
        '"' + "".join(_ESCAPES.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text) + '"'
    )
