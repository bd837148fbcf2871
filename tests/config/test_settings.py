"""The hub's settings: flags over ``CORRAL_*`` environment over the file's ``hub:`` section over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from corral.config.settings import DEFAULT_PORT, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CORRAL_PORT", "CORRAL_HOST", "CORRAL_DATA_DIR", "CORRAL_DATABASE_URL", "CORRAL_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_apply_when_nothing_is_given() -> None:
    settings = load_settings({})

    assert settings.port == DEFAULT_PORT
    assert settings.host == "127.0.0.1"
    assert settings.no_auth is False
    assert settings.log_format == "text"


def test_the_hub_section_of_the_file_overrides_the_defaults() -> None:
    settings = load_settings({}, {"port": 9100, "log_level": "DEBUG"})

    assert (settings.port, settings.log_level, settings.host) == (9100, "DEBUG", "127.0.0.1")


def test_the_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_PORT", "9200")

    settings = load_settings({}, {"port": 9100, "host": "::1"})

    assert (settings.port, settings.host) == (9200, "::1")


def test_flags_override_the_environment_and_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_PORT", "9200")

    settings = load_settings({"port": 9300}, {"port": 9100})

    assert settings.port == 9300


def test_unset_flags_leave_the_lower_layers_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_PORT", "9200")

    settings = load_settings({"port": None, "host": None, "log_level": None}, {"host": "0.0.0.0"})

    assert (settings.port, settings.host, settings.log_level) == (9200, "0.0.0.0", "INFO")


def test_the_store_defaults_to_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path})

    assert settings.store_url == f"sqlite+aiosqlite:///{(tmp_path / 'corral.db').resolve()}"
    assert settings.admin_token_path == tmp_path / "admin.token"


def test_a_database_url_replaces_the_sqlite_default() -> None:
    settings = load_settings({}, {"database_url": "postgresql+asyncpg://corral@db/corral"})

    assert settings.store_url == "postgresql+asyncpg://corral@db/corral"


@pytest.mark.parametrize(
    ("file_values", "key"),
    [({"port": 70000}, "port"), ({"log_format": "xml"}, "log_format"), ({"listen": "0.0.0.0"}, "listen")],
)
def test_a_bad_hub_value_is_rejected_naming_the_key(file_values: dict[str, object], key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        load_settings({}, file_values)

    assert raised.value.errors()[0]["loc"] == (key,)


def test_an_event_log_limit_in_its_old_place_is_refused_naming_the_runtime_setting_that_replaced_it() -> None:
    with pytest.raises(ValidationError, match="retention_days is now the runtime setting events_keep_days"):
        load_settings({}, {"events": {"retention_days": 3}})
