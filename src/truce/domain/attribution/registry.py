"""The attribution models truce offers: name, label, how each splits the credit, where it runs.

Every face and engine asks this registry: the CLI's choices and the API's enum (through
truce.vocabulary.AttributionModelName, whose names a test checks against this list), the
config's validation, the pages' model switcher, the Ibis expressions and the numpy fast path
(which read their weights from here), and the journeys-file path (which refuses the models that
need milestones a file does not record). Adding a model is one entry here plus its maths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from truce.vocabulary import ATTRIBUTION_MODELS

Family = Literal["rule", "milestone", "data"]

# Where a model can run: the store's reports on DuckDB in process or on Spark, and a journeys
# file (`truce attribution --from-file`), which has no lead- or opportunity-creation moments.
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class PositionWeights:
    """U-shaped: `edge` each to the first and last touch, `middle` shared by the touches between.

    One touch takes all; two share 50/50 (there is no middle to give to)."""

    edge: float = 0.4
    middle: float = 0.2


@dataclass(frozen=True)
class MilestoneWeights:
    """`share` to each milestone touch (first, lead creation, opportunity creation, and the
    closing touch when `closing`), `rest` shared by the other touches."""

    share: float
    rest: float
    closing: bool = False


@dataclass(frozen=True)
class AttributionModel:
    name: str
    label: str
    family: Family
    summary: str
    engines: tuple[str, ...] = ENGINES
    from_file: bool = True
    weights: PositionWeights | MilestoneWeights | None = None


POSITION_BASED = PositionWeights(edge=0.4, middle=0.2)
W_SHAPED = MilestoneWeights(share=0.30, rest=0.10)
FULL_PATH = MilestoneWeights(share=0.225, rest=0.10, closing=True)

REGISTRY: dict[str, AttributionModel] = {
    m.name: m
    for m in (
        AttributionModel("first_touch", "First touch", "rule", "The first touch takes all the credit."),
        AttributionModel("last_touch", "Last touch", "rule", "The last touch before the conversion takes all."),
        AttributionModel("linear", "Linear", "rule", "Every touch the same share, repeats included."),
        AttributionModel(
            "time_decay", "Time decay", "rule", "A touch's weight halves every half-life before the conversion."
        ),
        AttributionModel(
            "position_based",
            "Position-based (U)",
            "rule",
            "40 % first, 40 % last, 20 % shared by the touches between.",
            weights=POSITION_BASED,
        ),
        AttributionModel(
            "w_shaped",
            "W-shaped",
            "milestone",
            "30 % each to the first, lead-creation and opportunity-creation touches, 10 % to the rest.",
            from_file=False,
            weights=W_SHAPED,
        ),
        AttributionModel(
            "full_path",
            "Full path",
            "milestone",
            "22.5 % each to the first, lead-creation, opportunity-creation and closing touches, 10 % to the rest.",
            from_file=False,
            weights=FULL_PATH,
        ),
        AttributionModel("markov", "Markov (removal effect)", "data", "Credit by each channel's removal effect."),
        AttributionModel("shapley", "Shapley", "data", "Credit by each channel's Shapley value over channel sets."),
    )
}

NAMES: tuple[str, ...] = tuple(REGISTRY)
RULE_MODELS = tuple(m.name for m in REGISTRY.values() if m.family in ("rule", "milestone"))
MILESTONE_MODELS = tuple(m.name for m in REGISTRY.values() if m.family == "milestone")
DATA_MODELS = tuple(m.name for m in REGISTRY.values() if m.family == "data")
FILE_MODELS = tuple(m.name for m in REGISTRY.values() if m.from_file)

# The registry and the vocabulary's names are one list; a model missing from either is a bug.
assert NAMES == ATTRIBUTION_MODELS, "truce.vocabulary.AttributionModelName and the registry disagree"


def get(name: str) -> AttributionModel:
    """The model called `name`, or a ValueError listing the ones there are."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(NAMES)}") from None


def labels() -> list[tuple[str, str]]:
    """(name, label) for each model, in order: what a model switcher offers."""
    return [(m.name, m.label) for m in REGISTRY.values()]
