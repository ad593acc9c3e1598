"""The display-name of headers flowpbx sends (From of outgoing legs): names from callers,
CRM lookups and flows are quoted and escaped; CR/LF can never start a header of their own."""

from __future__ import annotations

import pytest

from flowpbx.sip.headers import DISPLAY_NAME_MAX, NameAddr, display_name


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("Alice", '"Alice"'),
        ('Mallory "the boss"', '"Mallory \\"the boss\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("Jane\r\nX-Injected: yes", '"Jane X-Injected: yes"'),
        ("tab\tand\x00nul\x7f", '"tab and nul"'),
        ("Jānis Bērziņš", '"Jānis Bērziņš"'),
    ],
)
def test_names_are_quoted_and_escaped(name: str, sent: str) -> None:
    assert display_name(name) == sent


@pytest.mark.parametrize("name", [None, "", "   ", "\r\n", "\ud800bad"])
def test_a_name_that_cannot_be_sent_is_dropped(name: str | None) -> None:
    assert display_name(name) is None


def test_long_names_are_cut() -> None:
    quoted = display_name("x" * 5000)
    assert quoted is not None and len(quoted) == DISPLAY_NAME_MAX + 2


@pytest.mark.parametrize("name", ['a"b', 'say "\\"', "line\r\nbreak", '"<sip:evil@x>" ,'])
def test_the_header_built_parses_back_to_one_name_addr(name: str) -> None:
    quoted = display_name(name)
    header = f"{quoted} <sip:+37129000001@pbx.example>;tag=abc"
    assert "\r" not in header and "\n" not in header
    parsed = NameAddr.parse(header)
    assert str(parsed.uri) == "sip:+37129000001@pbx.example"
    assert parsed.tag == "abc"
    assert parsed.display == " ".join(name.replace("\r\n", " ").split())
