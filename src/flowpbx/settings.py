"""Process settings, read from FLOWPBX_* environment variables (SPEC §1)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"FLOWPBX_TIMEZONE={text!r}: expected an IANA zone, e.g. Europe/Riga"
        ) from None
    return text


def _rtp_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1.0 <= value <= 3600.0:
        raise SettingsError(f"FLOWPBX_RTP_TIMEOUT_S={text!r}: expected seconds from 1 to 3600")
    return value


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise SettingsError(f"{name}={text!r}: expected 1 or 0")
    return value in ("1", "true", "yes", "on")


def _rtp_probation(text: str) -> int:
    value = int(text) if text.strip().isdigit() else 0
    if not 1 <= value <= 100:
        raise SettingsError(f"FLOWPBX_RTP_PROBATION={text!r}: expected packets from 1 to 100")
    return value


def _realtime_priority(text: str) -> int:
    value = int(text) if text.strip().isdigit() else -1
    if not 0 <= value <= 99:
        raise SettingsError(
            f"FLOWPBX_REALTIME_PRIORITY={text!r}: expected 0 (off) or a priority from 1 to 99"
        )
    return value


@dataclass(frozen=True, slots=True)
class DumpSpec:
    directory: Path
    interval_s: float
    frames: int = 1


def parse_dump_spec(text: str) -> DumpSpec | None:
    """``DIR:SECONDS[:FRAMES]`` (FLOWPBX_TRACEMALLOC_DUMP); "" is off. ValueError if bad."""
    text = text.strip()
    if not text:
        return None
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].replace(".", "", 1).isdigit() and parts[2].isdigit():
        directory, interval, frames = parts[0], float(parts[1]), int(parts[2])
    else:
        directory, _, tail = text.rpartition(":")
        try:
            interval, frames = float(tail), 1
        except ValueError:
            raise ValueError("expected DIR:SECONDS[:FRAMES]") from None
    if not directory or not 1.0 <= interval <= 86400.0 or not 1 <= frames <= 64:
        raise ValueError("expected DIR:SECONDS[:FRAMES], SECONDS 1-86400, FRAMES 1-64")
    return DumpSpec(Path(directory), interval, frames)


def _tracemalloc_dump(text: str) -> str:
    try:
        parse_dump_spec(text)
    except ValueError as e:
        raise SettingsError(f"FLOWPBX_TRACEMALLOC_DUMP={text!r}: {e}") from None
    return text.strip()


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
    # The company's time zone: what voicemail says as a message's date and time.
    timezone: str = "UTC"
    # Digest algorithms offered in challenges, in order; credentials using any other algorithm
    # are refused. SHA-256 is not offered by default because many deployed phones abort on a
    # challenge they do not know instead of picking the next one.
    sip_auth_algorithms: tuple[str, ...] = ("MD5",)
    # A bridged call whose phone sends no RTP for this long is hung up (a phone that lost
    # power or network never sends BYE). FLOWPBX_RTP_TIMEOUT_S.
    rtp_timeout_s: float = 60.0
    # Strict RTP source learning (pbx/rtp/endpoint.py): a leg latches only on to the address its SDP
    # names, or (NAT) its SDP's or signalling's IP after `rtp_probation` in-sequence packets.
    # FLOWPBX_RTP_STRICT=0: any address may latch after probation (media from hosts neither
    # SDP nor SIP name, e.g. behind a proxy that does not rewrite SDP). FLOWPBX_RTP_PROBATION.
    rtp_strict: bool = True
    rtp_probation: int = 3
    # SRTP keys (SDES, a=crypto) travel in SDP, so they are only exchanged over SIP over
    # TLS; FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING=1 allows them over UDP/TCP too — for tests
    # only: anyone who sees the signalling can decrypt the call.
    srtp_allow_insecure_signalling: bool = False
    # Real-time round-robin scheduling for the whole process (0 = the normal time-sharing
    # scheduler): media is relayed on the event loop, and a loop that waits behind other
    # programs' work delays every packet of every call (see pbx/runtime.apply_realtime).
    realtime_priority: int = 0
    # SIP access control (pbx/security.py): bans after failed authentications, per-source
    # rate limits "RATE:BURST" (0 = off), OPTIONS answered for "any" source or "known" only.
    sip_ban_threshold: int = 10
    sip_ban_window_s: float = 60.0
    sip_ban_duration_s: float = 600.0
    sip_rate_register: str = "20:100"
    sip_rate_invite: str = "20:100"
    sip_rate_options: str = "20:100"
    sip_options_policy: str = "any"
    sip_trusted_networks: tuple[str, ...] = ()
    sip_max_calls_per_extension: int = 8
    # Concurrent calls from one trunk (its address can be spoofed over UDP): over it, 486.
    sip_max_calls_per_trunk: int = 50
    # New INVITEs per second from one trunk, "RATE:BURST" (0 = off): over it, 503 with
    # Retry-After. Sources in sip_trusted_networks are exempt.
    sip_rate_trunk_invite: str = "10:50"
    # Call-history rows for calls from a trunk to numbers that are not ours, per trunk,
    # "RATE:BURST" (0 = a row each): over it, one later row carries the count.
    sip_rate_rejected_history: str = "1:20"
    # SIP over TCP (pbx/transport.py): connections accepted from one IP address (0 = no
    # cap; trusted networks, trunks and addresses that authenticated exempt); seconds a new
    # connection has to send a valid message; seconds a connection from a source that never
    # authenticated stays open without one; seconds any connection stays open without traffic.
    sip_tcp_max_per_source: int = 16
    sip_tcp_first_message_s: float = 5.0
    sip_tcp_unknown_idle_s: float = 60.0
    sip_tcp_idle_s: float = 3700.0
    # SIP over TLS (pbx/tls.py): listens only when a certificate and key are configured
    # (FLOWPBX_TLS_CERT, FLOWPBX_TLS_KEY, PEM files; reloaded on SIGHUP and when the files
    # change, checked every `tls_reload_check_s`). The connection bounds above apply to TLS
    # too; a handshake not finished within `sip_tls_handshake_s` is closed and counted.
    sip_tls_listen: tuple[str, int] = ("127.0.0.1", 5061)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    sip_tls_handshake_s: float = 10.0
    tls_reload_check_s: float = 10.0
    sip_dial_allowed_prefixes: tuple[str, ...] = ()
    sip_dial_blocked_prefixes: tuple[str, ...] = (
        "+1900",
        "+1976",
        "+979",
        "+870",
        "+881",
        "+882",
        "+883",
    )
    # Bounds on what callers and phones can make flowpbx keep (see _limits_from_env).
    dtmf_buffer: int = 32
    max_contacts_per_extension: int = 10
    voicemail_max_messages: int = 100
    voicemail_pin_max_failures: int = 5
    voicemail_pin_window_s: float = 900.0
    voicemail_pin_lockout_s: float = 900.0
    # Outgoing mail (services/mail.py): the sender when neither FLOWPBX_SMTP_URL's ``from``
    # nor the Settings page names one (FLOWPBX_SMTP_FROM; "" = flowpbx@<this host>); seconds
    # to the first retry, the longest retry interval, and between outbox polls
    # (FLOWPBX_SMTP_RETRY_S, FLOWPBX_SMTP_RETRY_MAX_S, FLOWPBX_SMTP_POLL_S).
    smtp_from: str = ""
    smtp_retry_s: float = 30.0
    smtp_retry_max_s: float = 3600.0
    smtp_poll_s: float = 30.0
    # Seconds from start to the first retention purge (services/retention.py; then daily):
    # FLOWPBX_RETENTION_FIRST_RUN_S.
    retention_first_run_s: float = 60.0
    # Webhooks and caller lookups may reach private addresses (FLOWPBX_HTTP_ALLOW_PRIVATE=1;
    # the installation setting ``allow_private_webhooks`` does the same from the Settings page).
    http_allow_private: bool = False
    # The built web UI (FLOWPBX_WEB_DIR); None: the repository's web/dist.
    web_dir: Path | None = None
    # Soak diagnostic: tracemalloc snapshots "DIR:SECONDS[:FRAMES]" (pbx/memory.py); "" = off.
    tracemalloc_dump: str = ""

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'flowpbx.db').resolve()}"

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

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
            timezone=_timezone(os.environ.get("FLOWPBX_TIMEZONE", "UTC").strip() or "UTC"),
            sip_auth_algorithms=_algorithms(os.environ.get("FLOWPBX_SIP_AUTH_ALGORITHMS", "MD5")),
            rtp_timeout_s=_rtp_timeout(os.environ.get("FLOWPBX_RTP_TIMEOUT_S", "60")),
            rtp_strict=_flag("FLOWPBX_RTP_STRICT", os.environ.get("FLOWPBX_RTP_STRICT", "1")),
            rtp_probation=_rtp_probation(os.environ.get("FLOWPBX_RTP_PROBATION", "3")),
            srtp_allow_insecure_signalling=_flag(
                "FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING",
                os.environ.get("FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING", "0"),
            ),
            realtime_priority=_realtime_priority(os.environ.get("FLOWPBX_REALTIME_PRIORITY", "0")),
            tracemalloc_dump=_tracemalloc_dump(os.environ.get("FLOWPBX_TRACEMALLOC_DUMP", "")),
            smtp_from=os.environ.get("FLOWPBX_SMTP_FROM", "").strip(),
            smtp_retry_s=_seconds("FLOWPBX_SMTP_RETRY_S", 30.0),
            smtp_retry_max_s=_seconds("FLOWPBX_SMTP_RETRY_MAX_S", 3600.0),
            smtp_poll_s=_seconds("FLOWPBX_SMTP_POLL_S", 30.0),
            retention_first_run_s=_seconds("FLOWPBX_RETENTION_FIRST_RUN_S", 60.0),
            http_allow_private=os.environ.get("FLOWPBX_HTTP_ALLOW_PRIVATE", "").strip().lower()
            in ("1", "true", "yes", "on"),
            web_dir=Path(web).resolve() if (web := os.environ.get("FLOWPBX_WEB_DIR")) else None,
            **_tls_from_env(),
            **_security_from_env(),
            **_limits_from_env(),
        )


def debug_from_env() -> bool:
    """FLOWPBX_DEBUG set: the command line prints the traceback of an error (read apart
    from `Settings.from_env`, since a bad setting is one of the errors it explains)."""
    return bool(os.environ.get("FLOWPBX_DEBUG"))


def _seconds(name: str, default: float) -> float:
    """The environment variable `name` as seconds > 0, or `default` when unset or empty."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise SettingsError(f"{name}={text!r}: expected a number of seconds > 0")
    return value


