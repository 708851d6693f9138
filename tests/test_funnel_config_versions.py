"""The funnel config's versions in the store: every edit is the next version, and the newest one is
the funnel and SLA of every process on the store, whatever its own truce.toml says.

Expected values are written out by hand (labels, hours, version numbers), never read back from
the code that produced them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from truce import config as truce_config
from truce.config import ConfigError
from truce.services import funnel_config
from truce.services.funnel_config import FunnelConfigRefused
from truce.store.models import FunnelConfigVersion

FUNNEL = """\
[funnel]
handoff_stage = "mql"
accepted_stage = "sal"

[[funnel.stages]]
key = "inquiry"
label = "Inquiry"
team = "marketing"

[[funnel.stages]]
key = "mql"
label = "MQL"
team = "sales"

[[funnel.stages]]
key = "sal"
label = "SAL"
team = "sales"

[[funnel.exits]]
key = "recycled"
label = "Recycled"
team = "marketing"

[[funnel.rejection_reasons]]
code = "no_budget"
label = "No budget"
exit = "recycled"
"""
SLA = """\
[sla.sales]
first_touch_hours = 4
"""
OTHERS = """\
[company]
name = "Acme"
timezone = "Europe/Berlin"

[custody]
final_stages = ["recycled"]
"""


def _file(folder, name: str, text: str):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path, truce_config.load(path)


@pytest.fixture
def host_a(tmp_path):
    return _file(tmp_path, "a.toml", OTHERS + "\n" + FUNNEL + "\n" + SLA)


@pytest.fixture
def host_b(tmp_path):
    """A second server's own file: same funnel, its own company name (another host's copy)."""
    return _file(tmp_path, "b.toml", OTHERS.replace('"Acme"', '"Acme (host b)"') + "\n" + FUNNEL + "\n" + SLA)


def _edit(engine, config, path, *, mql_label: str, hours: int, actor: str = "ria@yourco.example"):
    text = FUNNEL.replace('label = "MQL"', f'label = "{mql_label}"') + f"\n[sla.sales]\nfirst_touch_hours = {hours}\n"
    return funnel_config.edit_from_toml(engine, config, text, actor=actor, path=path)


def _rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(FunnelConfigVersion).order_by(FunnelConfigVersion.version)).all()


def test_without_an_edit_the_files_funnel_is_in_force(engine, host_a):
    _, config = host_a
    assert funnel_config.newest_version(engine.connect()) is None
    assert funnel_config.in_force(engine, config) is config


def test_each_edit_saves_the_next_version_with_who_and_when(engine, host_a):
    path, config = host_a
    first = _edit(engine, config, path, mql_label="Marketing qualified", hours=2, actor="ria@yourco.example")
    _edit(engine, first, path, mql_label="MQL (signed)", hours=3, actor="ola@yourco.example")
    rows = _rows(engine)
    assert [(r.version, r.saved_by) for r in rows] == [(1, "ria@yourco.example"), (2, "ola@yourco.example")]
    assert [r.sections["funnel"]["stages"][1]["label"] for r in rows] == ["Marketing qualified", "MQL (signed)"]
    assert [r.sections["sla"]["sales"]["first_touch_hours"] for r in rows] == [2, 3]
    assert "first_touch_hours = 3" in rows[1].toml_text
    assert rows[0].saved_at <= rows[1].saved_at
    assert first.funnel_version == 1


def test_the_newest_version_overrides_another_hosts_file_and_keeps_its_other_sections(engine, host_a, host_b):
    path_a, config_a = host_a
    _, config_b = host_b
    _edit(engine, config_a, path_a, mql_label="Marketing qualified", hours=2)
    seen_by_b = funnel_config.in_force(engine, config_b)
    assert (seen_by_b.funnel.stages[1].label, seen_by_b.sla.sales.first_touch_hours) == ("Marketing qualified", 2)
    assert seen_by_b.funnel_version == 1
    assert seen_by_b.company.name == "Acme (host b)"  # only [funnel] and [sla] come from the store
    assert config_b.funnel.stages[1].label == "MQL"  # the object it had is left as it was
    assert funnel_config.in_force(engine, seen_by_b) is seen_by_b  # nothing newer: the same object


def test_the_edit_form_shows_the_version_in_force_when_this_hosts_file_is_older(engine, host_a, host_b):
    path_a, config_a = host_a
    path_b, config_b = host_b
    _edit(engine, config_a, path_a, mql_label="Marketing qualified", hours=2)
    text = funnel_config.current_text(funnel_config.in_force(engine, config_b), path_b)
    assert 'label = "Marketing qualified"' in text and "first_touch_hours = 2" in text
    # this host's own file, unchanged by the edit, is shown when it says what is in force
    assert funnel_config.current_text(config_b, path_b) == FUNNEL + "\n" + SLA


def test_a_version_that_does_not_fit_a_hosts_other_sections_is_refused_by_name(engine, host_a, tmp_path):
    path_a, config_a = host_a
    # Host C's file has one more stage, and its [custody] names it: the stored funnel has no such stage.
    extra = '\n[[funnel.stages]]\nkey = "sql"\nlabel = "SQL"\nteam = "sales"\n'
    others = OTHERS.replace('["recycled"]', '["recycled", "sql"]')
    _, config_c = _file(tmp_path, "c.toml", others + "\n" + FUNNEL + extra + "\n" + SLA)
    _edit(engine, config_a, path_a, mql_label="Marketing qualified", hours=2)
    with pytest.raises(ConfigError, match="funnel config version 1 .*custody.final_stages"):
        funnel_config.in_force(engine, config_c)


def test_of_two_edits_made_at_once_the_second_is_refused_not_lost(engine, host_a, monkeypatch):
    path, config = host_a
    _edit(engine, config, path, mql_label="Marketing qualified", hours=2)
    # The other server read the newest version before this one saved: it would save version 1 again.
    monkeypatch.setattr(funnel_config, "newest_version", lambda conn: None)
    with pytest.raises(FunnelConfigRefused, match="saved at the same moment"):
        _edit(engine, config, path, mql_label="Lost edit", hours=9)
    assert [r.sections["funnel"]["stages"][1]["label"] for r in _rows(engine)] == ["Marketing qualified"]
    assert "Lost edit" not in path.read_text(encoding="utf-8")


def test_a_cli_command_on_the_store_counts_with_the_funnel_saved_there(database_url, host_a, host_b):
    from typer.testing import CliRunner

    from truce.cli import app
    from truce.store import db

    path_a, config_a = host_a
    path_b, _ = host_b
    engine = db.connect(database_url)
    try:
        _edit(engine, config_a, path_a, mql_label="Marketing qualified", hours=2)
    finally:
        engine.dispose()
    # `truce sla` with host b's own file, which still says 4 hours and "MQL": the store's version is in force.
    result = CliRunner().invoke(app, ["sla", "--db", database_url, "--config", str(path_b), "--json"])
    assert result.exit_code == 0, result.output
    from truce.cli.common import config_and_store

    loaded, store = config_and_store(str(path_b), database_url)
    try:
        assert (loaded.funnel.stages[1].label, loaded.sla.sales.first_touch_hours) == ("Marketing qualified", 2)
        assert loaded.company.name == "Acme (host b)"
    finally:
        store.dispose()
