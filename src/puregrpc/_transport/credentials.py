"""TLS for gRPC: `ssl.SSLContext`s fit for HTTP/2 (RFC 9113 section 9.2) and gRPC (W22).

Both helpers return contexts that
* refuse anything older than TLS 1.2;
* offer only ALPN ``h2`` (gRPC over TLS is HTTP/2 negotiated by ALPN; peers that do not
  negotiate it are dropped by `Server` and `Channel`);
* for TLS 1.2 allow only ephemeral key exchange with AEAD ciphers (``ECDHE`` with AES-GCM or
  ChaCha20-Poly1305), which keeps clear of the RFC 9113 Appendix A deny list; TLS 1.3 suites
  are all AEAD;
* disable TLS compression and renegotiation (RFC 9113 9.2.1).

PEM material is given as ``bytes`` (or ``str`` holding ``-----BEGIN``) or as a file path
(``str`` / ``os.PathLike``).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator

PemSource = bytes | str | os.PathLike[str]

ALPN_H2 = "h2"
H2_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _is_pem_text(source: PemSource) -> bool:
    if isinstance(source, bytes):
        return True
    return isinstance(source, str) and "-----BEGIN" in source


def _pem_bytes(source: PemSource) -> bytes:
    """The PEM contents of `source` (reading the file when it is a path)."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode("ascii")
    with open(source, "rb") as file:
        return file.read()


@contextlib.contextmanager
def _as_file(*sources: PemSource) -> Iterator[str]:
    """A path holding `sources` concatenated. A lone path is used as is; PEM contents go to
    a private (0600) temporary file that is deleted as soon as the block ends."""
    first = sources[0]
    if len(sources) == 1 and not isinstance(first, bytes) and not _is_pem_text(first):
        yield os.fspath(first)
        return
    fd, path = tempfile.mkstemp(prefix="puregrpc-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as file:
            for source in sources:
                data = _pem_bytes(source)
                file.write(data)
                if not data.endswith(b"\n"):
                    file.write(b"\n")
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(H2_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    context.set_alpn_protocols([ALPN_H2])


def _load_identity(
    context: ssl.SSLContext,
    certificate_chain: PemSource,
    private_key: PemSource,
    password: bytes | str | None,
) -> None:
    with _as_file(private_key, certificate_chain) as keyed_chain:
        # One file with the key first and the chain after: `load_cert_chain` takes the key
        # from the certificate file when no key file is named.
        context.load_cert_chain(keyed_chain, password=password)


def _load_roots(context: ssl.SSLContext, root_certificates: PemSource) -> None:
    if isinstance(root_certificates, bytes) or _is_pem_text(root_certificates):
        context.load_verify_locations(cadata=_pem_bytes(root_certificates).decode("ascii"))
    else:
        context.load_verify_locations(cafile=os.fspath(root_certificates))


def server_ssl_context(
    certificate_chain: PemSource,
    private_key: PemSource,
    *,
    root_certificates: PemSource | None = None,
    require_client_auth: bool = False,
    password: bytes | str | None = None,
) -> ssl.SSLContext:
    """A server-side context for `Server(ssl_context=...)`.

    `certificate_chain` is the server's certificate followed by any intermediates,
    `private_key` its key (`password` if the key is encrypted). With `root_certificates`,
    client certificates signed by those roots are requested and verified; with
    `require_client_auth` too, a client without one is refused in the handshake (mutual TLS).
    """
    if require_client_auth and root_certificates is None:
        raise ValueError("require_client_auth needs root_certificates to verify clients with")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    _load_identity(context, certificate_chain, private_key, password)
    if root_certificates is not None:
        _load_roots(context, root_certificates)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_auth else ssl.CERT_OPTIONAL
    return context


def channel_ssl_context(
    root_certificates: PemSource | None = None,
    private_key: PemSource | None = None,
    certificate_chain: PemSource | None = None,
    *,
    password: bytes | str | None = None,
) -> ssl.SSLContext:
    """A client-side context for `Channel(target, ssl_context=...)`.

    The server's certificate is verified against `root_certificates` (the system's trust
    store when None) and must match the host name (`Channel(server_hostname=...)` names
    another). `private_key` with `certificate_chain` present a client certificate (mutual TLS).
    """
    if (private_key is None) != (certificate_chain is None):
        raise ValueError("private_key and certificate_chain go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    _harden(context)
    if root_certificates is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_roots(context, root_certificates)
    if private_key is not None and certificate_chain is not None:
        _load_identity(context, certificate_chain, private_key, password)
    return context


def ensure_alpn_h2(context: ssl.SSLContext) -> ssl.SSLContext:
    """Offer (client) or accept (server) only ALPN ``h2`` on `context`, which is changed in
    place. `ssl` cannot report a context's ALPN list, so it is always set: gRPC speaks nothing
    else."""
    context.set_alpn_protocols([ALPN_H2])
    return context


def negotiated_h2(ssl_object: ssl.SSLObject | None) -> bool:
    """Whether a TLS connection negotiated ALPN ``h2`` (True for plain TCP)."""
    return ssl_object is None or ssl_object.selected_alpn_protocol() == ALPN_H2
