"""`truce brief`: the joint revenue-meeting brief, as a self-contained HTML page or Markdown."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_and_store,
    errors,
    fail,
    handled,
    in_calendar,
    print_json,
)

FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}


def register(app: typer.Typer) -> None:
    app.command("brief")(brief)


def brief(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="An ISO week (2026-W47), month (2026-11), quarter (2026-Q4) or year (2026), "
            "from 1900 to 2999. Default: the last complete week.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the brief to this file: .html (with charts) or .md.", show_default=False),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            "--as-of",
            metavar="DATE",
            help="As of the end of this day, YYYY-MM-DD (company time zone). Default: now.",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """The joint revenue-meeting brief for a week, month or quarter: HTML with charts, or Markdown.

    It covers the shared target and forecast, movement through the funnel, SLA breaches by side, cold leads by team, stalled deals, feedback themes and marketing's answers, campaign results, the diagnostic, key accounts' joint plans, and the decisions the numbers call for.

    The HTML is one self-contained file with charts; opening it fetches nothing. Without --out the brief is printed as Markdown; --json prints its data. docs/brief.md gives every rule.

    Example:  truce brief --period 2026-W47 --out brief.html
    """
    fmt = None
    if out is not None:
        fmt = FORMATS.get(out.suffix.lower())
        if fmt is None:
            fail(f"--out {out}: write the brief to a .html or .md file")
    as_of = _day(at)
    from truce.services.brief import BriefError, build_brief

    started = time.monotonic()
    with handled():
        settings, engine = config_and_store(config, db)
        try:
            data = build_brief(engine, settings, period=period, as_of=as_of, progress=_progress(started))
        except BriefError as exc:
            fail(str(exc))
    if json:
        print_json(data, report="Brief")
    if out is not None:
        assert fmt is not None  # checked with --out, above
        _write(out, fmt, data)
        errors.print(
            f"wrote {out} ({data['period']['label']}, {len(data['decisions'])} decisions needed)",
            highlight=False,
            soft_wrap=True,  # the path stays whole, to copy
        )
    elif not json:
        from truce.brief import render_markdown

        typer.echo(render_markdown(data), nl=False)


def _day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--at {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-22")
    return in_calendar("--at", day)


def _progress(started: float):
    def say(section: str) -> None:
        errors.print(f"[dim]{time.monotonic() - started:5.1f}s[/] reading {section.replace('_', ' ')}", highlight=False)

    return say


def _write(out: Path, fmt: str, data: dict) -> None:
    from truce.brief import render_html, render_markdown
    from truce.files import write_private_text

    text = render_html(data) if fmt == "html" else render_markdown(data)
    try:
        write_private_text(out, text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
