"""Connector secrets at rest: sealed with a key that never enters the store.

A secret is either read from an environment variable at the moment it is needed (the connection
keeps only the variable's name), or sealed with Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` package) under a key held outside the database: `TRUCE_SECRET_KEY`, else the key
file named by `TRUCE_SECRET_KEY_FILE`, else `~/.config/truce/secret.key`, made (mode 0600) the
first time a secret is sealed. A copy of the database, an export or a backup therefore holds
nothing that opens the CRM; losing the key means running `truce connect` again.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_VARIABLE = "TRUCE_SECRET_KEY"
KEY_FILE_VARIABLE = "TRUCE_SECRET_KEY_FILE"


class SecretUnavailable(RuntimeError):
    """A connection's secret cannot be read: its variable is unset, or the sealing key is not this one."""


def key_file() -> Path:
    named = os.environ.get(KEY_FILE_VARIABLE)
    if named:
        return Path(named).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "truce" / "secret.key"


def _key(create: bool) -> bytes:
    given = os.environ.get(KEY_VARIABLE)
    if given:
        return given.strip().encode()
    path = key_file()
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise SecretUnavailable(
            f"no sealing key: set {KEY_VARIABLE} or {KEY_FILE_VARIABLE} to the key the secret was sealed with"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Created 0600 from the start: there is no moment when another user could read it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key


def _fernet(create: bool) -> Fernet:
    try:
        return Fernet(_key(create))
    except ValueError:
        raise SecretUnavailable(f"the sealing key in {KEY_VARIABLE} or {key_file()} is not a Fernet key") from None


def seal(secret: str) -> str:
    return _fernet(create=True).encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet(create=False).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable(
            "the stored secret does not open with this machine's sealing key; run `truce connect` again"
        ) from None


def from_environment(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise SecretUnavailable(f"the environment variable {variable} is not set; it holds this connection's secret")
    return value


def read(env: str | None, sealed: str | None) -> str | None:
    """The secret a connection names (None when it has none)."""
    if env:
        return from_environment(env)
    if sealed:
        return unseal(sealed)
    return None
