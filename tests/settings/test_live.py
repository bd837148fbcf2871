"""Runtime settings on SQLite and PostgreSQL: defaults, the config file, and changes made at run time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.clock import ManualClock
from corral.db.engine import Database
from corral.errors import InvalidInput
from corral.settings.live import LiveSettings
from corral.settings.models import RuntimeSettings
from corral.settings.store import SettingStore

pytestmark = pytest.mark.anyio


async def start(database: Database, file_values: dict[str, object]) -> LiveSettings:
    """What the hub does at each start: fresh live settings over the same store, loaded with the file."""
    live = LiveSettings(SettingStore(database), ManualClock())
    await live.load(file_values)
    return live


async def test_defaults_apply_on_an_empty_store_and_nothing_is_stored(database: Database) -> None:
    live = await start(database, {})

    assert live.current == RuntimeSettings()
    assert await SettingStore(database).load() == {}


async def test_file_values_apply_and_are_stored_as_the_file_gave_them(database: Database) -> None:
    live = await start(database, {"failure_threshold": 3, "cooldown_s": 2.5})

    assert (live.current.failure_threshold, live.current.cooldown_s) == (3, 2.5)
    assert live.current.ping_interval_s == RuntimeSettings().ping_interval_s
    assert await SettingStore(database).load() == {"failure_threshold": (3, 3), "cooldown_s": (2.5, 2.5)}


async def test_a_change_made_at_run_time_takes_effect_and_survives_a_restart(database: Database) -> None:
    live = await start(database, {"failure_threshold": 3})

    updated = await live.update({"failure_threshold": 7, "ping_interval_s": 1.5})

    assert (updated.failure_threshold, updated.ping_interval_s) == (7, 1.5)
    assert live.current == updated
    restarted = await start(database, {"failure_threshold": 3})
    assert (restarted.current.failure_threshold, restarted.current.ping_interval_s) == (7, 1.5)


async def test_a_file_value_that_changed_since_the_last_start_wins_over_a_run_time_change(
    database: Database,
) -> None:
    live = await start(database, {"failure_threshold": 3, "cooldown_s": 4.0})
    await live.update({"failure_threshold": 7, "cooldown_s": 8.0})

    restarted = await start(database, {"failure_threshold": 4, "cooldown_s": 4.0})

    assert restarted.current.failure_threshold == 4
    assert restarted.current.cooldown_s == 8.0


async def test_a_key_added_to_the_file_later_applies_at_the_next_start(database: Database) -> None:
    live = await start(database, {})
    await live.update({"crash_limit": 9})

    restarted = await start(database, {"crash_limit": 2})

    assert restarted.current.crash_limit == 2


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"failure_threshold": 0}, "settings.failure_threshold"),
        ({"restart_jitter": 1.5}, "settings.restart_jitter"),
        ({"ping_interval_s": "often"}, "settings.ping_interval_s"),
        ({"no_such_setting": 1}, "settings.no_such_setting"),
    ],
)
async def test_an_invalid_change_raises_invalid_input_naming_the_key_and_changes_nothing(
    database: Database, changes: dict[str, object], key: str
) -> None:
    live = await start(database, {})

    with pytest.raises(InvalidInput) as raised:
        await live.update(changes)

    assert raised.value.message.startswith(f"{key}: ")
    assert live.current == RuntimeSettings()
    assert await SettingStore(database).load() == {}


async def test_the_store_keeps_the_run_time_value_beside_the_file_value(database: Database) -> None:
    store = SettingStore(database)
    now = datetime(2026, 5, 1, tzinfo=UTC)

    await store.save({"cooldown_s": 5.0}, now, from_file=True)
    await store.save({"cooldown_s": 9.0}, now)

    assert await store.load() == {"cooldown_s": (9.0, 5.0)}
