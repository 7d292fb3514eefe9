"""TLS and mutual TLS (W22): h2-fit contexts, ALPN h2 enforced both ways, certificate checks,
peer identity on the server, and interop with grpcio over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from support.free_threaded import HAVE_GRPCIO
from support.grpc_util import EchoService
from support.marks import needs_grpcio

import puregrpc
from puregrpc import RpcError, StatusCode, channel_ssl_context, server_ssl_context

if HAVE_GRPCIO or TYPE_CHECKING:  # no grpcio on free-threaded CPython: its tests skip there
    import grpc
if TYPE_CHECKING:
    from support.tls import Certs

pytest_plugins = ["support.tls"]  # the session-scoped `certs` fixture

Ctx = puregrpc.ServicerContext[bytes, bytes]


async def _whoami(request: bytes, context: Ctx) -> bytes:
    """Reports what the server knows of the peer, as JSON."""
    cert = context.peer_certificate()
    auth = context.auth_context()
    return json.dumps(
        {
            "peer": context.peer(),
            "cert_subject": [list(map(list, rdn)) for rdn in cert["subject"]] if cert else None,
            "auth": {key: [v.decode() for v in values] for key, values in auth.items()},
        }
    ).encode()


@contextlib.asynccontextmanager
async def tls_server(context: ssl.SSLContext, address: str = "127.0.0.1:0") -> AsyncIterator[int]:
    server = puregrpc.Server(ssl_context=context)
    server.add_service(EchoService().definition())
    server.add_service(
        puregrpc.ServiceDefinition("test.Whoami", {"Who": puregrpc.unary_unary_handler(_whoami)})
    )
    port = await server.start(address)
    try:
        yield port
    finally:
        await server.stop(grace=1.0)


def _server_context(certs: Certs, **kwargs: Any) -> ssl.SSLContext:
    return server_ssl_context(certs.server.cert, certs.server.key, **kwargs)


async def _four_calls(channel: puregrpc.Channel) -> None:
    assert await channel.unary_unary("/test.Echo/Unary")(b"hello", timeout=5) == b"hello"
    call = channel.unary_stream("/test.Echo/ServerStream")(b"4", timeout=5)
    assert [m async for m in call] == [b"0", b"1", b"2", b"3"]
    assert await channel.stream_unary("/test.Echo/ClientStream")(iter([b"a", b"b"])) == b"a|b"
    bidi = channel.stream_stream("/test.Echo/Bidi")(iter([b"x", b"y"]))
    assert [m async for m in bidi] == [b"X", b"Y"]


async def _raw_tls_alpn(port: int, ca: bytes, protocols: list[str]) -> tuple[str | None, bytes]:
    """Handshake offering `protocols`; the ALPN chosen and what the server sends first
    (b"" when it closes at once)."""
    context = ssl.create_default_context(cadata=ca.decode())
    context.set_alpn_protocols(protocols)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol()
        try:
            first = await asyncio.wait_for(reader.read(9), 5.0)
        except (ConnectionError, ssl.SSLError):
            first = b""
        return chosen, first
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


# ---------------------------------------------------------------- contexts


def test_contexts_are_fit_for_http2(certs: Certs) -> None:
    server = _server_context(certs)
    client = channel_ssl_context(certs.ca.cert)
    for context in (server, client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.options & ssl.OP_NO_COMPRESSION
        for cipher in context.get_ciphers():
            if cipher["protocol"] == "TLSv1.2":
                assert cipher["kea"] == "kx-ecdhe", cipher["name"]
                assert cipher["aead"], cipher["name"]
    assert client.check_hostname
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert server.verify_mode == ssl.CERT_NONE
    mutual = _server_context(certs, root_certificates=certs.ca.cert, require_client_auth=True)
    assert mutual.verify_mode == ssl.CERT_REQUIRED
    optional = _server_context(certs, root_certificates=certs.ca.cert)
    assert optional.verify_mode == ssl.CERT_OPTIONAL


def test_context_argument_errors(certs: Certs) -> None:
    with pytest.raises(ValueError, match="root_certificates"):
        _server_context(certs, require_client_auth=True)
    with pytest.raises(ValueError, match="together"):
        channel_ssl_context(certs.ca.cert, private_key=certs.client.key)


# ---------------------------------------------------------------- TLS between our peers


async def test_tls_all_call_types(certs: Certs) -> None:
    async with tls_server(_server_context(certs)) as port:
        for target in (f"127.0.0.1:{port}", f"localhost:{port}"):
            async with puregrpc.Channel(
                target, ssl_context=channel_ssl_context(certs.ca.cert)
            ) as channel:
                await _four_calls(channel)
                conn = channel._subchannels[0]._conn
                assert conn is not None and conn.ssl_object is not None
                assert conn.ssl_object.selected_alpn_protocol() == "h2"
                assert conn.ssl_object.version() in ("TLSv1.2", "TLSv1.3")


async def test_pem_files_by_path(certs: Certs) -> None:
    server = server_ssl_context(str(certs.server.cert_path), certs.server.key_path)
    async with (
        tls_server(server) as port,
        puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert_path)
        ) as channel,
    ):
        assert await channel.unary_unary("/test.Echo/Unary")(b"paths", timeout=5) == b"paths"


async def test_tls12_only_peer_gets_an_ecdhe_aead_suite(certs: Certs) -> None:
    client = channel_ssl_context(certs.ca.cert)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with (
        tls_server(_server_context(certs)) as port,
        puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel,
    ):
        assert await channel.unary_unary("/test.Echo/Unary")(b"1.2", timeout=5) == b"1.2"
        assert (
            channel._subchannels[0]._conn is not None
            and channel._subchannels[0]._conn.ssl_object is not None
        )
        name, version, _ = channel._subchannels[0]._conn.ssl_object.cipher()  # type: ignore[misc]
        assert version == "TLSv1.2"
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name


async def test_plain_user_contexts_get_alpn_h2(certs: Certs) -> None:
    """Contexts made without ALPN still speak h2: Server and Channel set it."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certs.server.cert_path, certs.server.key_path)
    client = ssl.create_default_context(cafile=str(certs.ca.cert_path))
    async with (
        tls_server(server) as port,
        puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel,
    ):
        assert await channel.unary_unary("/test.Echo/Unary")(b"alpn", timeout=5) == b"alpn"
        assert (await _raw_tls_alpn(port, certs.ca.cert, ["h2"]))[0] == "h2"
    assert server.get_ciphers()  # the user's context, now offering h2, is otherwise as made


