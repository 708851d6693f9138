"""mypy over the whole package, with the configuration in pyproject.toml ([tool.mypy]).

Never skipped: mypy is in the `test` extra, and a missing type checker is a failure, not a pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_it_type_checks_the_package(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_it_catches_a_call_with_a_missing_argument(tmp_path):
    # The permissive start still checks calls: proof the configuration is not switched off.
    bad = tmp_path / "bad.py"
    bad.write_text("from truce.vocabulary import TEAMS\n\ndef f(a: int) -> int:\n    return a\n\nf()\nTEAMS.nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "c"),
         str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1
    assert "call-arg" in result.stdout