def _seconds_between(name: str, default: str, least: float, most: float) -> float:
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = least - 1
    if not least <= value <= most:
        raise SettingsError(f"{name}={text!r}: expected seconds from {least:g} to {most:g}")
    return value


def _tls_from_env() -> dict[str, Any]:
    """FLOWPBX_SIP_TLS_LISTEN (default: the SIP listen host, port 5061), FLOWPBX_TLS_CERT and
    FLOWPBX_TLS_KEY (both or neither), FLOWPBX_SIP_TLS_HANDSHAKE_S, FLOWPBX_TLS_RELOAD_CHECK_S."""
    sip_host = _hostport("FLOWPBX_SIP_LISTEN", "127.0.0.1:5060")[0]
    default = f"[{sip_host}]:5061" if ":" in sip_host else f"{sip_host}:5061"
    cert = os.environ.get("FLOWPBX_TLS_CERT", "").strip()
    key = os.environ.get("FLOWPBX_TLS_KEY", "").strip()
    if bool(cert) != bool(key):
        raise SettingsError("FLOWPBX_TLS_CERT and FLOWPBX_TLS_KEY: set both (PEM files) or neither")
    return {
        "sip_tls_listen": _hostport("FLOWPBX_SIP_TLS_LISTEN", default),
        "tls_cert": Path(cert) if cert else None,
        "tls_key": Path(key) if key else None,
        "sip_tls_handshake_s": _seconds_between("FLOWPBX_SIP_TLS_HANDSHAKE_S", "10", 0.1, 300),
        "tls_reload_check_s": _seconds_between("FLOWPBX_TLS_RELOAD_CHECK_S", "10", 0.1, 3600),
    }


