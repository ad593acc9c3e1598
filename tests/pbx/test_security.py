"""AccessGuard (pbx/security.py), driven with an explicit clock: bans, rate limits, hidden
OPTIONS, bounded memory, call caps, dial restrictions; and the settings that configure it."""

from __future__ import annotations

import pytest

from flowpbx.pbx.registrar import Authenticator
from flowpbx.pbx.security import (
    AccessGuard,
    CallLimiter,
    GuardConfig,
    Rate,
    dial_allowed,
    request_method,
    source_in_networks,
    source_key,
)
from flowpbx.settings import Settings, SettingsError
from flowpbx.sip.auth import build_authorization, ha1
from flowpbx.sip.message import Request, parse_message
from flowpbx.store.records import ExtensionRec

A = ("192.0.2.10", 5060)
B = ("192.0.2.20", 5060)
REGISTER = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n"
INVITE = b"INVITE sip:101@example.com SIP/2.0\r\n\r\n"
OPTIONS = b"OPTIONS sip:example.com SIP/2.0\r\n\r\n"
BYE = b"BYE sip:101@example.com SIP/2.0\r\n\r\n"
RESPONSE = b"SIP/2.0 200 OK\r\n\r\n"


def guard(**kw: object) -> AccessGuard:
    return AccessGuard(GuardConfig(**kw))  # type: ignore[arg-type]


def test_request_method_reads_only_the_first_token() -> None:
    assert request_method(REGISTER) == b"REGISTER"
    assert request_method(b"\r\nOPTIONS sip:x SIP/2.0\r\n") == b"OPTIONS"
    assert request_method(RESPONSE) is None
    assert request_method(b"garbage") is None
    assert request_method(b"") is None


def test_threshold_failures_within_the_window_ban_the_source() -> None:
    g = guard(ban_threshold=3, ban_window_s=10, ban_duration_s=100)
    now = 1000.0
    assert not g.record_failure(A[0], now)
    assert not g.record_failure(A[0], now + 1)
    assert g.admit(A, REGISTER, now + 1)
    assert g.record_failure(A[0], now + 2)  # the third one bans
    assert g.is_banned(A[0], now + 2)
    # Everything from A is dropped now, responses and other methods included ...
    for data in (REGISTER, INVITE, OPTIONS, BYE, RESPONSE):
        assert not g.admit(A, data, now + 3)
    # ... but another source is untouched.
    assert g.admit(B, REGISTER, now + 3)
    [ban] = g.bans(now + 3)
    assert ban.ip == A[0] and ban.remaining_s(now + 3) == pytest.approx(99)
    assert "3 auth failures" in ban.reason
    # The ban expires by itself.
    assert g.admit(A, REGISTER, now + 102.1)
    assert g.bans(now + 102.1) == []


def test_failures_spread_wider_than_the_window_do_not_ban() -> None:
    g = guard(ban_threshold=3, ban_window_s=10)
    now = 0.0
    for _ in range(20):
        assert not g.record_failure(A[0], now)
        now += 6.0  # at most two inside any 10 s window
    assert not g.is_banned(A[0], now)


def test_a_lifted_ban_starts_from_zero_failures() -> None:
    g = guard(ban_threshold=2, ban_window_s=60)
    g.record_failure(A[0], 0.0)
    assert g.record_failure(A[0], 1.0)
    assert g.lift_ban(A[0])
    assert not g.lift_ban(A[0])  # not banned any more
    assert g.admit(A, REGISTER, 2.0)
    assert not g.record_failure(A[0], 2.0)  # counting restarts
    assert g.record_failure(A[0], 3.0)


def test_threshold_zero_never_bans_and_trusted_networks_are_exempt() -> None:
    g = guard(ban_threshold=0)
    for i in range(100):
        assert not g.record_failure(A[0], float(i))
    t = guard(ban_threshold=1, trusted_networks=("192.0.2.0/28",), rate_register=Rate.parse("1:1"))
    assert not t.record_failure(A[0], 0.0)  # .10 is inside /28
    assert t.record_failure(B[0], 0.0)  # .20 is not
    for _ in range(10):
        assert t.admit(A, REGISTER, 0.0)  # no rate limit either


