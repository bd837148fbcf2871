"""The hub's typed settings: loaded once at the edge, passed down.

Precedence, highest first: command-line flags, ``CORRAL_*`` environment
variables, the ``hub:`` section of the config file, the defaults below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_PORT = 8600


MOVED_TO_RUNTIME = {
    "retention_events": "events_keep_rows",
    "retention_days": "events_keep_days",
    "prune_interval_s": "prune_interval_s",
}
"""Event log retention became runtime settings, changeable while the hub runs (docs/operations.md)."""


class EventStreamSettings(BaseModel):
    """The WebSocket event stream (``/ws/events``) and the store's event log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ping_interval_s: float = Field(20.0, gt=0, description="How often the hub sends each client a ping.")
    idle_timeout_s: float = Field(
        60.0, gt=0, description="Close a client that sent nothing (not even a pong) for this long."
    )
    max_message_bytes: int = Field(4096, ge=64, description="Largest message a client may send.")
    max_messages_per_s: float = Field(
        10.0, gt=0, description="Messages per second a client may send (one second's worth may come at once)."
    )
    client_buffer_events: int = Field(
        1000, ge=1, description="Events waiting for one client before it is cut off as a slow consumer."
    )
    send_timeout_s: float = Field(
        10.0, gt=0, description="How long closing a client that does not read may wait before giving up."
    )
    memory_events: int = Field(10_000, ge=0, description="Newest events kept in memory for resuming clients.")
    write_queue_events: int = Field(
        100_000, ge=100, description="Events waiting to be stored before new ones are dropped."
    )
    metrics_interval_s: float = Field(5.0, gt=0, description="How often a metrics.tick event is published.")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for old, new in MOVED_TO_RUNTIME.items():
                if old in values:
                    raise ValueError(f"{old} is now the runtime setting {new} (settings: {new}: ...)")
        return values


class AuthSettings(BaseModel):
    """Login tokens, who may call tools, and how fast each token may send requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="Key that signs login tokens (HS256); generated into <data-dir>/jwt.key when unset.",
    )
    login_ttl_s: float = Field(
        3600.0, gt=0, description="How long a login token (POST /api/v1/auth/login) lasts."
    )
    session_ttl_s: float = Field(
        12 * 3600.0,
        gt=0,
        description="How long a session (POST /api/v1/auth/session, what the dashboard signs in with) lasts.",
    )
    viewers_may_call_tools: bool = Field(
        False, description="Let viewers call tools through /mcp (they may always list them)."
    )
    audit_tool_arguments: bool = Field(
        True,
        description="Keep a tool call's arguments (up to 8 KiB, masked like all audit data) in its audit "
        "entry, so callers can read back and replay their recent calls; false keeps none.",
    )
    rate_limit_per_s: float = Field(
        50.0,
        ge=0,
        description="Requests per second each token may send: REST, MCP, WebSocket connects (0: no limit).",
    )
    rate_limit_burst: int = Field(
        100, ge=1, description="Requests a token may send at once before the rate applies."
    )
    login_rate_per_s: float = Field(
        1.0, ge=0, description="Login attempts per second from one client address (0: no limit)."
    )
    login_burst: int = Field(10, ge=1, description="Login attempts one client address may make at once.")


NODE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
LABEL_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABEL_VALUE = 256


class ModelEndpoint(BaseModel):
    """A local model server the node asks which models it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["ollama", "openai"] = Field(
        description="'ollama' (GET /api/tags and /api/ps) or 'openai' (GET /v1/models: vLLM, llama.cpp, ...)."
    )
    url: str = Field(description="Base URL of the server, e.g. http://127.0.0.1:11434.")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("write an http:// or https:// URL with a host, e.g. http://127.0.0.1:11434")
        return url


class NodeSettings(BaseModel):
    """The hub's built-in node: what it is called, its labels, and how it takes its inventory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        None, pattern=NODE_NAME_PATTERN, description="The node's name; the host name when unset."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels routing can match, e.g. {'zone': 'lab', 'gpu': 'a100'}."
    )
    inventory_interval_s: float = Field(
        30.0, gt=0, description="How often CPUs, load, memory, GPUs and local models are measured again."
    )
    model_endpoints: tuple[ModelEndpoint, ...] = Field(
        (), description="Local model servers to probe for the models they serve (none by default)."
    )
    probe_timeout_s: float = Field(
        1.0, gt=0, le=60, description="How long each model endpoint may take to answer a probe."
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not LABEL_KEY_PATTERN.match(key):
                raise ValueError(
                    f"label {key!r}: a key is 1 to 63 letters, digits and . _ / - (starting with one of "
                    "the first two)"
                )
            if len(value) > MAX_LABEL_VALUE:
                raise ValueError(f"label {key!r}: a value is at most {MAX_LABEL_VALUE} characters")
        return labels


CLUSTER_NODE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
"""A ``corral node``'s name: no dots, since it is one token of NATS subjects and consumer names."""


class ClusterSettings(BaseModel):
    """Scale-out over NATS JetStream: how often nodes say they are alive and how long they may be silent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_interval_s: float = Field(
        0.5, gt=0, le=60, description="How often a node writes its heartbeat (liveness and server states)."
    )
    node_ttl_s: int = Field(
        2,
        ge=1,
        le=3600,
        description="Seconds without a heartbeat after which a node counts as lost (whole seconds: NATS "
        "per-message TTLs are).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="Deadline for connecting to NATS.")
    request_timeout_s: float = Field(
        5.0, gt=0, description="Deadline of one JetStream request (publish, stream or consumer change)."
    )
    node_slots: int = Field(8, ge=1, le=1024, description="Calls a node runs at once; more wait in NATS.")
    work_ack_wait_s: float = Field(
        30.0,
        ge=2,
        description="How long a node may hold a call without saying it still works on it before NATS "
        "hands it out again (the node says so every third of it).",
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="How long a stopping node waits for the calls it holds to finish."
    )
    credentials_file: Path | None = Field(
        None,
        description="The NATS credential this hub or node signs in with (written by `corral nats config`); "
        "none: NATS lets anyone in.",
    )


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
    events: EventStreamSettings = Field(
        default_factory=EventStreamSettings, description="The WebSocket event stream and the event log."
    )
    auth: AuthSettings = Field(
        default_factory=AuthSettings, description="Login tokens, tool calls by viewers, rate limits."
    )
    node: NodeSettings = Field(
        default_factory=NodeSettings, description="The hub's built-in node: name, labels, inventory."
    )
    nats_url: str | None = Field(
        None,
        description="NATS server (nats://host:4222) of a scale-out hub and its nodes; in-process when unset.",
    )
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings, description="Scale-out over NATS: heartbeats, TTL, deadlines."
    )
    audit_archive_dir: Path | None = Field(
        None,
        description="Where audit entries are archived before they are pruned; <data-dir>/archive when unset.",
    )
    patterns_dir: Path | None = Field(
        None, description="Folder of pattern YAML files loaded beside the built-ins (none when unset)."
    )
    secrets_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="Key that encrypts server env values and headers in the store; "
        "generated into <data-dir>/secrets.key when unset.",
    )

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'corral.db').resolve()}"

    @property
    def archive_path(self) -> Path:
        return self.audit_archive_dir or self.data_dir / "archive"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin.token"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "jwt.key"

    @property
    def secrets_key_path(self) -> Path:
        return self.data_dir / "secrets.key"


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
