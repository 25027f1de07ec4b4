"""Named crash points for the exactly-once tests: ``NAVBILL_CRASH_AT="after_send:3"`` makes the process
die (``os._exit(137)``, as a kill -9 would) the 3rd time it passes ``after_send``.

Points: ``before_send`` (outbox row committed, request not sent), ``after_send`` (the system has the
write, the store does not know yet), ``after_commit`` (link and outbox committed), ``mid_stream``
(a batch of a read stream committed, its bookmark not yet).
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_hits: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("NAVBILL_CRASH_AT", "")
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def crash_point(name: str) -> None:
    target = _target()
    if target is None or target[0] != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == target[1]:
            os._exit(137)