def test_token_bucket_per_source_and_method() -> None:
    g = guard(rate_register=Rate.parse("2:4"), rate_invite=Rate.parse("1:1"))
    now = 50.0
    assert [g.admit(A, REGISTER, now) for _ in range(6)] == [True] * 4 + [False] * 2
    assert g.admit(A, INVITE, now)  # its own bucket
    assert not g.admit(A, INVITE, now)
    assert g.admit(B, REGISTER, now)  # another source has its own buckets
    assert g.admit(A, BYE, now) and g.admit(A, RESPONSE, now)  # not rate limited
    assert g.admit(A, REGISTER, now + 0.5)  # refilled one token at 2/s
    assert not g.admit(A, REGISTER, now + 0.5)
    assert [g.admit(A, REGISTER, now + 100) for _ in range(5)] == [True] * 4 + [False]
    assert g.counters()["sip_dropped_rate_limited"] == 5


def test_rate_zero_is_unlimited_and_trunks_are_never_limited() -> None:
    g = AccessGuard(
        GuardConfig(rate_options=Rate.parse("0"), rate_invite=Rate.parse("1:1")),
        is_trunk=lambda addr: addr == B,
    )
    assert all(g.admit(A, OPTIONS, 0.0) for _ in range(1000))
    assert all(g.admit(B, INVITE, 0.0) for _ in range(1000))
    assert g.admit(A, INVITE, 0.0) and not g.admit(A, INVITE, 0.0)
    # A trunk recognised by address *and port*: the same host on another port is not it.
    other_port = (B[0], 5999)
    assert g.admit(other_port, INVITE, 0.0) and not g.admit(other_port, INVITE, 0.0)


def test_options_policy_known_hides_the_pbx_from_unknown_sources() -> None:
    g = AccessGuard(
        GuardConfig(options_policy="known", trusted_networks=("198.51.100.0/24",)),
        is_trunk=lambda addr: addr == ("203.0.113.5", 5060),
    )
    assert not g.admit(A, OPTIONS, 0.0)
    assert g.admit(A, REGISTER, 0.0)  # a phone may still register
    g.record_success(A[0], 0.0)  # ... and once it authenticated, it is known
    assert g.admit(A, OPTIONS, 0.0)
    assert g.admit(("198.51.100.7", 5060), OPTIONS, 0.0)
    assert g.admit(("203.0.113.5", 5060), OPTIONS, 0.0)
    assert not g.admit(B, OPTIONS, 0.0)
    assert g.counters()["sip_dropped_hidden"] == 2
    assert guard().admit(A, OPTIONS, 0.0)  # default policy: answer anyone


def test_per_source_state_is_bounded_but_bans_survive_eviction() -> None:
    g = guard(max_sources=100, ban_threshold=2, rate_register=Rate.parse("1:1"))
    assert g.record_failure("10.0.0.1", 0.0) is False
    assert g.record_failure("10.0.0.1", 0.0) is True  # banned
    for i in range(5000):
        g.admit((f"10.1.{i // 250}.{i % 250}", 5060), REGISTER, 1.0)
    assert g.counters()["sip_tracked_sources"] == 100
    assert g.is_banned("10.0.0.1", 2.0)
    bans = guard(max_bans=10, ban_threshold=1)
    for i in range(50):
        bans.record_failure(f"10.2.0.{i}", float(i))
    assert len(bans.bans(50.0)) == 10
    assert bans.is_banned("10.2.0.49", 50.0)  # the newest bans are the ones kept


def test_call_limiter_caps_and_releases() -> None:
    g = guard(max_calls_per_extension=2, max_calls_per_trunk=0)
    assert g.acquire_call(extension="101")
    assert g.acquire_call(extension="101")
    assert not g.acquire_call(extension="101")
    assert g.acquire_call(extension="102")
    g.release_call(extension="101")
    assert g.acquire_call(extension="101")
    assert all(g.acquire_call(trunk="provider") for _ in range(500))  # 0 = no cap
    assert g.calls.active("trunk:provider") == 500
    limiter = CallLimiter()
    limiter.release("nobody")  # releasing what was never taken is harmless
    assert limiter.snapshot() == {}


