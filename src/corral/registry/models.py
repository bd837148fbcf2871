"""The spec of one MCP server, as written in a config file or registered through the API.

The shape is the ``mcpServers`` entry that Claude Desktop, Claude Code and
Cursor write (``command``/``args``/``env`` for stdio, ``url``/``headers`` for
Streamable HTTP), plus Corral's own optional keys.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from corral.secrets.redact import MASK, redact_args, redact_text, secret_values
from corral.strict import StrictModel

RESERVED_NAME = "corral"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Transport(enum.StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class Canary(StrictModel):
    """A cheap tool call that proves the server does real work, run with each health check."""

    model_config = ConfigDict(frozen=True)

    tool: str = Field(description="Tool to call.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Arguments for the call.")


class GpuNeed(StrictModel):
    """GPUs an agent needs on its node (NVIDIA, as NVML reports them)."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(1, ge=1, description="How many GPUs.")
    min_memory_mib: int = Field(0, ge=0, description="Free memory each of them must have, in MiB.")


class AgentSpec(StrictModel):
    """What makes a server an agent that tasks are routed to (the ``agent:`` section of its entry)."""

    model_config = ConfigDict(frozen=True)

    capabilities: tuple[str, ...] = Field(
        (), description="Free-form names of what it does, e.g. 'code-review', 'summarise'."
    )
    models: tuple[str, ...] = Field((), description="Models it uses or serves.")
    labels: dict[str, str] = Field(default_factory=dict, description="key: value labels tasks can require.")
    gpu: GpuNeed | None = Field(None, description="GPUs it needs on its node.")
    max_concurrent: int = Field(4, ge=1, le=10_000, description="Tasks it runs at once; more wait queued.")


class ServerSpec(StrictModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str = Field(description="Unique name; letters, digits, '_', '-', '.'; at most 63 characters.")
    transport: Transport = Field(description="How the hub talks to the server.")
    command: str | None = Field(None, description="Executable of a stdio server.")
    args: tuple[str, ...] = Field((), description="Arguments of the stdio command.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment of the stdio process.")
    cwd: str | None = Field(None, description="Working directory of the stdio process.")
    url: str | None = Field(None, description="Streamable HTTP endpoint of a remote server.")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers sent to a remote server.")
    enabled: bool = Field(True, description="Disabled servers are not started.")
    tags: tuple[str, ...] = Field((), description="Free labels for grouping and selection.")
    project: str | None = Field(None, max_length=128, description="The project the server belongs to.")
    capabilities: tuple[str, ...] = Field((), description="What the server can do, for routing.")
    max_concurrent: int | None = Field(None, ge=1, description="Cap on calls in flight to this server.")
    call_timeout_s: float | None = Field(
        None, gt=0, description="Per-call deadline; the hub default if unset."
    )
    tool_timeouts: dict[str, float] = Field(
        default_factory=dict, description="Per-tool deadlines in seconds, overriding call_timeout_s."
    )
    connect_timeout_s: float | None = Field(None, gt=0, description="Deadline for start-up and handshake.")
    lazy: bool = Field(False, description="Start on first use instead of at hub start.")
    idle_stop_s: float | None = Field(None, gt=0, description="Stop after this long without calls.")
    canary: Canary | None = Field(None, description="Functional health check run after each ping.")
    watch_tools: bool = Field(
        False,
        description="Re-list tools at each health check; an unannounced change marks the server degraded.",
    )
    session: Literal["shared", "per_client"] = Field(
        "shared",
        description="'per_client': one upstream session per downstream client, for stateful servers.",
    )
    agent: AgentSpec | None = Field(None, description="Makes the server an agent tasks are routed to.")
    protocol: Literal["legacy", "auto"] = Field(
        "legacy", description="'legacy': initialize handshake; 'auto': try the 2026 protocol first."
    )

    @model_validator(mode="after")
    def _check_shape(self) -> ServerSpec:
        if not NAME_PATTERN.match(self.name) or "__" in self.name:
            raise ValueError(
                f"server name {self.name!r} must be 1-63 letters, digits, '_', '-' or '.', "
                "start with a letter or digit, and not contain '__'"
            )
        if self.name == RESERVED_NAME:
            raise ValueError(f"server name {RESERVED_NAME!r} is reserved for the hub's own workflow actions")
        if self.transport is Transport.STDIO and not self.command:
            raise ValueError("a stdio server needs 'command'")
        if self.transport is Transport.HTTP and not self.url:
            raise ValueError("an http server needs 'url'")
        if self.transport is Transport.HTTP and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"'url' must start with http:// or https://, got {self.url!r}")
        return self

    @classmethod
    def from_client_entry(cls, name: str, entry: dict[str, Any]) -> ServerSpec:
        """Read one ``mcpServers`` entry in the shape MCP clients write it.

        Raises:
            ValueError: the entry is not a valid server (pydantic's ValidationError included).
        """
        data = dict(entry)
        kind = data.pop("type", None)
        if kind in ("sse",):
            raise ValueError("the legacy SSE transport is not supported; use Streamable HTTP ('type: http')")
        if kind not in (None, "stdio", "http", "streamable-http", "streamableHttp"):
            raise ValueError(f"unknown 'type' {kind!r}; expected 'stdio' or 'http'")
        if "disabled" in data:
            data["enabled"] = not data.pop("disabled")
        if "transport" not in data:
            data["transport"] = (
                Transport.HTTP if (kind not in (None, "stdio") or "url" in data) else Transport.STDIO
            )
        return cls.model_validate({"name": name, **data})

    def public_view(self) -> dict[str, Any]:
        """The spec as the API shows it: env values and headers hidden, tokens in args and url masked."""
        view = self.model_dump(mode="json")
        view["env"] = dict.fromkeys(self.env, MASK)
        view["headers"] = dict.fromkeys(self.headers, MASK)
        view["args"] = redact_args(self.args)
        view["url"] = self.url and redact_text(self.url)
        return view

    def known_secrets(self) -> list[str]:
        """The env values and headers that are masked wherever they appear verbatim (e.g. in stderr)."""
        return [*secret_values(self.env), *secret_values(self.headers)]
