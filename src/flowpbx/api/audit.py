"""The audit log over HTTP: ``GET /api/v1/audit`` and the hook that fills it.

`AuditTrail` is one ASGI middleware in front of every route: when a configuration write
(POST/PUT/PATCH/DELETE under /api/v1, see `classify`) succeeds, it records who (the signed-in
user `deps.current_user` put in the request state), when, what (action, entity, key) and the
request's JSON body with secrets scrubbed (`store/audit.py`). The entry is committed before
the last byte of the answer leaves, so a client that got its answer finds the entry. Writes
that change no configuration (login, call control, validate, simulate, a test request,
voicemail messages) are not recorded; failed writes neither.

``GET /api/v1/audit`` (admins only): newest first, filters ``entity``, ``actor``, ``since``,
pages with ``limit``/``offset``, the number of matching entries in ``X-Total-Count``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowpbx.api.deps import AdminDep, StoreDep
from flowpbx.store import audit as audit_repo
from flowpbx.store.db import Store

log = logging.getLogger("flowpbx.api.audit")

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ENTITIES = {
    "extensions": "extension",
    "trunks": "trunk",
    "numbers": "number",
    "mailboxes": "mailbox",
    "schedules": "schedule",
    "audio": "audio",
    "flows": "flow",
    "queues": "queue",
    "settings": "settings",
    "users": "user",
    "tokens": "token",
    "config": "config",
    "security": "ban",
}
NOT_CONFIG = frozenset({"validate", "simulate", "test-request", "messages"})
KEY_FIELDS = ("number", "name", "username", "did", "id")
MAX_CAPTURE = 256 * 1024  # request/response bytes kept for the details (bodies are capped)


@dataclass(frozen=True, slots=True)
class Change:
    action: str
    entity: str
    key: str


def classify(method: str, path: str) -> Change | None:
    """The configuration change a successful ``method path`` makes, or None."""
    if method not in WRITE_METHODS or not path.startswith("/api/v1/"):
        return None
    parts = [unquote(p) for p in path[len("/api/v1/") :].strip("/").split("/") if p]
    if not parts or parts[0] not in ENTITIES:
        return None
    if any(p in NOT_CONFIG for p in parts[1:]):
        return None
    entity = ENTITIES[parts[0]]
    rest = parts[1:]
    if entity == "ban":  # DELETE /security/bans/{ip}
        if method != "DELETE" or len(rest) != 2 or rest[0] != "bans":
            return None
        return Change("lift", "ban", rest[1])
    if entity == "config":
        return Change("import", "config", "")
    if entity == "flow" and rest == ["import"]:
        return Change("import", "flow", "")
    if entity == "flow" and len(rest) == 2 and rest[1] in ("publish", "rollback"):
        return Change(rest[1], "flow", rest[0])
    if entity == "user" and len(rest) == 2 and rest[1] == "password":
        return Change("reset-password", "user", rest[0])
    if entity == "queue":  # queue names contain a slash: flow/node
        return Change("delete" if method == "DELETE" else "update", "queue", "/".join(rest))
    if entity == "settings":
        return Change("update", "settings", "")
    action = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}[method]
    return Change(action, entity, "/".join(rest))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError):
        return None


def _key_from(*bodies: Any) -> str:
    for body in bodies:
        if isinstance(body, dict):
            for field in KEY_FIELDS:
                value = body.get(field)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    return str(value)
    return ""


class AuditTrail:
    """ASGI middleware: records successful configuration writes (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        change = classify(scope.get("method", ""), scope.get("path", ""))
        if change is None:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        request_body = bytearray()
        response_body = bytearray()
        status = 0
        content_type = b""
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value

        request_size = [0]

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                request_size[0] += len(chunk)
                if len(request_body) < MAX_CAPTURE:
                    request_body.extend(chunk[: MAX_CAPTURE - len(request_body)])
            return message

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and 200 <= status < 300:
                if len(response_body) < MAX_CAPTURE:
                    response_body.extend(
                        message.get("body", b"")[: MAX_CAPTURE - len(response_body)]
                    )
                if not message.get("more_body", False):
                    await self._record(
                        scope,
                        state,
                        change,
                        content_type,
                        request_body,
                        request_size[0],
                        response_body,
                    )
            await send(message)

        await self.app(scope, receive_and_keep, send_and_record)

    async def _record(
        self,
        scope: Scope,
        state: dict[str, Any],
        change: Change,
        content_type: bytes,
        request_body: bytearray,
        request_size: int,
        response_body: bytearray,
    ) -> None:
        user = state.get("user")
        actor = getattr(user, "username", None)
        if actor is None:
            return  # not an authenticated write (none exists today): nothing to attribute
        request_json = _json(bytes(request_body)) if b"json" in content_type else None
        key = change.key or _key_from(_json(bytes(response_body)), request_json)
        details: dict[str, Any] = {"method": scope.get("method"), "path": scope.get("path")}
        if request_json is not None:
            details["request"] = request_json
        elif request_body:
            details["request"] = {
                "content_type": content_type.decode(errors="replace")[:100],
                "bytes": request_size,
            }
        store: Store = scope["app"].state.store
        try:
            await audit_repo.record_change(
                store,
                actor=actor,
                action=change.action,
                entity=change.entity,
                key=key,
                details=details,
            )
        except Exception:  # the change itself is done; a lost entry must not turn it into a 500
            log.exception("could not write the audit entry for %s %s", change.action, change.entity)


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    key: str
    details: dict[str, Any]


@router.get("", response_model=list[AuditOut])
async def list_audit(
    response: Response,
    store: StoreDep,
    _admin: AdminDep,
    entity: Annotated[str | None, Query(max_length=50, description="e.g. extension")] = None,
    actor: Annotated[str | None, Query(max_length=100, description="user name or cli")] = None,
    since: Annotated[dt.datetime | None, Query(description="at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AuditOut]:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    async with store.sessions() as s:
        rows, total = await audit_repo.list_entries(
            s, entity=entity, actor=actor, since=since, limit=limit, offset=offset
        )
    response.headers["X-Total-Count"] = str(total)
    return [
        AuditOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            entity=r.entity,
            key=r.key,
            details=r.details,
        )
        for r in rows
    ]