@pytest.mark.parametrize(
    ("number", "allowed", "blocked", "ok"),
    [
        ("+37129999999", (), ("+1900",), True),
        ("+19005551234", (), ("+1900",), False),
        ("0019005551234", (), ("+1900",), False),  # 00 is +
        ("+19005551234", ("+1",), ("+1900",), False),  # blocked wins
        ("+37129999999", ("+371",), (), True),
        ("+4930123456", ("+371",), (), False),
        ("29999999", ("2",), (), True),  # a national prefix
        ("", (), (), False),
        ("+", (), (), False),
    ],
)
def test_dial_restrictions(
    number: str, allowed: tuple[str, ...], blocked: tuple[str, ...], ok: bool
) -> None:
    assert dial_allowed(number, allowed, blocked) is ok


def test_default_dial_restrictions_block_premium_ranges() -> None:
    c = guard().config
    allowed, blocked = c.dial_allowed_prefixes, c.dial_blocked_prefixes
    assert dial_allowed("+37167000001", allowed, blocked)
    assert not dial_allowed("+1 900 555 0100", allowed, blocked)
    assert not dial_allowed("+88213000000", allowed, blocked)


def test_settings_from_env_configure_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_SIP_BAN_THRESHOLD", "5")
    monkeypatch.setenv("FLOWPBX_SIP_BAN_DURATION_S", "30")
    monkeypatch.setenv("FLOWPBX_SIP_RATE_INVITE", "3:9")
    monkeypatch.setenv("FLOWPBX_SIP_OPTIONS_POLICY", "known")
    monkeypatch.setenv("FLOWPBX_SIP_TRUSTED_NETWORKS", "10.0.0.0/8, 127.0.0.1/32")
    monkeypatch.setenv("FLOWPBX_SIP_DIAL_ALLOWED_PREFIXES", "+371,+372")
    cfg = GuardConfig.from_settings(Settings.from_env())
    assert cfg.ban_threshold == 5 and cfg.ban_duration_s == 30.0
    assert cfg.rate_invite == Rate(per_s=3.0, burst=9.0)
    assert cfg.rate_register == Rate(per_s=20.0, burst=100.0)
    assert cfg.options_policy == "known"
    assert cfg.trusted_networks == ("10.0.0.0/8", "127.0.0.1/32")
    assert cfg.dial_allowed_prefixes == ("+371", "+372")
    assert "+1900" in cfg.dial_blocked_prefixes


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLOWPBX_SIP_BAN_THRESHOLD", "many"),
        ("FLOWPBX_SIP_RATE_REGISTER", "fast"),
        ("FLOWPBX_SIP_RATE_REGISTER", "5:0"),
        ("FLOWPBX_SIP_OPTIONS_POLICY", "everyone"),
    ],
)
def test_bad_security_settings_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()


# -- the Authenticator feeding the guard (pbx/registrar.py), sans-I/O --------------------------


def _authenticator() -> tuple[Authenticator, AccessGuard]:
    exts = {
        "101": ExtensionRec(
            number="101",
            name="Alice",
            ha1_md5=ha1("101", "flowpbx", "right-101"),
            ha1_sha256=ha1("101", "flowpbx", "right-101", "SHA-256"),
        )
    }
    auth = Authenticator("flowpbx", lambda: exts)
    g = guard(ban_threshold=3, ban_window_s=60)
    auth.guard = g
    return auth, g


def _register(auth: Authenticator, user: str, password: str | None, now: float) -> Request:
    lines = [
        "REGISTER sip:flowpbx SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{int(now * 1000)}",
        f"From: <sip:{user}@flowpbx>;tag=1",
        f"To: <sip:{user}@flowpbx>",
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        "Max-Forwards: 70",
    ]
    if password is not None:
        challenge = auth.challenge_headers("WWW-Authenticate", now)[0][1]
        lines.append(
            "Authorization: "
            + build_authorization(
                challenge, method="REGISTER", uri="sip:flowpbx", username=user, password=password
            )
        )
    request = parse_message(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode())
    assert isinstance(request, Request)
    return request


