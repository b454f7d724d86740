"""Response bodies the target controls cannot blow up a check: every HTTP check keeps at
most ``max_body`` bytes, says so in its evidence, and ends on endless bodies. Real HTTP
on 127.0.0.1 against tests/support/hostile_server.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks._http import timed_send
from checks.auth_required import AuthRequiredCheck, AuthRequiredOptions
from checks.base import Status
from checks.context import CheckContext, RunInfo, Target
from checks.http import HttpCheck, HttpOptions
from checks.security_headers import SecurityHeadersCheck, SecurityHeadersOptions
from checks.units import format_size, parse_size
from tests.support.hostile_server import hostile_server
from tests.support.target import REPO_ROOT

LIMIT_S = 30.0
"""Only so that a regression fails instead of hanging: endless bodies end far sooner."""


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with hostile_server() as url:
        yield url


def ctx_for(base_url: str) -> CheckContext:
    return CheckContext(
        target=Target(name="hostile", base_url=base_url),
        run=RunInfo(run_id=1, service="svc", version="1", environment="test", plan="p"),
        check_id="bodies",
    )


async def run_http(base_url: str, *requests: dict[str, Any], **options: Any) -> Any:
    check = HttpCheck(HttpOptions.model_validate({"requests": list(requests), **options}))
    return await asyncio.wait_for(check.run(ctx_for(base_url)), LIMIT_S)


def test_sizes_parse_and_format() -> None:
    assert parse_size("1MB") == 1024 * 1024
    assert parse_size("512KB") == parse_size("512 KiB") == 512 * 1024
    assert parse_size("1.5k") == 1536
    assert parse_size(2048) == parse_size("2048") == parse_size("2048B") == 2048
    assert format_size(1024 * 1024) == "1 MB" and format_size(512 * 1024) == "512 KB"
    assert format_size(100) == "100 bytes"
    for bad in ("lots", "-1MB", "1TB", True):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_max_body_is_an_option_of_every_http_kind() -> None:
    assert HttpOptions.model_validate({"requests": [{"path": "/"}]}).max_body == 1024 * 1024
    opts = HttpOptions.model_validate({"requests": [{"path": "/"}], "max_body": "512KB"})
    assert opts.max_body == 512 * 1024
    assert SecurityHeadersOptions.model_validate({"max_body": "64KB"}).max_body == 65536
    assert AuthRequiredOptions.model_validate({"paths": ["/"], "max_body": 10}).max_body == 10
    with pytest.raises(ValidationError, match="expected a size"):
        HttpOptions.model_validate({"requests": [{"path": "/"}], "max_body": "huge"})


async def test_big_body_is_cut_at_max_body_and_the_evidence_says_so(hostile: str) -> None:
    result = await run_http(
        hostile, {"path": "/big?mb=5", "expect_body_contains": "needle"}, max_body="64KB"
    )
    assert result.status is Status.FAILED
    assert result.summary == (
        'GET /big?mb=5: body does not contain "needle" '
        "(in the part kept: body truncated at 64 KB (max_body))"
    )
    assert "  body truncated at 64 KB (max_body)" in result.evidence
    assert "(65536 chars kept)" in result.evidence
    assert len(result.evidence) < 5000


async def test_expect_json_on_a_truncated_body_fails_clearly(hostile: str) -> None:
    result = await run_http(
        hostile, {"path": "/bigjson?kb=64", "expect_json": {"version": "2.14.0"}}, max_body="1KB"
    )
    assert result.status is Status.FAILED
    assert result.summary == (
        "GET /bigjson?kb=64: cannot judge expect_json: body truncated at 1 KB (max_body); "
        "raise max_body if the whole document is needed"
    )
    # The same document within max_body is judged as usual.
    whole = await run_http(
        hostile, {"path": "/bigjson?kb=64", "expect_json": {"version": "2.14.0"}}
    )
    assert whole.status is Status.PASSED, whole.summary
    assert "truncated" not in whole.evidence


async def test_endless_chunked_body_ends_at_max_body(hostile: str) -> None:
    result = await run_http(hostile, {"path": "/endless"}, {"path": "/small"})
    assert result.status is Status.PASSED, result.summary
    assert "GET /endless: body truncated" not in result.summary
    assert "  body truncated at 1 MB (max_body)" in result.evidence
    assert result.evidence.count("truncated") == 1  # /small is whole


async def test_gzip_bomb_is_inflated_only_up_to_max_body(hostile: str) -> None:
    result = await run_http(
        hostile, {"path": "/gzip-bomb?mb=100", "expect_body_contains": "x"}, max_body="256KB"
    )
    assert result.status is Status.FAILED
    assert "body truncated at 256 KB (max_body)" in result.evidence


async def test_a_trickling_endless_body_ends_at_the_read_timeout(hostile: str) -> None:
    async with httpx.AsyncClient(base_url=hostile, timeout=1.0) as client:
        exchange = await asyncio.wait_for(
            timed_send(client, client.build_request("GET", "/trickle")), LIMIT_S
        )
    assert exchange.body.truncated == "after 1 s (the server was still sending)"
    assert exchange.body.data.startswith(b"0123456789")
    assert exchange.elapsed_ms >= 1000


async def test_security_headers_and_auth_required_keep_bounded_bodies(hostile: str) -> None:
    ctx = ctx_for(hostile)
    headers = SecurityHeadersCheck(SecurityHeadersOptions.model_validate({"path": "/endless"}))
    result = await asyncio.wait_for(headers.run(ctx), LIMIT_S)
    assert result.status is Status.FAILED  # no security headers at all, but it ended
    assert "body truncated at 1 MB (max_body)" in result.evidence

    auth = AuthRequiredCheck(
        AuthRequiredOptions.model_validate({"paths": ["/endless"], "max_body": "4KB"})
    )
    result = await asyncio.wait_for(auth.run(ctx), LIMIT_S)
    assert result.status is Status.FAILED
    assert result.summary == "/endless answered 200 without credentials (expected 401 or 403)"
    assert "body truncated at 4 KB (max_body)" in result.evidence
    assert len(result.evidence) < 5000


PEAK_RSS = textwrap.dedent(
    """
    import asyncio, resource, sys
    from checks.context import CheckContext, RunInfo, Target
    from checks.http import HttpCheck, HttpOptions

    # A regression must fail here, not take the machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024,) * 2)
    ctx = CheckContext(
        target=Target(name="t", base_url=sys.argv[1]),
        run=RunInfo(run_id=1, service="s", version="1", environment="e", plan="p"),
        check_id="c",
    )
    options = HttpOptions.model_validate({"requests": [{"path": sys.argv[2]}]})
    result = asyncio.run(asyncio.wait_for(HttpCheck(options).run(ctx), 60))
    print(result.status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
)


def peak_rss_mb(base_url: str, path: str) -> int:
    """Peak RSS (MB) of a fresh process running one http check against ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, base_url, path],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, peak = done.stdout.split()
    assert status == "passed", done.stdout
    return int(peak)


@pytest.mark.parametrize("path", ["/big?mb=50", "/endless", "/gzip-bomb?mb=100"])
def test_memory_stays_flat_whatever_the_target_sends(hostile: str, path: str) -> None:
    baseline = peak_rss_mb(hostile, "/small")
    peak = peak_rss_mb(hostile, path)
    assert peak - baseline < 25, f"{path}: peak {peak} MB vs {baseline} MB for 1 KB"
