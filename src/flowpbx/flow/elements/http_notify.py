"""`http_notify` — a webhook into the company's systems.

The URL is a template (values URL-encoded); the body is a template too (JSON-escaped when
it is JSON, which is also the default body: the call's facts). When one of the outputs
``1``..``5`` is connected the element waits up to `timeout_s` for the reply and a 2xx
reply whose body is exactly that digit (surrounding whitespace trimmed) picks the output
when it is connected; anything else, an error or a timeout takes ``default``. With none
of them connected the request is sent in the background and the flow goes on at once
(the simulator still waits, to show the reply).
"""

from __future__ import annotations

import asyncio
import json

from flowpbx.flow.context import FlowContext, HttpReply, HttpRequest
from flowpbx.flow.model import HTTP_REPLY_OUTPUTS, HttpNotifyNode
from flowpbx.flow.session import CallEnded
from flowpbx.flow.templates import render

_BACKGROUND: set[asyncio.Task[HttpReply]] = set()


def _done(task: asyncio.Task[HttpReply]) -> None:
    _BACKGROUND.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed notification must not be logged as lost


def build_request(node: HttpNotifyNode, ctx: FlowContext) -> HttpRequest:
    params = node.params
    values = ctx.template_values()
    headers = dict(params.headers)
    has_type = any(k.lower() == "content-type" for k in headers)
    body: str | None
    if params.method in ("GET", "DELETE"):
        body = None
    elif params.body is None:
        body = json.dumps(values, default=str)
        if not has_type:
            headers["Content-Type"] = "application/json"
    else:
        stripped = params.body.lstrip()
        is_json = stripped.startswith(("{", "[")) or any(
            k.lower() == "content-type" and "json" in v.lower() for k, v in headers.items()
        )
        body = render(params.body, values, "json" if is_json else "plain")
        if not has_type:
            headers["Content-Type"] = "application/json" if is_json else "text/plain"
    return HttpRequest(
        method=params.method,
        url=render(params.url, values, "url"),
        headers=headers,
        body=body,
        timeout_s=params.timeout_s,
        tag=ctx.node_id,
    )


async def run(node: HttpNotifyNode, ctx: FlowContext) -> str:
    http = ctx.services.http
    if http is None:
        ctx.not_available("HTTP notification")
        return "default"
    request = build_request(node, ctx)
    ctx.facts["url"] = request.url
    wait = any(node.next.get(k) for k in HTTP_REPLY_OUTPUTS)
    if not wait and ctx.services.live:
        task = asyncio.ensure_future(http(request))
        _BACKGROUND.add(task)
        task.add_done_callback(_done)
        ctx.facts["waited"] = False
        return "default"
    if wait:
        ctx.waited = True
    try:
        async with asyncio.timeout(request.timeout_s + 1.0):  # safety net over the client's
            reply = await http(request)
    except CallEnded:  # the caller hung up while we waited
        raise
    except Exception as exc:
        ctx.facts["error"] = f"{type(exc).__name__}: {exc}"[:200]
        return "default"
    ctx.facts["status"] = reply.status
    answer = reply.body.strip()
    ctx.facts["reply"] = answer[:100]
    if 200 <= reply.status < 300 and answer in HTTP_REPLY_OUTPUTS and node.next.get(answer):
        return answer
    return "default"
