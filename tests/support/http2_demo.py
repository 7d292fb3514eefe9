"""puregrpc's HTTP/2 engine over asyncio: our server and our client on 127.0.0.1.

Run with `make demo`. Three exchanges: a small GET, a 1 MB upload echoed back (more than the
64 KiB flow-control windows this demo configures, so WINDOW_UPDATEs must flow both ways) and
50 concurrent requests multiplexed on the one connection. Exit code 0 when all went well.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time

from puregrpc._http2 import H2Config
from support.h2_binding import H2ClientConnection, H2Request, H2Response, serve_h2

WINDOW = 65535  # the protocol default: far below the 1 MB body, so flow control must work


async def handler(request: H2Request) -> H2Response:
    if request.path == "/echo":
        digest = hashlib.sha256(request.body).hexdigest()
        return H2Response(200, (("x-sha256", digest),), request.body, (("x-echoed", "yes"),))
    if request.path.startswith("/item/"):
        return H2Response(200, (("content-type", "text/plain"),), request.path[6:].encode())
    return H2Response(200, (("content-type", "text/plain"),), b"hello from puregrpc\n")


async def main() -> int:
    server_config = H2Config(
        client_side=False, initial_window_size=WINDOW, connection_window_size=WINDOW
    )
    client_config = H2Config(
        client_side=True, initial_window_size=WINDOW, connection_window_size=WINDOW
    )
    server = await serve_h2(handler, "127.0.0.1", 0, server_config)
    print(f"server listening on 127.0.0.1:{server.port}")
    ok = True
    try:
        client = await H2ClientConnection.connect("127.0.0.1", server.port, client_config)
        try:
            started = time.perf_counter()
            small = await client.request("GET", "/")
            ok &= small.status == 200 and small.body == b"hello from puregrpc\n"
            print(f"GET /          -> {small.status}, {small.body!r}")

            upload = bytes(range(256)) * 4096  # 1 MiB
            echo = await client.request("POST", "/echo", body=upload)
            same = echo.body == upload
            trailers = dict(echo.trailers or ())
            ok &= echo.status == 200 and same and trailers.get("x-echoed") == "yes"
            print(
                f"POST /echo     -> {echo.status}, {len(echo.body)} bytes echoed back "
                f"({'identical' if same else 'DIFFERENT'}), trailers {trailers}, "
                f"windows of {WINDOW} bytes"
            )

            replies = await asyncio.gather(
                *(client.request("GET", f"/item/{i}") for i in range(50))
            )
            all_good = all(
                r.status == 200 and r.body == str(i).encode() for i, r in enumerate(replies)
            )
            ok &= all_good
            print(
                f"50 concurrent  -> {sum(r.status == 200 for r in replies)}/50 ok on one "
                f"connection, {'all bodies match' if all_good else 'MISMATCH'}"
            )
            elapsed = (time.perf_counter() - started) * 1000
            print(f"done in {elapsed:.0f} ms")
        finally:
            await client.close()
    finally:
        await server.close(grace=2.0)
    print("server stopped cleanly" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
