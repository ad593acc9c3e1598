"""Registrar (RFC 3261 §10) and digest authentication of extensions.

Bindings live in memory for the call path and are written through to the store (so a
restart keeps them), in order, by one worker that waits out a database outage. Several
phones may register one extension; all of them ring. At most
FLOWPBX_MAX_CONTACTS_PER_EXTENSION (10) at once: a new contact beyond that replaces the one
refreshed least recently; one REGISTER naming more than that many gets 403.

Authentication answers are the same for an extension that exists and one that does not
(no enumeration): a challenge first, 403 after wrong credentials. Right credentials from a
source outside the extension's ``allowed_cidrs`` get the very same 403 and count as a
failure towards a ban (pbx/security.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flowpbx.pbx.events import EventHub
from flowpbx.pbx.ports import SipSender
from flowpbx.pbx.security import source_in_networks
from flowpbx.sip.auth import DigestServer, parse_credentials
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import NameAddr
from flowpbx.sip.message import Request, make_response
from flowpbx.sip.numeric import parse_delta
from flowpbx.store.errors import DatabaseUnavailable
from flowpbx.store.records import ExtensionRec, RegistrationRec

if TYPE_CHECKING:
    from flowpbx.pbx.security import AccessGuard
    from flowpbx.settings import Settings
    from flowpbx.sip.transaction import ServerTransaction
    from flowpbx.store.db import Store

log = logging.getLogger("flowpbx.registrar")

Addr = tuple[str, int]
MIN_EXPIRES = 30
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 3600


@dataclass(slots=True)
class Binding:
    extension: str
    contact: str  # the Contact URI as the phone gave it
    source: Addr  # where its REGISTER came from: requests to the phone go here (NAT-safe)
    expires_at: float  # wall-clock seconds
    user_agent: str
    call_id: str
    cseq: int
    transport: str = "udp"  # the REGISTER's; over TLS, requests to the phone stay on TLS


class Authenticator:
    """Digest challenges and checks against the extensions' stored HA1 values.

    One credential per realm per request: a request carrying several ``Authorization`` (or
    ``Proxy-Authorization``) values for our realm is refused and each of them counts as a
    failure towards a ban, so guesses cannot be packed into one message. Credentials for
    other realms are ignored. The digest-uri must be the Request-URI, each nonce count is
    good for one request, and only the algorithms of ``FLOWPBX_SIP_AUTH_ALGORITHMS`` are
    accepted (sip/auth.py).
    """

    def __init__(
        self,
        realm: str,
        extensions: Callable[[], dict[str, ExtensionRec]],
        algorithms: tuple[str, ...] = ("MD5",),
    ) -> None:
        self.realm = realm
        self.algorithms = algorithms
        self.server = DigestServer(realm=realm, secret=os.urandom(32), algorithms=algorithms)
        self._extensions = extensions
        self.guard: AccessGuard | None = None  # pbx/security.py: failures ban the source

    def _ha1(self, username: str, algorithm: str) -> str | None:
        ext = self._extensions().get(username)
        if ext is None:
            return None
        return ext.ha1_sha256 if algorithm.upper().startswith("SHA-256") else ext.ha1_md5

    def _source_allowed(self, username: str, source: str | None) -> bool:
        """The extension's ``allowed_cidrs`` admit ``source`` (an empty list: anywhere)."""
        ext = self._extensions().get(username)
        if ext is None or not ext.allowed_cidrs:
            return True
        return source is not None and source_in_networks(source, ext.allowed_cidrs)

    def challenge_headers(
        self, header: str, now: float, stale: bool = False
    ) -> list[tuple[str, str]]:
        return [
            (header, self.server.challenge(now=now, algorithm=algorithm, stale=stale))
            for algorithm in self.algorithms
        ]

    def _ours(self, value: str) -> bool:
        """Digest credentials for our realm (malformed ones count as ours: they are refused)."""
        params = parse_credentials(value)
        return params is None or params.get("realm", self.realm) == self.realm

    def _failed(self, source: str | None, now: float, count: int = 1) -> None:
        if self.guard is None or source is None:
            return
        for _ in range(count):
            if self.guard.record_failure(source, now):
                break  # banned: the rest changes nothing

    def check(
        self, request: Request, *, proxy: bool, now: float, source: str | None = None
    ) -> tuple[str | None, int, list[tuple[str, str]]]:
        """(authenticated extension or None, status to answer if None, headers)."""
        auth_header = "Proxy-Authorization" if proxy else "Authorization"
        challenge_header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        status = 407 if proxy else 401
        values = request.headers.get_all(auth_header) if auth_header in request.headers else []
        # RFC 4475 §3.3.7: credentials of a scheme we do not know earn a Digest challenge;
        # credentials for another realm are for another server (RFC 3261 §22.3).
        values = [v for v in values if v.lstrip()[:7].lower() == "digest " and self._ours(v)]
        if not values:
            return None, status, self.challenge_headers(challenge_header, now)
        if len(values) > 1 and not self._one_per_algorithm(values):
            # one credential per realm per request: each one is a guess
            self._failed(source, now, len(values))
            return None, 403, []
        stale = False
        failures = 0
        for value in values:  # several: one per algorithm we challenged with (RFC 3261 §22.3)
            result = self.server.verify(
                value,
                method=request.method,
                now=now,
                ha1_lookup=self._ha1,
                body=request.body,
                uri=request.uri,
            )
            if result.ok and result.username is not None:
                if self._source_allowed(result.username, source):
                    if self.guard is not None and source is not None:
                        self.guard.record_success(source, now)
                    return result.username, 200, []
                failures += 1  # outside the extension's allow-list: like a bad password
            elif result.stale:
                if result.reason == "replayed" and self.guard is not None:
                    self.guard.replays += 1
                stale = True
            else:
                failures += 1
        if stale and not failures:
            return None, status, self.challenge_headers(challenge_header, now, stale=True)
        self._failed(source, now, failures)
        return None, 403, []

    def _one_per_algorithm(self, values: list[str]) -> bool:
        """Several credentials for our realm are a phone answering each of our challenges
        (one per enabled algorithm) when no two name the same algorithm."""
        if len(values) > len(self.server.algorithms):
            return False
        seen: set[str] = set()
        for value in values:
            params = parse_credentials(value)
            alg = (params.get("algorithm") or "MD5").upper() if params is not None else ""
            if not alg or alg in seen:
                return False
            seen.add(alg)
        return True


