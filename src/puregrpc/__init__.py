"""puregrpc: gRPC in pure Python, asyncio native, with its own HTTP/2 engine.

The gRPC API is not there yet; the HTTP/2 engine lives in `puregrpc._http2`.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
