"""SIP over TLS and SRTP in the console (issue 17), in real Chromium against a flowpbx that
listens on TLS with a certificate from a test CA of its own (tests/e2e/tls_support.py):

- an extension's media encryption set in the form is what the API then holds;
- a trunk saved with transport tls and certificate verification off, and a TLS trunk whose
  provider's certificate does not verify showing why it cannot connect;
- "Copy SIP settings" gives the TLS port, and a real phone (baresip) registers over TLS with
  what was copied; the extensions page then says "over TLS" and "encrypted media" for it,
  and "over UDP" / "media not encrypted" for a phone registered over UDP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.baresip import Baresip
from tests.e2e.server import FlowpbxServer
from tests.e2e.tls_provider import TlsProvider
from tests.e2e.tls_support import CertAuthority, make_ca
from tests.netutil import free_tcp_port
from tests.web.conftest import ADMIN, COMPANY, api_token, screenshot


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertAuthority:
    return make_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def ui_server(
    web_dist: Path, pki: CertAuthority, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlowpbxServer]:
    """The console's server for this module: as tests/web/conftest.py's, listening on TLS."""
    cert, key = pki.issue(pki.cert_path.parent, "pbx", ["127.0.0.1", "localhost"])
    tls_port = free_tcp_port()
    server = FlowpbxServer(
        tmp_path_factory.mktemp("web-tls"),
        COMPANY,
        extra_env={
            "FLOWPBX_WEB_DIR": str(web_dist),
            "FLOWPBX_TLS_CERT": str(cert),
            "FLOWPBX_TLS_KEY": str(key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        },
    )
    server.tls_port = tls_port  # type: ignore[attr-defined]
    try:
        server.start()
        server.cli("user", "create", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
        yield server
    finally:
        server.stop()


def bearer(page: Page) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(page)}"}


def get(page: Page, path: str) -> Any:
    r = page.request.get(f"/api/v1{path}", headers=bearer(page))
    assert r.ok, r.text()
    return r.json()


def both_pem(cert: Path, key: Path, into: Path) -> Path:
    into.write_bytes(cert.read_bytes() + key.read_bytes())
    return into


def test_media_encryption_of_an_extension_is_saved(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Extensions").click()
    page.get_by_role("button", name="Edit extension 102").click()
    form = page.get_by_role("region", name="Edit extension 102")
    select = form.get_by_label("Media encryption (SRTP)")
    expect(select).to_have_value("none")
    select.select_option("optional")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Extension 102 saved")
    assert get(page, "/extensions/102")["media_encryption"] == "optional"

    # Saving another field keeps it (the form sends every field).
    page.get_by_role("button", name="Edit extension 102").click()
    expect(select).to_have_value("optional")
    form.get_by_label("Call waiting").uncheck()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Extension 102 saved")
    saved = get(page, "/extensions/102")
    assert (saved["media_encryption"], saved["call_waiting"]) == ("optional", False)


def test_tls_trunk_without_certificate_verification_is_saved(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Numbers & trunks").click()
    trunks = page.get_by_role("region", name="Trunks")
    trunks.get_by_role("button", name="Add trunk").click()
    form = page.get_by_role("form", name="Add trunk")
    form.get_by_label("Trunk name").fill("securesip")
    form.get_by_label("Provider host").fill("127.0.0.1")
    form.get_by_label("Port", exact=True).fill("5091")
    # the TLS settings appear with transport tls
    expect(form.get_by_label("Verify the provider's certificate")).to_have_count(0)
    form.get_by_label("Transport").select_option("tls")
    verify = form.get_by_label("Verify the provider's certificate")
    expect(verify).to_be_checked()
    verify.uncheck()
    form.get_by_label("Media encryption (SRTP)").select_option("required")
    form.get_by_role("button", name="Add trunk").click()
    expect(trunks.get_by_role("status")).to_have_text("Trunk securesip added")
    row = trunks.get_by_test_id("row-trunk-securesip")
    expect(row).to_contain_text("127.0.0.1:5091 tls (certificate not verified) · SRTP required")
    got = get(page, "/trunks/securesip")
    assert (got["transport"], got["tls_verify"], got["tls_ca_file"], got["media_encryption"]) == (
        "tls",
        False,
        None,
        "required",
    )

    # Edited back to verification with a CA file: the form starts from what was saved.
    row.get_by_role("button", name="Edit trunk securesip").click()
    edit = page.get_by_role("form", name="Edit trunk securesip")
    expect(edit.get_by_label("Verify the provider's certificate")).not_to_be_checked()
    expect(edit.get_by_label("Media encryption (SRTP)")).to_have_value("required")
    edit.get_by_label("Verify the provider's certificate").check()
    edit.get_by_label("CA file (PEM path on the server)").fill("relative/ca.pem")
    edit.get_by_role("button", name="Save").click()
    # the API's answer reads by the field
    expect(edit.locator("#tr-securesip-tls_ca_file-problem")).to_be_visible()
    assert get(page, "/trunks/securesip")["tls_verify"] is False


def test_trunk_whose_certificate_does_not_verify_shows_why(
    logged_in: Page, pki: CertAuthority, tmp_path: Path
) -> None:
    page = logged_in
    stranger = make_ca(tmp_path / "stranger", "some other CA")
    provider = TlsProvider(*stranger.issue(tmp_path, "provider", ["127.0.0.1"])).start()
    try:
        trunk = {
            "name": "unverified", "host": "127.0.0.1", "port": provider.port,
            "transport": "tls", "register": True, "username": "acme", "password": "pw",
            "tls_ca_file": str(pki.cert_path),
        }  # fmt: skip
        r = page.request.post("/api/v1/trunks", data=trunk, headers=bearer(page))
        assert r.status == 201, r.text()
        page.get_by_role("link", name="Numbers & trunks").click()
        state = page.get_by_test_id("trunk-state-unverified")
        expect(state).to_contain_text("cannot connect: certificate not verified", timeout=40_000)
        shown = get(page, "/trunks/unverified")["registration"]["error"]
        assert "certificate not verified" in shown
        expect(state.get_by_role("note")).to_have_text(f"— {shown}")
        screenshot(page, "trunk-tls-error")
        assert provider.messages.empty(), "nothing may be sent to a provider that did not verify"
    finally:
        page.request.delete("/api/v1/trunks/unverified", headers=bearer(page))
        provider.stop()


def test_copy_sip_settings_over_tls_and_the_lock_of_each_registration(
    logged_in: Page, ui_server: FlowpbxServer, pki: CertAuthority, tmp_path: Path
) -> None:
    page = logged_in
    tls_port = ui_server.tls_port  # type: ignore[attr-defined]
    server = get(page, "/sip-server")
    assert server["tls_port"] == tls_port and "tls" in server["transports"]
    headers = bearer(page)
    body = {"name": "Alice", "mailbox": "100", "media_encryption": "required"}
    r = page.request.put("/api/v1/extensions/101", data=body, headers=headers)
    assert r.ok, r.text()

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.http)
    page.get_by_role("link", name="Extensions").click()
    page.get_by_role("button", name="Copy SIP settings of 101").click()
    shown = page.get_by_test_id("sip-settings")
    expect(shown).to_contain_text(f"TLS port: {tls_port}")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    fields = dict(line.split(": ", 1) for line in copied.splitlines()[1:])
    assert fields["Port"] == str(ui_server.sip_port)
    assert fields["Transport"] == "UDP / TCP"
    assert fields["TLS port"] == str(tls_port)
    assert fields["TLS transport"] == "TLS"

    # A real phone registers over TLS with what was copied; another over UDP.
    pem = both_pem(*pki.issue(tmp_path, "alice", ["127.0.0.1"]), tmp_path / "alice.pem")
    with (
        Baresip(
            tmp_path, name="tls101", user=fields["User name"], password="s3cret-101-web",
            registrar=(fields["Server"], int(fields["TLS port"])),
            tls_ca=pki.cert_path, tls_certificate=pem, mediaenc="srtp-mand",
        ) as alice,
        Baresip(
            tmp_path, name="udp102", user="102", password="s3cret-102-web",
            registrar=ui_server.sip,
        ) as bob,
    ):  # fmt: skip
        alice.wait_registered(15)
        bob.wait_registered(15)
        regs = {x["number"]: x["registrations"] for x in get(page, "/extensions")}
        assert [r["transport"] for r in regs["101"]] == ["tls"]
        assert [r["transport"] for r in regs["102"]] == ["udp"]

        expect(page.get_by_test_id("reg-transport-101-0")).to_have_text("over TLS")
        lock = page.get_by_test_id("reg-media-101-0")
        # the words are the text alternative (the icon is hidden from screen readers), the
        # tooltip says what it means
        expect(lock).to_have_text("encrypted media")
        expect(lock.locator("svg[aria-hidden=true]")).to_have_attribute("data-icon", "closed")
        assert "SRTP is required" in str(lock.get_attribute("title"))
        expect(page.get_by_test_id("reg-transport-102-0")).to_have_text("over UDP")
        plain = page.get_by_test_id("reg-media-102-0")
        expect(plain).to_have_text("media not encrypted")
        expect(plain.locator("svg[aria-hidden=true]")).to_have_attribute("data-icon", "open")
        assert "plain RTP" in str(plain.get_attribute("title"))
        screenshot(page, "extensions-tls-registrations")

        # Required SRTP for a phone registered over UDP: no calls, said so (not "encrypted").
        body = {"name": "Bob", "media_encryption": "required"}
        r = page.request.put("/api/v1/extensions/102", data=body, headers=headers)
        assert r.ok, r.text()
        expect(plain).to_have_text("no calls: SRTP required but not over TLS")
        expect(plain.locator("svg")).to_have_attribute("data-icon", "warning")
