"""truce.toml: the default is valid, and every mistake names the file and the key."""

from __future__ import annotations

import pytest

from truce import config


def test_the_default_config_is_the_demand_waterfall():
    loaded = config.parse(config.default_text(), "truce.toml")
    assert [s.key for s in loaded.funnel.stages] == ["inquiry", "mql", "sal", "sql", "opportunity", "customer"]
    assert [s.key for s in loaded.funnel.exits] == ["recycled", "disqualified", "lost"]
    assert loaded.funnel.handoff_stage == "mql"
    assert loaded.funnel.team_of("inquiry") == "marketing"
    assert loaded.funnel.team_of("sal") == "sales"


@pytest.mark.parametrize(
    ("value", "stage"),
    [
        ("marketingqualifiedlead", "mql"),
        ("Marketing Qualified Lead", "mql"),
        ("SUBSCRIBER", "inquiry"),
        ("nonsense", None),
    ],
)
def test_it_maps_hubspot_lifecycle_values_and_labels(value, stage):
    loaded = config.parse(config.default_text())
    assert loaded.stage_for("hubspot", "lifecycle_stage", value) == stage


def test_it_maps_salesforce_lead_statuses():
    loaded = config.parse(config.default_text())
    assert loaded.stage_for("salesforce", "lead_status", "Working - Contacted") == "sal"
    assert loaded.stage_for("salesforce", "lead_status", "closed - not converted") == "disqualified"


@pytest.mark.parametrize(
    ("stage", "status"), [("Closed Won", "won"), ("closedlost", "lost"), ("Negotiation/Review", "open")]
)
def test_it_reads_deal_status_from_the_deal_stage(stage, status):
    assert config.parse(config.default_text()).deal_status(stage) == status


def _broken(old: str, new: str) -> str:
    text = config.default_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'team = "marketing"',
            'team = "marketeers"',
            "my.toml: funnel.stages.0.team: Input should be 'marketing', 'sales' or 'revops'",
        ),
        (
            'handoff_stage = "mql"',
            'handoff_stage = "lead"',
            "my.toml: funnel: handoff_stage 'lead' is not one of the stages",
        ),
        ('exit = "disqualified"', 'exit = "limbo"', "rejection reason 'not_icp' exits to 'limbo'"),
        (
            'timezone = "UTC"',
            'timezone = "Mars/Olympus"',
            "my.toml: company.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            'marketingqualifiedlead = "mql"',
            'marketingqualifiedlead = "mq"',
            "mapping.hubspot.lifecycle_stage: 'marketingqualifiedlead' maps to unknown stage 'mq'",
        ),
        ("[company]", '[company]\ncolour = "blue"', "my.toml: company.colour: Extra inputs are not permitted"),
        ('key = "sal"', 'key = "mql"', "stage keys must be unique; listed more than once: mql"),
        (
            "closes = 17:00:00",
            "closes = 08:00:00",
            "my.toml: business_hours: opens 09:00:00 must be before closes 08:00:00",
        ),
        ('workdays = ["mon",', 'workdays = ["monday",', "my.toml: business_hours.workdays.0: Input should be 'mon'"),
        (
            "first_touch_hours = 4",
            "first_touch_hours = -1",
            "my.toml: sla.sales.first_touch_hours: Input should be greater than 0",
        ),
        (
            "min_acceptance_rate = 0.7",
            "min_acceptance_rate = 70",
            "my.toml: sla.marketing.min_acceptance_rate: Input should be less than or equal to 1",
        ),
        ('final_stages = ["customer",', 'final_stages = ["won",', "custody.final_stages: unknown stage 'won'"),
    ],
)
def test_it_names_the_file_and_key_of_a_mistake(old, new, expected):
    with pytest.raises(config.ConfigError) as caught:
        config.parse(_broken(old, new), "my.toml")
    assert expected in str(caught.value)


def test_it_says_where_the_toml_is_broken():
    with pytest.raises(config.ConfigError, match=r"my.toml: not valid TOML: .*line 2"):
        config.parse("[funnel]\nhandoff_stage = = 1\n", "my.toml")


def test_it_loads_truce_toml_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUCE_CONFIG", raising=False)
    assert config.load().source_path.startswith("(built-in")
    (tmp_path / "truce.toml").write_text(_broken('name = "Your company"', 'name = "Acme"'))
    loaded = config.load()
    assert loaded.company.name == "Acme"
    assert loaded.source_path == "truce.toml"


def test_a_named_config_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="no such config file"):
        config.load(tmp_path / "missing.toml")


def test_the_default_config_carries_both_sides_of_the_sla():
    loaded = config.parse(config.default_text())
    assert (loaded.sla.sales.first_touch_hours, loaded.sla.sales.decision_hours) == (4, 24)
    assert (loaded.sla.marketing.mqls_per_month, loaded.sla.marketing.min_acceptance_rate) == (100, 0.7)
    clock = loaded.business_hours.clock("Europe/Berlin")
    assert clock.workdays == frozenset({0, 1, 2, 3, 4})
    assert clock.opens.hour == 9 and clock.closes.hour == 17
