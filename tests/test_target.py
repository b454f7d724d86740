"""The example target itself: endpoints, headers, and the defect switches."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from collections.abc import Callable

import httpx

from examples.target.launch import SERVER
from tests.support.target import RunningTarget

Factory = Callable[..., RunningTarget]


def client(target: RunningTarget) -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(target.ca_bundle))
    return httpx.Client(base_url=target.https_url, verify=verify)


def test_healthy_endpoints_and_headers(healthy_target: RunningTarget) -> None:
    with client(healthy_target) as http:
        health = http.get("/healthz")
        assert health.json() == {"status": "ok"}
        headers = health.headers
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "server" not in headers and "x-powered-by" not in headers
        assert http.get("/version").json()["version"] == "2.14.0"
        assert len(http.get("/api/items").json()) == 20
        assert http.get("/api/items/7").json()["id"] == 7
        assert http.get("/api/items/999").status_code == 404
        cookie = http.get("/").headers["set-cookie"]
        assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax"))
        for path in ("/admin", "/api/private"):
            denied = http.get(path)
            assert denied.status_code == 401
            assert denied.headers["www-authenticate"].startswith("Bearer")
            auth = {"Authorization": f"Bearer {healthy_target.token}"}
            assert http.get(path, headers=auth).status_code == 200
        metrics = http.get("/metrics").text
    assert 'http_requests_total{path="/api/items/{id}",status="404"} 1' in metrics
    assert "http_requests_in_flight 1" in metrics
    assert "process_start_time_seconds " in metrics
    assert httpx.get(f"{healthy_target.http_url}/healthz").status_code == 200


def test_http_defects(target_factory: Factory) -> None:
    target = target_factory(
        "errors", "no-hsts", "no-csp", "open-admin", "insecure-cookie", "server-version"
    )
    assert target.defects == (
        "errors", "no-hsts", "no-csp", "open-admin", "insecure-cookie", "server-version"
    )  # fmt: skip
    with client(target) as http:
        assert http.get("/api/items").status_code == 500
        assert http.get("/api/items/1").status_code == 500
        assert http.get("/admin").status_code == 200
        assert http.get("/api/private").status_code == 401
        home = http.get("/")
    assert "strict-transport-security" not in home.headers
    assert "content-security-policy" not in home.headers
    assert home.headers["x-frame-options"] == "DENY"
    assert home.headers["server"] == "uvicorn/0.30.1"
    assert home.headers["x-powered-by"] == "Python/3.11"
    assert not any(flag in home.headers["set-cookie"] for flag in ("Secure", "HttpOnly", "Same"))


def test_slow(target_factory: Factory) -> None:
    target = target_factory("slow")
    with client(target) as http:
        assert http.get("/healthz").elapsed.total_seconds() < 0.5
        assert http.get("/api/items/1").elapsed.total_seconds() >= 1.1


async def raw_get(url: str, path: str) -> int:
    """One request on its own connection (httpx's pool would stagger a burst)."""
    parsed = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    return int(status_line.split()[1])


async def test_flaky_and_degrade(target_factory: Factory) -> None:
    flaky, degrade = target_factory("flaky"), target_factory("degrade")
    statuses = await asyncio.gather(*(raw_get(flaky.http_url, "/api/items") for _ in range(150)))
    assert 1 <= statuses.count(500) <= 45
    assert statuses.count(200) + statuses.count(500) == 150
    assert await raw_get(degrade.http_url, "/api/items") == 200
    burst = await asyncio.gather(*(raw_get(degrade.http_url, "/api/items") for _ in range(120)))
    assert 503 in burst and 200 in burst


def test_unknown_defect_is_a_startup_error() -> None:
    proc = subprocess.run(
        [sys.executable, str(SERVER), "--defect", "no-such"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "unknown defect 'no-such'" in proc.stderr and "expired-cert" in proc.stderr
    assert proc.stdout == ""


def test_defects_may_be_given_as_comma_lists(target_factory: Factory) -> None:
    """``--defect slow,no-hsts`` (what ``make demo DEFECTS=...`` passes) plants both."""
    target = target_factory("no-hsts,server-version", "tls10")
    assert target.defects == ("no-hsts", "server-version", "tls10")
    with client(target) as http:
        home = http.get("/")
    assert "strict-transport-security" not in home.headers
    assert home.headers["server"] == "uvicorn/0.30.1"


def test_an_unknown_name_in_a_comma_list_is_named() -> None:
    proc = subprocess.run(
        [sys.executable, str(SERVER), "--defect", "slow,no-such"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2 and "unknown defect 'no-such'" in proc.stderr