def test_wrong_password_and_unknown_user_get_the_same_answer_and_both_count() -> None:
    auth, g = _authenticator()
    src = "192.0.2.10"
    no_creds = auth.check(_register(auth, "101", None, 1.0), proxy=False, now=1.0, source=src)
    unknown_no_creds = auth.check(
        _register(auth, "999", None, 1.0), proxy=False, now=1.0, source=src
    )
    assert no_creds[:2] == unknown_no_creds[:2] == (None, 401)
    wrong = auth.check(_register(auth, "101", "nope", 2.0), proxy=False, now=2.0, source=src)
    unknown = auth.check(_register(auth, "999", "nope", 2.0), proxy=False, now=2.0, source=src)
    assert wrong == unknown == (None, 403, [])
    assert not g.is_banned(src, 2.0)  # challenges do not count, two failures so far
    auth.check(_register(auth, "101", "nope", 3.0), proxy=False, now=3.0, source=src)
    assert g.is_banned(src, 3.0)  # the third failure bans
    # Another address authenticates and becomes known; its credentials cannot be replayed.
    good = _register(auth, "101", "right-101", 4.0)
    assert auth.check(good, proxy=False, now=4.0, source="192.0.2.99")[:2] == ("101", 200)
    assert g.is_known(("192.0.2.99", 5060))
    user, status, headers = auth.check(good, proxy=False, now=5.0, source="192.0.2.98")
    assert (user, status) == (None, 401) and "stale=true" in headers[0][1].lower()


# -- per-extension allow-lists (ExtensionRec.allowed_cidrs) ----------------------------------


def test_source_in_networks() -> None:
    nets = ("127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32")
    assert source_in_networks("127.0.0.1", nets)
    assert source_in_networks("10.200.3.4", nets)
    assert source_in_networks("2001:db8::5", nets)
    assert source_in_networks("::ffff:10.1.1.1", nets)  # IPv4-mapped counts as IPv4
    assert not source_in_networks("127.0.0.2", nets)
    assert not source_in_networks("192.0.2.1", nets)
    assert not source_in_networks("not-an-ip", nets)
    assert not source_in_networks("10.0.0.1", ())
    assert source_in_networks("10.0.0.1", ("bogus", "10.0.0.1"))  # a bad entry is skipped


def test_allow_list_refuses_right_credentials_from_elsewhere_like_a_wrong_password() -> None:
    exts = {
        n: ExtensionRec(
            number=n,
            name=n,
            ha1_md5=ha1(n, "flowpbx", f"right-{n}"),
            ha1_sha256=ha1(n, "flowpbx", f"right-{n}", "SHA-256"),
            allowed_cidrs=cidrs,
        )
        for n, cidrs in (("101", ("192.0.2.0/28",)), ("102", ()))
    }
    auth = Authenticator("flowpbx", lambda: exts)
    g = guard(ban_threshold=3, ban_window_s=60)
    auth.guard = g
    inside, outside = "192.0.2.5", "198.51.100.7"
    ok = auth.check(_register(auth, "101", "right-101", 1.0), proxy=False, now=1.0, source=inside)
    assert ok[:2] == ("101", 200)
    refused = auth.check(
        _register(auth, "101", "right-101", 2.0), proxy=False, now=2.0, source=outside
    )
    wrong = auth.check(_register(auth, "101", "nope", 2.0), proxy=False, now=2.0, source=outside)
    unknown = auth.check(_register(auth, "999", "nope", 2.0), proxy=False, now=2.0, source=outside)
    assert refused == wrong == unknown == (None, 403, [])  # no hint which one it was
    assert g.is_banned(outside, 2.0)  # all three counted: the threshold bans the address
    assert not g.is_known((outside, 5060))
    # an extension without an allow-list registers from anywhere
    assert auth.check(
        _register(auth, "102", "right-102", 3.0), proxy=False, now=3.0, source="203.0.113.9"
    )[:2] == ("102", 200)
    # a check without a source address cannot pass an allow-list
    assert auth.check(
        _register(auth, "101", "right-101", 5.0), proxy=False, now=5.0, source=None
    ) == (None, 403, [])


