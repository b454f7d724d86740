"""``ops_readiness``: is the service observable and operable? Its health endpoint says
healthy, its metrics expose the families dashboards and alerts need, its alert rules
parse and each alert has a ``for``, a severity and a runbook, and every runbook answers
with the sections on-call needs. Every missing item is named."""

from __future__ import annotations

import httpx

from checks._body import TruncatedBody
from checks._http import (
    evidence_redactor,
    first_and_more,
    status_line,
    timed_send,
    unreachable,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.http import RequestSpec, judge
from checks.ops import alerts as rules_file
from checks.ops.metrics import metric_problems, parse_families
from checks.ops.options import AlertsSpec as AlertsSpec
from checks.ops.options import HealthSpec as HealthSpec
from checks.ops.options import MetricsSpec as MetricsSpec
from checks.ops.options import OpsReadinessOptions as OpsReadinessOptions
from checks.ops.options import RunbooksSpec as RunbooksSpec
from checks.ops.runbooks import missing_sections

MAX_RULES_BYTES = 1024 * 1024
MAX_RUNBOOKS = 50


class OpsReadinessCheck(Check[OpsReadinessOptions]):
    type_name = "ops_readiness"
    Options = OpsReadinessOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        opts = self.options
        redact = evidence_redactor(ctx)
        problems: list[str] = []
        evidence: list[str] = []
        metrics: dict[str, float] = {}
        async with ctx.http_client() as client, ctx.http_client(with_credentials=False) as bare:
            try:
                if opts.health is not None:
                    await self._health(client, opts.health, problems, evidence)
                if opts.metrics is not None:
                    await self._metrics(client, opts.metrics, problems, evidence, metrics)
                if opts.alerts is not None:
                    await self._alerts(ctx, client, bare, opts.alerts, problems, evidence, metrics)
            except httpx.HTTPError as exc:
                return unreachable(
                    ctx, _url_of(exc, ctx), exc, evidence=redact("\n".join(evidence))
                )
        metrics["problems"] = float(len(problems))
        evidence.extend(f"! {problem}" for problem in problems)
        text = redact("\n".join(evidence))
        if problems:
            return CheckResult.failed(
                redact(first_and_more(problems)), metrics=metrics, evidence=text
            )
        return CheckResult.passed(_summary(opts, metrics), metrics=metrics, evidence=text)

    async def _get(
        self, client: httpx.AsyncClient, url: str, *, whole: bool = False
    ) -> tuple[httpx.Response, str]:
        """The answer and its text; with ``whole``, TruncatedBody when ``max_body`` cut
        it (half a metrics page or rules file would be judged wrongly)."""
        exchange = await timed_send(
            client, client.build_request("GET", url), max_body=self.options.max_body
        )
        if whole and exchange.body.truncated and exchange.response.is_success:
            raise TruncatedBody(f"body truncated {exchange.body.truncated}")
        return exchange.response, exchange.body.text

    async def _health(
        self, client: httpx.AsyncClient, spec: HealthSpec, problems: list[str], evidence: list[str]
    ) -> None:
        request = RequestSpec(path=spec.path, expect_status=spec.expect_status,
                              expect_json=spec.expect_json)  # fmt: skip
        exchange = await timed_send(client, client.build_request("GET", spec.path),
                                    max_body=self.options.max_body)  # fmt: skip
        found = [f"health: {p}" for p in judge(request, exchange)]
        evidence.append(f"health: {status_line(exchange.response, exchange.elapsed_ms)}")
        if found:
            evidence.append(f"  body: {exchange.body.text[:500]}")
        problems.extend(found)

    async def _metrics(
        self,
        client: httpx.AsyncClient,
        spec: MetricsSpec,
        problems: list[str],
        evidence: list[str],
        metrics: dict[str, float],
    ) -> None:
        try:
            response, text = await self._get(client, spec.path, whole=True)
        except TruncatedBody as exc:
            problems.append(f"metrics: {spec.path}: {exc}; raise max_body")
            return
        evidence.append(f"metrics: {status_line(response, 0).rsplit(' in ', 1)[0]}")
        if response.status_code != 200:
            problems.append(f"metrics: {spec.path} answered {response.status_code}")
            return
        try:
            families = parse_families(text)
        except ValueError as exc:
            problems.append(f"metrics: {spec.path} is not Prometheus text format ({exc})")
            return
        metrics["metric_families"] = float(len(families))
        evidence.append(f"  {len(families)} families; required: "
                        + (", ".join(r.name for r in spec.require) or "none"))  # fmt: skip
        problems.extend(metric_problems(families, spec.require, spec.path))

    async def _alerts(
        self,
        ctx: CheckContext,
        client: httpx.AsyncClient,
        bare: httpx.AsyncClient,
        spec: AlertsSpec,
        problems: list[str],
        evidence: list[str],
        metrics: dict[str, float],
    ) -> None:
        if spec.file is not None:
            source, base = str(spec.file), ctx.target.base_url
            try:
                if spec.file.stat().st_size > MAX_RULES_BYTES:
                    problems.append(f"alert rules {source}: larger than 1 MB")
                    return
                text = spec.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"alert rules {source}: cannot read ({exc})")
                return
        else:
            assert spec.url is not None
            base = ctx.target.url(spec.url)
            source = spec.url
            try:
                response, text = await self._get(
                    _client_for(ctx, client, bare, base), base, whole=True
                )
            except TruncatedBody as exc:
                problems.append(f"alert rules {source}: {exc}; raise max_body")
                return
            if response.status_code != 200:
                problems.append(f"alert rules {source} answered {response.status_code}")
                return
        try:
            rules = rules_file.load_rules(text)
        except rules_file.RulesError as exc:
            problems.append(f"alert rules {source}: {exc}")
            return
        alerts = [rule for rule in rules if rule.is_alert]
        metrics["alerts"] = float(len(alerts))
        evidence.append(f"alert rules {source}: {len(alerts)} alerts, "
                        f"{len(rules) - len(alerts)} recording rules")  # fmt: skip
        problems.extend(
            rules_file.rule_problems(
                rules,
                spec.require,
                need_for=spec.require_for,
                need_severity=spec.require_severity,
                need_runbook=spec.require_runbook,
            )
        )
        links = list(rules_file.runbook_links(rules).items())[:MAX_RUNBOOKS]
        metrics["runbooks"] = float(len(links))
        for link, names in links:
            url = str(httpx.URL(base).join(link))
            if not url.startswith(("http://", "https://")):
                problems.append(f"runbook of {names[0]} is not an http(s) link: {link}")
                continue
            response, text = await self._get(_client_for(ctx, client, bare, url), url)
            evidence.append(f"runbook {link} ({', '.join(names)}): {response.status_code}")
            if not response.is_success:
                problems.append(f"runbook of {names[0]} ({link}) answered {response.status_code}")
            elif missing := missing_sections(text, self.options.runbooks.sections):
                problems.append(
                    f"runbook of {names[0]} ({link}) lacks section {', '.join(missing)}"
                )


