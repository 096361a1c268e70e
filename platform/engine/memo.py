"""Per-process memos of the serving path: loaded artifacts by version, and final answers.

Both hold only what this process can rebuild from shared state (artifacts on storage, the
database, the cache), so no other process ever needs them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class ArtifactMemo:
    """Loaded serving artifacts, newest few versions, loaded once each."""

    def __init__(self, keep: int = 3):
        self.keep = keep
        self._loaded: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, loader: Callable[[], Any]) -> Any:
        try:  # the hit, once per request, needs no lock: both steps are atomic under the GIL
            self._loaded.move_to_end(key)
            return self._loaded[key]
        except KeyError:  # not loaded (or evicted between the two steps)
            pass
        loaded = loader()
        with self._lock:
            self._loaded[key] = loaded
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()


class AnswerMemo:
    """Final answers, each kept under a key for one token (whatever it depends on: the user's
    stamp, the catalog build, request-time settings) until a time (an availability window)."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._answers: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def holds(self, key: tuple) -> bool:
        return key in self._answers

    def get(self, key: tuple, token: Any) -> tuple[list, list] | None:
        """The kept answers and their response bodies, if still valid."""
        with self._lock:
            found = self._answers.get(key)
            if found is None or found[0] != token or time.time() >= found[1]:
                return None
            self._answers.move_to_end(key)
        return found[2], found[3]

    def put(self, key: tuple, token: Any, valid_until: float, answers: list) -> None:
        with self._lock:
            self._answers[key] = (token, valid_until, answers, [a.body() for a in answers])
            self._answers.move_to_end(key)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
