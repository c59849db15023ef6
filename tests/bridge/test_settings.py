"""Settings: shipped defaults, a TOML file over them, ARS_* environment variables over both."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings


def test_the_shipped_file_holds_exactly_the_built_in_defaults() -> None:
    assert load_settings() == Settings()
    assert Settings().mqtt.url == "embedded"


def test_a_file_overrides_defaults_and_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "event.toml"
    config.write_text(
        '[mqtt]\nurl = "mqtt://10.0.0.5:1883"\nbatch_max = 100\n'
        '[[receivers]]\nname = "rx1"\ndriver = "iskipper"\nurl = "/dev/ttyUSB0"\n'
    )
    s = load_settings(config)
    assert s.mqtt.url == "mqtt://10.0.0.5:1883"
    assert s.mqtt.batch_max == 100
    assert s.mqtt.keepalive_s == Settings().mqtt.keepalive_s
    assert s.receivers[0].required is True
    monkeypatch.setenv("ARS_MQTT_URL", "mqtt://127.0.0.1:1883")
    monkeypatch.setenv("ARS_JOURNAL_PATH", str(tmp_path / "j.sqlite3"))
    s = load_settings(config)
    assert s.mqtt.url == "mqtt://127.0.0.1:1883"
    assert s.mqtt.batch_max == 100
    assert s.journal.path == tmp_path / "j.sqlite3"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[mqtt]\nurl = 'ftp://x'\n", "mqtt.url"),
        ("[rounds]\ngrace_s = -1\n", "rounds.grace_s"),
        ("[mqtt]\nbase = 'ars/#'\n", "mqtt.base"),
        ("colour = 'red'\n", "colour"),
        ("[[receivers]]\nname = 'rx 1'\ndriver = 'iskipper'\n", "receivers.0.name"),
    ],
)
def test_bad_values_name_the_file_and_the_setting(tmp_path: Path, body: str, named: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)
    assert named in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_defaults_file_is_shipped() -> None:
    assert DEFAULT_CONFIG.is_file()
