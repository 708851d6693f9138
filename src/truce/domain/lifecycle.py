"""The lifecycle engine's rules: which stage moves both teams allow, and what a move skips.

Pure functions over the funnel in truce.toml. The services apply them to every move,
whether a seller clicks "accept", an import replays history, or a score crosses the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from truce.config import Funnel


class IllegalMove(ValueError):
    """A move the funnel does not allow; the message names both stages and the allowed ones."""


@dataclass(frozen=True)
class Move:
    from_stage: str | None
    to_stage: str
    team_before: str | None
    team_after: str
    skipped: tuple[str, ...]  # waterfall stages jumped over, counted by funnel reports

    @property
    def is_handoff(self) -> bool:
        """Whether the lead changes hands between the teams."""
        return self.team_before is not None and self.team_before != self.team_after


def check_move(funnel: Funnel, from_stage: str | None, to_stage: str, *, history: bool = False) -> Move:
    """The move from `from_stage` (None for a new contact) to `to_stage`, or IllegalMove.

    A new contact enters at one of the funnel's entry stages. Imported `history` may start at any
    stage of the waterfall (not at an exit): a CRM's record of a lead often begins after its first.
    """
    known = funnel.stage_keys
    for stage in (from_stage, to_stage):
        if stage is not None and stage not in known:
            raise IllegalMove(f"unknown stage {stage!r}; known stages: {', '.join(known)}")
    if history and from_stage is None:
        allowed = tuple(stage.key for stage in funnel.stages)
    else:
        allowed = funnel.moves()[from_stage]
    if to_stage not in allowed:
        origin = "a lead with no earlier move" if from_stage is None else f"{from_stage!r}"
        options = ", ".join(allowed) if allowed else "none: it is a final stage"
        raise IllegalMove(f"cannot move from {origin} to {to_stage!r}; allowed from {origin}: {options}")
    return Move(
        from_stage,
        to_stage,
        funnel.team_of(from_stage) if from_stage else None,
        funnel.team_of(to_stage),
        skipped_stages(funnel, from_stage, to_stage),
    )


def skipped_stages(funnel: Funnel, from_stage: str | None, to_stage: str) -> tuple[str, ...]:
    """Waterfall stages strictly between two waterfall stages; exits skip nothing."""
    ordered = [s.key for s in funnel.stages]
    if from_stage not in ordered or to_stage not in ordered:
        return ()
    start, end = ordered.index(from_stage), ordered.index(to_stage)
    return tuple(ordered[start + 1 : end]) if end > start + 1 else ()


def check_history(funnel: Funnel, moves: list[tuple[str | None, str]]) -> list[Move]:
    """A whole imported history in order, each move starting where the previous one ended."""
    checked, current = [], None
    for number, (from_stage, to_stage) in enumerate(moves, 1):
        if from_stage != current:
            raise IllegalMove(f"move {number} starts at {from_stage!r}, but the lead was at {current!r}")
        checked.append(check_move(funnel, from_stage, to_stage, history=True))
        current = to_stage
    return checked
