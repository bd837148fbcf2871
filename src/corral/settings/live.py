"""The current runtime settings: defaults, then the config file, then changes made at run time.

The config file applies at start to the keys whose file value changed since
the last start; a value changed through the API otherwise survives restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from corral import strict
from corral.clock import Clock
from corral.settings.models import RuntimeSettings
from corral.settings.store import SettingStore

logger = logging.getLogger(__name__)


class CurrentSettings(Protocol):
    """Where the supervisor reads the runtime settings in force now."""

    @property
    def current(self) -> RuntimeSettings: ...


@dataclass(frozen=True)
class FixedSettings:
    """Runtime settings that do not change while the process runs: a ``corral node`` has no store and
    no API to change them through, so its config file's ``settings:`` apply as they are."""

    current: RuntimeSettings = field(default_factory=RuntimeSettings)


class LiveSettings:
    def __init__(self, store: SettingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.current = RuntimeSettings()

    async def load(self, file_values: dict[str, Any]) -> None:
        stored = await self._store.load()
        changed_in_file = {
            key: value for key, value in file_values.items() if stored.get(key, (None, None))[1] != value
        }
        if changed_in_file:
            await self._store.save(changed_in_file, self._clock.now(), from_file=True)
        values = {key: value for key, (value, _) in stored.items() if key in RuntimeSettings.model_fields}
        values.update(changed_in_file)
        self.current = RuntimeSettings.model_validate(values)

    async def update(self, changes: dict[str, Any]) -> RuntimeSettings:
        """Validate and apply changes; they are stored before they take effect.

        Raises:
            InvalidInput: an unknown key or a value out of range, naming it.
        """
        try:
            updated = RuntimeSettings.model_validate({**self.current.model_dump(), **changes})
        except ValidationError as exc:
            raise strict.invalid_input(exc, within=("settings",)) from exc
        await self._store.save(changes, self._clock.now())
        self.current = updated
        logger.info("runtime settings changed: %s", ", ".join(sorted(changes)))
        return updated
