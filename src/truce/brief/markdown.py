"""Markdown that shows what people wrote as they wrote it, and nothing more.

The Markdown brief is pasted into wikis and e-mails, which render it, raw HTML included. So every
value the template prints is escaped (the environment's `finalize`), the way autoescaping does it
for HTML:

- `&`, `<` and `>` become character references: no tag, comment or autolink can start;
- the characters that mark up text inline are backslash-escaped: `\\`, a backtick, `*`, `_`, `~`,
  `[`, `]`, `|` (a table cell) and `$` (maths on some sites). Without a `[` no link, image or
  link reference can form, so `(` and `)` are left as written, as are `.` and `!`;
- a line break becomes a space: a value stays on its line, in its table cell or list item;
- a value starting with `#`, `>`, `-`, `+`, `=` or `1.` / `1)` has that mark escaped, in case it
  starts a line (a heading, a quote, a list).

Numbers, and the brief's own formatting of numbers, money and dates (`Md`), are printed as they are.
"""

from __future__ import annotations

import re
from decimal import Decimal

_INLINE = re.compile(r"([\\`*_~\[\]|$])")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")
_LEADING = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))")


class Md(str):
    """Text that is already Markdown, printed as it is: the brief's own number and date formats."""


def escape(value) -> str:
    """`value` as Markdown text that renders to exactly what it says."""
    if isinstance(value, Md):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = _LINE_BREAK.sub(" ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    return _LEADING.sub(_escape_mark, text, count=1)


def _escape_mark(found: re.Match) -> str:
    space, mark, number, after = found.groups()
    return f"{space}\\{mark}" if mark else f"{space}{number}\\{after}"


def formatted(filter_):
    """A number, money or date filter whose output is Markdown as it stands."""

    def wrapped(*args, **kwargs):
        return Md(filter_(*args, **kwargs))

    return wrapped