class RegistrarHost(Protocol):
    """What the registrar needs of the runtime: SIP sending, the store (registrations
    survive a restart), settings, events for the console, the loop's clock."""

    @property
    def sip(self) -> SipSender: ...
    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def events(self) -> EventHub: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


class Registrar:
    def __init__(self, rt: RegistrarHost, auth: Authenticator) -> None:
        self.rt = rt
        self.auth = auth
        self._bindings: dict[str, list[Binding]] = {}
        self._writes: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._writer: asyncio.Future[None] | None = None
        self.outage_s = 600.0  # a database outage is waited out this long (write-through)

    # -- lookups for the call path -----------------------------------------------------------

    def bindings(self, extension: str) -> list[Binding]:
        now = dt.datetime.now(dt.UTC).timestamp()
        found = self._bindings.get(extension)
        if not found:
            return []
        live = [b for b in found if b.expires_at > now]
        if len(live) != len(found):
            self._bindings[extension] = live
        return live

    def all_bindings(self) -> dict[str, list[Binding]]:
        return {ext: self.bindings(ext) for ext in list(self._bindings)}

    def restore(self, records: list[RegistrationRec]) -> None:
        for rec in records:
            host, _, port = rec.source.rpartition(":")
            self._bindings.setdefault(rec.extension, []).append(
                Binding(
                    extension=rec.extension,
                    contact=rec.contact,
                    source=(host.strip("[]"), int(port or 5060)),
                    expires_at=rec.expires_at.timestamp(),
                    user_agent=rec.user_agent or "",
                    call_id=rec.call_id or "",
                    cseq=rec.cseq,
                    transport=rec.transport or "udp",
                )
            )

    # -- REGISTER ------------------------------------------------------------------------------

    def on_register(self, txn: ServerTransaction, request: Request, addr: Addr) -> None:
        sip = self.rt.sip
        user, status, headers = self.auth.check(
            request, proxy=False, now=self.rt.loop.time(), source=addr[0]
        )
        if user is None:
            sip.send_response(txn, make_response(request, status, headers=headers))
            return
        try:
            to_user = request.to.uri.user or ""
        except SipParseError:
            sip.send_response(txn, make_response(request, 400))
            return
        if to_user != user:
            sip.send_response(txn, make_response(request, 403, "Not Your Address"))
            return
        try:
            self._apply(request, addr, user, txn.transport)
        except _RegisterError as exc:
            sip.send_response(
                txn, make_response(request, exc.status, exc.reason, headers=exc.headers)
            )
            return
        now = dt.datetime.now(dt.UTC).timestamp()
        contacts = [
            ("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}")
            for b in self.bindings(user)
        ]
        self.rt.events.emit("registration", extension=user, contacts=len(contacts))
        date = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        sip.send_response(txn, make_response(request, 200, headers=[*contacts, ("Date", date)]))

    def _apply(self, request: Request, addr: Addr, extension: str, transport: str = "udp") -> None:
        header_expires = request.headers.get("Expires")
        default = DEFAULT_EXPIRES
        if header_expires is not None:  # malformed: the default (RFC 3261 §10.3 step 6)
            parsed = parse_delta(header_expires.strip(" \t"))
            default = default if parsed is None else parsed
        raw_contacts = request.headers.get_all("Contact") if "Contact" in request.headers else []
        now = dt.datetime.now(dt.UTC).timestamp()
        current = self.bindings(extension)
        if raw_contacts == ["*"] or (raw_contacts and raw_contacts[0].strip() == "*"):
            if default != 0 or len(raw_contacts) != 1:
                raise _RegisterError(400, "Invalid Wildcard")
            for b in current:
                self._persist_delete(b)
            self._bindings[extension] = []
            return
        cap = self.rt.settings.max_contacts_per_extension
        if len(raw_contacts) > cap:
            raise _RegisterError(403, "Too Many Contacts")
        user_agent = request.headers.get("User-Agent") or ""
        call_id = request.call_id
        cseq = request.cseq.seq
        for raw in raw_contacts:
            contact = NameAddr.parse(raw)
            expires = default if contact.expires is None else contact.expires
            uri = str(contact.uri)
            existing = next((b for b in current if b.contact == uri), None)
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                continue  # out-of-order REGISTER (§10.3 step 7)
            if expires == 0:
                if existing is not None:
                    current.remove(existing)
                    self._persist_delete(existing)
                continue
            if expires < MIN_EXPIRES:
                raise _RegisterError(423, "Interval Too Brief", [("Min-Expires", str(MIN_EXPIRES))])
            expires = min(expires, MAX_EXPIRES)
            binding = Binding(
                extension=extension,
                contact=uri,
                source=addr,
                expires_at=now + expires,
                user_agent=user_agent,
                call_id=call_id,
                cseq=cseq,
                transport=transport,
            )
            if existing is not None:
                current.remove(existing)
            current.append(binding)
            self._persist_save(binding)
        # Over the cap: the least recently refreshed contacts go (a phone that came back
        # from a new address without removing its old one must still get its calls).
        while len(current) > cap:
            self._persist_delete(current.pop(0))
        self._bindings[extension] = current

    # -- write-through to the store, in order, by one worker -------------------------------

    def _enqueue(self, op: tuple[str, object]) -> None:
        self._writes.put_nowait(op)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_loop())

    async def _write_loop(self) -> None:
        store = self.rt.store
        while not self._writes.empty():
            kind, payload = self._writes.get_nowait()
            pause, waited = 0.5, 0.0
            while True:
                try:
                    if kind == "save":
                        assert isinstance(payload, RegistrationRec)
                        await store.save_registration(payload)
                    else:
                        assert isinstance(payload, tuple)
                        await store.delete_registration(*payload)
                except DatabaseUnavailable:
                    # the database is locked or restarting: wait it out (bounded), in order
                    if waited < self.outage_s:
                        log.warning("database unavailable: registration change waits")
                        await asyncio.sleep(pause)
                        waited += pause
                        pause = min(pause * 2, 15.0)
                        continue
                    log.exception("could not persist a registration change")
                except Exception:
                    log.exception("could not persist a registration change")
                break

    def _persist_save(self, b: Binding) -> None:
        rec = RegistrationRec(
            extension=b.extension,
            contact=b.contact,
            source=f"{b.source[0]}:{b.source[1]}",
            transport=b.transport,
            expires_at=dt.datetime.fromtimestamp(b.expires_at, dt.UTC),
            user_agent=b.user_agent,
            call_id=b.call_id,
            cseq=b.cseq,
        )
        self._enqueue(("save", rec))

    def _persist_delete(self, b: Binding) -> None:
        self._enqueue(("delete", (b.extension, b.contact)))

    async def drain(self) -> None:
        self.outage_s = min(self.outage_s, 10.0)  # stopping: wait out an outage only briefly
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


class _RegisterError(Exception):
    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []
