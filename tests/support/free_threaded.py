"""What the suite goes without on a free-threaded CPython (3.13t): packages with no wheels for it.

grpcio and its companions (grpcio-tools, -reflection, -health-checking, -status), mypy (its
librt), uvloop and matplotlib publish no free-threaded wheels, so the Makefile leaves the
`dev-gil-only` extra out there. A test needing one of them carries a marker of support.marks
and skips there, saying so; a module imports such a package under
``if HAVE_GRPCIO or TYPE_CHECKING:``.

With a GIL the packages are taken to be installed (the Makefile installs them): a missing one
fails the import, not skips. Standard library only, like support.peers.peers, which uses it.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}t"


def no_wheels(package: str) -> str:
    return f"{package} has no wheels for free-threaded CPython {_VERSION}"


def missing(package: str) -> str:
    """Why `package` is not there: no wheels (free-threaded), else not installed."""
    if FREE_THREADED:
        return no_wheels(package)
    return f"{package} is not installed (pip install {package})"


def _installed(*modules: str) -> bool:
    return not FREE_THREADED or all(importlib.util.find_spec(m) is not None for m in modules)


HAVE_GRPCIO = _installed("grpc", "grpc_tools", "grpc_health", "grpc_reflection", "grpc_status")
HAVE_MYPY = _installed("mypy")
