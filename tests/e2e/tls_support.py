"""Certificates and TLS peers for the SIP-over-TLS tests: a test CA of their own (made with
the `cryptography` package), server certificates it signs (good, expired, naming another
host), and a client socket speaking SIP over TLS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import secrets
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclasses.dataclass
class CertAuthority:
    cert_path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def issue(
        self,
        directory: Path,
        stem: str,
        names: list[str],
        *,
        days: float = 30,
        expired: bool = False,
    ) -> tuple[Path, Path]:
        """A server certificate for ``names`` signed by this CA: (cert.pem with the chain,
        key.pem)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (
            (now - dt.timedelta(days=10), now - dt.timedelta(days=1))
            if expired
            else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=days))
        )
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        cert_path = directory / f"{stem}.crt"
        key_path = directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return cert_path, key_path


def make_ca(directory: Path, name: str = "flowpbx test CA") -> CertAuthority:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = directory / f"{name.replace(' ', '_')}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertAuthority(path, cert, key)


def client_context(ca: Path | None) -> ssl.SSLContext:
    """A client context trusting only ``ca`` (hostname checked), or nothing verified."""
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=str(ca))


def tls_connect(
    addr: tuple[str, int], ca: Path | None, *, server_hostname: str = "127.0.0.1"
) -> ssl.SSLSocket:
    raw = socket.create_connection(addr, timeout=10)
    return client_context(ca).wrap_socket(raw, server_hostname=server_hostname)


def options(sock: socket.socket, transport: str = "TLS") -> bytes:
    host, port = sock.getsockname()[:2]
    return (
        "OPTIONS sip:flowpbx@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:flowpbx@127.0.0.1>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def read_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65535)
        if not chunk:
            break
        data += chunk
    return data


def peer_fingerprint(sock: ssl.SSLSocket) -> str:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def cert_fingerprint(path: Path) -> str:
    return x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()
