"""Message bodies with several parts (RFC 2046 §5.1 multipart, RFC 5621 in SIP): splitting
them and finding the SDP among them. Pure, like the rest of sip/.

Exceptions: ``SipParseError(400)`` when a multipart body has no usable boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import Headers, unquote_string

__all__ = ["BodyPart", "body_parts", "find_sdp"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyPart:
    """One part of a multipart body (RFC 2046 §5.1, RFC 5621)."""

    content_type: str | None
    headers: Headers
    body: bytes


def _boundary(content_type_value: str) -> str | None:
    for param in content_type_value.split(";")[1:]:
        name, eq, value = param.partition("=")
        if eq and name.strip().lower() == "boundary":
            try:
                return unquote_string(value.strip())
            except SipParseError:
                return None
    return None


def body_parts(content_type_value: str, body: bytes) -> list[BodyPart]:
    """Split a multipart body (RFC 2046 §5.1.1) into its parts; [] if it is not multipart.

    Raises ``SipParseError(400)`` when the boundary is missing or never found.
    """
    if not content_type_value.strip().lower().startswith("multipart/"):
        return []
    boundary = _boundary(content_type_value)
    if not boundary:
        raise SipParseError("multipart body without a boundary", 400)
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    pieces = body.split(delim)
    if len(pieces) < 3:
        raise SipParseError("multipart boundary not found in the body", 400)
    parts: list[BodyPart] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # close-delimiter
        # the delimiter's line ends with CRLF; the CRLF before the next delimiter belongs to it
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        elif piece.startswith(b"\n"):
            piece = piece[1:]
        if piece.endswith(b"\r\n"):
            piece = piece[:-2]
        elif piece.endswith(b"\n"):
            piece = piece[:-1]
        sep = piece.find(b"\r\n\r\n")
        skip = 4
        if sep < 0:
            sep = piece.find(b"\n\n")
            skip = 2
        if piece.startswith(b"\r\n") or piece.startswith(b"\n"):
            head_text, content = "", piece[2 if piece.startswith(b"\r\n") else 1 :]
        elif sep < 0:
            head_text, content = piece.decode("utf-8", "surrogateescape"), b""
        else:
            head_text = piece[:sep].decode("utf-8", "surrogateescape")
            content = piece[sep + skip :]
        part_headers = Headers()
        for line in head_text.replace("\r\n", "\n").split("\n"):
            name, colon, value = line.partition(":")
            if colon and name.strip() and "\r" not in value:
                part_headers.add(name.strip(), value.strip())
        ct = part_headers.get("Content-Type")
        parts.append(
            BodyPart(
                content_type=None if ct is None else ct.split(";", 1)[0].strip().lower(),
                headers=part_headers,
                body=content,
            )
        )
    return parts


def find_sdp(content_type: str | None, content_type_value: str | None, body: bytes) -> bytes | None:
    """The SDP of a body: the body itself, or the first application/sdp part of a multipart."""
    if not body or content_type is None:
        return None
    if content_type == "application/sdp":
        return body
    if content_type.startswith("multipart/") and content_type_value is not None:
        try:
            parts = body_parts(content_type_value, body)
        except SipParseError:
            return None
        for part in parts:
            if part.content_type == "application/sdp":
                return part.body
            if part.content_type is not None and part.content_type.startswith("multipart/"):
                nested = find_sdp(part.content_type, part.headers.get("Content-Type"), part.body)
                if nested is not None:
                    return nested
    return None