async def test_server_negotiates_h2_and_sends_settings(certs: Certs) -> None:
    async with tls_server(_server_context(certs)) as port:
        chosen, first = await _raw_tls_alpn(port, certs.ca.cert, ["http/1.1", "h2"])
    assert chosen == "h2"
    assert len(first) == 9 and first[3] == 0x4  # a SETTINGS frame header


async def test_server_closes_tls_connections_without_alpn_h2(certs: Certs) -> None:
    async with tls_server(_server_context(certs)) as port:
        chosen, first = await _raw_tls_alpn(port, certs.ca.cert, ["http/1.1"])
        assert (chosen, first) == (None, b"")
        # the server still serves gRPC afterwards
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel:
            assert await channel.unary_unary("/test.Echo/Unary")(b"ok", timeout=5) == b"ok"


async def test_channel_refuses_server_without_alpn_h2(certs: Certs) -> None:
    """A TLS server that does not do h2: the call fails UNAVAILABLE at once (not at the
    connect timeout)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server.cert_path, certs.server.key_path)
    context.set_alpn_protocols(["http/1.1"])
    accepted: list[asyncio.BaseTransport] = []

    class Silent(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Silent, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=10)
            assert caught.value.code() == StatusCode.UNAVAILABLE
            assert "ALPN h2" in caught.value.details()
    finally:
        server.close()
        for transport in accepted:
            transport.close()
        await server.wait_closed()


async def test_client_rejects_server_certificate_from_another_ca(certs: Certs) -> None:
    foreign = server_ssl_context(certs.foreign_server.cert, certs.foreign_server.key)
    async with (
        tls_server(foreign) as port,
        puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel,
    ):
        with pytest.raises(RpcError) as caught:
            await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
    assert caught.value.code() == StatusCode.UNAVAILABLE
    assert "certificate verify failed" in caught.value.details()
    assert f"127.0.0.1:{port}" in caught.value.details()


async def test_server_hostname_override(certs: Certs) -> None:
    """A certificate issued to another name: refused by default, accepted when the channel
    is told that name (like grpcio's ssl_target_name_override)."""
    alias = server_ssl_context(certs.alias_server.cert, certs.alias_server.key)
    client = channel_ssl_context(certs.ca.cert)
    async with tls_server(alias) as port:
        async with puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
            assert caught.value.code() == StatusCode.UNAVAILABLE
            assert "certificate verify failed" in caught.value.details()
            assert "127.0.0.1" in caught.value.details()  # IP address mismatch
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=client, server_hostname="grpc.test.example"
        ) as channel:
            assert await channel.unary_unary("/test.Echo/Unary")(b"alias", timeout=5) == b"alias"


