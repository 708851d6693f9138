"""The example notebook (examples/analyst.ipynb) runs top to bottom on a fresh demo, and the
figures it computes are the ones the CLI prints with --json for the same reports.

The notebook's cell tagged "parameters" is set to the demo's database, truce.toml and one
moment (the clocks of the SLA and the queue read it); its cell tagged "figures" prints its key
figures as JSON, which is what is compared.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli

NOTEBOOK = Path(__file__).parent.parent / "examples" / "analyst.ipynb"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def cli_json(*args: str):
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The notebook run on a demo in a folder of its own: (its figures, the folder, the moment)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    folder = tmp_path_factory.mktemp("notebook")
    db, config = folder / "truce.db", folder / "truce.toml"
    config.write_text(truce_config.default_text(), encoding="utf-8")
    cli_json("demo", "--contacts", "200", "--seed", "3", "--db", str(db))
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = f"DATABASE = {str(db)!r}\nCONFIG = {str(config)!r}\nAS_OF = {moment!r}\n"
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()  # a cell that raises fails the test here, naming the cell
    (figures,) = [c for c in notebook.cells if "figures" in c.metadata.get("tags", [])]
    printed = "".join(o.get("text", "") for o in figures.outputs if o.output_type == "stream")
    return json.loads(printed), ["--db", str(db), "--config", str(config)], moment


def test_it_runs_the_notebook_and_finds_the_funnel_the_cli_prints(run):
    figures, store, _ = run
    funnel = cli_json("funnel", *store)
    assert figures["funnel_entered"] == {r["stage"]: r["entered"] for r in funnel["volume"]["total"]}
    assert figures["funnel_entered"]["inquiry"] > 0


def test_it_finds_the_attribution_and_roi_the_cli_prints(run):
    figures, store, _ = run
    markov = cli_json("attribution", "--model", "markov", "--by", "team", *store)
    assert figures["attribution_markov_by_team"] == {c["key"]: c["revenue"] for c in markov["credits"]}
    roi = cli_json("roi", "--model", "linear", *store)
    assert figures["roi_totals"] == {"spend": roi["totals"]["spend"], "revenue": roi["totals"]["revenue"]}


def test_it_finds_the_sla_queue_and_credit_the_cli_prints(run):
    figures, store, moment = run
    sla = cli_json("sla", "--at", moment, *store)
    assert figures["sla_first_touch_compliance"] == sla["sales"]["first_touch"]["compliance"]
    assert figures["queue_waiting"] == len(cli_json("handoff", "queue", "--at", moment, *store))
    assert figures["credit_won_revenue"] == cli_json("credit", *store)["won_revenue"]
