"""Conformance fixture server: everything the MCP conformance suite (0.1.16) asks of a server under test.

Written from the suite's scenario requirements (see shared/reference/mcp-conformance.md, section 3):
tools ``test_*`` (text, image, audio, embedded resource, mixed content, logging, progress, error,
sampling, elicitation, SEP-1034 defaults, SEP-1330 enums, reconnection) and ``json_schema_2020_12_tool``;
resources ``test://static-text``, ``test://static-binary``, ``test://watched-resource`` (subscribable) and
the template ``test://template/{id}/data``; four prompts; ``completion/complete``; ``logging/setLevel``.

Run ``python tests/servers/conformance.py`` for stdio or ``--http PORT`` for Streamable HTTP on
``http://127.0.0.1:PORT/mcp`` (loopback only, so DNS-rebinding protection is on; sessions are stateful and
resumable through an in-memory event store, with a 500 ms SSE ``retry`` hint).

Sampling and elicitation are server-to-client requests, which exist only on handshake-era connections
(protocol <= 2025-11-25); on a 2026-07-28 connection those tools answer with ``isError``.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import struct
import warnings
import wave
import zlib
from collections import defaultdict
from typing import Annotated, Any, Literal

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import (
    INVALID_PARAMS,
    AudioContent,
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    JSONRPCMessage,
    LoggingLevel,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

# Logging and sampling are deprecated as of 2026-07-28, but they are exactly what the suite tests.
warnings.filterwarnings(
    "ignore", message=r"The (logging|sampling) capability is deprecated", category=MCPDeprecationWarning
)

RETRY_INTERVAL_MS = 500
MAX_STORED_EVENTS = 10_000
LOG_LEVELS: tuple[LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)


def _png_1x1_red() -> bytes:
    """A valid 1x1 red RGB PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """0.1 s of 8 kHz mono 8-bit silence as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 800)
    return buffer.getvalue()


PNG = _png_1x1_red()
PNG_B64 = base64.b64encode(PNG).decode()
WAV_B64 = base64.b64encode(_wav_silence()).decode()


class Address(BaseModel):
    """The ``address`` of ``json_schema_2020_12_tool``."""

    street: str | None = None
    city: str | None = None


def json_schema_2020_12_tool(name: str | None = None, address: Address | None = None) -> CallToolResult:
    """Echo the arguments; the point is the advertised input schema."""
    return CallToolResult(content=[_text(f"name={name!r}, address={address!r}")])


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}

# The decorator derives the schema from the signature; this tool must advertise a hand-written one
# (arguments are still validated against the signature).
JSON_SCHEMA_TOOL = Tool.from_function(
    json_schema_2020_12_tool, description="Tool with JSON Schema 2020-12 features"
).model_copy(update={"parameters": JSON_SCHEMA_2020_12})


mcp: MCPServer = MCPServer("conformance", version="1.0.0", log_level="WARNING", tools=[JSON_SCHEMA_TOOL])


# --- logging level and subscriptions, per connection ---------------------------------------------------

_log_levels: dict[str, LoggingLevel] = {}
_subscriptions: defaultdict[str, set[str]] = defaultdict(set)


def _connection_key(headers: Any) -> str:
    """The HTTP session id, or "" on stdio (one connection per process)."""
    return str(headers.get("mcp-session-id", "")) if headers is not None else ""


def _request_headers(ctx: ServerRequestContext[Any, Any]) -> Any:
    return getattr(ctx.request, "headers", None)


async def _log(ctx: Context[Any, Any], level: LoggingLevel, message: str) -> None:
    """Send ``notifications/message`` on this call's stream, unless below the connection's level."""
    threshold = _log_levels.get(_connection_key(ctx.headers), "debug")
    if LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold):
        await ctx.log(level, message, logger_name="conformance")


async def set_logging_level(
    ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
) -> EmptyResult:
    """``logging/setLevel``: remember the level for this connection."""
    _log_levels[_connection_key(_request_headers(ctx))] = params.level
    return EmptyResult()


def _known_resource(uri: str) -> bool:
    return uri in STATIC_RESOURCES or (uri.startswith("test://template/") and uri.endswith("/data"))


async def subscribe(ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
    """``resources/subscribe``: accept any resource this server serves."""
    if not _known_resource(params.uri):
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown resource: {params.uri}")
    _subscriptions[_connection_key(_request_headers(ctx))].add(params.uri)
    return EmptyResult()


async def unsubscribe(ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
    """``resources/unsubscribe``: forget the subscription (unknown ones are ignored)."""
    _subscriptions[_connection_key(_request_headers(ctx))].discard(params.uri)
    return EmptyResult()


# MCPServer has no decorators for these three; register them on its low-level server.
mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_logging_level)
mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


# --- tools ------------------------------------------------------------------------------------------------


def _text(text: str) -> TextContent:
    return TextContent(type="text", text=text)


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[_text(text)], is_error=True)


@mcp.tool(description="Returns a simple text response")
def test_simple_text() -> CallToolResult:
    return CallToolResult(content=[_text("This is a simple text response for testing.")])


@mcp.tool(description="Returns a 1x1 red PNG image")
def test_image_content() -> CallToolResult:
    return CallToolResult(content=[ImageContent(type="image", data=PNG_B64, mime_type="image/png")])


@mcp.tool(description="Returns a short silent WAV clip")
def test_audio_content() -> CallToolResult:
    return CallToolResult(content=[AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")])


@mcp.tool(description="Returns an embedded text resource")
def test_embedded_resource() -> CallToolResult:
    resource = TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return CallToolResult(content=[EmbeddedResource(type="resource", resource=resource)])


@mcp.tool(description="Returns text, image and embedded resource content together")
def test_multiple_content_types() -> CallToolResult:
    resource = TextResourceContents(
        uri="test://mixed-content-resource",
        mime_type="application/json",
        text=json.dumps({"test": "data", "value": 123}),
    )
    return CallToolResult(
        content=[
            _text("Multiple content types test:"),
            ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=resource),
        ]
    )


@mcp.tool(description="Sends three info log messages during execution, 50 ms apart")
async def test_tool_with_logging(ctx: Context[Any, Any]) -> CallToolResult:
    await _log(ctx, "info", "Tool execution started")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool processing data")
    await anyio.sleep(0.05)
    await _log(ctx, "info", "Tool execution completed")
    return CallToolResult(content=[_text("Tool with logging executed successfully")])


@mcp.tool(description="Reports progress 0, 50 and 100 of 100, 50 ms apart")
async def test_tool_with_progress(ctx: Context[Any, Any]) -> CallToolResult:
    await ctx.report_progress(0, 100)
    await anyio.sleep(0.05)
    await ctx.report_progress(50, 100)
    await anyio.sleep(0.05)
    await ctx.report_progress(100, 100)
    return CallToolResult(content=[_text("Tool with progress executed successfully")])


@mcp.tool(description="Always fails with isError: true")
def test_error_handling() -> CallToolResult:
    return _error("This tool intentionally returns an error for testing")


@mcp.tool(description="Asks the client's LLM (sampling/createMessage) to answer a prompt")
async def test_sampling(
    prompt: Annotated[str, Field(description="The prompt to send to the LLM")], ctx: Context[Any, Any]
) -> CallToolResult:
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        return _error("The client does not support sampling")
    if not ctx.session.can_send_request:
        return _error("Sampling needs a connection that allows server-to-client requests")
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=_text(prompt))],
        max_tokens=100,
        related_request_id=ctx.request_context.request_id,
    )
    content = result.content
    answer = content.text if isinstance(content, TextContent) else json.dumps(result.model_dump(mode="json"))
    return CallToolResult(content=[_text(f"LLM response: {answer}")])


class UserInfo(BaseModel):
    """What ``test_elicitation`` asks the user for."""

    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


def _elicitation_unavailable(ctx: Context[Any, Any]) -> CallToolResult | None:
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return _error("The client does not support elicitation")
    if not ctx.session.can_send_request:
        return _error("Elicitation needs a connection that allows server-to-client requests")
    return None


@mcp.tool(description="Asks the user (elicitation/create) for a username and an email address")
async def test_elicitation(
    message: Annotated[str, Field(description="The message to show the user")], ctx: Context[Any, Any]
) -> CallToolResult:
    if (unavailable := _elicitation_unavailable(ctx)) is not None:
        return unavailable
    result = await ctx.elicit(message, UserInfo)
    content = result.data.model_dump() if isinstance(result, AcceptedElicitation) else {}
    return CallToolResult(
        content=[_text(f"User response: action={result.action}, content={json.dumps(content)}")]
    )


class Sep1034Defaults(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = Field("John Doe", description="User name")
    age: int = Field(30, description="User age")
    score: float = Field(95.5, description="User score")
    status: Literal["active", "inactive", "pending"] = Field("active", description="User status")
    verified: bool = Field(True, description="Verification status")


@mcp.tool(description="Elicits a form whose string, integer, number, enum and boolean fields have defaults")
async def test_elicitation_sep1034_defaults(ctx: Context[Any, Any]) -> CallToolResult:
    if (unavailable := _elicitation_unavailable(ctx)) is not None:
        return unavailable
    result = await ctx.elicit("Please review and update the form fields with defaults", Sep1034Defaults)
    content = result.data.model_dump() if isinstance(result, AcceptedElicitation) else {}
    text = f"Elicitation completed: action={result.action}, content={json.dumps(content)}"
    return CallToolResult(content=[_text(text)])


SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {
            "type": "string",
            "description": "Untitled single-select enum",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Titled single-select enum",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "description": "Legacy titled enum (enumNames, deprecated)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Untitled multi-select enum",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Titled multi-select enum",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}


@mcp.tool(
    description="Elicits a form with the five SEP-1330 enum variants (titled/untitled, single/multi, legacy)"
)
async def test_elicitation_sep1330_enums(ctx: Context[Any, Any]) -> CallToolResult:
    if (unavailable := _elicitation_unavailable(ctx)) is not None:
        return unavailable
    # Titled and legacy enums cannot be expressed with a pydantic model: send the raw schema.
    result = await ctx.session.elicit_form(
        "Please pick from the enum fields", SEP1330_SCHEMA, related_request_id=ctx.request_context.request_id
    )
    text = f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"
    return CallToolResult(content=[_text(text)])


@mcp.tool(description="Closes this call's SSE stream mid-call; the result arrives after the client resumes")
async def test_reconnection(ctx: Context[Any, Any]) -> CallToolResult:
    # A no-op unless the HTTP transport has an event store and the request's protocol is >= 2025-11-25.
    await ctx.close_sse_stream()
    await anyio.sleep(0.1)
    return CallToolResult(content=[_text("Reconnection test completed successfully")])


# --- resources ----------------------------------------------------------------------------------------

STATIC_RESOURCES = ("test://static-text", "test://static-binary", "test://watched-resource")


@mcp.resource(
    "test://static-text", name="static-text", description="A static text resource", mime_type="text/plain"
)
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary",
    name="static-binary",
    description="A static binary resource",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return PNG


@mcp.resource(
    "test://watched-resource",
    name="watched-resource",
    description="A resource that can be subscribed to",
    mime_type="text/plain",
)
def watched_resource() -> str:
    return "This is a watched resource."


@mcp.resource(
    "test://template/{id}/data",
    name="template-data",
    description="Data for the given id",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


# --- prompts ------------------------------------------------------------------------------------------


@mcp.prompt(description="A simple prompt without arguments")
def test_simple_prompt() -> list[dict[str, Any]]:
    return [{"role": "user", "content": _text("This is a simple prompt for testing.")}]


@mcp.prompt(description="A prompt with two required arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> list[dict[str, Any]]:
    return [{"role": "user", "content": _text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")}]


@mcp.prompt(description="A prompt that embeds a resource")
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[dict[str, Any]]:
    resource = TextResourceContents(
        uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
    )
    return [
        {"role": "user", "content": EmbeddedResource(type="resource", resource=resource)},
        {"role": "user", "content": _text("Please process the embedded resource above.")},
    ]


@mcp.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": ImageContent(type="image", data=PNG_B64, mime_type="image/png")},
        {"role": "user", "content": _text("Please analyze the image above.")},
    ]


# --- completion ---------------------------------------------------------------------------------------

COMPLETIONS: dict[str, list[str]] = {"arg1": ["paris", "park", "party"], "arg2": ["red", "green", "blue"]}


@mcp.completion()  # type: ignore[no-untyped-call,untyped-decorator,unused-ignore]  # untyped in the SDK
async def complete(
    ref: PromptReference | ResourceTemplateReference,
    argument: CompletionArgument,
    context: CompletionContext | None,
) -> Completion:
    """Prefix matches for ``test_prompt_with_arguments`` arguments; nothing for anything else."""
    if isinstance(ref, PromptReference) and ref.name == "test_prompt_with_arguments":
        values = [v for v in COMPLETIONS.get(argument.name, []) if v.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)
    return Completion(values=[])


# --- resumability -------------------------------------------------------------------------------------


class InMemoryEventStore(EventStore):
    """Keeps every SSE event so a client can resume a closed stream with ``Last-Event-ID``."""

    def __init__(self) -> None:
        self._events: list[tuple[EventId, StreamId, JSONRPCMessage | None]] = []
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._ids))
        self._events.append((event_id, stream_id, message))
        del self._events[:-MAX_STORED_EVENTS]
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        index = next((i for i, event in enumerate(self._events) if event[0] == last_event_id), None)
        if index is None:
            return None
        stream_id = self._events[index][1]
        for event_id, stream, message in self._events[index + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def main(argv: list[str] | None = None) -> None:
    """Serve over stdio, or Streamable HTTP on 127.0.0.1:PORT/mcp with ``--http PORT``."""
    parser = argparse.ArgumentParser(description="MCP conformance fixture server")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args(argv)
    if args.http is None:
        mcp.run("stdio")
    else:
        mcp.run(
            "streamable-http",
            host="127.0.0.1",
            port=args.http,
            streamable_http_path="/mcp",
            event_store=InMemoryEventStore(),
            retry_interval=RETRY_INTERVAL_MS,
        )


if __name__ == "__main__":
    main()
