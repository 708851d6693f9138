"""Live connectors: `truce connect`, `truce connections`, `truce sync`."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from truce.cli.common import ConfigOption, DbOption, JsonOption, config_and_store, console, fail, handled, print_json

connections_app = typer.Typer(
    help="The CRMs truce syncs with: last sync, cursors, errors and rejects; revoke one.",
    invoke_without_command=True,
)

ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who acts, for the audit trail (email). Default: $TRUCE_USER.")
]


class System(StrEnum):
    hubspot = "hubspot"
    salesforce = "salesforce"


class Auth(StrEnum):
    private_app_token = "private_app_token"
    client_credentials = "client_credentials"
    jwt_bearer = "jwt_bearer"


def register(app: typer.Typer) -> None:
    app.command("connect")(connect)
    app.command("sync")(sync)
    app.add_typer(connections_app, name="connections")


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("TRUCE_USER") or "cli"


def _store(config: str | None, db: str | None):

    with handled():
        return config_and_store(config, db)


def _listed(db: str | None, json: bool, fetch, report: str) -> list | None:
    """A connection's list (rejects, writes) from `fetch(engine)`; printed as rows of the model
    `report` (truce.reports.models) and None when --json."""
    from truce.cli.common import open_store
    from truce.services.connectors import connections

    with handled():
        engine = open_store(db)
    try:
        found = fetch(engine)
    except connections.NoSuchConnection as exc:
        fail(str(exc), code=2)
    if json:
        print_json(found, report=report)
        return None
    return found


def _secret_from_stdin(flag: bool, what: str) -> str | None:
    if not flag:
        return None
    value = sys.stdin.read().strip()
    if not value:
        fail(f"{what}: nothing was read from standard input")
    return value


def connect(
    system: Annotated[System, typer.Argument(help="hubspot or salesforce.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for this connection. Default: the system.")] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="The API's base URL: HubSpot's (default https://api.hubapi.com) or Salesforce's instance URL. "
            "A sandbox, a proxy or a test server can stand in.",
        ),
    ] = None,
    auth: Annotated[
        Auth | None,
        typer.Option(
            "--auth",
            help="How truce signs in. HubSpot: private_app_token. Salesforce: client_credentials (default) or jwt_bearer.",
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            metavar="VARIABLE",
            help="The environment variable holding the secret (HubSpot token; Salesforce client secret, or the JWT private key in PEM). Read when truce signs in; never stored.",
        ),
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin", help="Read the secret from standard input and keep it sealed (encrypted) in the store."
        ),
    ] = False,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Salesforce: the connected app's consumer key.")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Salesforce JWT bearer flow: the user truce acts as.")
    ] = None,
    login_url: Annotated[
        str | None,
        typer.Option("--login-url", help="Salesforce: where tokens come from. Default: https://login.salesforce.com."),
    ] = None,
    webhook_secret_env: Annotated[
        str | None,
        typer.Option(
            "--webhook-secret-env",
            metavar="VARIABLE",
            help="HubSpot: the app's client secret, which signs webhooks. Salesforce: a shared secret for the outbound-message route.",
        ),
    ] = None,
    org_id: Annotated[
        str | None, typer.Option("--org-id", help="Salesforce: the org id outbound messages must carry.")
    ] = None,
    portal_id: Annotated[
        str | None, typer.Option("--portal-id", help="HubSpot: the account (portal) id webhooks must carry.")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Store a connection to a CRM (run it again to change one). The secret is never printed or exported.

    Examples:
      export HUBSPOT_TOKEN=pat-eu1-…   # a private app with crm.objects.*.read/write and crm.schemas.*.read
      truce connect hubspot --token-env HUBSPOT_TOKEN
      truce connect salesforce --base-url https://acme.my.salesforce.com --client-id 3MVG9… --token-env SF_SECRET
      truce connect salesforce --auth jwt_bearer --client-id 3MVG9… --username truce@acme.example --token-env SF_KEY_PEM --base-url https://acme.my.salesforce.com
    """
    from truce.services.connectors import connections
    from truce.services.connectors.secrets import SecretUnavailable

    loaded, engine = _store(config, db)
    request = connections.Request(
        system=system.value,
        name=name,
        auth=auth.value if auth else None,
        base_url=base_url,
        settings={"client_id": client_id, "username": username, "login_url": login_url, "org_id": org_id,
                  "portal_id": portal_id},
        secret_env=token_env,
        secret=_secret_from_stdin(token_stdin, "--token-stdin"),
        webhook_secret_env=webhook_secret_env,
    )  # fmt: skip
    try:
        made = connections.connect(engine, loaded, request, _actor(actor))
    except (connections.ConnectionProblem, SecretUnavailable) as exc:
        fail(str(exc), code=2)
    view = made.public()
    if json:
        print_json(view, report="Connection")
        return
    console.print(f"Connected [bold]{view['name']}[/] ({view['system']}, {view['auth']}) at {view['base_url']}; "
                  f"secret: {view['secret']}.")  # fmt: skip
    console.print(f"Next: truce sync {view['name']}")