# ---------------------------------------------------------------- mutual TLS


async def test_mtls_requires_a_client_certificate(certs: Certs) -> None:
    mutual = _server_context(certs, root_certificates=certs.ca.cert, require_client_auth=True)
    async with tls_server(mutual) as port:
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
            assert caught.value.code() == StatusCode.UNAVAILABLE
            assert "client certificate" in caught.value.details()

        # A certificate from a CA the server does not trust is refused too.
        stranger = channel_ssl_context(
            certs.ca.cert, certs.foreign_server.key, certs.foreign_server.cert
        )
        async with puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=stranger) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
            assert caught.value.code() == StatusCode.UNAVAILABLE

        client = channel_ssl_context(certs.ca.cert, certs.client.key, certs.client.cert)
        async with puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel:
            await _four_calls(channel)
            who = json.loads(await channel.unary_unary("/test.Whoami/Who")(b"", timeout=5))
    assert ["commonName", "test-client"] in [pair for rdn in who["cert_subject"] for pair in rdn]
    assert who["auth"]["transport_security_type"] == ["ssl"]
    assert who["auth"]["x509_common_name"] == ["test-client"]
    assert who["auth"]["x509_subject_alternative_name_URI"] == ["spiffe://puregrpc.test/client"]
    assert who["peer"].startswith("ipv4:127.0.0.1:")


async def test_optional_client_certificate(certs: Certs) -> None:
    """With roots but without require_client_auth, a client may come with or without one."""
    optional = _server_context(certs, root_certificates=certs.ca.cert)
    async with tls_server(optional) as port:
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel:
            who = json.loads(await channel.unary_unary("/test.Whoami/Who")(b"", timeout=5))
            assert who["cert_subject"] is None
            assert who["auth"] == {"transport_security_type": ["ssl"]}
        client = channel_ssl_context(certs.ca.cert, certs.client.key, certs.client.cert)
        async with puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel:
            who = json.loads(await channel.unary_unary("/test.Whoami/Who")(b"", timeout=5))
            assert who["auth"]["x509_common_name"] == ["test-client"]


# ---------------------------------------------------------------- interop with grpcio


def _grpcio_unary(
    channel: grpc.aio.Channel, method: str
) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(method)


def _grpcio_unary_stream(
    channel: grpc.aio.Channel, method: str
) -> grpc.aio.UnaryStreamMultiCallable[bytes, bytes]:
    return channel.unary_stream(method)


