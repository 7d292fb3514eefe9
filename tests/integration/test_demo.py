"""`make demo` works: the example runs to completion and says what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "http2_demo.py"


def test_demo_runs_cleanly() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(DEMO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "GET /          -> 200" in out
    assert "1048576 bytes echoed back (identical)" in out
    assert "trailers {'x-echoed': 'yes'}" in out
    assert "50/50 ok on one connection, all bodies match" in out
    assert out.rstrip().endswith("server stopped cleanly")
