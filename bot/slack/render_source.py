"""Where a pipeline's request came from, as one line of the run's parent message and
of its announcement: the pipeline (kind and name, linked to its run), the commit and
who triggered it. Every part is the pipeline's text: escaped, and a link only to an
http(s) URL."""

from __future__ import annotations

from collections.abc import Mapping

from bot.slack.text import Mrkdwn, escape, join, link, one_line

KINDS = {
    "github": "GitHub Actions",
    "gitlab": "GitLab CI",
    "argo": "Argo Rollouts",
    "flagger": "Flagger",
    "spinnaker": "Spinnaker",
    "jenkins": "Jenkins",
    "cli": "the preprod CLI",
    "other": "a pipeline",
}


def web_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL without spaces or controls, else None."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    return url


def source_line(origin: Mapping[str, str] | None, commit: str | None) -> Mrkdwn | None:
    """``🔧 From GitHub Actions deploy · commit `abc1234` · triggered by alice``."""
    if not origin and not commit:
        return None
    origin = origin or {}
    kind = KINDS.get(str(origin.get("kind", "other")), KINDS["other"])
    name = one_line(origin.get("name") or "")[:80]
    label = f"{kind} {name}" if name else kind
    parts = [Mrkdwn(f"🔧 From {link(web_url(origin.get('url')), label)}")]
    if commit:
        shown = escape(one_line(commit[:12]).replace("`", "'"))
        parts.append(Mrkdwn(f"commit `{shown}`"))
    if who := one_line(origin.get("triggered_by") or "")[:80]:
        parts.append(Mrkdwn(f"triggered by {escape(who)}"))
    return join(" · ", parts)
