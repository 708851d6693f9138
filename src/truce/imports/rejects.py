"""The rejects file: the rows an import left out, as they were, with the reason beside them."""

from __future__ import annotations

import csv
from pathlib import Path

from truce.csvsafe import neutralise
from truce.files import private_open


def write_rejects(path: str | Path, header: list[str], rejects: list) -> Path:
    """Write rejected rows so the user can fix them and load that file again."""
    path = Path(path)
    with private_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "line", "reason"])
        for _record, cells, errors in rejects:
            reason = "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in errors)
            row = [neutralise(cells.get(name, "")) for name in header]
            writer.writerow([*row, errors[0].line or "", neutralise(reason)])
    return path
