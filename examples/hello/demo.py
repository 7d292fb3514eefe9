"""`make demo`: start the hello server, greet Alice with the client, make the same call with
the `puregrpc` command line tool, then stop the server cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    port = os.environ.get("HELLO_PORT", "50051")
    python = sys.executable
    server = subprocess.Popen(
        [python, str(HERE / "server.py"), "--port", port],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline().strip()
        print(f"$ python examples/hello/server.py\n{banner}")
        if not banner.startswith("Server is listening"):
            print("the server did not start", file=sys.stderr)
            return 1
        port = banner.rsplit(":", 1)[1]  # the port bound (HELLO_PORT=0 picks a free one)
        target = f"localhost:{port}"
        steps = [
            (
                "python examples/hello/client.py Alice",
                [python, str(HERE / "client.py"), "--target", target, "Alice"],
            ),
            (
                f"puregrpc call --plaintext {target} hello.HelloService/SayHello "
                '\'{"name": "Alice"}\'',
                [
                    python,
                    "-m",
                    "puregrpc",
                    "call",
                    "--plaintext",
                    target,
                    "hello.HelloService/SayHello",
                    '{"name": "Alice"}',
                ],
            ),
            (f"puregrpc list {target}", [python, "-m", "puregrpc", "list", "--plaintext", target]),
            (
                f"puregrpc health {target}",
                [python, "-m", "puregrpc", "health", "--plaintext", target],
            ),
        ]
        for shown, argv in steps:
            print(f"\n$ {shown}")
            done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                print(f"step failed with exit status {done.returncode}", file=sys.stderr)
                return 1
        return 0
    finally:
        server.send_signal(signal.SIGINT)
        try:
            rest, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            rest, _ = server.communicate()
        print(f"\n{rest.strip()}" if rest else "")


if __name__ == "__main__":
    sys.exit(main())
