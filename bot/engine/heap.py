"""The process's heap settled before its first run: whatever is alive then (libraries,
config, the store's engine and caches) is moved out of the cyclic collector's view
(``gc.freeze``), so that its full collections scan only what runs create. Unsettled, a
full collection of the import-time heap took 50 to 90 ms and came every few hundred
checks, as much as a run of 200 checks against a nearby service spends in its requests
(bench/engine.py). ``preprod serve`` settles its heap at start-up as well
(bot/web/server.py); a second freeze only adds what start-up created since."""

from __future__ import annotations

import functools
import gc


@functools.cache
def settle_once() -> None:
    """Freeze the heap, once a process. No collection first: a collection costs what
    it saves, and what is garbage now stays so at most once (not once a run)."""
    gc.freeze()
