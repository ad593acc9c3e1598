"""`caller_lookup` — look the caller's name up by URL and present it to the phones.

The URL is a template (``{caller}`` URL-encoded). The name is the plain reply body (first
line) or, with `json_field`, that field of a JSON reply (dots reach into objects). Names
found (and misses) are cached per URL for `cache_s` on live calls. A lookup that fails
or times out costs at most `timeout_s`; the call goes on with the name it had.
"""

from __future__ import annotations

import asyncio
import json

from flowpbx.flow.context import FlowContext, HttpRequest
from flowpbx.flow.model import CallerLookupNode
from flowpbx.flow.session import CallEnded
from flowpbx.flow.templates import render

MAX_NAME = 64
_CACHE: dict[str, tuple[float, str | None]] = {}
_MAX_CACHE = 10_000


def extract_name(body: str, json_field: str | None) -> str | None:
    if json_field is None:
        first = body.strip().splitlines()[0] if body.strip() else ""
        return first.strip()[:MAX_NAME] or None
    try:
        value: object = json.loads(body)
    except ValueError:
        return None
    for part in json_field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip()[:MAX_NAME] or None
    return None


async def run(node: CallerLookupNode, ctx: FlowContext) -> str:
    params = node.params
    http = ctx.services.http
    if http is None:
        ctx.not_available("Caller name lookup")
        return "next"
    url = render(params.url, ctx.template_values(), "url")
    ctx.facts["url"] = url
    now = ctx.session.now().timestamp()
    cached = _CACHE.get(url) if ctx.services.live else None
    if cached is not None and cached[0] > now:
        name = cached[1]
        ctx.facts["cached"] = True
    else:
        request = HttpRequest(
            method="GET",
            url=url,
            headers={},
            body=None,
            timeout_s=params.timeout_s,
            tag=ctx.node_id,
        )
        try:
            async with asyncio.timeout(params.timeout_s + 1.0):
                reply = await http(request)
        except CallEnded:
            raise
        except Exception as exc:
            ctx.facts["error"] = f"{type(exc).__name__}: {exc}"[:200]
            return "next"
        ctx.facts["status"] = reply.status
        name = extract_name(reply.body, params.json_field) if reply.status == 200 else None
        if ctx.services.live and params.cache_s > 0:
            if len(_CACHE) >= _MAX_CACHE:
                _CACHE.clear()
            _CACHE[url] = (now + params.cache_s, name)
    if name:
        ctx.session.set_caller(ctx.session.caller, name)
        ctx.facts["caller_name"] = name
    return "next"
