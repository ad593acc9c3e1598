"""Process settings, read from FLOWPBX_* environment variables (SPEC §1)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A FLOWPBX_* variable has a value flowpbx cannot use."""


def _hostport(name: str, default: str) -> tuple[str, int]:
    text = os.environ.get(name, default)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SettingsError(f"{name}={text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _port_range(name: str, default: str) -> tuple[int, int]:
    text = os.environ.get(name, default)
    lo, sep, hi = text.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) >= int(hi):
        raise SettingsError(f"{name}={text!r}: expected LOW-HIGH, e.g. 10000-20000")
    return int(lo), int(hi)


def _algorithms(text: str) -> tuple[str, ...]:
    names = tuple(a.strip().upper() for a in text.split(",") if a.strip())
    bad = [a for a in names if a not in ("MD5", "SHA-256")]
    if bad or not names:
        raise SettingsError(f"FLOWPBX_SIP_AUTH_ALGORITHMS={text!r}: expected MD5 and/or SHA-256")
    return names


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    sip_listen: tuple[str, int] = ("127.0.0.1", 5060)
    rtp_ports: tuple[int, int] = (10000, 20000)
    http_listen: tuple[str, int] = ("127.0.0.1", 8000)
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""
    smtp_url: str = ""
    sip_realm: str = "flowpbx"
    media_ip: str = ""  # address written into SDP; defaults to the SIP listen address
    # Digest algorithms offered in challenges, in order. Both are always accepted; SHA-256 is
    # not offered by default because many deployed phones abort on a challenge they do not
    # know instead of picking the next one.
    sip_auth_algorithms: tuple[str, ...] = ("MD5",)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'flowpbx.db').resolve()}"

    @property
    def effective_media_ip(self) -> str:
        return self.media_ip or self.sip_listen[0]

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            sip_listen=_hostport("FLOWPBX_SIP_LISTEN", "127.0.0.1:5060"),
            rtp_ports=_port_range("FLOWPBX_RTP_PORTS", "10000-20000"),
            http_listen=_hostport("FLOWPBX_HTTP_LISTEN", "127.0.0.1:8000"),
            data_dir=Path(os.environ.get("FLOWPBX_DATA_DIR", "data")),
            database_url=os.environ.get("FLOWPBX_DATABASE_URL", ""),
            smtp_url=os.environ.get("FLOWPBX_SMTP_URL", ""),
            sip_realm=os.environ.get("FLOWPBX_SIP_REALM", "flowpbx"),
            media_ip=os.environ.get("FLOWPBX_MEDIA_IP", ""),
            sip_auth_algorithms=_algorithms(os.environ.get("FLOWPBX_SIP_AUTH_ALGORITHMS", "MD5")),
        )
