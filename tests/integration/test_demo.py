"""The HTTP/2 demo (the engine under the test binding, `support/http2_demo.py`) runs to
completion and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
DEMO = TESTS / "support" / "http2_demo.py"


def test_demo_runs_cleanly() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(DEMO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "GET /          -> 200" in out
    assert "1048576 bytes echoed back (identical)" in out
    assert "trailers {'x-echoed': 'yes'}" in out
    assert "50/50 ok on one connection, all bodies match" in out
    assert out.rstrip().endswith("server stopped cleanly")