def _url_of(exc: httpx.HTTPError, ctx: CheckContext) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # raised before a request existed
        return ctx.target.base_url


def _client_for(
    ctx: CheckContext, client: httpx.AsyncClient, bare: httpx.AsyncClient, url: str
) -> httpx.AsyncClient:
    """The environment's credentials go only to the environment's own origin."""
    mine, theirs = httpx.URL(ctx.target.base_url), httpx.URL(url)
    same = (mine.scheme, mine.host, mine.port) == (theirs.scheme, theirs.host, theirs.port)
    return client if same else bare


def _summary(opts: OpsReadinessOptions, metrics: dict[str, float]) -> str:
    parts = []
    if opts.health is not None:
        parts.append(f"{opts.health.path} healthy")
    if opts.metrics is not None:
        families = metrics.get("metric_families", 0)
        required = len(opts.metrics.require)
        parts.append(
            f"{required} required metric families exposed"
            if required
            else f"{opts.metrics.path} exposes {families:.0f} metric families"
        )
    if opts.alerts is not None:
        parts.append(f"{metrics.get('alerts', 0):.0f} alerts valid")
        sections = opts.runbooks.sections
        with_sections = f" with {', '.join(sections)}" if sections else ""
        parts.append(f"{metrics.get('runbooks', 0):.0f} runbooks{with_sections}")
    return ", ".join(parts) or "nothing to check"
