"""Run one attribution model on a table of touches, on whatever engine holds it.

The engine computes the small aggregates (truce.analytics.attribution); the exact maths
on them is truce.domain.attribution. Used by the store's report, by `--from-file` and by
the benchmarks alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from truce.domain.attribution import MODELS, RULE_MODELS, Credit, decode_state, fit_to_total

MAX_SHAPLEY_KEYS = 62
MAX_MARKOV_STATES = 4000


class ModelError(ValueError):
    """The model cannot run on these journeys; the message says why and what would."""


@dataclass(frozen=True)
class Settings:
    half_life_days: float = 7.0
    markov_order: int = 1
    shapley_value: str = "rate"
    shapley_exact_channels: int = 15
    shapley_samples: int = 2000
    seed: int = 0

    @classmethod
    def from_config(cls, attribution) -> Settings:
        return cls(
            half_life_days=attribution.half_life_days,
            markov_order=attribution.markov_order,
            shapley_value=attribution.shapley_value,
            shapley_exact_channels=attribution.shapley_exact_channels,
            shapley_samples=attribution.shapley_samples,
        )


def run_model(touches, labels: list, model: str, settings: Settings = Settings()) -> Credit:
    """Credit per label (labels[k] names key k) under `model`, totals from the same touches."""
    from truce.analytics import attribution as q

    if model not in MODELS:
        raise ModelError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if model == "shapley":
        _check_shapley_keys(len(labels))  # before the engine builds masks wider than 64 bits
    totals = fetch(q.journey_totals(touches)).to_pylist()[0]
    credit = Credit(
        list(labels),
        np.zeros(len(labels)),
        np.zeros(len(labels)),
        float(totals["conversions"] or 0),
        float(totals["revenue"] or 0.0),
        int(totals["journeys"] or 0),
    )
    if credit.total_conversions == 0:
        credit.notes.append("No journey converted: nothing to credit.")
        return credit
    if model in RULE_MODELS:
        rows = fetch(q.heuristic_credit(touches, model, settings.half_life_days))
        _scatter(credit, rows)
    elif model == "markov":
        _markov(credit, fetch(q.transitions(touches, settings.markov_order, len(labels))), settings)
    else:
        _shapley(credit, fetch(q.coalitions(touches)), settings)
    credit.conversions = fit_to_total(credit.conversions, credit.total_conversions)
    credit.revenue = fit_to_total(credit.revenue, credit.total_revenue)
    return credit


def numbers(column) -> np.ndarray:
    """An Arrow column of numbers without nulls as a NumPy array, read from its buffer.

    pyarrow's own to_numpy() imports pandas first (0.5 s of every attribution report's start,
    pandas being installed beside Ibis); a column with nulls, or of another type, still goes
    that way."""
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    kind = _NUMPY_KINDS.get(str(array.type))
    if kind is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    if len(array) == 0:
        return np.empty(0, kind)
    return np.frombuffer(array.buffers()[1], dtype=kind, count=len(array), offset=array.offset * kind.itemsize)


# Arrow's names for the number types (str(pa.int64()) is "int64", str(pa.float64()) is "double").
_NUMPY_KINDS = {
    **{f"{sign}int{bits}": np.dtype(f"{sign}int{bits}") for sign in ("", "u") for bits in (8, 16, 32, 64)},
    "float": np.dtype("float32"),
    "double": np.dtype("float64"),
}


def fetch(expr):
    """An expression's result as Arrow, exact on every engine (Spark's own Arrow, not via pandas)."""
    from truce.analytics.spark import to_arrow

    return to_arrow(expr)


def _scatter(credit: Credit, rows) -> None:
    keys = numbers(rows.column("key"))
    credit.conversions[keys] = numbers(rows.column("conversions"))
    credit.revenue[keys] = numbers(rows.column("revenue"))


def markov_credit(edges, n_keys: int, order: int, total_conversions: float, total_revenue: float):
    """Exact Markov credit from the transitions table (columns src, dst, count, value)."""
    from truce.domain.attribution import markov

    src = numbers(edges.column("src"))
    dst = numbers(edges.column("dst"))
    states = np.unique(np.concatenate([src[src >= 0], dst[dst >= 0]]))
    if len(states) > MAX_MARKOV_STATES:
        raise ModelError(
            f"a Markov chain of order {order} over these keys has {len(states):,} states, more than "
            f"{MAX_MARKOV_STATES:,}; use a lower order or fewer keys (by channel or team rather than campaign or person)"
        )
    channels = {int(s): decode_state(int(s), n_keys, order) for s in states}
    transitions = markov.Transitions(
        src,
        dst,
        numbers(edges.column("count")).astype(float),
        numbers(edges.column("value")).astype(float),
        _Lookup(channels),
    )
    return markov.attribute(transitions, n_keys, total_conversions, total_revenue)


class _Lookup:
    """state id → channels, indexable like the list the Markov module expects."""

    def __init__(self, found: dict[int, tuple[int, ...]]) -> None:
        self.found = found

    def __getitem__(self, state: int) -> tuple[int, ...]:
        return self.found[state]


def _markov(credit: Credit, edges, settings: Settings) -> None:
    result = markov_credit(
        edges, len(credit.labels), settings.markov_order, credit.total_conversions, credit.total_revenue
    )
    credit.conversions, credit.revenue = result.conversions, result.revenue
    credit.notes.append(
        f"Markov order {settings.markov_order}: conversion probability {result.conversion_probability:.6f} "
        "from the absorbing chain, solved exactly."
    )


def shapley_credit(rows, n_keys: int, settings: Settings):
    from truce.domain.attribution import shapley

    _check_shapley_keys(n_keys)
    coalitions = shapley.Coalitions(
        numbers(rows.column("mask")),
        numbers(rows.column("journeys")),
        numbers(rows.column("conversions")),
        numbers(rows.column("revenue")),
    )
    return shapley.attribute(
        coalitions,
        n_keys,
        value=settings.shapley_value,
        exact_limit=settings.shapley_exact_channels,
        samples=settings.shapley_samples,
        seed=settings.seed,
    )


def _check_shapley_keys(n_keys: int) -> None:
    if n_keys > MAX_SHAPLEY_KEYS:
        raise ModelError(
            f"Shapley credits at most {MAX_SHAPLEY_KEYS} keys at once and these journeys have {n_keys:,}; "
            "credit by channel or team, or use markov"
        )


def _shapley(credit: Credit, rows, settings: Settings) -> None:
    result = shapley_credit(rows, len(credit.labels), settings)
    credit.conversions, credit.revenue = result.conversions, result.revenue
    if result.sampled_coalitions:
        credit.stderr_conversions, credit.stderr_revenue = result.stderr_conversions, result.stderr_revenue
        credit.notes.append(
            f"Shapley: {result.sampled_coalitions:,} channel sets had more than {settings.shapley_exact_channels} "
            f"channels and were estimated from {settings.shapley_samples:,} random orderings each (seed "
            f"{settings.seed}); each credit carries its standard error (about ±2 standard errors at 95 %)."
        )
    else:
        credit.notes.append(f"Shapley ({settings.shapley_value}): exact over every channel set.")
