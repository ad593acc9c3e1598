"""What an extension dialled (SPEC §4)."""

from __future__ import annotations

import pytest

from flowpbx.flow.dialstring import DialStringError, DialTarget, parse_dialstring

EXTENSIONS = {"101", "102", "103"}
DIDS = {"+37167000001", "+37167000002"}


def parse(text: str, **kwargs: object) -> DialTarget:
    return parse_dialstring(
        text, is_extension=EXTENSIONS.__contains__, is_did=DIDS.__contains__, **kwargs
    )  # type: ignore[arg-type]


def test_extension_did_external() -> None:
    assert parse("101") == DialTarget(kind="extension", number="101")
    assert parse("+37167000001") == DialTarget(kind="did", number="+37167000001")
    assert parse("37167000002") == DialTarget(kind="did", number="+37167000002")
    assert parse("+3712999999") == DialTarget(kind="external", number="+3712999999")
    assert parse("112") == DialTarget(kind="external", number="112")  # not an extension
    assert parse(" +371 (29) 99-99.99 ").number == "+37129999999"


def test_anonymous_and_caller_id_suffixes() -> None:
    assert parse("3712999999h") == DialTarget(kind="external", number="3712999999", anonymous=True)
    assert parse("3712999999c2") == DialTarget(
        kind="external", number="3712999999", caller_id_index=2
    )
    both = parse("+3712999999hc1")
    assert both.anonymous and both.caller_id_index == 1
    assert parse("101h").kind == "external"  # a suffix makes it an outside call
    assert parse("3712999999C2", caller_id_count=2).caller_id_index == 2


def test_caller_id_out_of_range_is_refused() -> None:
    with pytest.raises(DialStringError, match="beyond the caller-ID list") as info:
        parse("3712999999c3", caller_id_count=2)
    assert info.value.status == 404
    with pytest.raises(DialStringError, match="starts at c1"):
        parse("3712999999c0")
    with pytest.raises(DialStringError, match="more than one"):
        parse("3712999999c1c2")
    with pytest.raises(DialStringError, match="twice"):
        parse("3712999999hh")


@pytest.mark.parametrize(
    ("text", "mode"), [("4#101", "listen"), ("5#102", "whisper"), ("6%23103", "barge")]
)
def test_spy_codes(text: str, mode: str) -> None:
    target = parse(text)
    assert target.kind == "spy" and target.spy_mode == mode
    assert target.number == text[-3:]


def test_spy_on_unknown_extension() -> None:
    with pytest.raises(DialStringError) as info:
        parse("4#199")
    assert info.value.status == 404


def test_own_voicemail() -> None:
    assert parse("*97") == DialTarget(kind="voicemail", number="")


@pytest.mark.parametrize("bad", ["", "abc", "*98", "7#101", "+", "12+3", "sip:101"])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(DialStringError):
        parse(bad)


@pytest.mark.parametrize(
    "dialled",
    [
        "+\u0661\u0669\u0660\u06605551234",  # Arabic-Indic digits: +1900...
        "\u0967\u096f\u0966\u0966\u0665\u0665\u0665\u0967\u0968\u0969\u096a",  # Devanagari
        "4#\u0661\u0660\u0661",
        "\uff11\uff10\uff11",  # fullwidth 101
        "3712999999c\u0662",
    ],
)
def test_digits_of_other_scripts_are_not_numbers(dialled: str) -> None:
    # The provider could read them as the ASCII number and bypass blocked prefixes.
    with pytest.raises(DialStringError):
        parse(dialled)