def test_rtp_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWPBX_RTP_TIMEOUT_S", raising=False)
    assert Settings.from_env().rtp_timeout_s == 60.0  # the default stays one minute
    monkeypatch.setenv("FLOWPBX_RTP_TIMEOUT_S", "2.5")
    assert Settings.from_env().rtp_timeout_s == 2.5
    for bad in ("0", "-3", "soon", "7200"):
        monkeypatch.setenv("FLOWPBX_RTP_TIMEOUT_S", bad)
        with pytest.raises(SettingsError, match="FLOWPBX_RTP_TIMEOUT_S"):
            Settings.from_env()


# -- replays, the Request-URI, packed guesses, algorithms (pbx/registrar.py + sip/auth.py) ---


def _invite(ruri: str, credentials: list[str]) -> Request:
    lines = [
        f"INVITE {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKinv1",
        "From: <sip:101@flowpbx>;tag=1",
        "To: <sip:102@flowpbx>",
        "Call-ID: inv-1",
        "CSeq: 2 INVITE",
        "Max-Forwards: 70",
        *[f"Proxy-Authorization: {c}" for c in credentials],
    ]
    request = parse_message(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode())
    assert isinstance(request, Request)
    return request


def _cred(auth: Authenticator, ruri: str, password: str = "right-101", nc: int = 1) -> str:
    challenge = auth.challenge_headers("Proxy-Authenticate", 1.0)[0][1]
    return build_authorization(
        challenge, method="INVITE", uri=ruri, username="101", password=password, nc=nc
    )


def _upper_response(cred: str) -> str:
    head, _, rest = cred.partition('response="')
    value, _, tail = rest.partition('"')
    return f'{head}response="{value.upper()}"{tail}'


def test_sniffed_credentials_are_refused_for_any_request_uri_and_any_spelling() -> None:
    auth, g = _authenticator()
    src = "192.0.2.10"
    to_102 = "sip:102@flowpbx"
    cred = _cred(auth, to_102)
    assert auth.check(_invite(to_102, [cred]), proxy=True, now=2.0, source=src)[:2] == (
        "101",
        200,
    )
    # The same packet again, and with the response upper-cased: a stale challenge, no call.
    for replay in (cred, _upper_response(cred)):
        user, status, headers = auth.check(
            _invite(to_102, [replay]), proxy=True, now=3.0, source="198.51.100.1"
        )
        assert (user, status) == (None, 407) and "stale=true" in headers[0][1]
    assert g.counters()["sip_auth_replays"] == 2
    # Another Request-URI (an external number) with the sniffed credentials: refused, counted.
    external = "sip:0037120000000@flowpbx"
    for replay in (cred, _upper_response(cred)):
        got = auth.check(_invite(external, [replay]), proxy=True, now=3.0, source="198.51.100.2")
        assert got == (None, 403, [])
    # Fresh credentials for another Request-URI whose digest-uri is the old one: refused.
    other = _cred(auth, to_102)
    assert auth.check(_invite(external, [other]), proxy=True, now=3.0, source=src)[1] == 403
    # The digest-uri may spell the host in another case (RFC 3261 §19.1.4 equivalence).
    same = _cred(auth, "sip:102@FLOWPBX")
    assert auth.check(_invite(to_102, [same]), proxy=True, now=3.0, source=src)[:2] == (
        "101",
        200,
    )


def test_each_nonce_count_is_good_for_one_request() -> None:
    auth, _ = _authenticator()
    ruri = "sip:102@flowpbx"
    challenge = auth.challenge_headers("Proxy-Authenticate", 1.0)[0][1]

    def with_nc(nc: int) -> str:
        return build_authorization(
            challenge, method="INVITE", uri=ruri, username="101", password="right-101", nc=nc
        )

    def check(cred: str) -> int:
        return auth.check(_invite(ruri, [cred]), proxy=True, now=2.0, source="192.0.2.10")[1]

    assert check(with_nc(1)) == 200
    assert check(with_nc(3)) == 200  # requests may overtake each other
    assert check(with_nc(2)) == 200
    assert check(with_nc(2)) == 407  # a used count: replay
    assert check(with_nc(1)) == 407
    assert check(with_nc(200)) == 200
    assert check(with_nc(100)) == 407  # far below the highest: refused too
    # without qop (RFC 2069 form) a nonce is good for one request
    fresh = auth.challenge_headers("Proxy-Authenticate", 1.0)[0][1]
    bare = fresh.replace(', qop="auth"', "")
    cred = build_authorization(
        bare, method="INVITE", uri=ruri, username="101", password="right-101"
    )
    assert "qop" not in cred
    assert check(cred) == 200
    assert check(cred) == 407


