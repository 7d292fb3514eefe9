"""Mutual TLS: the hello service over TLS 1.2+ with ALPN h2, each side proving who it is.

Run from the repository root with a CA and two certificates it signed, e.g.:

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \\
        -subj /CN=demo-ca -keyout ca.key -out ca.pem
    # then a server certificate for localhost and a client certificate, both signed by ca.pem

    .venv/bin/python examples/hello/tls_demo.py --ca ca.pem \\
        --server-cert server.pem --server-key server.key \\
        --client-cert client.pem --client-key client.key
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import hello_grpc
from hello_pb2 import HelloRequest, HelloResponse

import puregrpc


class Greeter(hello_grpc.HelloServiceServicer):
    async def SayHello(
        self, request: HelloRequest, context: puregrpc.ServicerContext[HelloRequest, HelloResponse]
    ) -> HelloResponse:
        names = context.auth_context().get("x509_common_name", [b"?"])
        return HelloResponse(message=f"Hello, {request.name} (certificate: {names[0].decode()})")


async def main(args: argparse.Namespace) -> None:
    ca = Path(args.ca).read_bytes()
    server = puregrpc.Server(
        ssl_context=puregrpc.server_ssl_context(
            args.server_cert, args.server_key, root_certificates=ca, require_client_auth=True
        )
    )
    hello_grpc.add_HelloServiceServicer_to_server(Greeter(), server)
    port = await server.start("127.0.0.1:0")
    client_tls = puregrpc.channel_ssl_context(
        root_certificates=ca, private_key=args.client_key, certificate_chain=args.client_cert
    )
    async with puregrpc.Channel(f"localhost:{port}", ssl_context=client_tls) as channel:
        reply = await hello_grpc.HelloServiceStub(channel).SayHello(HelloRequest(name="Alice"))
        print(f"over mTLS: Greeting: {reply.message}")
    anonymous = puregrpc.channel_ssl_context(root_certificates=ca)
    async with puregrpc.Channel(f"localhost:{port}", ssl_context=anonymous) as channel:
        try:
            await hello_grpc.HelloServiceStub(channel).SayHello(HelloRequest(name="Eve"))
        except puregrpc.RpcError as error:
            print(f"without a client certificate: {error.code().name}")
    await server.stop(grace=1.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="mutual TLS demo")
    for flag in ("--ca", "--server-cert", "--server-key", "--client-cert", "--client-key"):
        parser.add_argument(flag, required=True)
    asyncio.run(main(parser.parse_args()))
