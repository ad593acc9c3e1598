"""Property tests of the parser against the serialiser: for generated requests and responses,
parse(serialise(m)) == m, and parse never raises anything but its own SipParseError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import Headers
from flowpbx.sip.message import Request, Response, parse_message

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=12)
hosts = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,6}){0,2}\Z", fullmatch=True)
users = st.from_regex(r"\A[a-zA-Z0-9+][a-zA-Z0-9+._-]{0,12}\Z", fullmatch=True)
ports = st.integers(1, 65535)
# Header values: printable text without CR/LF, not starting or ending with whitespace.
values = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","),
    min_size=1,
    max_size=40,
)
methods = st.sampled_from(["INVITE", "OPTIONS", "BYE", "REGISTER", "INFO", "UPDATE", "NOTIFY"])
bodies = st.binary(max_size=200)
_RESERVED = {
    "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "max-forwards",
    "content-length", "l", "content-type", "c", "contact", "m", "route", "record-route",
    "supported", "k", "require", "proxy-require", "accept", "e", "s", "o", "r", "u", "x",
    "b", "a", "y", "content-encoding", "subject", "event", "refer-to", "allow", "expires",
}  # fmt: skip
ext_names = tokens.filter(lambda n: n.lower() not in _RESERVED)


@st.composite
def headers(draw: st.DrawFn, method: str) -> Headers:
    h = Headers()
    for _ in range(draw(st.integers(1, 3))):
        h.add(
            "Via",
            f"SIP/2.0/UDP {draw(hosts)}:{draw(ports)};branch=z9hG4bK{draw(tokens)}",
        )
    h.add("Max-Forwards", str(draw(st.integers(0, 255))))
    h.add("From", f"<sip:{draw(users)}@{draw(hosts)}>;tag={draw(tokens)}")
    h.add("To", f"<sip:{draw(users)}@{draw(hosts)}>")
    h.add("Call-ID", f"{draw(tokens)}@{draw(hosts)}")
    h.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    for name, value in draw(st.lists(st.tuples(ext_names, values), max_size=5)):
        h.add(name, value)
    return h


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(methods)
    uri = f"sip:{draw(users)}@{draw(hosts)}:{draw(ports)}"
    return Request(method=method, uri=uri, headers=draw(headers(method)), body=draw(bodies))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    reason = draw(st.from_regex(r"\A[A-Za-z][A-Za-z ]{0,20}[A-Za-z]\Z", fullmatch=True))
    return Response(
        status=draw(st.integers(100, 699)),
        reason=reason,
        headers=draw(headers(draw(methods))),
        body=draw(bodies),
    )


def _same_headers(a: Headers, b: Headers) -> None:
    assert [(n.lower(), v) for n, v in a.items() if n.lower() != "content-length"] == [
        (n.lower(), v) for n, v in b.items() if n.lower() != "content-length"
    ]


@settings(max_examples=100, deadline=None)
@given(requests())
def test_request_round_trip(req: Request) -> None:
    parsed = parse_message(req.to_bytes())
    assert isinstance(parsed, Request)
    assert (parsed.method, parsed.uri, parsed.body) == (req.method, req.uri, req.body)
    _same_headers(parsed.headers, req.headers)
    assert parsed.to_bytes() == req.to_bytes()


@settings(max_examples=100, deadline=None)
@given(responses())
def test_response_round_trip(resp: Response) -> None:
    parsed = parse_message(resp.to_bytes())
    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason, parsed.body) == (resp.status, resp.reason, resp.body)
    _same_headers(parsed.headers, resp.headers)


@settings(max_examples=150, deadline=None)
@given(requests(), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
def test_damaged_messages_raise_only_parse_errors(req: Request, at: int, junk: bytes) -> None:
    data = bytearray(req.to_bytes())
    pos = at % len(data)
    damaged = bytes(data[:pos] + junk + data[pos + len(junk) :])
    try:
        msg = parse_message(damaged)
        # Lazily parsed headers must fail the same way, never with another exception.
        for name in ("top_via", "cseq", "from_", "to", "call_id"):
            try:
                getattr(msg, name)
            except SipParseError:
                pass
    except SipParseError:
        pass
