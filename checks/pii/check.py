"""``pii_scan``: personal data and secrets must not leave the service. Fetches the
configured paths (and, with ``follow_links``, the pages they link to inside the base
URL) and reports every e-mail, phone number, payment card, IBAN, JWT, cloud or API key
and private key found in headers and bodies, showing only masked values."""

from __future__ import annotations

from collections import Counter, deque

import httpx

from checks._http import (
    evidence_redactor,
    strip_credentials,
    timed_send,
    unreachable,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.pii.detectors import SECRET_KINDS
from checks.pii.options import AllowEntry as AllowEntry
from checks.pii.options import PiiScanOptions as PiiScanOptions
from checks.pii.scan import Located, links, scan_response

MAX_SHOWN = 50
"""Findings listed in the evidence; the rest are counted."""


class PiiScanCheck(Check[PiiScanOptions]):
    type_name = "pii_scan"
    Options = PiiScanOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        kinds = frozenset(o.kinds)
        found: list[Located] = []
        allowed = 0
        pages: list[str] = []
        base = httpx.URL(ctx.target.base_url)
        queue: deque[tuple[str, int]] = deque((path, 0) for path in o.paths)
        seen: set[str] = set(o.paths)
        async with ctx.http_client(with_credentials=o.with_credentials) as client:
            if not o.with_credentials:
                strip_credentials(client)
            while queue and len(pages) < o.max_pages:
                path, depth = queue.popleft()
                request = client.build_request("GET", path)
                try:
                    exchange = await timed_send(client, request, max_body=o.max_body)
                except httpx.HTTPError as exc:
                    return unreachable(ctx, request.url, exc)
                status = exchange.response.status_code
                page = f"GET {path}"
                pages.append(f"{page} -> {status}")
                text = exchange.body.text
                for item in scan_response(page, exchange.response, text, kinds):
                    if any(entry.allows(item.hit) for entry in o.allow):
                        allowed += 1
                    else:
                        found.append(item)
                ctx.progress(f"{page} -> {status}: {len(found)} finding(s) so far")
                if depth < o.follow_links:
                    for link in links(exchange.response, text):
                        inside = _inside(base, request.url.join(link))
                        if inside is not None and inside not in seen:
                            seen.add(inside)
                            queue.append((inside, depth + 1))
        return self._result(ctx, found, allowed, pages, left=len(queue))

    def _result(
        self, ctx: CheckContext, found: list[Located], allowed: int, pages: list[str], left: int
    ) -> CheckResult:
        # The found values themselves are secrets now: mask them wherever they might slip.
        redact = evidence_redactor(ctx).with_secrets(item.hit.value for item in found)
        by_kind = Counter(item.hit.kind for item in found)
        metrics: dict[str, float] = {
            "pages": float(len(pages)),
            "findings": float(len(found)),
            "allowed": float(allowed),
            "secrets": float(sum(n for k, n in by_kind.items() if k in SECRET_KINDS)),
        }
        metrics.update({f"findings.{kind}": float(n) for kind, n in by_kind.items()})
        lines = ["pages scanned:", *(f"  {p}" for p in pages)]
        if left:
            lines.append(f"  ({left} more linked pages not scanned: max_pages)")
        if allowed:
            lines.append(f"{allowed} value(s) allowed by the allow list")
        if found:
            lines.append("findings (masked):")
            lines += [f"  {item.line()}" for item in found[:MAX_SHOWN]]
            if len(found) > MAX_SHOWN:
                lines.append(f"  ... and {len(found) - MAX_SHOWN} more")
            kinds = ", ".join(f"{n} {kind}" for kind, n in by_kind.most_common())
            first = found[0]
            summary = (
                f"personal data or secrets exposed: {kinds} "
                f"(first: {first.page} {first.where}, {first.hit.masked})"
            )
            return CheckResult.failed(
                redact(summary), metrics=metrics, evidence=redact("\n".join(lines))
            )
        count = len(pages)
        summary = f"no personal data or secrets in {count} page{'s' if count != 1 else ''}"
        if allowed:
            summary += f" ({allowed} allowed fixture{'s' if allowed != 1 else ''})"
        return CheckResult.passed(summary, metrics=metrics, evidence=redact("\n".join(lines)))


def _inside(base: httpx.URL, url: httpx.URL) -> str | None:
    """The path (with query) of ``url`` relative to ``base`` when it lies within it."""
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        return None
    prefix = base.path.rstrip("/") + "/"
    if not (url.path + "/").startswith(prefix):
        return None
    query = f"?{url.query.decode()}" if url.query else ""
    return url.path[len(prefix) - 1 :] + query
