"""What an extension dialled (SPEC §4), parsed into a `DialTarget`. Pure.

    NNN                an existing extension             kind "extension"
    a DID of My numbers  run that number's flow          kind "did"
    +?digits           external number via the trunk     kind "external"
      …h               anonymous (Privacy: id, RFC 3323 §4.2)
      …cN              present the N-th number of the caller-ID list (c1 = first)
    4#NNN / 5#NNN / 6#NNN   spy on NNN: listen / whisper / barge   kind "spy"
    *97                own voicemail box (listen mode)   kind "voicemail"

Phones may send ``#`` percent-encoded (``%23``, RFC 3261 §19.1.2) and external numbers
with visual separators (spaces, ``-``, ``.``, parentheses); both are accepted.

Exceptions:

    ValueError
     └── DialStringError   not a valid dial string; `.status` is the SIP status to refuse
                           with (484 Address Incomplete, 404 Not Found, 403 Forbidden)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["DialStringError", "DialTarget", "parse_dialstring"]

DialKind = Literal["extension", "did", "external", "spy", "voicemail"]
SpyMode = Literal["listen", "whisper", "barge"]

_SPY_MODES: dict[str, SpyMode] = {"4": "listen", "5": "whisper", "6": "barge"}
_SPY_RE = re.compile(r"^([456])#(\d{2,6})$", re.ASCII)
_NUMBER_RE = re.compile(r"^(\+?\d{1,20})((?:[hH]|[cC]\d{1,3})*)$", re.ASCII)
_SUFFIX_RE = re.compile(r"[hH]|[cC]\d{1,3}", re.ASCII)
_SEPARATORS = str.maketrans("", "", " -.()\t")
VOICEMAIL_CODE = "*97"


class DialStringError(ValueError):
    """The dialled string cannot be called; `status` is the SIP response to refuse it with."""

    def __init__(self, message: str, *, status: int = 484) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class DialTarget:
    kind: DialKind
    number: str  # extension, DID, external number or spied extension; "" for voicemail
    anonymous: bool = False
    caller_id_index: int | None = None  # 1-based position in the caller-ID list
    spy_mode: SpyMode | None = None


def parse_dialstring(
    dialled: str,
    *,
    is_extension: Callable[[str], bool],
    is_did: Callable[[str], bool] | None = None,
    caller_id_count: int | None = None,
) -> DialTarget:
    """Parse `dialled`. `caller_id_count`, when given, refuses ``cN`` beyond the list."""
    text = dialled.strip().replace("%23", "#").replace("%2B", "+").replace("%2b", "+")
    if not text:
        raise DialStringError("nothing was dialled")
    if text == VOICEMAIL_CODE:
        return DialTarget(kind="voicemail", number="")
    spy = _SPY_RE.match(text)
    if spy is not None:
        target = spy.group(2)
        if not is_extension(target):
            raise DialStringError(f"cannot spy on {target}: no such extension", status=404)
        return DialTarget(kind="spy", number=target, spy_mode=_SPY_MODES[spy.group(1)])
    if text.isascii() and text.isdigit() and is_extension(text):
        return DialTarget(kind="extension", number=text)
    compact = text.translate(_SEPARATORS)
    match = _NUMBER_RE.match(compact)
    if match is None:
        raise DialStringError(f"cannot dial {dialled!r}")
    number, suffixes = match.group(1), match.group(2)
    anonymous = False
    index: int | None = None
    for suffix in _SUFFIX_RE.findall(suffixes):
        if suffix in "hH":
            if anonymous:
                raise DialStringError(f"{dialled!r}: 'h' given twice")
            anonymous = True
            continue
        if index is not None:
            raise DialStringError(f"{dialled!r}: more than one cN suffix")
        index = int(suffix[1:])
        if index < 1:
            raise DialStringError(f"{dialled!r}: the caller-ID list starts at c1", status=404)
        if caller_id_count is not None and index > caller_id_count:
            raise DialStringError(
                f"{dialled!r}: c{index} is beyond the caller-ID list "
                f"({caller_id_count} number{'s' if caller_id_count != 1 else ''})",
                status=404,
            )
    if not suffixes:
        if is_extension(number):
            return DialTarget(kind="extension", number=number)
        if is_did is not None:
            if is_did(number):
                return DialTarget(kind="did", number=number)
            if not number.startswith("+") and is_did("+" + number):
                return DialTarget(kind="did", number="+" + number)
    return DialTarget(kind="external", number=number, anonymous=anonymous, caller_id_index=index)
