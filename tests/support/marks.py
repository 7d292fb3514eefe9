"""Markers for tests that need a package a free-threaded CPython lacks (support.free_threaded):
there the test skips, giving the reason; with a GIL it runs."""

from __future__ import annotations

import pytest

from support.free_threaded import HAVE_GRPCIO, HAVE_MYPY, no_wheels

needs_grpcio = pytest.mark.skipif(not HAVE_GRPCIO, reason=no_wheels("grpcio"))
needs_grpcio_tools = pytest.mark.skipif(
    not HAVE_GRPCIO, reason=no_wheels("grpcio-tools (its protoc plugin generates the code)")
)
needs_mypy = pytest.mark.skipif(not HAVE_MYPY, reason=no_wheels("mypy (its librt)"))
