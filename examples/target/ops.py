"""What operators read: the alert rules, the runbooks, the runtime configuration and the
deployment's own Prometheus families.

Defect switches: ``alert-no-runbook`` drops one alert's ``runbook_url``,
``runbook-missing-section`` serves a runbook without its "Rollback" section,
``metrics-missing`` leaves out the backup-freshness family, ``parity-drift`` runs with
another database pool size than production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from examples.target.datastore import DataStore
from examples.target.deploy import Deployment
from examples.target.settings import SERVICE, Settings

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "alerts.yml"
RUNBOOKS = HERE / "runbooks"
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_ROLLBACK_SECTION = re.compile(r"^## Rollback\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def alert_rules(settings: Settings) -> str:
    rules: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    if settings.has("alert-no-runbook"):
        for rule in rules["groups"][0]["rules"]:
            if rule.get("alert") == "BackupStale":
                del rule["annotations"]["runbook_url"]
    return yaml.safe_dump(rules, sort_keys=False)


def runbook(settings: Settings, name: str) -> str | None:
    if not _NAME.match(name) or not (RUNBOOKS / f"{name}.md").is_file():
        return None
    text = (RUNBOOKS / f"{name}.md").read_text()
    if settings.has("runbook-missing-section") and name == "high-error-rate":
        text = _ROLLBACK_SECTION.sub("", text)
    return text


def runtime_config(settings: Settings) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "runtime": "python3.11",
        "database": {"pool_size": 5 if settings.has("parity-drift") else 20, "timeout_ms": 5000},
        "cache": {"ttl_s": 300},
        "features": {"new_checkout": True},
    }


class DeploymentCollector(Collector):
    """The router's and the store's figures, read at scrape time."""

    def __init__(self, settings: Settings, deployment: Deployment, store: DataStore) -> None:
        self.settings = settings
        self.deployment = deployment
        self.store = store

    def collect(self) -> Iterator[Metric]:
        live = self.deployment.slots[self.deployment.live]
        info = GaugeMetricFamily(
            "deploy_live_info", "The live slot, its version and serving replica.",
            labels=["slot", "version", "replica"],
        )  # fmt: skip
        info.add_metric([live.colour, live.version, self.deployment.serving()], 1)
        yield info
        yield CounterMetricFamily(
            "deploy_failovers", "Failovers between replicas.", value=self.deployment.failovers
        )
        yield GaugeMetricFamily(
            "datastore_records", "Records in the datastore.", value=len(self.store.records)
        )
        if not self.settings.has("metrics-missing"):
            yield GaugeMetricFamily(
                "datastore_backup_last_success_timestamp_seconds",
                "When the last backup succeeded (0: never).",
                value=self.store.last_backup or 0.0,
            )


def registry(settings: Settings, deployment: Deployment, store: DataStore) -> CollectorRegistry:
    found = CollectorRegistry(auto_describe=False)
    found.register(DeploymentCollector(settings, deployment, store))
    return found


def exposition(found: CollectorRegistry) -> bytes:
    return generate_latest(found)


def routes(settings: Settings) -> list[Route]:
    async def alerts(request: Request) -> Response:
        return PlainTextResponse(alert_rules(settings), media_type="application/yaml")

    async def runbook_page(request: Request) -> Response:
        text = runbook(settings, request.path_params["name"])
        if text is None:
            return JSONResponse({"error": "no such runbook"}, status_code=404)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

    async def config(request: Request) -> Response:
        return JSONResponse(runtime_config(settings))

    return [
        Route("/ops/alerts.yml", alerts, methods=["GET"]),
        Route("/runbooks/{name}", runbook_page, methods=["GET"]),
        Route("/ops/config", config, methods=["GET"]),
    ]
