"""Test PKI made with the `openssl` CLI: two CAs, server and client certificates.

Used as a plugin (``pytest_plugins = ["support.tls"]``) for the session-scoped `certs` fixture.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest


@dataclasses.dataclass(frozen=True)
class KeyPair:
    cert_path: Path
    key_path: Path

    @property
    def cert(self) -> bytes:
        return self.cert_path.read_bytes()

    @property
    def key(self) -> bytes:
        return self.key_path.read_bytes()


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: KeyPair  # signs everything below except `foreign_server`
    server: KeyPair  # CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
    alias_server: KeyPair  # SAN DNS:grpc.test.example only
    client: KeyPair  # CN=test-client, SAN URI:spiffe://puregrpc.test/client
    other_ca: KeyPair
    foreign_server: KeyPair  # like `server`, signed by `other_ca`


class _Openssl:
    def __init__(self, directory: Path) -> None:
        path = shutil.which("openssl")
        if path is None:
            pytest.skip("the openssl CLI is not installed (needed to make test certificates)")
        self.path = path
        self.dir = directory
        self.serial = 1000

    def run(self, *args: str) -> None:
        done = subprocess.run(
            [self.path, *args], cwd=self.dir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr}")

    def _key_args(self, name: str) -> list[str]:
        return [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            f"{name}.key",
        ]

    def ca(self, name: str) -> KeyPair:
        self.run(
            "req",
            "-x509",
            *self._key_args(name),
            "-out",
            f"{name}.pem",
            "-days",
            "3",
            "-sha256",
            "-subj",
            f"/O=puregrpc tests/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        return KeyPair(self.dir / f"{name}.pem", self.dir / f"{name}.key")

    def leaf(self, name: str, ca: KeyPair, common_name: str, san: str, usage: str) -> KeyPair:
        extensions = self.dir / f"{name}.ext"
        extensions.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyAgreement\n"
            f"extendedKeyUsage={usage}\n"
            f"subjectAltName={san}\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
        )
        self.run(
            "req",
            *self._key_args(name),
            "-out",
            f"{name}.csr",
            "-subj",
            f"/O=puregrpc tests/CN={common_name}",
        )
        self.serial += 1
        self.run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            str(ca.cert_path),
            "-CAkey",
            str(ca.key_path),
            "-set_serial",
            str(self.serial),
            "-days",
            "3",
            "-sha256",
            "-extfile",
            extensions.name,
            "-out",
            f"{name}.pem",
        )
        return KeyPair(self.dir / f"{name}.pem", self.dir / f"{name}.key")


def make_certs(directory: Path) -> Certs:
    openssl = _Openssl(directory)
    ca = openssl.ca("ca")
    other_ca = openssl.ca("other-ca")
    server_san = "DNS:localhost,IP:127.0.0.1,IP:::1"
    return Certs(
        ca=ca,
        server=openssl.leaf("server", ca, "localhost", server_san, "serverAuth"),
        alias_server=openssl.leaf(
            "alias-server", ca, "grpc.test.example", "DNS:grpc.test.example", "serverAuth"
        ),
        client=openssl.leaf(
            "client", ca, "test-client", "URI:spiffe://puregrpc.test/client", "clientAuth"
        ),
        other_ca=other_ca,
        foreign_server=openssl.leaf(
            "foreign-server", other_ca, "localhost", server_san, "serverAuth"
        ),
    )


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("pki"))
