"""Import and export of the whole configuration document (SPEC §2.1).

`import_config(store, path)` reads YAML or JSON, validates *everything* first — every
section with pydantic, cross references (a number's trunk, an extension's mailbox), every
flow with `flowpbx.flow` against a directory built from this document plus the database,
every audio file by converting it — and only then upserts by natural key in one
transaction and publishes each flow as a new revision (author "import"). A flow whose
document did not change gets no new revision, so importing twice changes nothing.

`export_config(store)` returns the same document shape. SIP passwords exist only as HA1
and cannot be exported; an extension imported without `password` keeps its HA1.

Errors: `ConfigError` (from `flowpbx.store.errors`) with one "path: message" per problem,
e.g. ``extensions[2].number: must be 2-6 digits``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import ssl
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from flowpbx.flow.model import ScheduleSpec
from flowpbx.flow.validate import validate_flow
from flowpbx.media.audiofile import AudioFileError, convert_to_media_format
from flowpbx.store.db import Store, builtin_audio
from flowpbx.store.errors import ConfigError
from flowpbx.store.records import MailboxRec, NumberRec, ScheduleRec, TrunkRec
from flowpbx.store.repos import audio as audio_repo
from flowpbx.store.repos import extensions as extensions_repo
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import schedules as schedules_repo
from flowpbx.store.repos import trunks as trunks_repo
from flowpbx.store.repos import voicemail as voicemail_repo

EXPORT_NOTE = (
    "SIP passwords are stored only as digest hashes (HA1) and cannot be exported; "
    "an extension imported without `password` keeps its current password."
)
SECTIONS = ("extensions", "trunks", "numbers", "mailboxes", "schedules", "audio", "flows")
IMPORT_AUTHOR = "import"

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
# A trunk's INVITE rate, "RATE:BURST" like FLOWPBX_SIP_RATE_TRUNK_INVITE ("0" = no limit).
# SRTP per extension and trunk (pbx/srtp_policy.py): off, answered when offered, or insisted on.
MediaEncryption = Literal["none", "optional", "required"]
# The number's form in the Request-URI of calls out through a trunk (TrunkRec.dial_format).
DialFormat = Literal["e164", "national", "international"]


def check_dial_format(value: str | None, country_code: str | None) -> str | None:
    """A trunk's `dial_format` needs its `country_code` (to read national dialling and to
    write the national and international forms)."""
    if value is not None and not country_code:
        raise ValueError(f"dial_format {value!r} needs the trunk's country_code")
    return value


INVITE_RATE_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,3})?(:[1-9][0-9]{0,5})?$"


def _digits(value: Any, lo: int, hi: int) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads 101 as an int
    if not isinstance(value, str):
        return value
    if not (value.isascii() and value.isdigit() and lo <= len(value) <= hi):
        raise ValueError(f"must be {lo}-{hi} digits")
    return value


def _e164(value: str) -> str:
    body = value[1:] if value.startswith("+") else value
    if not (body.isascii() and body.isdigit() and 3 <= len(body) <= 15):
        raise ValueError("must be a phone number in E.164 form, e.g. +37167000001")
    return value


#: SIP passwords are guessed over the network at line rate: at least this long (a password
#: flowpbx generates is longer, see ``generate_sip_password``).
MIN_SIP_PASSWORD_LENGTH = 12
SIP_PASSWORD_RULE = (
    f"must be at least {MIN_SIP_PASSWORD_LENGTH} characters "
    "(leave it out of POST /api/v1/extensions to have flowpbx generate one)"
)


def sip_password(value: str | None) -> str | None:
    """A SIP password under the rule (``SIP_PASSWORD_RULE``); None passes (no change)."""
    if value is not None and len(value) < MIN_SIP_PASSWORD_LENGTH:
        raise ValueError(SIP_PASSWORD_RULE)
    return value


def generate_sip_password() -> str:
    """A random SIP password: 20 characters, 120 bits."""
    return secrets.token_urlsafe(15)


def cidr_list(items: list[str]) -> list[str]:
    """Addresses or networks as canonical CIDR strings ("10.0.0.7" -> "10.0.0.7/32")."""
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from exc
    return out


class ExtensionIn(BaseModel):
    model_config = _STRICT
    number: str
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=200)
    supervisor: bool = False
    outbound: bool = False
    caller_id: str | None = None
    mailbox: str | None = None
    allowed_cidrs: list[str] = Field(default_factory=list, max_length=50)
    call_waiting: bool = True
    media_encryption: MediaEncryption = "none"

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return _digits(v, 2, 6)

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return cidr_list(v)

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, v: str | None) -> str | None:
        return None if v is None else _e164(v)

    @field_validator("password")
    @classmethod
    def _password(cls, v: str | None) -> str | None:
        return sip_password(v)


MAX_CA_FILE = 4 * 1024 * 1024  # bytes of a trunk's tls_ca_file (the system bundle: ~200 kB)


def tls_ca_file(value: str | None) -> str | None:
    """A trunk's ``tls_ca_file``: an absolute path to a PEM CA bundle that loads (checked on
    this machine when saved, so a typo is a 4xx, not a trunk that never connects)."""
    if value is None or value == "":
        return None
    if len(value) > 1024 or "\x00" in value or not os.path.isabs(value):
        raise ValueError("expected the absolute path of a PEM CA bundle")
    try:  # a regular file of sane size: never /dev/zero, a FIFO or a huge file
        info = os.stat(value)
    except OSError as exc:
        raise ValueError(f"cannot read {value!r}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CA_FILE:
        raise ValueError(f"{value!r}: expected a regular file of at most {MAX_CA_FILE} bytes")
    try:
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ValueError(f"cannot load {value!r} as a PEM CA bundle: {exc}") from None
    return value


class TrunkTlsFields(BaseModel):
    """The TLS settings of a trunk (pbx/tls.py), shared by config import and the API."""

    tls_verify: bool = True
    tls_ca_file: str | None = None

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, v: str | None) -> str | None:
        return tls_ca_file(v)

    @model_validator(mode="after")
    def _tls_only(self) -> TrunkTlsFields:
        if self.tls_ca_file is not None and getattr(self, "transport", "tls") != "tls":
            raise ValueError("tls_ca_file: only for a trunk with transport tls")
        return self


class TrunkIn(TrunkTlsFields):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        validate_by_name=True,
        json_schema_extra={
            "examples": [{"name": "provider", "host": "sip.example.net", "port": 5060,
                          "username": "acme", "password": "secret", "register": True}]
        },
    )  # fmt: skip
    name: str = Field(min_length=1, max_length=100)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: str | None = None
    password: str | None = None
    register_: bool = Field(default=False, alias="register")  # BaseModel has .register
    from_domain: str | None = None
    trusted: bool = False
    country_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,3}$")
    national_prefix: str | None = Field(default=None, pattern=r"^[0-9]{1,4}$")
    max_calls: int | None = Field(default=None, ge=0, le=100_000)
    invite_rate: str | None = Field(default=None, pattern=INVITE_RATE_PATTERN)
    media_encryption: MediaEncryption = "none"
    dial_format: DialFormat | None = None

    @field_validator("dial_format")
    @classmethod
    def _dial_format(cls, v: str | None, info: ValidationInfo) -> str | None:
        return check_dial_format(v, info.data.get("country_code"))

    def record(self) -> TrunkRec:
        return TrunkRec(
            name=self.name,
            host=self.host,
            port=self.port,
            transport=self.transport,
            username=self.username,
            password=self.password,
            register=self.register_,
            from_domain=self.from_domain,
            trusted=self.trusted,
            country_code=self.country_code,
            national_prefix=self.national_prefix,
            max_calls=self.max_calls,
            invite_rate=self.invite_rate,
            media_encryption=self.media_encryption,
            tls_verify=self.tls_verify,
            tls_ca_file=self.tls_ca_file,
            dial_format=self.dial_format,
        )


class NumberIn(BaseModel):
    model_config = _STRICT
    number: str
    trunk: str = Field(min_length=1)

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        return _e164(v)


class MailboxIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"number": "100", "name": "Main", "pin": "1234",
                          "email": ["boss@example.com"]}]
        },
    )  # fmt: skip
    number: str
    name: str = Field(min_length=1, max_length=200)
    pin: str | None = None
    email: list[str] = Field(default_factory=list)

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return _digits(v, 2, 10)

    @field_validator("pin", mode="before")
    @classmethod
    def _pin(cls, v: Any) -> Any:
        return None if v is None else _digits(v, 4, 10)

    @field_validator("email")
    @classmethod
    def _email(cls, v: list[str]) -> list[str]:
        for addr in v:
            local, at, domain = addr.partition("@")
            if not at or not local or "." not in domain:
                raise ValueError(f"{addr!r} is not an email address")
        return v


class ScheduleIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=100)
    timezone: str = "UTC"
    hours: dict[str, Any] = Field(default_factory=dict)
    holidays: list[Any] = Field(default_factory=list)


class AudioIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    file: str = Field(min_length=1)


M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class _Parsed:
    extensions: list[ExtensionIn] = field(default_factory=list)
    trunks: list[TrunkIn] = field(default_factory=list)
    numbers: list[NumberIn] = field(default_factory=list)
    mailboxes: list[MailboxIn] = field(default_factory=list)
    schedules: list[ScheduleIn] = field(default_factory=list)
    audio: list[AudioIn] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """What an import changed (all zero on a repeated import of the same document)."""

    changed: dict[str, int]
    published: dict[str, int]  # flow name -> revision number now published
    new_revisions: list[str]  # flows that got a new revision

    @property
    def total_changes(self) -> int:
        return sum(self.changed.values()) + len(self.new_revisions)


# --------------------------------------------------------------------------- reading


def read_document(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON configuration file (YAML is a superset of JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ConfigError([f"{path}: not valid {_kind(path)}: {first}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the document must be a mapping of sections"])
    return data


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def _fmt_loc(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _parse_section(
    data: Mapping[str, Any], key: str, model: type[M], problems: list[str]
) -> list[M]:
    raw = data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{key}: must be a list")
        return []
    out: list[M] = []
    for i, item in enumerate(raw):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{_fmt_loc(f'{key}[{i}]', tuple(err['loc']))}: {msg}")
    return out


def _duplicates(section: str, keys: list[str], field_name: str, problems: list[str]) -> None:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            problems.append(f"{section}[{i}].{field_name}: duplicate {key!r}")
        seen.add(key)


def parse_document(data: Mapping[str, Any]) -> tuple[_Parsed, list[str]]:
    """Validate the shape of every section; returns what parsed and every problem."""
    problems: list[str] = []
    for key in data:
        if key not in SECTIONS and key != "comment":
            problems.append(f"{key}: unknown section (expected one of {', '.join(SECTIONS)})")
    parsed = _Parsed(
        extensions=_parse_section(data, "extensions", ExtensionIn, problems),
        trunks=_parse_section(data, "trunks", TrunkIn, problems),
        numbers=_parse_section(data, "numbers", NumberIn, problems),
        mailboxes=_parse_section(data, "mailboxes", MailboxIn, problems),
        schedules=_parse_section(data, "schedules", ScheduleIn, problems),
        audio=_parse_section(data, "audio", AudioIn, problems),
    )
    raw_flows = data.get("flows")
    if raw_flows is not None and not isinstance(raw_flows, list):
        problems.append("flows: must be a list")
    for i, doc in enumerate(raw_flows or () if isinstance(raw_flows, list) else ()):
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
            problems.append(f"flows[{i}].name: every flow needs a name")
            continue
        parsed.flows.append(doc)
    _duplicates("extensions", [e.number for e in parsed.extensions], "number", problems)
    _duplicates("trunks", [t.name for t in parsed.trunks], "name", problems)
    _duplicates("numbers", [n.number for n in parsed.numbers], "number", problems)
    _duplicates("mailboxes", [mb.number for mb in parsed.mailboxes], "number", problems)
    _duplicates("schedules", [sc.name for sc in parsed.schedules], "name", problems)
    _duplicates("audio", [a.name for a in parsed.audio], "name", problems)
    _duplicates("flows", [f["name"] for f in parsed.flows], "name", problems)
    _check_schedules(parsed.schedules, problems)
    return parsed, problems


def _check_schedules(schedules: list[ScheduleIn], problems: list[str]) -> None:
    for i, sc in enumerate(schedules):
        try:
            ScheduleSpec.model_validate(
                {"timezone": sc.timezone, "hours": sc.hours, "holidays": sc.holidays}
            )
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{_fmt_loc(f'schedules[{i}]', tuple(err['loc']))}: {msg}")


# --------------------------------------------------------------------------- flows


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryView:
    """The company as a flow being imported sees it: this document + the database.

    Implements `flowpbx.flow.validate.Directory`.
    """

    extensions: frozenset[str]
    audio: frozenset[str]
    mailboxes: frozenset[str]
    schedules: frozenset[str]
    numbers: frozenset[str]
    flow_dids: dict[str, str] = field(default_factory=dict)  # DID -> flow claiming it
    mailbox_pins: frozenset[str] = frozenset()  # mailboxes that have a PIN of their own

    def audio_exists(self, name: str) -> bool:
        return name in self.audio

    def extension_exists(self, number: str) -> bool:
        return number in self.extensions

    def mailbox_exists(self, number: str) -> bool:
        return number in self.mailboxes

    def schedule_exists(self, name: str) -> bool:
        return name in self.schedules

    def mailbox_has_pin(self, number: str) -> bool:
        return number in self.mailbox_pins

    def number_owner(self, did: str) -> str | None:
        return self.flow_dids.get(did)


def check_flow(document: dict[str, Any], directory: DirectoryView) -> list[str]:
    """Every error of one flow document, as "node.field: message" strings."""
    report = validate_flow(document, directory)
    problems = [p.message for p in report.errors]
    if not report.errors:
        for did in flows_repo.flow_dids(document):
            if did not in directory.numbers:
                problems.append(f"numbers: {did} is not one of My numbers")
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------- import


@dataclass(slots=True)
class _AudioPlan:
    name: str
    tmp: Path
    final: Path
    duration_s: float


MAX_AUDIO_BYTES = 20 * 1024 * 1024  # SPEC §2: at most 20 MB and 10 minutes
MAX_AUDIO_S = 600.0


def _convert_audio(src: Path, dst: Path) -> float:
    return float(convert_to_media_format(src, dst, max_duration_s=MAX_AUDIO_S))


def _check_audio(parsed: _Parsed, base: Path, problems: list[str]) -> list[tuple[AudioIn, Path]]:
    """Cheap checks of every audio entry; returns (entry, source file) of the good ones."""
    builtins = builtin_audio()
    good: list[tuple[AudioIn, Path]] = []
    for i, entry in enumerate(parsed.audio):
        if entry.name in builtins:
            problems.append(f"audio[{i}].name: {entry.name!r} is a built-in sample")
            continue
        src = (base / entry.file).resolve()
        if not src.is_file():
            problems.append(f"audio[{i}].file: {entry.file} does not exist")
            continue
        if src.stat().st_size > MAX_AUDIO_BYTES:
            problems.append(f"audio[{i}].file: {entry.file} is larger than 20 MB")
            continue
        good.append((entry, src))
    return good


async def _convert_all(
    sources: list[tuple[AudioIn, Path]], data_dir: Path, problems: list[str]
) -> list[_AudioPlan]:
    """Convert every audio entry into a temp file next to its final place (worker thread)."""
    plans: list[_AudioPlan] = []
    if not sources:
        return plans
    audio_dir = data_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for entry, src in sources:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".wav", dir=audio_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            duration = await asyncio.to_thread(_convert_audio, src, tmp)
        except (AudioFileError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            problems.append(f"audio: {entry.name}: cannot convert {entry.file}: {exc}")
            continue
        plans.append(_AudioPlan(entry.name, tmp, audio_dir / f"{entry.name}.wav", duration))
    return plans


async def import_config(store: Store, path: Path | str) -> ImportResult:
    """Validate the document at `path` completely, then apply it in one transaction."""
    path = Path(path)
    return await import_document(store, read_document(path), base=path.resolve().parent)


async def import_document(store: Store, data: Mapping[str, Any], *, base: Path) -> ImportResult:
    parsed, problems = parse_document(data)
    async with store.sessions() as s:
        db_ext = {e.number for e in await extensions_repo.list_extensions(s)}
        db_trunks = {t.name for t in await trunks_repo.list_trunks(s)}
        db_numbers = {n.number: n for n in await numbers_repo.list_numbers(s)}
        db_mailbox_rows = await voicemail_repo.list_mailboxes(s)
        db_mailboxes = {mb.number for mb in db_mailbox_rows}
        db_schedules = {sc.name: sc for sc in await schedules_repo.list_schedules(s)}
        db_audio = {row.name for row in await audio_repo.list_audio_rows(s)}
        db_published = await flows_repo.list_published(s)

    # cross references
    trunks = db_trunks | {t.name for t in parsed.trunks}
    for i, n in enumerate(parsed.numbers):
        if n.trunk not in trunks:
            problems.append(f"numbers[{i}].trunk: no trunk named {n.trunk!r}")
    mailboxes = db_mailboxes | {mb.number for mb in parsed.mailboxes}
    imported_boxes = {mb.number: mb for mb in parsed.mailboxes}
    pinned = {mb.number for mb in db_mailbox_rows if mb.pin and mb.number not in imported_boxes}
    pinned |= {number for number, mb in imported_boxes.items() if mb.pin}
    for i, e in enumerate(parsed.extensions):
        if e.mailbox is not None and e.mailbox not in mailboxes:
            problems.append(f"extensions[{i}].mailbox: no mailbox {e.mailbox!r}")
        if e.password is None and e.number not in db_ext:
            problems.append(
                f"extensions[{i}].password: required for a new extension "
                f"(at least {MIN_SIP_PASSWORD_LENGTH} characters)"
            )

    # flows, against this document + the database
    imported_names = {f["name"] for f in parsed.flows}
    claimed: dict[str, str] = {}
    for pub in db_published:
        if pub.flow_name not in imported_names:
            for did in flows_repo.flow_dids(pub.document):
                claimed.setdefault(did, pub.flow_name)
    for doc in parsed.flows:
        for did in flows_repo.flow_dids(doc):
            claimed.setdefault(did, doc["name"])
    schedules = set(db_schedules) | {sc.name for sc in parsed.schedules}
    audio_names = set(builtin_audio()) | db_audio | {a.name for a in parsed.audio}
    numbers = set(db_numbers) | {n.number for n in parsed.numbers}
    for i, doc in enumerate(parsed.flows):
        view = DirectoryView(
            extensions=frozenset(db_ext | {e.number for e in parsed.extensions}),
            audio=frozenset(audio_names),
            mailboxes=frozenset(mailboxes),
            mailbox_pins=frozenset(pinned),
            schedules=frozenset(schedules),
            numbers=frozenset(numbers),
            flow_dids=claimed,
        )
        for msg in check_flow(doc, view):
            problems.append(f"flows[{i}] ({doc['name']}): {msg}")

    sources = _check_audio(parsed, base, problems)
    plans = await _convert_all(sources, store.data_dir, problems) if not problems else []
    if problems:
        _discard(plans)
        raise ConfigError(problems)

    try:
        result = await _apply(store, parsed, plans, db_numbers)
    except BaseException:
        _discard(plans)
        raise
    for plan in plans:
        os.replace(plan.tmp, plan.final)
    return result


def _discard(plans: list[_AudioPlan]) -> None:
    for plan in plans:
        plan.tmp.unlink(missing_ok=True)


async def _apply(
    store: Store, parsed: _Parsed, plans: list[_AudioPlan], db_numbers: dict[str, NumberRec]
) -> ImportResult:
    changed = dict.fromkeys(SECTIONS, 0)
    published: dict[str, int] = {}
    new_revisions: list[str] = []
    async with store.transaction() as s:
        for e in parsed.extensions:
            changed["extensions"] += await extensions_repo.upsert_extension(
                s,
                number=e.number,
                name=e.name,
                realm=store.sip_realm,
                password=e.password,
                supervisor=e.supervisor,
                outbound=e.outbound,
                caller_id=e.caller_id,
                mailbox=e.mailbox,
                allowed_cidrs=e.allowed_cidrs,
                call_waiting=e.call_waiting,
                media_encryption=e.media_encryption,
            )
        for t in parsed.trunks:
            changed["trunks"] += await trunks_repo.upsert_trunk(s, t.record())
        # document order is the caller-ID list; numbers not in the document keep their
        # relative order after the imported ones
        order = [n.number for n in parsed.numbers]
        if order:
            rest = [n for n in sorted(db_numbers.values(), key=lambda n: n.position)]
            rest = [n for n in rest if n.number not in order]
            trunk_of = {n.number: n.trunk for n in parsed.numbers}
            for pos, num in enumerate(order + [n.number for n in rest], start=1):
                trunk = trunk_of.get(num) or db_numbers[num].trunk
                rec = NumberRec(number=num, trunk=trunk, position=pos)
                changed["numbers"] += await numbers_repo.upsert_number(s, rec)
        for mb in parsed.mailboxes:
            rec_mb = MailboxRec(number=mb.number, name=mb.name, pin=mb.pin, email=tuple(mb.email))
            changed["mailboxes"] += await voicemail_repo.upsert_mailbox(s, rec_mb)
        for sc in parsed.schedules:
            rec_sc = ScheduleRec(
                name=sc.name, timezone=sc.timezone, hours=sc.hours, holidays=sc.holidays
            )
            changed["schedules"] += await schedules_repo.upsert_schedule(s, rec_sc)
        for plan in plans:
            rel = plan.final.relative_to(store.data_dir).as_posix()
            changed["audio"] += await audio_repo.upsert_audio(
                s, name=plan.name, file=rel, duration_s=round(plan.duration_s, 3)
            )
        for doc in parsed.flows:
            name = doc["name"]
            changed["flows"] += await flows_repo.save_draft(s, name, doc)
            before = await flows_repo.get_flow_row(s, name)
            prev = before.published_revision_id if before else None
            published[name] = await flows_repo.publish_flow(s, name, author=IMPORT_AUTHOR)
            after = await flows_repo.get_flow_row(s, name)
            if after is not None and after.published_revision_id != prev:
                new_revisions.append(name)
    return ImportResult(changed=changed, published=published, new_revisions=new_revisions)


# --------------------------------------------------------------------------- export


async def export_config(store: Store) -> dict[str, Any]:
    """The whole configuration as a document `import_config` accepts (no SIP passwords)."""
    async with store.sessions() as s:
        extensions = await extensions_repo.list_extensions(s)
        trunks = await trunks_repo.list_trunks(s)
        numbers = await numbers_repo.list_numbers(s)
        mailboxes = await voicemail_repo.list_mailboxes(s)
        schedules = await schedules_repo.list_schedules(s)
        audio_rows = await audio_repo.list_audio_rows(s)
        flow_rows = await flows_repo.list_flow_rows(s)
        flows: list[dict[str, Any]] = []
        for row in flow_rows:
            rev = await flows_repo.published_revision(s, row)
            flows.append(rev.document if rev is not None else row.draft)
    doc: dict[str, Any] = {"comment": EXPORT_NOTE}
    doc["extensions"] = [
        _drop_none(
            {
                "number": e.number,
                "name": e.name,
                "supervisor": e.supervisor,
                "outbound": e.outbound,
                "caller_id": e.caller_id,
                "mailbox": e.mailbox,
                "allowed_cidrs": list(e.allowed_cidrs) or None,
                "call_waiting": None if e.call_waiting else False,
                "media_encryption": None if e.media_encryption == "none" else e.media_encryption,
            }
        )
        for e in extensions
    ]
    doc["trunks"] = [
        _drop_none(
            {
                "name": t.name,
                "host": t.host,
                "port": t.port,
                "transport": t.transport,
                "username": t.username,
                "password": t.password,
                "register": t.register,
                "from_domain": t.from_domain,
                "trusted": t.trusted,
                "country_code": t.country_code,
                "national_prefix": t.national_prefix,
                "max_calls": t.max_calls,
                "invite_rate": t.invite_rate,
                "media_encryption": None if t.media_encryption == "none" else t.media_encryption,
                "tls_verify": None if t.tls_verify else False,  # written when off
                "tls_ca_file": t.tls_ca_file,
                "dial_format": t.dial_format,
            }
        )
        for t in trunks
    ]
    doc["numbers"] = [{"number": n.number, "trunk": n.trunk} for n in numbers]
    doc["mailboxes"] = [
        _drop_none({"number": mb.number, "name": mb.name, "pin": mb.pin, "email": list(mb.email)})
        for mb in mailboxes
    ]
    doc["schedules"] = [
        {"name": sc.name, "timezone": sc.timezone, "hours": sc.hours, "holidays": sc.holidays}
        for sc in schedules
    ]
    doc["audio"] = [
        {"name": a.name, "file": str(audio_repo.audio_path(a, store.data_dir))}
        for a in audio_rows
        if not a.builtin
    ]
    doc["flows"] = flows
    return doc


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def dump_config(doc: Mapping[str, Any], fmt: Literal["yaml", "json"] = "yaml") -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    header = "# flowpbx configuration export (flowpbx import FILE reads it back)\n"
    body = yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100)
    return header + body
