"""The gateway's view of the fleet: what it lists and where each name or URI goes.

A snapshot lists what the servers that serve now (healthy or degraded, or
idle until first use) offer; a server that is down or circuit-open is left out
of the listings, so one failing upstream never breaks a listing, but its tools
stay routable so that a call to one gets a clear error naming the server. In
aggregated mode tool and prompt names are ``<server>__<name>``; resource URIs
keep their upstream value (they often mean something, e.g. ``file://``) and
are routed back by exact URI or by template; on a clash the server whose name
sorts first wins. In single-server mode everything keeps its original name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import mcp_types as types

from corral.gateway.names import exposed_name
from corral.supervisor.runner import ServerRunner
from corral.upstream.catalog import digest


@dataclass(frozen=True)
class Route:
    """Where an exposed name leads: a server and the name it knows the thing by."""

    server: str
    name: str


@dataclass(frozen=True)
class TemplateRoute:
    server: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class GatewayCatalog:
    tools: list[types.Tool] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    resource_templates: list[types.ResourceTemplate] = field(default_factory=list)
    tool_routes: dict[str, Route] = field(default_factory=dict)
    tool_definitions: dict[str, types.Tool] = field(default_factory=dict)
    prompt_routes: dict[str, Route] = field(default_factory=dict)
    resource_routes: dict[str, str] = field(default_factory=dict)
    template_routes: list[TemplateRoute] = field(default_factory=list)

    def digests(self) -> dict[str, str]:
        return {
            "tools": digest(self.tools),
            "prompts": digest(self.prompts),
            "resources": digest([*self.resources, *self.resource_templates]),
        }

    def server_for_uri(self, uri: str) -> str | None:
        if uri in self.resource_routes:
            return self.resource_routes[uri]
        for route in self.template_routes:
            if route.pattern.fullmatch(uri):
                return route.server
        return None


def build_catalog(runners: list[ServerRunner], *, namespaced: bool) -> GatewayCatalog:
    catalog = GatewayCatalog()
    for runner in sorted(runners, key=lambda r: r.spec.name):
        if not runner.spec.enabled:
            continue
        server, upstream = runner.spec.name, runner.state.catalog
        # Tools of a server that is down stay routable, so a call gets a clear "server is down" error.
        for tool in upstream.tools:
            name = exposed_name(server, tool.name) if namespaced else tool.name
            description = (
                tool.description or f"{tool.title or tool.name} (a tool of the MCP server '{server}')"
            )
            exposed = tool.model_copy(update={"name": name, "description": description})
            catalog.tool_routes[name] = Route(server, tool.name)
            catalog.tool_definitions[name] = exposed
            if runner.offers_catalog:
                catalog.tools.append(exposed)
        if not runner.offers_catalog:
            continue
        for prompt in upstream.prompts:
            name = exposed_name(server, prompt.name) if namespaced else prompt.name
            catalog.prompt_routes[name] = Route(server, prompt.name)
            description = (
                prompt.description or f"{prompt.title or prompt.name} (a prompt of the MCP server '{server}')"
            )
            catalog.prompts.append(prompt.model_copy(update={"name": name, "description": description}))
        for resource in upstream.resources:
            uri = str(resource.uri)
            if uri in catalog.resource_routes:
                continue
            catalog.resource_routes[uri] = server
            name = exposed_name(server, resource.name) if namespaced else resource.name
            catalog.resources.append(resource.model_copy(update={"name": name}))
        for template in upstream.resource_templates:
            catalog.template_routes.append(TemplateRoute(server, template_pattern(template.uri_template)))
            name = exposed_name(server, template.name) if namespaced else template.name
            catalog.resource_templates.append(template.model_copy(update={"name": name}))
    return catalog


def template_pattern(uri_template: str) -> re.Pattern[str]:
    """A regular expression for the URIs an RFC 6570 template (simple ``{var}`` expansions) produces."""
    parts = re.split(r"(\{[^}]*\})", uri_template)
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts if part)
    return re.compile(regex)
