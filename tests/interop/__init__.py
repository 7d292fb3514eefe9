"""Interop harness: the canonical HelloService (hello.proto), Go peers built from grpc-go, and
grpcio peers, for testing puregrpc against other gRPC implementations."""

from pathlib import Path as _Path

# The repository's top-level `interop` package (the gRPC interop client and server, run as
# `python -m interop.server`) has this package's name, and pytest puts tests/ first on sys.path:
# this package also serves its modules (interop.client, interop.server, interop.protos).
__path__.append(str(_Path(__file__).resolve().parents[2] / "interop"))
