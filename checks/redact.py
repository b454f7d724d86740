"""Keep secrets out of evidence, logs and reports."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"

_PATTERNS = [
    # Authorization: Bearer xyz / Basic xyz
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}"),
    # key=value and "key": "value" for secret-looking keys
    re.compile(
        r"(?i)([\"']?\b(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|"
        r"client[_-]?secret|authorization|cookie|set-cookie)[\"']?\s*[:=]\s*[\"']?)"
        r"([^\"'\s,;&]{3,})"
    ),
    # credentials in URLs: https://user:pass@host
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),
    # Slack tokens
    re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{8,}"),
    # JWTs, AWS access key ids and private keys wherever they turn up
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16,20}\b"),
    re.compile(
        r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----(?:(?:\s|\\n)*[A-Za-z0-9+/=]{16,})+"
        r"(?:(?:\s|\\n)*-----END (?:[A-Z]+ )?PRIVATE KEY-----)?"
    ),
]


class Redactor:
    """Masks known secret values (from ``${VAR}`` references and credential headers)
    and anything that looks like a credential."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(_mask_match, text)
        return text

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *more])


def _mask_match(match: re.Match[str]) -> str:
    if match.re.groups >= 2:
        return f"{match.group(1)}{MASK}"
    if match.re.groups == 1:
        return f"{match.group(1)} {MASK}"
    return MASK
