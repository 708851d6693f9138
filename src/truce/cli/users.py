"""Who logs in: `truce user add`, `truce token create`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from truce.cli.common import DbOption, console, fail, handled, open_store

user_app = typer.Typer(help="Users who log in to the web app and the API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: hashed at rest, shown once.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")


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
    actor: Annotated[
        str | None,
        typer.Option(
            "--as", help="Who adds the user, for the audit trail. Default: $TRUCE_USER, else cli.", show_default=False
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Add a user (or change an existing one's team and role) and set their password.

    Passwords are stored as Argon2id hashes and need at least 10 characters. Without --password-stdin you are asked twice, hidden.

    Example:  truce user add eva@yourco.example --team sales --role member --as ria@yourco.example
    """
    from truce.services.logins import LoginError, add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not no_password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
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
                actor=actor or os.environ.get("TRUCE_USER") or "cli",
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

    Example:  truce token create --as ops@yourco.example --name hubspot-sync
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
