"""Writing CSV that a spreadsheet will not execute.

A cell starting with = + - @ (or a tab or carriage return) is run as a formula by Excel,
LibreOffice and Google Sheets. Such cells get a leading apostrophe, which spreadsheets
show as text; plain numbers such as -12.50 are left alone.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def neutralise(cell: object) -> object:
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_START):
        return cell
    if _NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


# What neutralise() adds, to take off again when truce reads its own export back.
NEUTRALISED = r"^'([=+\-@\t\r])"

