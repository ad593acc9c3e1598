"""Numbers in SIP and SDP text: ASCII digits only, bounded before conversion.

Every numeric field that comes from the network (CSeq, Content-Length, Max-Forwards,
Expires, Session-Expires, Min-SE, RSeq, ports, SDP ``m=``/``o=``/``a=rtpmap``/``a=ptime``
...) is read through these helpers. ``str.isdigit()`` alone is not enough: it accepts
``²`` and digits of other scripts, which ``int()`` then refuses (ValueError) or reads as a
number nobody wrote (``int("١٢")`` is 12); ``int()`` also takes ``_``, signs and spaces,
refuses more than 4,300 digits, and ``float()`` takes ``inf``, ``nan`` and ``1e999``.
RFC 3261 §25.1 and RFC 8866 §9 define DIGIT as %x30-39, so that is all that is accepted.

The helpers return None for anything else; each caller turns that into its own error type
(``SipParseError``, ``SdpError``) or its default.
"""

from __future__ import annotations

__all__ = ["is_digits", "parse_decimal", "parse_delta", "parse_uint"]

#: 2**32 - 1, the largest delta-seconds we keep (RFC 3261 §20.19: clamp, do not refuse)
DELTA_MAX = 4294967295


def is_digits(text: str) -> bool:
    """True when ``text`` is one or more ASCII digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()


def parse_uint(text: str, max_digits: int = 10) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits (no sign,
    space or ``_``), else None."""
    if len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def parse_delta(text: str, maximum: int = DELTA_MAX) -> int | None:
    """delta-seconds (RFC 3261 §25.1: ``1*DIGIT``) of any length, clamped to ``maximum``;
    None when ``text`` is not ASCII digits."""
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 12:
        return maximum
    return min(int(text), maximum)


def parse_decimal(text: str, max_digits: int = 10) -> float | None:
    """``1*DIGIT ["." *DIGIT]`` (q-values, a fractional ``a=ptime``) as a float, or None.
    Never ``inf``, ``nan``, an exponent or a sign."""
    whole, dot, frac = text.partition(".")
    if len(whole) > max_digits or not (whole.isascii() and whole.isdigit()):
        return None
    if dot and frac and (len(frac) > max_digits or not (frac.isascii() and frac.isdigit())):
        return None
    return float(text[:-1] if dot and not frac else text)
