"""/api/v1/settings: installation-wide settings, a fixed set of typed keys with defaults."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpbx.api.deps import AdminDep, LiveDep, SettingsDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError
from flowpbx.api.live_actions import reload_live
from flowpbx.services.errors import MailConfigError, MailSendError
from flowpbx.services.mail import SmtpConfig, SmtpSender, default_sender
from flowpbx.settings import Settings
from flowpbx.store.db import Store
from flowpbx.store.repos import settings as settings_repo


class SettingsOut(BaseModel):
    allow_private_webhooks: bool = Field(
        default=False, description="webhooks/lookups may reach private addresses"
    )
    smtp_from: str = Field(default="flowpbx@localhost", max_length=200)
    history_retention_days: int = Field(default=365, ge=1, le=36500)
    voicemail_retention_days: int = Field(
        default=0, ge=0, le=36500, description="voicemail older than this is deleted; 0 = keep"
    )
    recording_enabled: bool = False
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    session_idle_minutes: int = Field(
        default=120, ge=5, le=10080, description="web sessions end after this long unused"
    )
    session_max_hours: int = Field(
        default=24, ge=1, le=720, description="web sessions end this long after login"
    )


class SettingsIn(BaseModel):
    """Any subset of the settings; omitted keys keep their value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"timezone": "UTC"}]})
    allow_private_webhooks: bool | None = None
    smtp_from: str | None = Field(default=None, min_length=3, max_length=200)
    history_retention_days: int | None = Field(default=None, ge=1, le=36500)
    voicemail_retention_days: int | None = Field(default=None, ge=0, le=36500)
    recording_enabled: bool | None = None
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    session_idle_minutes: int | None = Field(default=None, ge=5, le=10080)
    session_max_hours: int | None = Field(default=None, ge=1, le=720)


router = APIRouter(prefix="/api/v1/settings", tags=["settings"])


def _initial_smtp_from(settings: Settings) -> str:
    """The mail sender's address until one is saved here: the ``from`` of FLOWPBX_SMTP_URL,
    else FLOWPBX_SMTP_FROM, else flowpbx@<this host> (what the mail sender uses)."""
    url = settings.smtp_url.strip()
    if url:
        try:
            return SmtpConfig.from_url(url, sender=settings.smtp_from or None).sender
        except MailConfigError:
            pass
    return default_sender(settings.smtp_from)


async def load_settings(store: Store, settings: Settings) -> SettingsOut:
    """The stored settings over their defaults; the company's time zone defaults to
    FLOWPBX_TIMEZONE and the mail sender to FLOWPBX_SMTP_FROM until one is saved here (the
    saved value then wins)."""
    values: dict[str, Any] = {
        "timezone": settings.timezone,
        "smtp_from": _initial_smtp_from(settings),
    }
    async with store.sessions() as s:
        for key in SettingsOut.model_fields:
            value = await settings_repo.get_setting(s, key)
            if value is not None:
                values[key] = value
    try:
        return SettingsOut(**values)
    except ValueError:  # a stored value no longer fits: fall back to defaults for safety
        return SettingsOut()


@router.get("", response_model=SettingsOut)
async def get_settings(store: StoreDep, config: SettingsDep, _user: UserDep) -> SettingsOut:
    return await load_settings(store, config)


@router.put("", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn, store: StoreDep, config: SettingsDep, live: LiveDep, _user: UserDep
) -> SettingsOut:
    if body.timezone is not None:
        try:
            ZoneInfo(body.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ApiError(
                422,
                "invalid-request",
                f"body.timezone: unknown time zone {body.timezone!r}",
                [{"path": "body.timezone", "message": "unknown time zone"}],
            ) from exc
    async with store.transaction() as s:
        for key, value in body.model_dump(exclude_unset=True).items():
            if value is not None:
                await settings_repo.set_setting(s, key, value)
    await reload_live(live)
    return await load_settings(store, config)


class TestMailIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"to": "anna@example.com"}]},
    )
    to: str = Field(min_length=3, max_length=254)

    @field_validator("to")
    @classmethod
    def _address(cls, v: str) -> str:
        local, at, domain = v.partition("@")
        if not at or not local or "." not in domain or any(c.isspace() or c in '<>,;"' for c in v):
            raise ValueError(f"{v!r} is not an email address")
        return v


class TestMailOut(BaseModel):
    to: str
    sender: str = Field(description="the From address the mail left with")
    server: str = Field(description="host:port of the SMTP server that took it")


TEST_MAIL_SUBJECT = "flowpbx test mail"


@router.post("/test-mail", response_model=TestMailOut, responses={409: {}, 422: {}, 502: {}})
async def send_test_mail(
    body: TestMailIn, store: StoreDep, config: SettingsDep, user: AdminDep
) -> TestMailOut:
    """Send one mail through the configured SMTP server (FLOWPBX_SMTP_URL) at once, past the
    outbox: 200 when the server took it, 409 when none is configured, 502 with the server's
    answer (or the connection error) when it did not."""
    url = config.smtp_url.strip()
    if not url:
        raise ApiError(
            409,
            "smtp-not-configured",
            "No SMTP server is configured: set FLOWPBX_SMTP_URL (smtp://host:port) and restart",
        )
    try:
        smtp = SmtpConfig.from_url(url, sender=config.smtp_from or None)
    except MailConfigError as exc:  # the message may quote the URL: never its password
        raise ApiError(
            409, "smtp-misconfigured", str(exc).replace(url, "<FLOWPBX_SMTP_URL>")
        ) from exc

    async def saved_from() -> str | None:
        return (await load_settings(store, config)).smtp_from

    sender = SmtpSender(smtp, saved_from=saved_from)
    server = f"{smtp.host}:{smtp.port}"
    try:
        await sender.send(
            [body.to],
            TEST_MAIL_SUBJECT,
            f"This is a test mail from flowpbx, sent by {user.username} from the Settings "
            "page. Email from flowpbx (voicemail, flow notifications) reaches this address.",
        )
    except MailSendError as exc:
        text = str(exc)
        if smtp.password:
            text = text.replace(smtp.password, "***")
        raise ApiError(
            502, "smtp-failed", f"The SMTP server {server} did not take the mail: {text}"
        ) from exc
    return TestMailOut(to=body.to, sender=await sender.sender_address(), server=server)
