"""``drill``: run a deploy, rollback, blue/green switch, failover or backup-restore script
against the environment and prove that it worked within its objectives: what must hold
afterwards (``expect``), what users saw meanwhile (``probe``), how long recovery took
(``rto``) and whether data written before it survived (``rpo``)."""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
import sys
import time
from pathlib import Path

import httpx

from checks._http import (
    cannot_reach,
    evidence_redactor,
    first_and_more,
    timed_send,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.drill import probe as probing
from checks.drill.options import DrillOptions, Script, bind, placeholders_in
from checks.drill.process import GRACE_S, ScriptRun, run_script, script_environment
from checks.http import RequestSpec, judge
from checks.load.thresholds import evaluate
from checks.redact import Redactor
from checks.units import format_duration

_SECRET_NAME = re.compile(r"(?i)token|secret|password|passwd|key|credential|auth")
OUTPUT_LINES = 200
"""Lines of the script's output kept in the evidence (its last ones)."""


class DrillCheck(Check[DrillOptions]):
    """A scripted procedure and the proof that it worked. Exclusive (it changes the
    environment under every other check) and not repeated blindly after a crash."""

    type_name = "drill"
    Options = DrillOptions
    exclusive = True
    repeat_safe = False
    own_placeholders = frozenset({"previous_version", "marker", "python"})

    def natural_timeout(self) -> float:
        return self.options.script.timeout + GRACE_S + self.options.settle + 30.0

    async def run(self, ctx: CheckContext) -> CheckResult:
        opts = self.options
        values = {
            "version": ctx.run.version,
            "previous_version": ctx.target.previous_version or "",
            "marker": f"preprod-{ctx.run.run_id}-{secrets.token_hex(6)}",
        }
        specs = [*opts.expect, *([opts.rpo.write, opts.rpo.read] if opts.rpo else [])]
        if not values["previous_version"] and any(
            "previous_version" in placeholders_in(spec) for spec in specs
        ):
            return CheckResult.error(
                f"{{previous_version}} is used but environment {ctx.target.name!r} sets no "
                f"previous_version (environments.{ctx.target.name}.previous_version)"
            )
        redact = _redactor(ctx, opts.script.env)
        evidence: list[str] = []
        problems: list[str] = []
        metrics: dict[str, float] = {}
        async with ctx.http_client(timeout=10.0) as client:
            if opts.rpo is not None:
                written = await _send(client, bind(opts.rpo.write, values))
                if written:
                    return CheckResult.error(
                        redact(f"rpo: cannot write the marker: {written[0]}"),
                        evidence=redact("\n".join(written)),
                    )
                evidence.append(f"rpo: marker {values['marker']} written ({opts.rpo.write.label})")
            argv = _argv(opts.script)
            started = time.monotonic()
            async with _Probing(ctx, opts) as prober:
                try:
                    run = await _run(ctx, opts.script)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    return CheckResult.error(
                        redact(f"cannot start the drill script {opts.script.argv[0]}: {reason}")
                    )
                metrics["script_s"] = run.seconds
                evidence.extend(_script_evidence(argv, run, opts.script.timeout))
                problems.extend(_script_problems(run, opts.script.timeout))
                script_ok = not problems
                if script_ok and opts.expect:
                    await _expectations(client, opts, values, started, metrics, problems, evidence)
            if prober is not None:
                problems.extend(_judge_probe(opts, prober, metrics, evidence))
            if opts.rpo is not None and script_ok:
                lost = await _send(client, bind(opts.rpo.read, values))
                evidence.extend(f"  ! {line}" for line in lost)
                if lost:
                    problems.append(f"rpo: data written before the drill is lost: {lost[0]}")
                else:
                    metrics["rpo_ok"] = 1.0
                    evidence.append(
                        f"rpo: marker read back after the drill ({opts.rpo.read.label})"
                    )
        if opts.cleanup is not None:
            problems.extend(await _clean_up(ctx, opts.cleanup, evidence))
        text = redact("\n".join(evidence))
        if problems:
            return CheckResult.failed(
                redact(first_and_more(problems)), metrics=metrics, evidence=text
            )
        return CheckResult.passed(redact(_passed_summary(metrics)), metrics=metrics, evidence=text)


def _argv(script: Script) -> list[str]:
    return [sys.executable if arg == "{python}" else arg for arg in script.argv]


async def _run(ctx: CheckContext, script: Script) -> ScriptRun:
    """Run one of the drill's scripts with the run's context in its environment."""
    drill_dir = Path(ctx.workdir).resolve()
    drill_dir.mkdir(parents=True, exist_ok=True)
    env = {**_context_env(ctx), "PREPROD_DRILL_DIR": str(drill_dir), **script.env}
    return await run_script(
        _argv(script), env=script_environment(env), cwd=script.cwd, timeout=script.timeout
    )


async def _clean_up(ctx: CheckContext, script: Script, evidence: list[str]) -> list[str]:
    """Run the cleanup; what went wrong with it (empty when it put things back)."""
    try:
        run = await _run(ctx, script)
    except OSError as exc:
        return [f"cannot start the cleanup {script.argv[0]}: {exc.strerror or exc}"]
    lines = _script_evidence(_argv(script), run, script.timeout)
    evidence.extend(["cleanup " + lines[0], *lines[1:]])
    return [f"cleanup: {problem}" for problem in _script_problems(run, script.timeout)]


def _redactor(ctx: CheckContext, env: dict[str, str]) -> Redactor:
    secret_values = [value for name, value in env.items() if _SECRET_NAME.search(name)]
    return evidence_redactor(ctx).with_secrets(secret_values)


def _context_env(ctx: CheckContext) -> dict[str, str]:
    """The run's context, as every drill script gets it."""
    env = {
        "PREPROD_SERVICE": ctx.run.service,
        "PREPROD_VERSION": ctx.run.version,
        "PREPROD_PREVIOUS_VERSION": ctx.target.previous_version or "",
        "PREPROD_ENV": ctx.run.environment,
        "PREPROD_BASE_URL": ctx.target.base_url,
        "PREPROD_RUN_ID": str(ctx.run.run_id),
    }
    if ctx.target.ca_bundle is not None:
        env["PREPROD_CA_BUNDLE"] = str(Path(ctx.target.ca_bundle).resolve())
    return env


class _Probing:
    """The probe running around a block (or nothing when the drill has none)."""

    def __init__(self, ctx: CheckContext, opts: DrillOptions) -> None:
        self.ctx, self.opts = ctx, opts
        self.prober: probing.Prober | None = None
        self.task: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> probing.Prober | None:
        if (spec := self.opts.probe) is None:
            return None
        self.client = self.ctx.http_client(timeout=spec.request_timeout)
        self.prober = probing.Prober(self.client, spec.path, spec.rate, spec.statuses)
        self.task = asyncio.create_task(self.prober.run())
        return self.prober

    async def __aexit__(self, *exc: object) -> None:
        if self.prober is not None and self.task is not None and self.client is not None:
            if exc[0] is None and self.opts.probe is not None:
                await asyncio.sleep(self.opts.probe.after)  # the aftermath counts too
            self.prober.stop()
            try:
                await self.task
            finally:
                await self.client.aclose()


def _script_evidence(argv: list[str], run: ScriptRun, timeout: float) -> list[str]:
    ended = (
        f"killed with its process group after {format_duration(timeout)} (timeout)"
        if run.timed_out
        else f"exit {run.exit_code} after {run.seconds:.2f} s"
    )
    lines = [f"script: {shlex.join(argv)} ({ended})"]
    output = run.output.splitlines()
    if len(output) > OUTPUT_LINES:
        lines.append(f"  | [... {len(output) - OUTPUT_LINES} earlier lines left out ...]")
    lines.extend(f"  | {line}" for line in output[-OUTPUT_LINES:])
    return lines


def _script_problems(run: ScriptRun, timeout: float) -> list[str]:
    if run.timed_out:
        return [
            f"script did not finish within {format_duration(timeout)}; "
            "killed with its process group"
        ]
    if run.exit_code != 0:
        last = next((line for line in reversed(run.output.splitlines()) if line.strip()), "")
        return [
            f"script failed with exit code {run.exit_code}" + (f": {last[:200]}" if last else "")
        ]
    return []


def _build(client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    if spec.json_body is not None:
        return client.build_request(
            spec.method, spec.path, headers=spec.headers, json=spec.json_body
        )
    return client.build_request(spec.method, spec.path, headers=spec.headers, content=spec.body)


async def _send(client: httpx.AsyncClient, spec: RequestSpec) -> list[str]:
    """What is wrong with one request's answer (empty when it is as expected)."""
    request = _build(client, spec)
    try:
        exchange = await timed_send(client, request)
    except httpx.HTTPError as exc:
        return [f"{spec.label}: {cannot_reach(request.url, exc)}"]
    return judge(spec, exchange)


async def _expectations(
    client: httpx.AsyncClient,
    opts: DrillOptions,
    values: dict[str, str],
    started: float,
    metrics: dict[str, float],
    problems: list[str],
    evidence: list[str],
) -> None:
    """Poll every expectation until all hold or ``settle`` runs out; record the RTO."""
    specs = [bind(spec, values) for spec in opts.expect]
    deadline = time.monotonic() + opts.settle
    rounds = 0
    while True:
        rounds += 1
        unmet = [problem for spec in specs for problem in await _send(client, spec)]
        if not unmet:
            rto = time.monotonic() - started
            metrics["rto_s"] = rto
            limit = f" (max {format_duration(opts.rto)})" if opts.rto is not None else ""
            evidence.append(f"expectations held {rto:.2f} s after the start{limit}, poll {rounds}")
            if opts.rto is not None and rto > opts.rto:
                problems.append(f"RTO {rto:.2f} s exceeds {format_duration(opts.rto)}")
            return
        if time.monotonic() >= deadline:
            settle = format_duration(opts.settle)
            evidence.extend(f"  ! {problem}" for problem in unmet)
            problems.append(f"not recovered {settle} after the script: {unmet[0]}")
            return
        await asyncio.sleep(opts.poll_interval)


def _judge_probe(
    opts: DrillOptions,
    prober: probing.Prober,
    metrics: dict[str, float],
    evidence: list[str],
) -> list[str]:
    assert opts.probe is not None
    found = probing.figures(prober.samples, prober.interval)
    metrics.update(found)
    evidence.append(
        f"probe GET {opts.probe.path} at {opts.probe.rate:g}/s: "
        f"{found['probe_requests']:.0f} requests, {found['probe_errors']:.0f} failed, "
        f"longest outage {found['max_outage_ms']:.0f} ms"
    )
    evidence.extend(f"  {line}" for line in probing.failures_digest(prober.samples))
    outcomes = evaluate(list(opts.probe.thresholds), found)
    evidence.extend(f"  {outcome.line()}" for outcome in outcomes)
    return [
        f"users saw failures during the drill: {o.describe()}" for o in outcomes if not o.passed
    ]


def _passed_summary(metrics: dict[str, float]) -> str:
    parts = [f"drill done in {metrics['script_s']:.2f} s"]
    if "rto_s" in metrics:
        parts.append(f"recovered in {metrics['rto_s']:.2f} s")
    if "probe_requests" in metrics:
        parts.append(
            f"probe {metrics['probe_errors']:.0f} of {metrics['probe_requests']:.0f} requests "
            f"failed, longest outage {metrics['max_outage_ms']:.0f} ms"
        )
    if "rpo_ok" in metrics:
        parts.append("data written before it survived")
    return "; ".join(parts)
