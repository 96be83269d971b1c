"""Workshop mode: a self-signed certificate, the URLs a phone can open, and a QR code for them.

Why: browsers give the camera (``getUserMedia``) only to *secure origins*: ``https://`` or
``http://localhost``/``127.0.0.1``. A phone on the workshop's Wi-Fi opening
``http://192.168.x.y:8080`` gets no camera, so ``hybridlib serve --host 0.0.0.0 --tls`` serves
HTTPS with a certificate made here (the phone shows a warning once; accept it). The certificate
names every address of this machine's interfaces (subjectAltName), ``localhost`` and
``127.0.0.1``; it is cached and re-made when that list changes or it nears expiry.

Nothing here talks to the network: addresses come from the interface table (psutil).
"""
from __future__ import annotations

import datetime as dt
import io
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

import psutil
import segno
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hybridlib.utils import atomic_path

log = logging.getLogger(__name__)

VALID_DAYS = 30


def default_cert_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hybridlib" / "tls"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def interface_addresses(include_loopback: bool = True) -> list[str]:
    """IPv4 addresses of this machine's interfaces (loopback first), from the interface table."""

    out: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET:
                ip = ipaddress.ip_address(a.address)
                if ip.is_loopback and not include_loopback:
                    continue
                if a.address not in out:
                    out.append(a.address)
    return sorted(out, key=lambda s: (not ipaddress.ip_address(s).is_loopback, s))


def urls(host: str, port: int, tls: bool) -> list[str]:
    """The URL(s) to open: for a wildcard bind, one per interface address (LAN ones first)."""
    scheme = "https" if tls else "http"
    if host in ("0.0.0.0", "::", ""):
        addrs = interface_addresses()
        lan = [a for a in addrs if not ipaddress.ip_address(a).is_loopback]
        hosts = lan + [a for a in addrs if a not in lan]
    else:
        hosts = [host]
    return [f"{scheme}://{h}:{port}/" for h in hosts]


def _names(extra: list[str]) -> list[str]:
    names = ["localhost", "127.0.0.1", *interface_addresses(), *extra]
    seen: list[str] = []
    for n in names:
        if n and n not in seen and n not in ("0.0.0.0", "::"):
            seen.append(n)
    return seen


def ensure_cert(cert_dir: str | os.PathLike[str] | None = None, hosts: list[str] | None = None) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` for this machine's names; made (EC P-256, self-signed) when missing,
    expiring within a day, or not covering every name. The key file is readable by its owner only."""

    d = Path(cert_dir) if cert_dir else default_cert_dir()
    cert_p, key_p = d / "cert.pem", d / "key.pem"
    names = _names(list(hosts or []))
    now = dt.datetime.now(dt.timezone.utc)
    if cert_p.is_file() and key_p.is_file():
        try:
            old = x509.load_pem_x509_certificate(cert_p.read_bytes())
            san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
            if set(names) <= have and old.not_valid_after_utc - now > dt.timedelta(days=1):
                return cert_p, key_p
        except Exception as e:  # noqa: BLE001 - unreadable cache: make a new one
            log.info("re-making certificate (%s)", e)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hybridlib workshop (self-signed)")])
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(key_p, mode=0o600) as tmp:
        tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with atomic_path(cert_p) as tmp:
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("self-signed certificate for %s written to %s", ", ".join(names), cert_p)
    return cert_p, key_p


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(cert: str | os.PathLike[str]) -> ssl.SSLContext:
    """An SSL context that trusts exactly this self-signed certificate (tests, scripts)."""
    return ssl.create_default_context(cafile=str(cert))


def qr_text(url: str) -> str:
    """The URL as a QR code drawn with block characters, for a phone to scan off the terminal."""

    buf = io.StringIO()
    segno.make(url, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue()
