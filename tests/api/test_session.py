"""Signing a browser in and out: a token swapped for a revocable session, and ended."""

from __future__ import annotations

import pytest

from tests.rig import RunHub

pytestmark = pytest.mark.anyio


async def test_a_token_is_swapped_for_a_session_that_signing_out_revokes(run_hub: RunHub) -> None:
    async with run_hub() as running:
        opened = await running.client.post("/api/v1/auth/session")
        assert opened.status_code == 201, opened.text
        session = opened.json()
        assert session["role"] == "admin" and session["token"].startswith("corral_at_")
        headers = {"Authorization": f"Bearer {session['token']}"}
        async with running.anonymous() as client:
            assert (await client.get("/api/v1/auth/whoami", headers=headers)).status_code == 200
            assert (await client.delete("/api/v1/auth/session", headers=headers)).status_code == 204
            assert (await client.get("/api/v1/auth/whoami", headers=headers)).status_code == 401
        refused = await running.client.delete("/api/v1/auth/session")
        assert refused.status_code == 422 and "only a session" in refused.json()["detail"]
        made = await running.client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"})
        program = {"Authorization": f"Bearer {made.json()['token']}"}
        async with running.anonymous() as client:
            assert (await client.delete("/api/v1/auth/session", headers=program)).status_code == 422
            assert (await client.get("/api/v1/auth/whoami", headers=program)).status_code == 200