@connections_app.callback()
def connections_list(
    ctx: typer.Context,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Every connection: system, base URL, where its secret lives, last sync, cursors, errors, open rejects.

    Examples:
      truce connections
      truce connections --json
      truce connections rejects hubspot
      truce connections writes hubspot --status conflict
      truce connections revoke hubspot
    """
    if ctx.invoked_subcommand is not None:
        return
    from truce.cli.common import open_store
    from truce.services.connectors import connections

    with handled():
        engine = open_store(db)
    found = connections.listing(engine)
    if json:
        print_json(found, report="ConnectionState")
        return
    if not found:
        console.print("No connections yet. Add one: truce connect hubspot --token-env HUBSPOT_TOKEN")
        return
    from rich.table import Table

    table = Table("name", "system", "state", "base URL", "last sync", "objects (cursor)", "open rejects",
                  "write-backs", "last error")  # fmt: skip
    for entry in found:
        cursors = "\n".join(f"{c['object']}: {c['cursor'] or '—'} ({c['records']:,})" for c in entry["cursors"]) or "—"
        writes = entry["writes"]
        table.add_row(
            entry["name"], entry["system"], "active" if entry["active"] else "revoked", entry["base_url"],
            entry["last_sync_at"] or "never", cursors, str(entry["open_rejects"]),
            f"{writes['pending']} waiting\n{writes['conflict']} conflict\n{writes['dead']} dead", entry["last_error"] or "",
        )  # fmt: skip
    console.print(table)


@connections_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The connection to stop using.")],
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Stop syncing and writing back through a connection; its sealed secrets are wiped, its record kept.

    Example:  truce connections revoke hubspot
    """
    from truce.cli.common import open_store
    from truce.services.connectors import connections

    with handled():
        engine = open_store(db)
    try:
        done = connections.revoke(engine, name, _actor(actor))
    except connections.NoSuchConnection as exc:
        fail(str(exc), code=2)
    if json:
        print_json(done.public(), report="Connection")
        return
    console.print(f"Revoked {name}: no more syncs or write-backs. `truce connect {done.system}` makes it work again.")


@connections_app.command("rejects")
def rejects(
    name: Annotated[str, typer.Argument(help="The connection.")],
    all_: Annotated[bool, typer.Option("--all", help="Also the rejects that went in later.")] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The CRM records a sync could not take in, with the CRM's id and the reason.

    Each is asked for again by the next sync, and leaves this list when it goes in.

    Example:  truce connections rejects hubspot --json
    """
    from truce.services.connectors import connections

    found = _listed(db, json, lambda engine: connections.rejects(engine, name, open_only=not all_), "SyncReject")
    if found is None:
        return
    if not found:
        console.print(f"No open rejects for {name}.")
        return
    from rich.table import Table

    table = Table("object", "CRM id", "reason", "seen")
    for entry in found:
        table.add_row(entry["object"], entry["crm_id"], entry["reason"], entry["seen_at"])
    console.print(table)


class WriteStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    failed = "failed"
    sent = "sent"
    conflict = "conflict"
    skipped = "skipped"
    dead = "dead"


@connections_app.command("writes")
def writes(
    name: Annotated[str, typer.Argument(help="The connection.")],
    status: Annotated[
        WriteStatus | None,
        typer.Option(
            "--status", help="Only these: conflict (the CRM's newer edit was kept), dead (gave up), pending, sent, …"
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many, newest first.")] = 200,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """truce's decisions written back to a CRM: which fields went to which record, and how it went.

    A conflict means the record changed in the CRM after truce last read it, so the CRM's edit was
    kept and truce's value was not written; it is never retried. Dead writes failed every retry.

    Examples:
      truce connections writes hubspot --status conflict
      truce connections writes salesforce --json
    """
    from truce.services.connectors.writeback import writes as written

    found = _listed(
        db, json, lambda engine: written(engine, name, status=status.value if status else None, limit=limit), "CrmWrite"
    )
    if found is None:
        return
    if not found:
        console.print(f"No write-backs{' with status ' + status.value if status else ''} for {name}.")
        return
    from rich.table import Table

    table = Table("object", "CRM id", "fields", "status", "attempts", "owed", "sent", "detail")
    for entry in found:
        fields = ", ".join(f"{k}={v}" for k, v in entry["fields"].items())
        table.add_row(entry["object"], entry["crm_id"], fields, entry["status"], str(entry["attempts"]),
                      entry["owed_at"], entry["sent_at"] or "", entry["detail"] or "")  # fmt: skip
    console.print(table)


def sync(
    name: Annotated[
        str, typer.Argument(help="The connection: hubspot, salesforce, or the --name given to truce connect.")
    ],
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Read every record again and report what differed (records the CRM no longer has are marked deleted).",
        ),
    ] = False,
    objects: Annotated[
        str | None,
        typer.Option("--objects", metavar="NAME,...", help="Only these objects (e.g. contacts,deals or Lead,Contact)."),
    ] = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Pull what changed in the CRM since the last sync, page by page, through the importer's checks.

    Each page goes in with its cursor in one transaction: a sync stopped half-way resumes where it
    stopped, and running it twice changes nothing. Records that cannot go in are rejects (see
    `truce connections rejects NAME`), asked for again next time; the rest go in. The worker runs it
    on a schedule too (job crm_sync).

    Examples:
      truce sync hubspot
      truce sync salesforce --full --json
    """
    from truce.services.connectors import connections
    from truce.services.connectors.errors import CrmError, SyncRefused
    from truce.services.connectors.secrets import SecretUnavailable
    from truce.services.connectors.sync import sync as run_sync

    loaded, engine = _store(config, db)
    only = [o.strip() for o in objects.split(",") if o.strip()] if objects else None
    try:
        with _progress(json) as advance:
            report = run_sync(
                engine, loaded, name, full=full, actor=_actor(actor), origin="cli", only=only, progress=advance
            )
    except connections.NoSuchConnection as exc:
        fail(str(exc), code=2)
    except (SyncRefused, SecretUnavailable) as exc:
        fail(str(exc))
    except CrmError as exc:
        fail(f"sync of {name} stopped: {exc}")
    if json:
        print_json(report.as_dict(), report="SyncReport")
        return
    _print_report(report)


def _progress(quiet: bool):
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if quiet or not sys.stderr.isatty():
            yield None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as progress:
            task = progress.add_task("syncing…")
            yield lambda obj, read: progress.update(task, description=f"{obj}: {read:,} records")

    return bar()


def _print_report(report) -> None:
    from rich.table import Table

    table = Table(
        "object", "pages", "read", "new", "updated", "unchanged", "rejected", "deleted", "merged", "MQLs queued"
    )
    for name, counts in report.objects.items():
        table.add_row(name, *(f"{counts[k]:,}" for k in ("pages", "read", "inserted", "updated", "unchanged",
                                                       "rejected", "deleted", "merged", "handoffs_opened")))  # fmt: skip
    console.print(table)
    for name, diff in report.differences.items():
        console.print(f"{name}: {diff['differed']:,} differed, {diff['new_in_truce']:,} new, "
                      f"{diff['missing_in_crm']:,} no longer in the CRM (marked deleted)")  # fmt: skip
    if report.rejects:
        console.print(f"{len(report.rejects):,} rejected; see: truce connections rejects {report.connection}")
