"""Templates in element texts and URLs (SPEC §3): ``{caller}``, ``{did}``, ...

Only the known placeholders are replaced; any other brace text is left alone, so a JSON
body such as ``{"from": "{caller}"}`` is a valid template. Each value is escaped for the
place it lands in:

    plain         as is (speech, logs)
    url           percent-encoded, every reserved character included (RFC 3986 §2.1)
    json          escaped for the inside of a JSON string literal (RFC 8259 §7)
    email_header  CR, LF and other control characters replaced by spaces, so a value can
                  never start a new header (RFC 5322 §2.2)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

__all__ = ["PLACEHOLDERS", "Escape", "header_safe", "placeholders_in", "render"]

PLACEHOLDERS = (
    "caller",
    "caller_name",
    "did",
    "call_id",
    "digits",
    "date",
    "time",
    "flow",
    "queue_wait_s",
    "mailbox",
)
Escape = Literal["plain", "url", "json", "email_header"]

_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_ENCODE_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _plain(value: str) -> str:
    return value


def _url(value: str) -> str:
    return quote(value, safe="")


def _json(value: str) -> str:
    return _ENCODE_JSON(value)[1:-1]


def header_safe(value: str) -> str:
    """`value` with line breaks and other control characters replaced by spaces."""
    return _CONTROL_RE.sub(" ", value)


_ESCAPERS = {"plain": _plain, "url": _url, "json": _json, "email_header": header_safe}


def render(template: str, values: Mapping[str, object], escape: Escape = "plain") -> str:
    """Replace known placeholders in `template` with escaped `values` (missing → "")."""
    if "{" not in template:
        return template
    esc = _ESCAPERS[escape]

    def sub(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return esc("" if value is None else str(value))

    return _PLACEHOLDER_RE.sub(sub, template)


def placeholders_in(template: str) -> set[str]:
    """The known placeholders a template uses."""
    return set(_PLACEHOLDER_RE.findall(template))
