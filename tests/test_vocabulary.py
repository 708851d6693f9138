"""One meaning per word: each list of names is written once, in truce.vocabulary.

The package is read as Python (not as text, so prose in help and docstrings is free to name
things): a tuple, list, set or Literal[...] of quoted names that repeats a vocabulary list is a
second copy, and the test names the file and line so it can be replaced by the import.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from truce import vocabulary
from truce.domain.attribution import registry

PACKAGE = Path(vocabulary.__file__).parent
# Where a list may be written: the vocabulary itself, and the registry's own entries.
HOMES = {PACKAGE / "vocabulary.py", PACKAGE / "domain" / "attribution" / "registry.py"}
# Lists of roles allowed an action, not lists of teams: a role may be "viewer", a team may not.
NOT_TEAMS = {PACKAGE / "domain" / "access.py"}

# (the list, how many of its names make a copy): a whole small list, or three or more of a long one.
GUARDED = {
    "attribution models": (vocabulary.ATTRIBUTION_MODELS, 3),
    "teams": (vocabulary.TEAMS, 3),
    "default stages": (vocabulary.DEFAULT_STAGES, 4),
    "feedback kinds": (vocabulary.FEEDBACK_KINDS, 5),
    "feedback statuses": (vocabulary.FEEDBACK_STATUSES, 3),
    "handoff statuses": (vocabulary.HANDOFF_STATUSES, 3),
    "SLA kinds": (vocabulary.SLA_KINDS, 3),
    "escalations": (vocabulary.ESCALATIONS, 3),
    "discount approval states": (vocabulary.DISCOUNT_APPROVAL_STATES, 3),
    "decision states": (vocabulary.DECISION_STATES, 3),
    "decision filters": (vocabulary.DECISION_FILTERS, 4),
    "target metrics": (vocabulary.TARGET_METRICS, 3),
    "conversions": (vocabulary.CONVERSIONS, 4),
    "attribution keys": (vocabulary.ATTRIBUTION_BY, 4),
}


def _name_lists(tree: ast.AST):
    """(line, names) for every literal collection of strings and every Literal[...] of strings."""
    for node in ast.walk(tree):
        items = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if items and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in items):
            yield node.lineno, {e.value for e in items}


def copies(source: str, skip: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    found = set()
    for line, names in _name_lists(ast.parse(source)):
        for what, (guarded, enough) in GUARDED.items():
            if what not in skip and len(names & set(guarded)) >= min(enough, len(guarded)):
                found.add((line, what))
    return sorted(found)


def test_it_finds_a_copied_model_list_and_a_copied_team_literal():
    source = 'MODELS = ("linear", "markov", "shapley")\nTeam = Literal["sales", "marketing", "revops"]\n'
    assert copies(source) == [(1, "attribution models"), (2, "teams")]


def test_it_lets_two_names_and_prose_pass():
    source = 'PAIR = ("marketing", "sales")\nHELP = "models: linear, markov, shapley, w_shaped"\n'
    assert copies(source) == []


def test_it_finds_no_second_copy_of_a_vocabulary_list_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in HOMES or "migrations" in path.parts:
            continue
        skip = ("teams",) if path in NOT_TEAMS else ()
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}" for line, what in copies(path.read_text(), skip)]
    assert found == [], "import these from truce.vocabulary instead:\n" + "\n".join(found)


def test_it_writes_the_attribution_weights_only_in_the_registry():
    # 0.225 (full path) and the U's 0.4/0.2 were written twice before: in the Ibis rules and the fast path.
    for path in (PACKAGE / "analytics" / "attribution.py", PACKAGE / "domain" / "attribution" / "kernel.py"):
        numbers = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        assert not numbers & {0.225, 0.30, 0.4, 0.2}, path


@pytest.mark.parametrize(
    ("literal", "names"),
    [
        (vocabulary.Team, vocabulary.TEAMS),
        (vocabulary.AttributionModelName, vocabulary.ATTRIBUTION_MODELS),
        (vocabulary.HandoffStatus, vocabulary.HANDOFF_STATUSES),
        (vocabulary.FeedbackKind, vocabulary.FEEDBACK_KINDS),
    ],
)
def test_it_keeps_each_literal_type_and_its_tuple_the_same_list(literal, names):
    assert get_args(literal) == names


def test_it_names_every_registered_model_in_the_vocabulary_and_back():
    assert tuple(registry.REGISTRY) == vocabulary.ATTRIBUTION_MODELS


def test_it_keeps_the_store_and_config_on_the_vocabulary():
    from truce import config
    from truce.store import models

    assert models.TEAMS is vocabulary.TEAMS
    assert models.HANDOFF_STATUSES is vocabulary.HANDOFF_STATUSES
    assert get_args(config.Attribution.model_fields["model"].annotation) == vocabulary.ATTRIBUTION_MODELS


def test_cli_help_stays_free_of_pydantic_and_numpy():
    import subprocess
    import sys

    code = "import sys, truce.vocabulary, truce.cli.common; print(sorted({'pydantic','numpy'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