@needs_grpcio
async def test_grpcio_client_to_our_mtls_server(certs: Certs) -> None:
    mutual = _server_context(certs, root_certificates=certs.ca.cert, require_client_auth=True)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca.cert,
        private_key=certs.client.key,
        certificate_chain=certs.client.cert,
    )
    async with (
        tls_server(mutual) as port,
        grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel,
    ):
        echo = _grpcio_unary(channel, "/test.Echo/Unary")
        assert await echo(b"from grpcio", timeout=5) == b"from grpcio"
        stream = _grpcio_unary_stream(channel, "/test.Echo/ServerStream")(b"3", timeout=5)
        assert [m async for m in stream] == [b"0", b"1", b"2"]
        who = json.loads(await _grpcio_unary(channel, "/test.Whoami/Who")(b"", timeout=5))
        assert who["auth"]["x509_common_name"] == ["test-client"]


@needs_grpcio
async def test_grpcio_client_to_our_tls_server(certs: Certs) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.cert)
    async with (
        tls_server(_server_context(certs)) as port,
        grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel,
    ):
        assert await _grpcio_unary(channel, "/test.Echo/Unary")(b"tls", timeout=5) == b"tls"


@needs_grpcio
async def test_grpcio_client_rejects_our_server_from_another_ca(certs: Certs) -> None:
    foreign = server_ssl_context(certs.foreign_server.cert, certs.foreign_server.key)
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.cert)
    async with (
        tls_server(foreign) as port,
        grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _grpcio_unary(channel, "/test.Echo/Unary")(b"x", timeout=5)
        code = caught.value.code()
        # grpcio's poller thread lives while grpc.aio channels do; the traceback holds ours in a
        # reference cycle: break it so the channel is freed when the test ends.
        del caught
    assert code == grpc.StatusCode.UNAVAILABLE


@contextlib.asynccontextmanager
async def grpcio_tls_server(certs: Certs, *, require_client_auth: bool) -> AsyncIterator[int]:
    """A grpcio server with `test.Echo/Unary` (echo) and `/Who` (the client's common name)."""

    async def unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    async def who(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        auth = context.auth_context()
        return b",".join(auth.get("x509_common_name", []))

    async def stream(
        request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        for i in range(int(request)):
            yield str(i).encode()

    handlers = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Who": grpc.unary_unary_rpc_method_handler(who),
            "ServerStream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handlers,))
    credentials = grpc.ssl_server_credentials(
        [(certs.server.key, certs.server.cert)],
        root_certificates=certs.ca.cert if require_client_auth else None,
        require_client_auth=require_client_auth,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=None)
        await server.wait_for_termination()


@needs_grpcio
async def test_our_client_to_grpcio_tls_server(certs: Certs) -> None:
    async with (
        grpcio_tls_server(certs, require_client_auth=False) as port,
        puregrpc.Channel(
            f"localhost:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel,
    ):
        assert await channel.unary_unary("/test.Echo/Unary")(b"to grpcio", timeout=5) == (
            b"to grpcio"
        )
        call = channel.unary_stream("/test.Echo/ServerStream")(b"3", timeout=5)
        assert [m async for m in call] == [b"0", b"1", b"2"]


@needs_grpcio
async def test_our_client_to_grpcio_mtls_server(certs: Certs) -> None:
    async with grpcio_tls_server(certs, require_client_auth=True) as port:
        async with puregrpc.Channel(
            f"127.0.0.1:{port}", ssl_context=channel_ssl_context(certs.ca.cert)
        ) as channel:
            with pytest.raises(RpcError) as caught:
                await channel.unary_unary("/test.Echo/Unary")(b"x", timeout=5)
            assert caught.value.code() == StatusCode.UNAVAILABLE
        client = channel_ssl_context(certs.ca.cert, certs.client.key, certs.client.cert)
        async with puregrpc.Channel(f"127.0.0.1:{port}", ssl_context=client) as channel:
            assert await channel.unary_unary("/test.Echo/Who")(b"", timeout=5) == b"test-client"
