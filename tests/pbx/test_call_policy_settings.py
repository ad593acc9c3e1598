"""The call-policy bounds read from FLOWPBX_* (settings.py `_limits_from_env`)."""

from __future__ import annotations

import pytest

from flowpbx.settings import Settings, SettingsError

NAMES = (
    "FLOWPBX_DTMF_BUFFER",
    "FLOWPBX_MAX_CONTACTS_PER_EXTENSION",
    "FLOWPBX_VOICEMAIL_MAX_MESSAGES",
    "FLOWPBX_VOICEMAIL_PIN_MAX_FAILURES",
    "FLOWPBX_VOICEMAIL_PIN_WINDOW_S",
    "FLOWPBX_VOICEMAIL_PIN_LOCKOUT_S",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = Settings.from_env()
    assert (s.dtmf_buffer, s.max_contacts_per_extension, s.voicemail_max_messages) == (32, 10, 100)
    assert s.voicemail_pin_max_failures == 5
    assert (s.voicemail_pin_window_s, s.voicemail_pin_lockout_s) == (900.0, 900.0)


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_DTMF_BUFFER", "64")
    monkeypatch.setenv("FLOWPBX_VOICEMAIL_PIN_LOCKOUT_S", "30.5")
    s = Settings.from_env()
    assert s.dtmf_buffer == 64 and s.voicemail_pin_lockout_s == 30.5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("text", ["0", "-1", "many", "1.5x"])
def test_unusable_values_are_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()
