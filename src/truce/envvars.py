"""Settings read from environment variables, with the variable named in any error."""

from __future__ import annotations

import os


def seconds_from(name: str, default: float, lowest: float, highest: float) -> float:
    """A number of seconds from $`name` (default when unset), refused by name outside lowest..highest."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not lowest <= seconds <= highest:
        raise ValueError(f"{name}={raw!r} must be from {lowest:g} to {highest:g} seconds")
    return seconds


def switch_from(name: str, default: bool) -> bool:
    """on/off from $`name` (default when unset), refused by name when it is neither."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "1", "yes", "true"):
        return True
    if raw in ("off", "0", "no", "false"):
        return False
    raise ValueError(f"{name}={raw!r} must be on or off")
