"""The process's heap settled before its first run: whatever is alive then (libraries,
config, the store's engine and caches) is moved out of the cyclic collector's view
(``gc.freeze``), so that its full collections scan only what runs create. Unsettled, a
full collection of the import-time heap took 50 to 90 ms and came every few hundred
checks, as much as a run of 200 checks against a nearby service spends in its requests
(bench/engine.py). ``preprod serve`` settles its heap at start-up as well
(bot/web/server.py); a second freeze only adds what start-up created since.

Both also collect the young generation less often (:data:`YOUNG`): a burst of acks or a
run's checks allocate fast, and at Python's default (a collection every 700 net
allocations, the middle generation every tenth, 1-2 ms each on serve's heap) the
collector paused the event loop about 0.2 ms for each ``start`` of a burst."""

from __future__ import annotations

import functools
import gc

YOUNG = 10_000
"""Net allocations between two collections of the young generation (Python's default:
700). The older generations keep their default ratios, so they too come 14 times less
often; what is alive at any moment grows by a few thousand objects at most."""


@functools.cache
def settle_once() -> None:
    """Freeze the heap, once a process. No collection first: a collection costs what
    it saves, and what is garbage now stays so at most once (not once a run)."""
    gc.freeze()
    collect_less_often()


def collect_less_often() -> None:
    """The young generation collected every :data:`YOUNG` net allocations."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
