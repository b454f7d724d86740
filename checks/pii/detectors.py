"""What counts as personal data or a secret in a response, and how it is shown masked.

Patterns find candidates; numbers are confirmed by their checksums (python-stdnum's Luhn
for cards, ISO 13616 for IBANs), so an order number does not pass for a card. Pure
functions: text in, findings out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

Kind = Literal["email", "phone", "card", "iban", "jwt", "cloud_key", "api_key", "private_key"]
KINDS: tuple[Kind, ...] = (
    "email",
    "phone",
    "card",
    "iban",
    "jwt",
    "cloud_key",
    "api_key",
    "private_key",
)
SECRET_KINDS = frozenset({"jwt", "cloud_key", "api_key", "private_key"})
MAX_TEXT = 200_000
"""Characters of one value scanned; the rest of a huge string is not looked at."""

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\w)")
_PHONE_KEY = re.compile(r"(?i)phone|mobile|tel|fax|msisdn")
_LOCAL_PHONE = re.compile(r"^\(?0\d{1,5}\)?(?:[ ./-]?\d{2,8}){1,4}$")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_CLOUD = re.compile(
    r"\b(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16,20}"  # AWS key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|(?:DefaultEndpointsProtocol=https?;)?AccountKey=[A-Za-z0-9+/=]{40,})"  # Azure storage
)
_API = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|(?:sk|rk)_live_[A-Za-z0-9]{20,}"  # Stripe
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|sk-[A-Za-z0-9_-]{32,})"  # OpenAI-style
)
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")


@dataclass(frozen=True)
class Hit:
    kind: Kind
    value: str
    """The full value: kept in memory for the allow-list, never shown (see ``masked``)."""

    @property
    def masked(self) -> str:
        return mask(self.kind, self.value)


def mask(kind: str, value: str) -> str:
    """Enough to recognise the value, never enough to use it: a card keeps its last four
    digits, an e-mail its first letter and domain ending, a key its prefix."""
    compact = re.sub(r"[\s-]", "", value)
    if kind == "card":
        return f"ending {compact[-4:]} ({len(compact)} digits)"
    if kind == "iban":
        return f"{compact[:2]}** **** ... {compact[-2:]} ({len(compact)} chars)"
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@***{domain[-4:]}"
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        return f"{'+' if value.startswith('+') else ''}{digits[:2]}*** ***{digits[-2:]}"
    if kind == "private_key":
        return value.split("\n", 1)[0][:40] + " (key body hidden)"
    if kind == "jwt":
        return f"eyJ...({len(value)} chars)"
    return f"{value[:4]}...({len(value)} chars)"


def _checked(check: Callable[[str], object], value: str) -> bool:
    from stdnum.exceptions import ValidationError  # at use: loading a plan never needs it

    try:
        check(value)
    except ValidationError:
        return False
    return True


def _cards(text: str) -> Iterator[str]:
    from stdnum import luhn  # at use: loading a plan never needs it

    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _checked(luhn.validate, digits):
            yield match.group()


def _ibans(text: str) -> Iterator[str]:
    from stdnum import iban

    for match in _IBAN.finditer(text):
        if _checked(iban.validate, match.group()):
            yield match.group()


def scan_text(text: str, kinds: frozenset[str], key: str = "") -> list[Hit]:
    """Every finding in ``text``. ``key`` is the JSON key or header name it sits under:
    a local number (no ``+``) counts as a phone only under a phone-like key."""
    text = text[:MAX_TEXT]
    hits: list[Hit] = []

    def add(kind: Kind, values: Iterator[str]) -> None:
        if kind in kinds:
            hits.extend(Hit(kind, value) for value in values)

    add("private_key", (m.group() for m in _PRIVATE_KEY.finditer(text)))
    add("jwt", (m.group() for m in _JWT.finditer(text)))
    add("cloud_key", (m.group() for m in _CLOUD.finditer(text)))
    add("api_key", (m.group() for m in _API.finditer(text)))
    add("email", (m.group() for m in _EMAIL.finditer(text)))
    ibans = list(_ibans(text))
    add("iban", iter(ibans))
    for found in ibans:  # an IBAN's digits are not also a card number
        text = text.replace(found, " ")
    add("card", _cards(text))
    phones = [m.group() for m in _PHONE.finditer(text)]
    if key and _PHONE_KEY.search(key) and _LOCAL_PHONE.match(text.strip()):
        phones.append(text.strip())
    taken = {h.value for h in hits}
    add("phone", (p for p in phones if p not in taken and _digits_between(p, 8, 15)))
    return hits


def _digits_between(value: str, low: int, high: int) -> bool:
    return low <= sum(c.isdigit() for c in value) <= high


def mask_found(text: str, kinds: frozenset[str] = frozenset(KINDS)) -> str:
    """``text`` with every finding replaced by its masked form: for evidence that quotes
    records (an audit entry) which may carry personal data."""
    for hit in sorted(scan_text(text, kinds), key=lambda h: len(h.value), reverse=True):
        text = text.replace(hit.value, f"<{hit.kind}: {hit.masked}>")
    return text
