"""Digest authentication (RFC 2617, RFC 7616, RFC 3261 §22)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowpbx.sip.auth import (
    DigestServer,
    NonceCounts,
    build_authorization,
    digest_response,
    ha1,
    parse_challenge,
    parse_credentials,
    select_challenge,
)
from flowpbx.sip.errors import SipParseError

# -- known answers ----------------------------------------------------------------------------


def test_rfc2617_md5_example() -> None:
    # RFC 2617 §3.5
    h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert h == "939e7578ed9e3c518a452acee763bce9"
    resp = digest_response(
        ha1_hex=h,
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert resp == "6629fae49393a05397450978507c4ef1"


RFC7616_CHALLENGE_MD5 = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    # RFC 7616 §3.9.1
    challenge = RFC7616_CHALLENGE_MD5.replace("algorithm=MD5", f"algorithm={algorithm}")
    value = build_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
    )
    creds = parse_credentials(value)
    assert creds is not None
    assert creds["response"] == expected
    assert creds["qop"] == "auth"
    assert creds["nc"] == "00000001"
    assert creds["algorithm"] == algorithm
    assert creds["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert creds["cnonce"] == RFC7616_CNONCE


def test_ha1_sha256_and_unknown_algorithm() -> None:
    assert ha1("a", "r", "p", "sha-256") == ha1("a", "r", "p", "SHA-256")
    assert len(ha1("a", "r", "p", "SHA-256")) == 64
    with pytest.raises(ValueError):
        ha1("a", "r", "p", "SHA-512-256")


# -- server -----------------------------------------------------------------------------------

REALM = "pbx.example.com"
USERS = {"101": "s3cret-101", "102": 'pw 102 "quoted"'}


def lookup(username: str, algorithm: str) -> str | None:
    password = USERS.get(username)
    return None if password is None else ha1(username, REALM, password, algorithm)


@pytest.fixture
def server() -> DigestServer:
    return DigestServer(realm=REALM, secret=b"k" * 32, nonce_ttl_s=300.0)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("username", ["101", "102"])
def test_client_server_interop(server: DigestServer, algorithm: str, username: str) -> None:
    challenge = server.challenge(now=1000.0, algorithm=algorithm)
    assert challenge.startswith(f'Digest realm="{REALM}", nonce="')
    assert f"algorithm={algorithm}" in challenge and 'qop="auth"' in challenge
    value = build_authorization(
        challenge,
        method="REGISTER",
        uri=f"sip:{REALM}",
        username=username,
        password=USERS[username],
    )
    result = server.verify(
        value, method="REGISTER", now=1010.0, ha1_lookup=lookup, uri=f"sip:{REALM}"
    )
    assert result.ok, result.reason
    assert (result.username, result.stale, result.reason, result.algorithm) == (
        username,
        False,
        "ok",
        algorithm,
    )


def test_wrong_password_and_unknown_user_look_the_same(server: DigestServer) -> None:
    challenge = server.challenge(now=0.0)
    wrong = build_authorization(
        challenge, method="INVITE", uri="sip:200@x", username="101", password="guess"
    )
    unknown = build_authorization(
        challenge, method="INVITE", uri="sip:200@x", username="999", password="guess"
    )
    r1 = server.verify(wrong, method="INVITE", now=1.0, ha1_lookup=lookup)
    r2 = server.verify(unknown, method="INVITE", now=1.0, ha1_lookup=lookup)
    assert not r1.ok and not r2.ok
    assert (r1.reason, r1.stale) == (r2.reason, r2.stale) == ("invalid credentials", False)


def test_stale_nonce(server: DigestServer) -> None:
    challenge = server.challenge(now=0.0)
    good = build_authorization(
        challenge, method="REGISTER", uri="sip:x", username="101", password=USERS["101"]
    )
    late = server.verify(good, method="REGISTER", now=301.0, ha1_lookup=lookup)
    assert not late.ok and late.stale and late.reason == "stale nonce"
    # a stale nonce with a wrong password is not "stale": just a failure
    bad = build_authorization(
        challenge, method="REGISTER", uri="sip:x", username="101", password="nope"
    )
    late_bad = server.verify(bad, method="REGISTER", now=301.0, ha1_lookup=lookup)
    assert not late_bad.ok and not late_bad.stale
    again = server.challenge(now=301.0, stale=True)
    assert again.endswith(", stale=true")
    assert parse_challenge(again).stale


def test_forged_or_foreign_nonce_refused(server: DigestServer) -> None:
    other = DigestServer(realm=REALM, secret=b"other-secret")
    value = build_authorization(
        other.challenge(now=0.0), method="BYE", uri="sip:x", username="101", password=USERS["101"]
    )
    result = server.verify(value, method="BYE", now=1.0, ha1_lookup=lookup)
    assert (result.ok, result.reason) == (False, "invalid nonce")
    forged = value.replace('nonce="', 'nonce="AAAA')
    assert server.verify(forged, method="BYE", now=1.0, ha1_lookup=lookup).reason in (
        "invalid nonce",
    )
    future = build_authorization(
        server.challenge(now=500.0),
        method="BYE",
        uri="sip:x",
        username="101",
        password="s3cret-101",
    )
    assert (
        server.verify(future, method="BYE", now=10.0, ha1_lookup=lookup).reason == "invalid nonce"
    )


def test_method_and_uri_are_bound(server: DigestServer) -> None:
    value = build_authorization(
        server.challenge(now=0.0),
        method="REGISTER",
        uri="sip:a",
        username="101",
        password=USERS["101"],
    )
    assert not server.verify(value, method="INVITE", now=1.0, ha1_lookup=lookup).ok
    result = server.verify(value, method="REGISTER", now=1.0, ha1_lookup=lookup, uri="sip:b")
    assert result.reason == "uri mismatch"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "no credentials"),
        ("NoOneKnowsThisScheme opaque-data=here", "no credentials"),  # RFC 4475 regaut01
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "no credentials"),
        ('Digest username="101", realm="pbx.example.com"', "malformed credentials"),
        ('Digest username="101", username="102"', "no credentials"),
        ('Digest username="101", realm="unterminated', "no credentials"),
        (
            'Digest username="101", realm="other", nonce="x", uri="sip:x", response="0"',
            "wrong realm",
        ),
        (
            'Digest username="101", realm="pbx.example.com", nonce="x", uri="sip:x", '
            'response="0", algorithm=SHA-512',
            "unsupported algorithm",
        ),
        (
            'Digest username="101", realm="pbx.example.com", nonce="x", uri="sip:x", '
            'response="0", qop=auth-conf, nc=00000001, cnonce="c"',
            "unsupported qop",
        ),
        (
            'Digest username="101", realm="pbx.example.com", nonce="x", uri="sip:x", '
            'response="0", qop=auth',
            "malformed credentials",
        ),
        (
            'Digest username="101", realm="pbx.example.com", nonce="!!", uri="sip:x", response="0"',
            "invalid nonce",
        ),
    ],
)
def test_bad_credentials(server: DigestServer, value: str, reason: str) -> None:
    result = server.verify(value, method="REGISTER", now=1.0, ha1_lookup=lookup)
    assert not result.ok
    assert result.reason == reason


def test_rfc2069_and_auth_int_forms(server: DigestServer) -> None:
    nonce = server.make_nonce(0.0)
    no_qop = f'Digest realm="{REALM}", nonce="{nonce}"'
    value = build_authorization(
        no_qop, method="OPTIONS", uri="sip:x", username="101", password=USERS["101"]
    )
    assert "qop" not in value and "cnonce" not in value
    assert server.verify(value, method="OPTIONS", now=1.0, ha1_lookup=lookup).ok
    # a nonce used without qop is good for that one request
    assert server.verify(value, method="OPTIONS", now=1.0, ha1_lookup=lookup).reason == "replayed"
    nonce = server.make_nonce(0.0)
    auth_int = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth-int"'
    value = build_authorization(
        auth_int, method="MESSAGE", uri="sip:x", username="101", password=USERS["101"], body=b"hi"
    )
    assert "qop=auth-int" in value
    assert server.verify(value, method="MESSAGE", now=1.0, ha1_lookup=lookup, body=b"hi").ok
    assert not server.verify(value, method="MESSAGE", now=1.0, ha1_lookup=lookup, body=b"ho").ok


def test_challenges_offer_sha256_first_and_client_picks_it(server: DigestServer) -> None:
    values = server.challenges(now=0.0)
    assert [parse_challenge(v).algorithm for v in values] == ["SHA-256", "MD5"]
    assert select_challenge(list(reversed(values))) == values[0]
    assert select_challenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256']) is None
    assert select_challenge(["Basic realm=x", values[1]]) == values[1]


def test_parse_challenge() -> None:
    ch = parse_challenge(RFC7616_CHALLENGE_MD5)
    assert ch.realm == "http-auth@example.org"
    assert ch.qop == ("auth", "auth-int")
    assert ch.algorithm == "MD5" and ch.supported
    assert not ch.stale
    for bad in ("Basic realm=x", 'Digest realm="r"', "Digest", ""):
        with pytest.raises(SipParseError):
            parse_challenge(bad)
    with pytest.raises(ValueError):
        build_authorization(
            'Digest realm="r", nonce="n", algorithm=SHA-512',
            method="A",
            uri="u",
            username="u",
            password="p",
        )


def test_nc_is_hex_and_server_secret_required() -> None:
    value = build_authorization(
        'Digest realm="r", nonce="n", qop="auth"',
        method="A",
        uri="u",
        username="u",
        password="p",
        nc=255,
    )
    assert "nc=000000ff" in value
    with pytest.raises(ValueError):
        DigestServer(realm="r", secret=b"")


# -- nonce counts (RFC 7616 §3.3) -------------------------------------------------------------


def test_nonce_counts_window_and_closing() -> None:
    counts = NonceCounts(ttl_s=300.0, window=4)
    assert counts.use(b"a", 0.0, 1, 1.0)
    assert not counts.use(b"a", 0.0, 1, 1.0)
    assert counts.use(b"a", 0.0, 3, 1.0) and counts.use(b"a", 0.0, 2, 1.0)
    assert counts.use(b"a", 0.0, 9, 1.0)
    assert not counts.use(b"a", 0.0, 5, 1.0)  # 4 below the highest: outside the window
    assert counts.use(b"a", 0.0, 6, 1.0) and not counts.use(b"a", 0.0, 6, 1.0)
    assert not counts.use(b"a", 0.0, None, 1.0)  # used with qop: not good without it
    assert counts.use(b"b", 0.0, None, 1.0)  # without qop: one request
    assert not counts.use(b"b", 0.0, None, 1.0)
    assert not counts.use(b"b", 0.0, 1, 1.0)
    # entries leave with their nonce's lifetime
    assert counts.use(b"c", 400.0, 1, 401.0) and len(counts) == 1


def test_nonce_counts_stay_bounded_and_never_forget_into_a_replay() -> None:
    counts = NonceCounts(ttl_s=300.0, max_nonces=3)
    for i in range(3):
        assert counts.use(bytes([i]), float(i), 1, 10.0)
    assert counts.use(b"new", 5.0, 1, 10.0) and len(counts) == 3  # oldest dropped
    assert not counts.use(bytes([0]), 0.0, 1, 10.0)  # its nonce now counts as used
    assert not counts.use(b"unused-but-old", 0.0, 1, 10.0)  # older ones too: re-challenged
    assert counts.use(bytes([2]), 2.0, 2, 10.0)


def test_non_ascii_and_odd_values_are_refused_not_raised(server: DigestServer) -> None:
    challenge = server.challenge(now=0.0)
    good = build_authorization(
        challenge, method="REGISTER", uri="sip:x", username="101", password=USERS["101"]
    )
    creds = parse_credentials(good)
    assert creds is not None
    for field, value in (
        ("response", "ä" * 32),
        ("response", ""),
        ("response", "\udcff" * 32),
        ("nc", "0000_001"),
        ("nc", "+0000001"),
        ("nc", "00000000"),
        ("nc", "ääääääää"),
        ("nonce", "ä" * 43),
        ("uri", "sip:ä"),
    ):
        bad = good.replace(f'{field}="{creds[field]}"', f'{field}="{value}"').replace(
            f"{field}={creds[field]}", f"{field}={value}"
        )
        assert bad != good, field
        result = server.verify(bad, method="REGISTER", now=1.0, ha1_lookup=lookup, uri="sip:x")
        assert not result.ok and not result.stale, (field, value, result)


_TEXT = st.text(st.characters(codec=None), max_size=300)
_VALUE = st.one_of(
    _TEXT, st.just(""), st.text(max_size=5), st.text(alphabet='ä\udcff\x00"\\,=', max_size=50)
)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(
        st.sampled_from(
            ["username", "realm", "nonce", "uri", "response", "algorithm", "qop", "nc", "cnonce"]
        ),
        max_size=12,
    ),
    values=st.lists(_VALUE, min_size=12, max_size=12),
    quoted=st.lists(st.booleans(), min_size=12, max_size=12),
    huge=st.integers(min_value=0, max_value=70_000),
)
def test_authorization_parser_never_raises(
    names: list[str], values: list[str], quoted: list[bool], huge: int
) -> None:
    """Any Authorization value: verify answers (refused), parse_credentials returns a dict or
    None, parse_challenge raises only SipParseError."""
    server = DigestServer(realm=REALM, secret=b"k" * 32)
    parts = []
    for i, name in enumerate(names):
        value = values[i]
        parts.append(f'{name}="{value}"' if quoted[i] else f"{name}={value}")
    if huge:
        parts.append(f'cnonce="{"x" * huge}"')
    for value in (f"Digest {', '.join(parts)}", ", ".join(parts), values[0]):
        creds = parse_credentials(value)
        assert creds is None or isinstance(creds, dict)
        result = server.verify(value, method="REGISTER", now=1.0, ha1_lookup=lookup, uri="sip:x")
        assert not result.ok
        try:
            parse_challenge(value)
        except SipParseError:
            pass
