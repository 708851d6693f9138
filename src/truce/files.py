"""Files truce writes that hold the store's data (exports, rejected rows, briefs): readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE = 0o600


def private_open(path: str | os.PathLike, mode: str = "w", **options) -> IO:
    """`open(path, mode)`, but a new file is created 0600 and an existing one is narrowed to 0600.

    People, emails, deals and revenue are in these files; whoever else can log in to the machine
    has no business reading them. Share a file on purpose, not by default.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"private_open writes files; mode {mode!r} is not one of w, wb")
    handle = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(handle, PRIVATE)
    except OSError:  # a file system without modes (a mounted share): keep what it allows
        pass
    return os.fdopen(handle, mode, **options)


def write_private_text(path: str | os.PathLike, text: str) -> None:
    with private_open(path, "w", encoding="utf-8") as out:
        out.write(text)