def _security_from_env() -> dict[str, Any]:
    """FLOWPBX_SIP_BAN_THRESHOLD, _BAN_WINDOW_S, _BAN_DURATION_S, _RATE_REGISTER/INVITE/OPTIONS,
    _RATE_TRUNK_INVITE, _RATE_REJECTED_HISTORY, _OPTIONS_POLICY, _TRUSTED_NETWORKS,
    _MAX_CALLS_PER_EXTENSION/TRUNK, _TCP_MAX_PER_SOURCE, _TCP_FIRST_MESSAGE_S,
    _TCP_UNKNOWN_IDLE_S, _TCP_IDLE_S, _DIAL_ALLOWED_PREFIXES, _DIAL_BLOCKED_PREFIXES (lists
    comma-separated)."""
    out: dict[str, Any] = {}
    for name, f in Settings.__dataclass_fields__.items():
        env = "FLOWPBX_" + name.upper()
        if not (
            name.startswith(("sip_ban_", "sip_rate_", "sip_max_calls_", "sip_dial_", "sip_tcp_"))
            or name in ("sip_options_policy", "sip_trusted_networks")
        ):
            continue
        text = os.environ.get(env)
        if text is None:
            continue
        kind = type(f.default) if f.default is not None else str
        try:
            if kind is tuple:
                out[name] = tuple(x.strip() for x in text.split(",") if x.strip())
            elif kind is int:
                out[name] = int(text)
            elif kind is float:
                out[name] = float(text)
            else:
                out[name] = text.strip()
        except ValueError:
            raise SettingsError(f"{env}={text!r}: expected a {kind.__name__}") from None
        if name.startswith("sip_tcp_") and not (
            out[name] > 0 or (name == "sip_tcp_max_per_source" and out[name] == 0)
        ):
            raise SettingsError(f"{env}={text!r}: expected a positive number")
        if name.startswith("sip_rate_"):
            rate, _, burst = text.partition(":")
            try:
                ok = float(rate) >= 0 and (not burst or float(burst) >= 1)
            except ValueError:
                ok = False
            if not ok:
                raise SettingsError(f"{env}={text!r}: expected RATE[:BURST], e.g. 20:100")
    if out.get("sip_options_policy", "any") not in ("any", "known"):
        raise SettingsError(
            f"FLOWPBX_SIP_OPTIONS_POLICY={out['sip_options_policy']!r}: expected any or known"
        )
    return out


