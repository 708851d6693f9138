"""A working day on the demo, told as CLI commands with --json: what tests/test_report_shapes.py
runs to hold the JSON of every command that is not a report route to its snapshot.

The commands write, so they run in this order on a store of their own; a step's label is the
command line as a person types it (ids and the seller's name taken from the demo). `play` yields
(label, parsed JSON) for each step; a step that exits non-zero fails at once with its output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"
EVA, MIA, OWEN = "eva.lind@truce-demo.example", "mia.ross@truce-demo.example", "owen.price@truce-demo.example"
ANN, BOB = "ann.fischer@acme.example", "bob.novak@acme.example"
NEWCOMER = "newcomer@truce-demo.example"
TOKEN_ENV = "TRUCE_SCENE_HUBSPOT_TOKEN"  # the runner sets it: a connection names where its secret lives

Run = Callable[[list[str]], object]


def play(
    run: Run, unown: Callable[[str], None], folder: Path, free_deal: Callable[[str], int]
) -> Iterator[tuple[str, object]]:
    """Each step's label and JSON, for the steps that print JSON (`run` answers None for the rest)."""
    return ((label, data) for label, data in _steps(run, unown, folder, free_deal) if data is not None)


def _steps(
    run: Run, unown: Callable[[str], None], folder: Path, free_deal: Callable[[str], int]
) -> Iterator[tuple[str, object]]:
    """Each step's label and JSON. `run(args)` runs one command with --db/--json and returns its
    parsed JSON; `unown(email)` takes the owner off a waiting lead (what a leaver leaves behind);
    `free_deal(email)` is an open deal of that seller with no discount request yet."""

    def step(*args: str | int | Path) -> tuple[str, object]:
        # a file by its name and an id as N: the label stays the same when the demo's ids move
        words = (a.name if isinstance(a, Path) else "N" if isinstance(a, int) else a for a in args)
        label = " ".join(["truce", *words])
        return label, run([str(a) for a in args])

    # one command line to a line, as people type them
    # fmt: off
    yield step("status")
    yield step("db", "current")
    yield step("config", "check")
    yield step("handoff", "queue")
    yield step("lead", "show", ANN)
    yield step("score", "explain", ANN)
    yield step("score", "refresh")
    yield step("handoff", "touch", ANN, "--kind", "call", "--as", EVA)
    yield step("handoff", "accept", ANN, "--as", EVA)
    yield step("handoff", "undo", ANN, "--as", EVA)
    yield step("handoff", "reject", ANN, "--reason", "no_budget", "--note", "Budget opens in Q3", "--as", EVA)
    yield step("handoff", "assign", BOB, "--to", EVA, "--as", OWEN)
    unown(BOB)
    yield step("handoff", "claim", BOB, "--as", EVA)
    yield step("lead", "move", BOB, "sal", "--note", "Called back", "--as", EVA)
    yield step("sla", "sweep")
    yield step("sla", "rebuild")
    yield step("meeting", "show", "--period", "2026-W46")
    yield step("meeting", "start", "--period", "2026-W49", "--attendee", EVA, "--attendee", MIA, "--as", OWEN)
    yield step("meeting", "decide", "--text", "Sales calls every webinar MQL within a day", "--owner", EVA,
               "--due", "2026-12-31", "--period", "2026-W49", "--indicator", "sla_compliance.sales", "--as", OWEN)
    label, decisions = step("decisions")
    yield label, decisions
    open_ones = [d["id"] for d in decisions if d["state"] == "open"]  # type: ignore[index, union-attr]
    yield step("decisions", "done", open_ones[0], "--note", "All answered", "--as", OWEN)
    yield step("decisions", "drop", open_ones[1], "--note", "Closed before we called", "--as", OWEN)
    yield step("initiative", "adopt", "key_account_liaison", "--owner", MIA, "--start", "2026-12-01",
               "--indicator", "cold_leads.sales", "--as", OWEN)
    yield step("initiatives")
    label, asked = step("discount", "request", free_deal(EVA), "--discount", "0.25", "--reason", "competitor",
                        "--note", "Rival quoted 22 % off", "--as", EVA)
    yield label, asked
    yield step("discount", "approve", asked["id"], "--note", "Three-year term", "--as", OWEN)  # type: ignore[index]
    yield step("discounts")
    yield step("connect", "hubspot", "--token-env", TOKEN_ENV, "--as", OWEN)
    yield step("connections")
    yield step("connections", "rejects", "hubspot")
    yield step("connections", "writes", "hubspot")
    yield step("connections", "revoke", "hubspot", "--as", OWEN)
    yield step("notifications", "prefs", EVA, "--set", "sla_due_soon=inbox")
    yield step("notifications", "failed")
    yield step("notifications", "retry", "--all")
    yield step("notifications", "deliver")
    yield step("notifications", "list", "--user", EVA)
    yield step("jobs")
    yield step("jobs", "run", "score_refresh")
    yield step("user", "add", NEWCOMER, "--team", "sales", "--role", "member", "--no-password", "--as", OWEN)
    yield step("user", "deactivate", NEWCOMER, "--as", OWEN)
    yield step("user", "activate", NEWCOMER, "--as", OWEN)
    yield step("user", "sessions", "end", NEWCOMER, "--as", OWEN)
    yield step("token", "create", "--as", OWEN, "--name", "hubspot-sync")  # prints the secret, never JSON
    label, tokens = step("token", "list")
    yield label, tokens
    yield step("token", "revoke", max(t["id"] for t in tokens), "--as", OWEN)  # type: ignore[union-attr, index]
    yield step("accounts", "plan", "acme.example", "--liaison", MIA, "--owner", EVA, "--next-action",
               "Joint QBR", "--due", "2026-12-15", "--as", OWEN)
    yield step("accounts", "plans")
    yield step("target", "set", "--metric", "revenue", "--period", "2027-Q1", "--team", "shared",
               "--amount", "2500000", "--as", OWEN)
    yield step("target", "backtest")
    yield step("attribution", "--from-file", EXAMPLES / "journeys.parquet", "--model", "shapley")
    yield step("feedback", "add", "Leads from the fair were students", "--kind", "lead_quality", "--as", EVA)
    label, listed = step("feedback", "list")
    yield label, listed
    yield step("feedback", "answer", listed[0]["id"], "--status", "acknowledged", "--as", MIA)  # type: ignore[index]
    yield step("survey", "import", EXAMPLES / "answers.csv", "--as", OWEN)
    yield step("import", "accounts", EXAMPLES / "accounts.csv", "--as", OWEN)
    yield step("export", "contacts", "--out", folder / "contacts.csv")
    # fmt: on


def store_options(app, args: list[str], db: str, config: str) -> list[str]:
    """--db, --config and --json for the command `args` names, where it has them (config check has no --db)."""
    import typer

    command = typer.main.get_command(app)
    for word in args:
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
    flags = {flag for param in command.params for flag in getattr(param, "opts", ())}
    return [
        *(["--db", db] if "--db" in flags else []),
        *(["--config", config] if "--config" in flags else []),
        *(["--json"] if "--json" in flags else []),
    ]
