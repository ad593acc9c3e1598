"""Templates and their escaping modes."""

from __future__ import annotations

import json

from flowpbx.flow.templates import PLACEHOLDERS, placeholders_in, render

VALUES = {
    "caller": "+371 2999&x=1",
    "caller_name": 'Bob "the\\builder"\nLtd',
    "did": "+37167000001",
    "digits": "12#",
}


def test_plain_replaces_known_placeholders_only() -> None:
    text = render("From {caller} to {did} {unknown} {caller", VALUES)
    assert text == "From +371 2999&x=1 to +37167000001 {unknown} {caller"


def test_missing_values_become_empty() -> None:
    assert render("[{mailbox}] [{queue_wait_s}]", {"queue_wait_s": 12}) == "[] [12]"


def test_url_escaping_encodes_reserved_characters() -> None:
    url = render("https://crm.example/lookup?n={caller}&d={digits}", VALUES, "url")
    assert url == "https://crm.example/lookup?n=%2B371%202999%26x%3D1&d=12%23"


def test_json_escaping_keeps_json_valid() -> None:
    body = render('{"name": "{caller_name}", "did": "{did}"}', VALUES, "json")
    assert json.loads(body) == {"name": VALUES["caller_name"], "did": VALUES["did"]}


def test_email_header_escaping_removes_line_breaks() -> None:
    subject = render(
        "Call from {caller_name}", {"caller_name": "Eve\r\nBcc: x@example.com"}, "email_header"
    )
    assert subject == "Call from Eve Bcc: x@example.com"
    assert "\n" not in subject and "\r" not in subject


def test_no_braces_is_returned_as_is() -> None:
    text = "no placeholders here"
    assert render(text, VALUES, "url") is text


def test_placeholders_in() -> None:
    assert placeholders_in("{caller} {x} {date}{time}") == {"caller", "date", "time"}
    assert len(PLACEHOLDERS) == 10
