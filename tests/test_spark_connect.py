"""`--spark-master sc://…`: truce runs its reports on a Spark Connect server, which reads the
analytical copy's files and computes; the truce process starts no JVM of its own.

The server is started here as Spark ships it (`spark-submit --class …SparkConnectServer`, what
sbin/start-connect-server.sh runs), from pyspark's own files, in its own process on a free port. The answers are compared
with DuckDB's in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs
from live_server import free_port

from truce import config as truce_config
from truce.services import demo
from truce.services.attribution import attribution_report
from truce.services.funnel import funnel_report
from truce.store import db

pytestmark = pytest.mark.spark
ROOT = Path(__file__).parent.parent
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _server_command(port: int) -> list[str]:
    """Spark's own Spark Connect server (what sbin/start-connect-server.sh starts), from pyspark's files."""
    import pyspark

    home = Path(pyspark.__file__).parent
    settings = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
    }
    confs = [part for key, value in settings.items() for part in ("--conf", f"{key}={value}")]
    return [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2]", *confs, "spark-internal"]


def _connect_available() -> bool:
    from truce.analytics import spark

    if not (spark.pyspark_available() and spark.java_available()):
        return False
    try:
        import grpc  # noqa: F401  (pyspark's connect extra)
    except ImportError:
        return False
    return True


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_url():
    needs("Spark Connect", _connect_available(), "the spark extra with pyspark[connect] and Java 17")
    port = free_port()
    server = subprocess.Popen(
        _server_command(port),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(Path(__import__("pyspark").__file__).parent)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # a JVM on a busy two-core machine
        while not _answers(port):
            assert server.poll() is None, "the Spark Connect server stopped before it answered"
            assert time.monotonic() < deadline, "the Spark Connect server did not answer within 3 minutes"
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def store(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("connect") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=400, seed=9)
    yield engine, f"sqlite:///{path}"
    engine.dispose()


def _truce(*args: str) -> dict:
    """The command's JSON, run in a fresh process (which must start no JVM: it only talks gRPC)."""
    done = subprocess.run(
        [sys.executable, "-c", "from truce.cli import main; main()", *args, "--json"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_attribution_runs_on_a_spark_connect_server_with_duckdbs_answer(connect_url, store):
    engine, url = store
    duck = attribution_report(engine, CONFIG, model="markov", by="channel")
    assert duck["total_conversions"] > 5, "a demo with conversions, or the test proves nothing"
    remote = _truce("attribution", "--model", "markov", "--by", "channel", "--engine", "spark",
                    "--spark-master", connect_url, "--db", url)  # fmt: skip
    assert (remote["journeys"], remote["total_conversions"]) == (duck["journeys"], duck["total_conversions"])
    ours = {row["key"]: row["revenue"] for row in duck["credits"]}
    theirs = {row["key"]: row["revenue"] for row in remote["credits"]}
    assert theirs.keys() == ours.keys()
    for key, revenue in ours.items():
        assert theirs[key] == pytest.approx(revenue, abs=1e-9 * max(duck["total_revenue"], 1.0)), key


def test_the_funnel_runs_on_a_spark_connect_server_with_duckdbs_answer(connect_url, store):
    engine, url = store
    duck = json.loads(json.dumps(funnel_report(engine, CONFIG, by="channel"), default=str))
    remote = _truce("funnel", "--by", "channel", "--engine", "spark", "--spark-master", connect_url, "--db", url)
    assert remote["volume"] == duck["volume"] and remote["conversion"] == duck["conversion"]