def test_packed_guesses_are_refused_and_each_one_counts() -> None:
    auth, g = _authenticator()  # ban threshold 3
    ruri = "sip:102@flowpbx"
    guesses = [_cred(auth, ruri, password=f"guess-{i}") for i in range(2)]
    src = "198.51.100.9"
    assert auth.check(_invite(ruri, guesses), proxy=True, now=2.0, source=src) == (None, 403, [])
    assert not g.is_banned(src, 2.0)  # two so far
    # the right password among guesses does not help: one credential per realm per request
    packed = [_cred(auth, ruri, password="nope"), _cred(auth, ruri)]
    assert auth.check(_invite(ruri, packed), proxy=True, now=2.0, source=src) == (None, 403, [])
    assert g.is_banned(src, 2.0)
    # credentials for another realm are ignored: the right one for ours is accepted
    foreign = _cred(auth, ruri).replace('realm="flowpbx"', 'realm="elsewhere"')
    got = auth.check(_invite(ruri, [foreign, _cred(auth, ruri)]), proxy=True, now=3.0, source="x")
    assert got[:2] == ("101", 200)
    only_foreign = auth.check(_invite(ruri, [foreign]), proxy=True, now=3.0, source="x")
    assert only_foreign[1] == 407  # a challenge for our realm


def test_one_credential_per_challenged_algorithm_is_a_phone_not_packed_guesses() -> None:
    """RFC 3261 §22.3: a phone may answer each of our challenges (SHA-256 and MD5) with its
    own credentials: accepted; wrong ones still count one failure each."""
    auth, g = _authenticator()  # ban threshold 3
    auth = Authenticator("flowpbx", auth._extensions, ("SHA-256", "MD5"))
    auth.guard = g
    ruri = "sip:102@flowpbx"

    def creds(password: str) -> list[str]:  # answers to a fresh 407's two challenges
        challenges = [v for _, v in auth.challenge_headers("Proxy-Authenticate", 1.0)]
        assert len(challenges) == 2
        return [
            build_authorization(
                ch, method="INVITE", uri=ruri, username="101", password=password, nc=1
            )
            for ch in challenges
        ]

    for _ in range(3):  # the ban threshold, were they counted as failures
        got = auth.check(_invite(ruri, creds("right-101")), proxy=True, now=2.0, source="a")
        assert got[:2] == ("101", 200)
    assert not g.is_banned("a", 2.0)
    wrong = auth.check(_invite(ruri, creds("guess")), proxy=True, now=2.0, source="b")
    assert wrong == (None, 403, [])
    assert not g.is_banned("b", 2.0)  # two failures so far
    assert auth.check(_invite(ruri, creds("guess")), proxy=True, now=2.0, source="b")[1] == 403
    assert g.is_banned("b", 2.0)


def test_only_enabled_algorithms_are_accepted() -> None:
    exts = {
        "101": ExtensionRec(
            number="101",
            name="Alice",
            ha1_md5=ha1("101", "flowpbx", "right-101"),
            ha1_sha256=ha1("101", "flowpbx", "right-101", "SHA-256"),
        )
    }
    ruri = "sip:102@flowpbx"
    md5_only = Authenticator("flowpbx", lambda: exts, ("MD5",))
    sha_only = Authenticator("flowpbx", lambda: exts, ("SHA-256",))
    sha_challenge = sha_only.challenge_headers("Proxy-Authenticate", 1.0)[0][1]
    assert "algorithm=SHA-256" in sha_challenge
    for auth, alg in ((md5_only, "SHA-256"), (sha_only, "MD5")):
        own = auth.challenge_headers("Proxy-Authenticate", 1.0)[0][1]
        foreign = own.replace("algorithm=MD5", f"algorithm={alg}").replace(
            "algorithm=SHA-256", f"algorithm={alg}"
        )
        cred = build_authorization(
            foreign, method="INVITE", uri=ruri, username="101", password="right-101"
        )
        assert auth.check(_invite(ruri, [cred]), proxy=True, now=2.0, source="x") == (
            None,
            403,
            [],
        )
        right = build_authorization(
            own, method="INVITE", uri=ruri, username="101", password="right-101"
        )
        assert auth.check(_invite(ruri, [right]), proxy=True, now=2.0, source="x")[1] == 200