_LIMITS = {  # setting -> (smallest value allowed, what it bounds)
    "dtmf_buffer": (1, "keys kept per call before they are read"),
    "max_contacts_per_extension": (1, "registered contacts per extension"),
    "voicemail_max_messages": (1, "messages per mailbox"),
    "voicemail_pin_max_failures": (1, "wrong voicemail PINs before a lockout"),
    "voicemail_pin_window_s": (1, "seconds in which the wrong PINs count"),
    "voicemail_pin_lockout_s": (1, "seconds a mailbox refuses PIN entry"),
}


def _limits_from_env() -> dict[str, Any]:
    """FLOWPBX_DTMF_BUFFER, _MAX_CONTACTS_PER_EXTENSION, _VOICEMAIL_MAX_MESSAGES,
    _VOICEMAIL_PIN_MAX_FAILURES, _VOICEMAIL_PIN_WINDOW_S, _VOICEMAIL_PIN_LOCKOUT_S."""
    out: dict[str, Any] = {}
    for name, (least, what) in _LIMITS.items():
        env = "FLOWPBX_" + name.upper()
        text = os.environ.get(env)
        if text is None or not text.strip():
            continue
        try:
            value: float = float(text) if name.endswith("_s") else int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise SettingsError(f"{env}={text!r}: expected a number of {what}, at least {least}")
        out[name] = value
    return out
