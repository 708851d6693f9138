"""Who logs in, and taking it back: `truce user add|password|deactivate|activate`, `truce user sessions end`,
`truce token create|list|revoke`. The command line acts with the database's authority: it may do
for any user what RevOps may do through the API and the /access page.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from truce.cli.common import DbOption, JsonOption, console, fail, handled, open_store, print_json

user_app = typer.Typer(help="Users who log in to the web app and the API.", no_args_is_help=True)
sessions_app = typer.Typer(help="A user's browser sessions.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: hashed at rest, shown once.", no_args_is_help=True)
user_app.add_typer(sessions_app, name="sessions")

ActorOption = Annotated[
    str | None,
    typer.Option("--as", help="Who does it, for the audit trail. Default: $TRUCE_USER, else cli.", show_default=False),
]
RevokeTokensOption = Annotated[bool, typer.Option("--revoke-tokens", help="Also revoke every API token of the user.")]


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("TRUCE_USER") or "cli"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(call):
    """Call a service; its refusals become one line and exit 1."""
    from truce.services.logins import LoginError
    from truce.services.revocation import NoSuchLogin, RevocationRefused

    with handled():
        try:
            return call()
        except (LoginError, NoSuchLogin, RevocationRefused) as exc:
            fail(str(exc))


def _act_on_user(service: str, email: str, actor: str | None, db: str | None, json: bool, said) -> None:
    """Run one revocation service on a user by email, then print its JSON or the sentence `said` makes of it."""
    from truce.services import revocation

    store = _open(db)
    done = _run(lambda: getattr(revocation, service)(store, email, by=None, actor=_actor(actor)))
    if json:
        print_json(done, report="UserAccess")
        return
    console.print(said(done))


@user_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The user's email, their login.")],
    team: Annotated[str, typer.Option("--team", help="sales, marketing or revops (revops administers truce).")],
    role: Annotated[
        str, typer.Option("--role", help="member (acts for their team) or viewer (reads only).")
    ] = "member",
    name: Annotated[str | None, typer.Option("--name", help="Full name. Default: from the email.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Add without a password (API tokens only).")
    ] = False,
    revoke_tokens: RevokeTokensOption = False,
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Add a user (or change an existing one's team and role) and set their password.

    Passwords are stored as Argon2id hashes and need at least 10 characters. Without --password-stdin you are asked twice, hidden.
    A new password for an existing user ends all their sessions (--revoke-tokens: and revokes their API tokens).

    Example:  truce user add eva.lind@truce-demo.example --team sales --role member --as owen.price@truce-demo.example
    """
    from truce.services.logins import LoginError, add_user

    password = None if no_password and not password_stdin else _read_password(password_stdin)
    with handled():
        store = open_store(db)
        try:
            user_id = add_user(
                store,
                email=email,
                team=team,
                role=role,
                name=name,
                password=password,
                actor=_actor(actor),
                revoke_tokens=revoke_tokens,
            )
        except LoginError as exc:
            fail(str(exc))
    console.print(f"User {email} (id {user_id}): {team}, {role}" + (", password set" if password else ""))


@token_app.command("create")
def create(
    who: Annotated[str, typer.Option("--as", envvar="TRUCE_USER", help="Whose token: an active user's email.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. the system that uses it.")] = "api",
    db: DbOption = None,
) -> None:
    """Create an API token. It is printed once and stored only as a hash: keep it now.

    Send it as  Authorization: Bearer <token>  to /api/v1. It acts with the user's role.

    Example:  truce token create --as owen.price@truce-demo.example --name hubspot-sync
    """
    from truce.services.logins import LoginError, create_token

    with handled():
        store = open_store(db)
        try:
            secret = create_token(store, email=who, name=name)
        except LoginError as exc:
            fail(str(exc))
    sys.stdout.write(secret + "\n")
    sys.stderr.write("Shown once: truce keeps only its hash.\n")


@user_app.command("password")
def password(
    email: Annotated[str, typer.Argument(help="Whose password: the user's email.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input (for scripts).")
    ] = False,
    revoke_tokens: RevokeTokensOption = False,
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Set a user's password; all their sessions end.

    Whoever knew the old password is logged out; --revoke-tokens revokes the user's API tokens too.
    The password is asked twice, hidden, unless --password-stdin.

    Example:  truce user password eva.lind@truce-demo.example --revoke-tokens --as owen.price@truce-demo.example
    """
    from truce.services.revocation import set_password

    new = _read_password(password_stdin)
    store = _open(db)
    done = _run(lambda: set_password(store, email, new, by=None, actor=_actor(actor), revoke_tokens=revoke_tokens))
    if json:
        print_json(done, report="UserAccess")
        return
    revoked = f", {len(done['tokens_revoked'])} API tokens revoked" if revoke_tokens else ""
    console.print(f"Password of {done['email']} set: {done['sessions_ended']} sessions ended{revoked}")


@user_app.command("deactivate")
def deactivate(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Deactivate a user: no log-in, sessions ended, API tokens refused.

    Until `truce user activate`; revoke the tokens to end them for good. Their records stay theirs.

    Example:  truce user deactivate eva.lind@truce-demo.example --as owen.price@truce-demo.example
    """
    _act_on_user(
        "deactivate_user",
        email,
        actor,
        db,
        json,
        lambda done: f"{done['email']} is inactive: {done['sessions_ended']} sessions ended, API tokens refused",
    )


@user_app.command("activate")
def activate(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Let a deactivated user log in again, with the password and API tokens they had.

    Example:  truce user activate eva.lind@truce-demo.example --as owen.price@truce-demo.example
    """
    _act_on_user("activate_user", email, actor, db, json, lambda done: f"{done['email']} is active again")


@sessions_app.command("end")
def end(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Log a user out of every browser.

    Each of their sessions is refused from its next request on. API tokens are not touched (see `truce token revoke`).

    Example:  truce user sessions end eva.lind@truce-demo.example --as owen.price@truce-demo.example
    """
    _act_on_user(
        "end_sessions", email, actor, db, json, lambda done: f"{done['email']}: {done['sessions_ended']} sessions ended"
    )


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens (email).")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """API tokens, oldest first, never the token itself.

    Id, whose, name, the first characters, created, last used, revoked: truce keeps only the token's hash.

    Example:  truce token list --user eva.lind@truce-demo.example
    """
    from truce.services.revocation import list_tokens as listed

    store = _open(db)
    tokens = _run(lambda: listed(store, by=None, user=user))
    if json:
        print_json(tokens, report="Token")
        return
    from rich.table import Table

    shown = Table(title=f"API tokens: {len(tokens)}", title_justify="left")
    for column in ("id", "user", "name", "starts", "created", "last used", "revoked"):
        shown.add_column(column, justify="right" if column == "id" else "left")
    for t in tokens:
        when = [t[k].strftime("%Y-%m-%d %H:%M") if t[k] else "—" for k in ("created_at", "last_used_at", "revoked_at")]
        shown.add_row(str(t["id"]), t["user"], t["name"], t["prefix"] + "…", *when)
    console.print(shown)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (truce token list).", min=1)],
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Revoke an API token: the next request that sends it is refused (401).

    It cannot be undone; create a new token instead.

    Example:  truce token revoke 1 --as owen.price@truce-demo.example
    """
    from truce.services.revocation import revoke_token

    store = _open(db)
    done = _run(lambda: revoke_token(store, token_id, by=None, actor=_actor(actor)))
    if json:
        print_json(done, report="Token")
        return
    console.print(f"Token {done['id']} ({done['name']}, of {done['user']}) is revoked")


def _open(db: str | None):
    with handled():
        return open_store(db)