def test_source_key_groups_ipv6_by_its_64_and_maps_ipv4() -> None:
    assert source_key("192.0.2.10") == "192.0.2.10"
    assert source_key("2001:db8:1:2::10") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert source_key("[2001:db8:1:2::10]") == "2001:db8:1:2::/64"
    assert source_key("::ffff:192.0.2.10") == "192.0.2.10"
    assert source_key("not-an-address:x") == "not-an-address:x"


def test_ipv6_sources_are_rate_limited_and_banned_by_their_64() -> None:
    """An attacker holding a /64 rotates the low 64 bits for every request: the rate limit
    and the ban still count them as one source; another /64 is not affected."""
    g = guard(rate_register=Rate.parse("1:3"), ban_threshold=3)
    taken = [g.admit((f"2001:db8:1:2::{i:x}", 5060), REGISTER, 0.0) for i in range(1, 11)]
    assert taken == [True] * 3 + [False] * 7
    assert g.admit(("2001:db8:1:3::1", 5060), REGISTER, 0.0)  # the next /64
    assert g.counters()["sip_tracked_sources"] == 2
    # Failures from three addresses of one /64 ban the whole /64.
    assert [g.record_failure(f"2001:db8:9:9::{i}", 1.0) for i in (1, 2, 3)] == [
        False,
        False,
        True,
    ]
    assert g.is_banned("2001:db8:9:9:abcd::77", 2.0)
    assert not g.admit(("2001:db8:9:9::1234", 5060), INVITE, 2.0)
    assert not g.is_banned("2001:db8:9:a::1", 2.0)
    [entry] = g.bans(2.0)
    assert entry.ip == "2001:db8:9:9::3"  # the listing names an address (the API lifts by it)
    assert g.lift_ban("2001:db8:9:9::5")  # any address of the /64 lifts it
    assert g.admit(("2001:db8:9:9::1234", 5060), INVITE, 3.0)


def test_ipv4_mapped_sources_count_as_their_ipv4_address() -> None:
    g = guard(rate_register=Rate.parse("1:2"), ban_threshold=1)
    assert g.admit(("::ffff:192.0.2.10", 5060), REGISTER, 0.0)
    assert g.admit(A, REGISTER, 0.0)
    assert not g.admit(("::ffff:192.0.2.10", 5060), REGISTER, 0.0)
    assert g.record_failure("::ffff:192.0.2.20", 1.0)
    assert g.is_banned(B[0], 1.0)
    g.record_success("::ffff:192.0.2.30", 1.0)
    assert g.is_known(("192.0.2.30", 5060))
    assert g.is_known(("2001:db8::1", 5060)) is False


def test_ipv6_known_source_covers_its_64() -> None:
    g = guard(options_policy="known")
    g.record_success("2001:db8:5:6::10", 0.0)
    assert g.is_known(("2001:db8:5:6::11", 5060))
    assert not g.is_known(("2001:db8:5:7::10", 5060))


def test_a_flood_of_spoofed_sources_does_not_make_a_registered_phone_unknown() -> None:
    """20k spoofed UDP sources (each one REGISTER, never authenticating) fill the per-source
    LRU many times over; the phone that authenticated stays known (its TCP connection is not
    closed as an unknown one, OPTIONS from it keep their answer)."""
    g = guard(max_sources=1000, options_policy="known")
    g.record_success(A[0], 0.0)
    for i in range(20_000):
        g.admit((f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 5060), REGISTER, 1.0)
        g.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1.0)
    assert g.counters()["sip_tracked_sources"] == 1000
    assert g.is_known(A)
    assert g.admit(A, OPTIONS, 2.0)
    # The authenticated table is bounded too, among authenticated sources only.
    for i in range(1500):
        g.record_success(f"172.16.{i // 256}.{i % 256}", 3.0)
    assert g.counters()["sip_known_sources"] == 1000
    assert not g.is_known(A) and g.is_known(("172.16.5.219", 5060))
