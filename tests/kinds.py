"""Check kinds that exist only for the engine's tests: they behave on command."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar, Literal

import httpx

from checks.base import Check, CheckOptions, CheckResult
from checks.context import CheckContext


class ScriptedOptions(CheckOptions):
    outcome: Literal["pass", "fail", "warn", "crash", "unreachable", "hang"] = "pass"
    sleep: float = 0.0
    evidence: str = ""
    evidence_repeat: int = 1
    """The evidence is ``evidence * evidence_repeat``: long evidence from a short config."""


class ScriptedCheck(Check[ScriptedOptions]):
    """Sleeps, reports progress, then does what its options say; records when it ran."""

    type_name = "scripted"
    Options = ScriptedOptions
    default_timeout = 5.0
    spans: ClassVar[dict[str, tuple[float, float]]] = {}

    async def run(self, ctx: CheckContext) -> CheckResult:
        start = time.monotonic()
        try:
            ctx.progress(f"working on {ctx.run.service}", step=1)
            await asyncio.sleep(self.options.sleep)
            match self.options.outcome:
                case "crash":
                    raise RuntimeError("boom")
                case "unreachable":
                    async with httpx.AsyncClient() as client:
                        await client.get("http://127.0.0.1:9/")
                case "hang":
                    await asyncio.sleep(3600)
                case "fail":
                    return CheckResult.failed(
                        "it failed", evidence=self.options.evidence * self.options.evidence_repeat
                    )
                case "warn":
                    return CheckResult.warned(
                        "it warned", evidence=self.options.evidence * self.options.evidence_repeat
                    )
            return CheckResult.passed(
                "fine",
                metrics={"answer": 42},
                evidence=self.options.evidence * self.options.evidence_repeat,
            )
        finally:
            self.spans[ctx.check_id] = (start, time.monotonic())


class ExclusiveCheck(ScriptedCheck):
    type_name = "scripted_exclusive"
    exclusive = True


KINDS: dict[str, type[ScriptedCheck]] = {
    ScriptedCheck.type_name: ScriptedCheck,
    ExclusiveCheck.type_name: ExclusiveCheck,
}
