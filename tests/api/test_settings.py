"""The runtime settings API: validated changes, stored before they take effect."""

from __future__ import annotations

import pytest

from corral.settings.models import RuntimeSettings
from tests.rig import RunHub

pytestmark = pytest.mark.anyio


async def test_get_returns_the_settings_in_force(run_hub: RunHub) -> None:
    async with run_hub() as running:
        response = await running.client.get("/api/v1/settings")

    assert response.status_code == 200
    assert response.json() == RuntimeSettings().model_dump()


@pytest.mark.parametrize(
    ("changes", "key", "code"),
    [
        ({"failure_threshold": 0}, "settings.failure_threshold", "invalid_input"),
        ({"cooldown_s": "soon"}, "settings.cooldown_s", "invalid_input"),
        ({"no_such_setting": 1}, "settings.no_such_setting", "unknown_field"),
    ],
)
async def test_a_bad_value_is_422_naming_the_key_and_changes_nothing(
    run_hub: RunHub, changes: dict[str, object], key: str, code: str
) -> None:
    async with run_hub() as running:
        response = await running.client.patch("/api/v1/settings", json=changes)
        after = (await running.client.get("/api/v1/settings")).json()

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["detail"].startswith(f"{key}: ")
    assert after == RuntimeSettings().model_dump()


async def test_a_good_value_takes_effect_and_is_stored_across_a_restart(run_hub: RunHub) -> None:
    async with run_hub() as running:
        response = await running.client.patch(
            "/api/v1/settings", json={"failure_threshold": 3, "cooldown_s": 2}
        )
        in_force = running.hub.live_settings.current

    async with run_hub() as running:
        after_restart = (await running.client.get("/api/v1/settings")).json()

    assert response.status_code == 200
    assert (response.json()["failure_threshold"], response.json()["cooldown_s"]) == (3, 2.0)
    assert (in_force.failure_threshold, in_force.cooldown_s) == (3, 2.0)
    assert (after_restart["failure_threshold"], after_restart["cooldown_s"]) == (3, 2.0)
