"""The dashboard's files as the hub serves them: vendored libraries intact, strict CSP, small first load."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from corral.dashboard.files import CONTENT_SECURITY_POLICY, STATIC
from tests.rig import RunHub

pytestmark = pytest.mark.anyio

VENDORED = [STATIC / "vendor", Path(__file__).parent / "vendor"]


def test_vendored_files_match_their_recorded_hashes() -> None:
    for directory in VENDORED:
        sums = (directory / "SHA256SUMS").read_text().splitlines()
        assert sums, directory
        for line in sums:
            digest, name = line.split("  ")
            assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name


IMPORT = re.compile(
    r"""(?:^|;)\s*(?:import|export)\b[^"'\n;]*?from\s*["']([^"'\n]+)["']|\bimport\(\s*["']([^"'\n]+)["']\s*\)""",
    re.MULTILINE,
)


def test_every_module_imports_files_of_the_hub_only() -> None:
    """No bare specifier (it would need an import map, which the CSP forbids inline) and no CDN."""
    for path in STATIC.rglob("*.js"):
        for found in IMPORT.findall(path.read_text()):
            specifier = found[0] or found[1]
            assert specifier.startswith(("./", "../")), f"{path.name} imports {specifier}"


async def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert '<script type="module" src="/dashboard/app.js">' in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
        assert page.headers["referrer-policy"] == "no-referrer"
        module = await client.get("/dashboard/app.js")
        assert module.status_code == 200 and "javascript" in module.headers["content-type"]
        again = await client.get("/dashboard/app.js", headers={"If-None-Match": module.headers["etag"]})
        assert again.status_code == 304
        missing = await client.get("/dashboard/nothing.js")
        assert missing.status_code == 404


async def test_the_first_load_is_gzipped_and_small(run_hub: RunHub) -> None:
    """What the first paint needs, as the hub sends it (dagre loads only with an execution page)."""
    modules = [path for path in STATIC.rglob("*.js") if "dagre" not in path.name]
    first_load = ["/", "/dashboard/style.css", "/dashboard/vendor/uplot.css"]
    first_load += [f"/dashboard/{path.relative_to(STATIC)}" for path in modules]
    async with run_hub() as running, httpx.AsyncClient(base_url=running.url) as client:
        total = 0
        for path in first_load:
            response = await client.get(path, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200, path
            if len(response.content) > 1024:
                assert response.headers["content-encoding"] == "gzip", path
            total += response.num_bytes_downloaded
        assert total < 150_000, total
