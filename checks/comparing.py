"""A check's comparison with its baseline run (``compare_to``): find the baseline through
the CheckContext, compare (checks/regression.py) and add one line of guidance per counted
regression (checks/guidance.py). The only I/O is the baseline lookup."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from checks.context import CheckContext
from checks.guidance import RunFigures, for_metric
from checks.regression import (
    Baseline,
    Distribution,
    RegressionOptions,
    RegressionVerdict,
    compare,
    no_baseline,
    percentile,
    verdict,
)


async def against_baseline(
    ctx: CheckContext,
    options: RegressionOptions,
    current: Distribution,
    figures: Callable[[Mapping[str, float]], RunFigures],
    metrics: tuple[str, ...] = ("p95", "error_rate", "rps"),
) -> RegressionVerdict | None:
    """None when the check compares with nothing; ``figures(baseline_figures)`` gives what
    the guidance reads. The verdict's ``comparison_ms`` metric is what this cost."""
    if options.compare_to is None:
        return None
    started = time.perf_counter()
    if ctx.baselines is None:
        found: Baseline | str = "no stored runs to compare with (this run is not stored)"
    else:
        found = await ctx.baselines(ctx.check_id, options.compare_to)
    if isinstance(found, str):
        result = no_baseline(found)
    else:
        comparisons = compare(current, found, options.limits(metrics), options.confidence)
        hist = found.distribution.hist
        base = {f"p{q}_ms": percentile(hist, q / 100) for q in (50, 90, 95, 99)}
        run = figures(base)
        hints = {c.metric: for_metric(c.metric, run) for c in comparisons if c.counts}
        result = verdict(comparisons, {k: v for k, v in hints.items() if v})
        result.metrics["baseline_run"] = float(found.run_id)
    result.metrics["comparison_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result
