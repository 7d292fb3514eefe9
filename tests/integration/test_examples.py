"""Every example runs, as a newcomer would run it, and its generated code is up to date."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from puregrpc._codegen.generate import main as generate

if TYPE_CHECKING:
    from support.tls import Certs

pytest_plugins = ["support.tls"]  # the session-scoped `certs` fixture

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("directory", "proto"), [("hello", "hello.proto"), ("streaming", "numbers.proto")]
)
def test_committed_generated_code_is_up_to_date(directory: str, proto: str, tmp_path: Path) -> None:
    source = EXAMPLES / directory
    assert generate(["-I", str(source), "--out", str(tmp_path), str(source / proto)]) == 0
    for generated in sorted(tmp_path.glob("*.py*")):
        assert filecmp.cmp(generated, source / generated.name, shallow=False), (
            f"{directory}/{generated.name} is stale: run make demo (or puregrpc generate)"
        )


def test_streaming_example_uses_all_four_call_types() -> None:
    done = run("examples/streaming/main.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "unary         Square(12) = 144",
        "server stream Count(5) -> [1, 2, 3, 4, 5]",
        "client stream Sum(1, 2, 3, 4) = 10",
        "bidi          RunningTotal(10, 20, 30) -> [10, 30, 60]",
    ]


def test_interceptors_example_logs_and_authenticates() -> None:
    done = run("examples/hello/interceptors_demo.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "with a token:    Greeting: Hello, Alice",
        "without a token: UNAUTHENTICATED: missing or wrong token",
    ]
    assert "server: ended OK" in done.stderr
    assert "server: ended UNAUTHENTICATED" in done.stderr


def test_tls_example_needs_a_client_certificate(certs: Certs) -> None:
    done = run(
        "examples/hello/tls_demo.py",
        "--ca", str(certs.ca.cert_path),
        "--server-cert", str(certs.server.cert_path),
        "--server-key", str(certs.server.key_path),
        "--client-cert", str(certs.client.cert_path),
        "--client-key", str(certs.client.key_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "over mTLS: Greeting: Hello, Alice (certificate: test-client)",
        "without a client certificate: UNAVAILABLE",
    ]


def test_hello_server_and_client() -> None:
    server = subprocess.Popen(
        [sys.executable, "examples/hello/server.py", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline().strip()
        assert banner.startswith("Server is listening on port :"), banner
        port = banner.rsplit(":", 1)[1]
        done = run("examples/hello/client.py", "--target", f"localhost:{port}", "Alice")
        assert (done.returncode, done.stdout) == (0, "Greeting: Hello, Alice\n"), done.stderr
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=15)
    assert server.returncode == 0, err
    assert out.strip() == "Server stopped"


def test_make_demo_script() -> None:
    env = dict(os.environ, HELLO_PORT="0")
    done = subprocess.run(
        [sys.executable, "examples/hello/demo.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Greeting: Hello, Alice" in done.stdout
    assert '"message": "Hello, Alice"' in done.stdout
    assert "hello.HelloService" in done.stdout
    assert "SERVING" in done.stdout
