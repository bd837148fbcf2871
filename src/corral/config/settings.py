"""The hub's typed settings: loaded once at the edge, passed down.

Precedence, highest first: command-line flags, ``CORRAL_*`` environment
variables, the ``hub:`` section of the config file, the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_PORT = 8600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORRAL_", extra="forbid", frozen=True)

    config: Path | None = Field(None, description="Config file (YAML or JSON); ./corral.yaml when present.")
    data_dir: Path = Field(Path(".corral"), description="Where the SQLite store and admin token live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; SQLite in the data directory when unset."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP listener binds to.")
    port: int = Field(
        DEFAULT_PORT, ge=0, le=65535, description="Port of the HTTP listener (0: any free port)."
    )
    no_auth: bool = Field(False, description="Serve without authentication (loopback only, for development).")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="Extra Host names the MCP endpoints accept (behind a proxy); loopback names always."
    )
    mcp_stateless: bool = Field(False, description="Serve /mcp without sessions, so any replica can answer.")
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest MCP request body accepted.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines for people or as JSON.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe level logged."
    )

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'corral.db').resolve()}"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin.token"


class _MappingSource(PydanticBaseSettingsSource):
    """Values from the config file's ``hub:`` section, below the environment."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def load_settings(flags: dict[str, Any], file_values: dict[str, Any] | None = None) -> Settings:
    """Build the settings from flags (unset ones are ``None``), the environment and the file."""
    given = {key: value for key, value in flags.items() if value is not None}
    from_file = dict(file_values or {})

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _MappingSource(settings_cls, from_file)

    return Settings.model_validate(_Layered(**given).model_dump())
