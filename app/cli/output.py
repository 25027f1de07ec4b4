"""What every command prints with ``--json``: one JSON object on one line of stdout."""

from __future__ import annotations

import json


def emit_json(data: dict) -> None:
    print(json.dumps(data, indent=None, default=str), flush=True)
