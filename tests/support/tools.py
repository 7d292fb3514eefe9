"""External tools the peer tests need."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of an external tool; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} not installed (apt-get install nghttp2-client nghttp2-server golang-go; "
            ".ci/run does)"
        )
        if os.environ.get("PUREGRPC_REQUIRE_PEERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
