"""The webhook probe: POST /api/v1/flows/test-request, the editor's "test request" button.

The body carries one `http_notify` or `caller_lookup` element as the editor holds it
(``{"type", "params", "next"}``) and optional sample call facts (caller, number dialled,
caller name, keys pressed). The element's own code runs once, as on a call — its URL and
body templates filled from the sample facts — with the PBX's real HTTP client
(`services.http.WebClient`: total timeout, no redirects, private addresses refused unless
Settings.http_allow_private (FLOWPBX_HTTP_ALLOW_PRIVATE=1) or the installation setting
``allow_private_webhooks`` is on, exactly as for calls). The answer says what was sent, the
reply's status, how long it took, an excerpt of its body, and the output the element would
take (for a lookup: the name it found). Nothing is cached and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowpbx.api.deps import AdminDep, SettingsDep, StoreDep
from flowpbx.api.errors import ApiError
from flowpbx.flow.context import FlowContext, FlowServices, HttpClient, HttpReply, HttpRequest
from flowpbx.flow.elements import ELEMENTS
from flowpbx.flow.model import NODE_CLASSES, Flow
from flowpbx.flow.simulator import SimulatedSession
from flowpbx.services.http import HttpSettings, WebClient
from flowpbx.store.db import Store
from flowpbx.store.repos import settings as settings_repo

router = APIRouter(prefix="/api/v1/flows", tags=["flows"])

NODE_ID = "test"
BODY_EXCERPT = 2000


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["http_notify", "caller_lookup"]
    params: dict[str, Any] = Field(default_factory=dict)
    next: dict[str, str | None] = Field(default_factory=dict)


class TestRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: NodeIn
    flow: str = Field(default="Test", min_length=1, max_length=200)
    caller: str = Field(default="+15555550100", min_length=1, max_length=100)
    caller_name: str | None = Field(default=None, max_length=200)
    did: str = Field(default="", max_length=32)
    digits: str = Field(default="", max_length=32, pattern=r"^[0-9*#]*$")


class TestRequestOut(BaseModel):
    method: str
    url: str
    request_body: str | None
    status: int | None
    elapsed_ms: float
    body: str  # the first BODY_EXCERPT characters of the reply
    output: str  # the output the element takes with this reply
    error: str | None
    caller_name: str | None  # caller_lookup: the name found


class _Recorder:
    """The real client, remembering the one request and its reply."""

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self.request: HttpRequest | None = None
        self.reply: HttpReply | None = None
        self.elapsed_ms = 0.0

    async def __call__(self, request: HttpRequest, /) -> HttpReply:
        self.request = request
        start = time.perf_counter()
        try:
            self.reply = await self._client(request)
        finally:
            self.elapsed_ms = round((time.perf_counter() - start) * 1000, 1)
        return self.reply


def _node(raw: NodeIn) -> Any:
    doc = raw.model_dump()
    try:
        return NODE_CLASSES[raw.type].model_validate(doc)
    except ValidationError as exc:
        details = [
            {
                "path": "body.node." + ".".join(str(p) for p in e["loc"]),
                "message": str(e["msg"]),
            }
            for e in exc.errors(include_url=False)
        ]
        first = details[0]
        raise ApiError(
            422, "invalid-request", f"{first['path']}: {first['message']}", details
        ) from exc


async def _timezone(store: Store) -> str:
    async with store.sessions() as s:
        name = await settings_repo.get_setting(s, "timezone")
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"
        return name
    return "UTC"


@router.post(
    "/test-request",
    response_model=TestRequestOut,
    responses={422: {"description": "the element's settings are not valid"}},
)
async def test_request(
    body: TestRequestIn, store: StoreDep, config: SettingsDep, _admin: AdminDep
) -> TestRequestOut:
    node = _node(body.node)
    flow = Flow.model_construct(name=body.flow, entry=NODE_ID, nodes={NODE_ID: node}, layout={})
    session = SimulatedSession(
        caller=body.caller,
        did=body.did,
        at=dt.datetime.now(dt.UTC),
        caller_name=body.caller_name,
        call_id="test-request",
    )
    client = WebClient(HttpSettings(allow_private=config.http_allow_private))
    async with store.sessions() as s:
        allowed = await settings_repo.get_setting(s, "allow_private_webhooks", False)
    client.set_allow_private(allowed is True)
    recorder = _Recorder(client)
    services = FlowServices(http=recorder, timezone=await _timezone(store), live=False)
    ctx = FlowContext(flow, session, services)
    ctx.node_id = NODE_ID
    ctx.digits = body.digits
    try:
        output = await ELEMENTS[node.type](node, ctx)
    finally:
        await client.aclose()
    request = recorder.request
    reply = recorder.reply
    error = ctx.facts.get("error")
    name = ctx.facts.get("caller_name")
    return TestRequestOut(
        method=request.method if request else "GET",
        url=request.url if request else str(ctx.facts.get("url", "")),
        request_body=request.body if request else None,
        status=reply.status if reply else None,
        elapsed_ms=recorder.elapsed_ms,
        body=reply.body[:BODY_EXCERPT] if reply else "",
        output=output,
        error=str(error) if error is not None else None,
        caller_name=str(name) if name is not None else None,
    )
