"""What a finished step looks like to the templates of later steps (``steps.<id>``)."""

from __future__ import annotations

import json
from typing import Any

from corral.workflow.store import StepRun


def step_view(run: StepRun) -> dict[str, Any]:
    return {
        "result": run.result,
        "status": run.status.value,
        "error": run.error,
        "text": run.result if isinstance(run.result, str) else json.dumps(run.result),
        "attempts": run.attempt,
    }
