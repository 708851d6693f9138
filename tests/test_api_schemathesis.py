"""Schemathesis over the whole OpenAPI document: no 5xx, no answer outside the document, strict bodies.

One demo store (300 contacts) for the module. Every operation is called as a role allowed to
call it (revops unless only sales or marketing may), with schema-valid and schema-invalid
input. The checks: no server error; every status, content type and body as documented; data
the schema refuses is refused (strict request models); a request without credentials is
refused. The positive-data check is off: a request can fit the schema and still break a
business rule the schema cannot say (an email that names no user), and that is a 4xx.
Reports that take seconds each run fewer examples, so the module stays within a few minutes.
The document's examples put days, moments and periods at the first and last of the calendar
truce accepts (1900-01-01 and 2999-12-31, 1900-W01 and 2999-W52: truce.domain.calendar_range),
and the examples phase sends them; tests/test_calendar_edges.py sends the ones just beyond.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

try:
    import schemathesis
    from schemathesis.config import SchemathesisConfig
except ImportError:
    if os.environ.get("CI", "").lower() == "true":
        raise  # CI installs the test extra: a missing fuzzer must fail, not skip
    pytest.skip("schemathesis is not installed (pip install -e '.[test]')", allow_module_level=True)

from hypothesis import HealthCheck, settings  # noqa: E402

from truce import config as truce_config  # noqa: E402
from truce.services import demo  # noqa: E402
from truce.services.logins import add_user, create_token  # noqa: E402
from truce.store import db  # noqa: E402
from truce.web.app import create_app  # noqa: E402

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
SLOW = r"^/api/v1/reports/(attribution|roi|budget|credit|brief|funnel|survey)$"
# Routes revops may not call: fuzzed as the role that may.
ACTING_AS = {
    "/api/v1/handoffs/{contact}/accept": "sales",
    "/api/v1/handoffs/{contact}/reject": "sales",
    "/api/v1/feedback/{item_id}/answer": "marketing",
    "/api/v1/campaigns/{campaign_id}/cost": "marketing",
    "/api/v1/survey/responses": "sales",
}
# A case that changes the funnel (PUT /config/funnel) is undone before the next one, which
# must meet the funnel the demo was built with. So is a case that revokes a token or deactivates a
# user: the fuzzer's own callers must keep working.
ACCESS = ("/api/v1/tokens/{token_id}/revoke", "/api/v1/users/{user_id}/deactivate")


# The document does not depend on the store, so it is read at collection from an app whose
# store the fixture then swaps for the demo (schemathesis' lazy loader breaks on pytest 9.2).
NOWHERE = Path(tempfile.gettempdir()) / "truce-schemathesis-writes-nothing" / "truce.toml"
APP = create_app(db.connect("sqlite://"), CONFIG, config_path=NOWHERE)
OPTIONS = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 12},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "operations": [{"include-path-regex": SLOW, "generation": {"max-examples": 3}}],
    }
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP, config=OPTIONS)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "demo.db"
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=300, seed=1, config=CONFIG)
    found = {}
    for team in ("revops", "sales", "marketing"):
        email = f"fuzz.{team}@yourco.example"
        add_user(engine, email=email, team=team)
        found[team] = create_token(engine, email=email)
    empty, APP.state.engine = APP.state.engine, engine
    # PUT /config/funnel writes truce.toml: here, never the repository's.
    APP.state.config_path = path.parent / "truce.toml"
    yield found
    APP.state.engine = empty
    APP.state.config_path = NOWHERE
    engine.dispose()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_openapi_document(case, tokens):
    headers = case.meta.components.get("header") if case.meta else None
    bad_headers = headers is not None and headers.mode.is_negative
    # A generated token stands for a real one; a case whose headers are meant to be wrong stays wrong.
    if "Authorization" in (case.headers or {}) and not bad_headers:
        case.headers["Authorization"] = f"Bearer {tokens[ACTING_AS.get(case.operation.path, 'revops')]}"
    APP.state.config = CONFIG
    try:
        case.call_and_validate()
    finally:
        if case.operation.path in ACCESS:
            _give_the_fuzzers_access_back(APP.state.engine)


def _give_the_fuzzers_access_back(engine) -> None:
    from sqlalchemy import select, update

    from truce.store.models import ApiToken, User
    from truce.store.work import unit_of_work

    fuzzers = select(User.id).where(User.email.like("fuzz.%"))
    with unit_of_work(engine, "fuzz", "test") as work:
        work.conn.execute(update(ApiToken).where(ApiToken.user_id.in_(fuzzers)).values(revoked_at=None))
        inactive = work.conn.execute(fuzzers.where(User.active.is_(False))).scalars().all()
        if inactive:
            work.conn.execute(update(User).where(User.id.in_(inactive)).values(active=True))
            work.record("fuzz_reset", "user", None, None, {"activated": inactive})
