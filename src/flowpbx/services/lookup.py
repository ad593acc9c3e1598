"""Caller-name lookup: a URL template, an HTTP GET, a name out of the reply, a cache.

`CallerLookup.lookup(url_template, caller, ...)` renders the template with the caller's
number URL-encoded (``{caller}``; other placeholders from `values`), asks the shared
`HttpClient`, and takes the name from the plain body (first line) or a JSON field (dots
reach into objects) — the same reading as the `caller_lookup` element.

The cache is keyed by the rendered URL, keeps hits *and* misses for `cache_s` (a number
with no name is not asked again on every call), holds at most `max_entries` (least
recently used dropped first) and uses the monotonic clock. Concurrent lookups of the same
URL share one request. A lookup never takes longer than its `timeout_s`: on timeout or
error it returns None and is not cached, so the next call tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from flowpbx.flow.context import HttpClient, HttpRequest
from flowpbx.flow.elements.caller_lookup import extract_name
from flowpbx.flow.templates import render

__all__ = ["CallerLookup"]

log = logging.getLogger("flowpbx.services.lookup")


class CallerLookup:
    def __init__(
        self,
        http: HttpClient,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._max = max(1, max_entries)
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[str | None]] = {}
        self.requests = 0  # sent to the server (statistics, tests)
        self.hits = 0  # answered from the cache

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()

    def cached(self, url: str) -> tuple[bool, str | None]:
        """(True, name-or-None) when `url` has a live cache entry, else (False, None)."""
        entry = self._cache.get(url)
        if entry is None:
            return False, None
        if entry[0] <= self._clock():
            del self._cache[url]
            return False, None
        self._cache.move_to_end(url)
        return True, entry[1]

    async def lookup(
        self,
        url_template: str,
        caller: str,
        *,
        json_field: str | None = None,
        timeout_s: float = 2.0,
        cache_s: float = 3600.0,
        values: Mapping[str, object] | None = None,
    ) -> str | None:
        """The caller's name, or None when the server has none, fails or is too slow."""
        url = render(url_template, {**(values or {}), "caller": caller}, "url")
        found, name = self.cached(url)
        if found:
            self.hits += 1
            return name
        pending = self._inflight.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._inflight[url] = future
        try:
            name, ok = await self._fetch(url, json_field, timeout_s)
            if ok and cache_s > 0:
                self._store(url, name, cache_s)
            future.set_result(name)
            return name
        except BaseException:
            future.set_result(None)
            raise
        finally:
            del self._inflight[url]

    async def _fetch(
        self, url: str, json_field: str | None, timeout_s: float
    ) -> tuple[str | None, bool]:
        self.requests += 1
        request = HttpRequest(method="GET", url=url, headers={}, body=None, timeout_s=timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                reply = await self._http(request)
        except Exception as exc:
            log.info("caller lookup %s failed: %s: %s", url, type(exc).__name__, exc)
            return None, False
        if reply.status == 200:
            return extract_name(reply.body, json_field), True
        if reply.status == 404 or 200 < reply.status < 300:
            return None, True  # the server says: no name for this number
        return None, False  # server trouble: try again next call

    def _store(self, url: str, name: str | None, cache_s: float) -> None:
        self._cache[url] = (self._clock() + cache_s, name)
        self._cache.move_to_end(url)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
