"""Reading templates back: whatever their formatting, a template is the JSON it means."""

from __future__ import annotations

import json
from typing import Any


def normalise(template: Any) -> Any:
    """Templates compare equal when they mean the same JSON, whatever the formatting."""
    if isinstance(template, str):
        template = json.loads(template)
    return json.loads(json.dumps(template, sort_keys=True))
