"""puregrpc on a free-threaded CPython (3.13t, built with --disable-gil): no module of it turns
the GIL back on.

CPython re-enables the GIL at run time when it imports an extension module that does not declare
itself free-threading safe, unless told not to (``-X gil=0`` or ``PYTHON_GIL=0``, as ``.ci/run``
runs the suite). puregrpc is pure Python, so importing all of it must leave the GIL off even
without that override; the check runs in a fresh interpreter with the default setting.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.free_threaded import FREE_THREADED

pytestmark = pytest.mark.skipif(
    not FREE_THREADED,
    reason=f"applies to free-threaded CPython builds only; {sys.version.split()[0]} has a GIL",
)

# Imports every module of the package, one at a time, and names the first after which the GIL
# is on; prints how many modules it imported.
_IMPORT_ALL = """
import importlib, pkgutil, sys
import puregrpc
names = ["puregrpc"]
for info in pkgutil.walk_packages(puregrpc.__path__, "puregrpc."):
    importlib.import_module(info.name)
    names.append(info.name)
    if sys._is_gil_enabled():
        sys.exit(f"importing {info.name} enabled the GIL")
print(len(names))
"""


def _gil_enabled() -> bool:
    if sys.version_info >= (3, 13):
        return sys._is_gil_enabled()
    return True


def test_the_suite_runs_with_the_gil_off() -> None:
    assert not _gil_enabled(), (
        "the GIL is on in this free-threaded interpreter: an extension module imported by the "
        "tests turned it on, or the suite was not run with -X gil=0 / PYTHON_GIL=0"
    )


def test_importing_every_puregrpc_module_leaves_the_gil_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}  # CPython's default
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 10  # the walk found the package's modules
