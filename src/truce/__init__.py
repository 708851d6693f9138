"""truce: the shared revenue system for a company's sales and marketing teams.

For notebooks (docs/library.md):

    import truce
    store = truce.open("truce.db")
    store.attribution(model="markov").to_pandas()
    truce.attribution(journeys_frame, model="shapley")

The names below load truce.library (and pydantic, pyarrow) only when first used, so that
`import truce` and `truce --help` stay instant.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The public names of the library, all found in truce.library.
PUBLIC = ("open", "attribution", "Truce", "JOURNEY_COLUMNS")
__all__ = ["__version__", *PUBLIC]

# Not `typing.TYPE_CHECKING`: importing typing alone costs more than the rest of `import truce`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from truce.library import JOURNEY_COLUMNS, Truce, attribution, open  # noqa: F401


def __getattr__(name: str) -> object:
    if name in PUBLIC:
        from truce import library

        return getattr(library, name)
    raise AttributeError(f"module 'truce' has no attribute {name!r}")
