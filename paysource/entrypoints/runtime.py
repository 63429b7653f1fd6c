"""The interpreter's settings for paysource's own processes (the CLI, API processes,
rebuild processes), made where each starts and never at import.

The cyclic garbage collector: CPython collects its youngest generation every 700 new
container objects, and a batch of decoded events (thousands of dicts and dataclasses
that live until the batch is written) survives into the older generations, which are
then traversed again and again. Reference counting frees almost everything these
processes make; the collector is only for cycles, which they rarely create. With the
thresholds below a rebuild spent 28% less Python CPU (bench/README.md, 2026-12-05):
one young collection per 50,000 objects, the middle one per 20 of those, the oldest
per 100 of those (and, as always, only once a quarter of its objects are new).
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_heap() -> None:
    """Move everything made so far (modules, classes, the app and its container) out of
    the collector's sight: a full collection then traverses what the process made since
    start-up, not the ~160k objects of its imports again. Called by an API process once
    its app is built: its p99 fell by 4-20 ms in three interleaved pairs (bench/README.md).
    The garbage made so far is collected first, so none of it is kept for good."""
    gc.collect()
    gc.freeze()
