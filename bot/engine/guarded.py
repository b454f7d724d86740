"""One check run so that nothing escapes it: its set-up, its timeout, a transport error
or a crash all become an ``error`` result with the reason, never an exception that would
end the run."""

from __future__ import annotations

import asyncio
import logging

import httpx

from checks._http import cannot_reach
from checks.base import CheckResult
from checks.context import CheckContext
from checks.placeholders import run_values
from checks.spec import CheckSpec
from checks.units import format_duration

log = logging.getLogger(__name__)


async def run_guarded(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    """Run one check within its timeout; every failure mode becomes an ``error`` result."""
    try:
        check = spec.build(run_values(ctx.run))
        timeout = spec.timeout if spec.timeout is not None else check.natural_timeout()
    except Exception as exc:
        return CheckResult.error(f"cannot set up the check: {exc}")
    try:
        async with asyncio.timeout(timeout):
            return await check.run(ctx)
    except TimeoutError:
        return CheckResult.error(f"timed out after {format_duration(timeout)}")
    except httpx.TransportError as exc:
        return CheckResult.error(describe_transport_error(exc))
    except Exception as exc:
        log.exception("check %s crashed", spec.id)
        return CheckResult.error(f"check crashed: {type(exc).__name__}: {exc}")


def describe_transport_error(exc: httpx.TransportError) -> str:
    """The checks' own wording (``cannot reach URL: connection refused``), for a transport
    error that escaped a check."""
    try:
        url: str = str(exc.request.url)
    except RuntimeError:
        url = "the target"
    return cannot_reach(url, exc)
