"""The ``tls`` check: certificate trust, hostname, expiry, and which protocol versions the
target's HTTPS endpoint accepts."""

from __future__ import annotations

import asyncio
import math
import socket
import ssl
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx

from checks.base import Check, CheckOptions, CheckResult
from checks.context import CheckContext
from checks.tls_options import TlsOptions as TlsOptions

VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
"""Protocol versions by the names used in options, summaries and evidence, oldest first."""

_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21, 27, 28})
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH_CODES = frozenset({62, 63, 64})  # hostname, email, IP address mismatch


@dataclass
class CertInfo:
    """The parts of the served leaf certificate that the evidence shows."""

    subject: str
    issuer: str
    names: list[str]
    not_before: datetime
    not_after: datetime

    @classmethod
    def from_der(cls, der: bytes) -> CertInfo:
        from cryptography import x509  # at use: loading a plan never needs it

        cert = x509.load_der_x509_certificate(der)
        names: list[str] = []
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            names += san.get_values_for_type(x509.DNSName)
            names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        if not names:  # legacy certificates name their host in the CN only
            names = [
                str(attr.value)
                for attr in cert.subject.get_attributes_for_oid(x509.OID_COMMON_NAME)
            ]
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            names=names,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

    def days_left(self, now: datetime) -> int:
        """Whole days until notAfter; negative, whole days since, once expired."""
        seconds = (self.not_after - now).total_seconds()
        return math.floor(seconds / 86400) if seconds >= 0 else -math.floor(-seconds / 86400)

    def expired(self, now: datetime) -> bool:
        return self.not_after <= now


@dataclass
class Handshake:
    """The verified handshake: what was negotiated, or why verification failed."""

    cert: CertInfo | None = None
    version: str = ""
    cipher: str = ""
    verify_error: ssl.SSLCertVerificationError | None = None
    elapsed_ms: float = 0.0


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    probes: dict[str, str] = field(default_factory=dict)


class Unreachable(Exception):
    """No TCP connection to the endpoint (or no usable CA bundle): the check reports
    ``error``, not ``failed``."""


class HandshakeFailed(Exception):
    """The endpoint answered but no TLS session could be set up (not a certificate issue)."""


def _label(version: str | None) -> str:
    """``ssl``'s ``TLSv1`` is ``TLSv1.0`` here, for symmetric names."""
    return "TLSv1.0" if version == "TLSv1" else (version or "?")


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"timed out after {timeout:g}s"
        raise Unreachable(f"cannot connect to {host}:{port}: {reason}") from exc


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _handshake(
    context: ssl.SSLContext, host: str, port: int, timeout: float
) -> tuple[bytes, str, str]:
    """One handshake: the peer's DER certificate, the negotiated version and cipher."""
    with (
        _connect(host, port, timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        cipher = tls.cipher()
        return (
            tls.getpeercert(binary_form=True) or b"",
            _label(tls.version()),
            cipher[0] if cipher else "",
        )


def verified_handshake(
    host: str, port: int, cafile: Path | None, check_hostname: bool, timeout: float
) -> Handshake:
    """Handshake as a browser would; on a certificate failure, fetch the certificate
    without verification so its names and dates still make the evidence."""
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise Unreachable(f"cannot load CA bundle {cafile}: {reason}") from exc
    context.check_hostname = check_hostname
    started = time.perf_counter()
    try:
        der, version, cipher = _handshake(context, host, port, timeout)
    except ssl.SSLCertVerificationError as exc:
        result = Handshake(verify_error=exc)
        try:
            der, result.version, result.cipher = _handshake(
                _unverified_context(), host, port, timeout
            )
            result.cert = CertInfo.from_der(der) if der else None
        except (Unreachable, OSError, ValueError):
            pass  # the verification error alone still says what is wrong
        return result
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise HandshakeFailed(f"TLS handshake with {host}:{port} failed: {reason}") from exc
    except (Unreachable, TimeoutError):
        raise
    except OSError as exc:  # reset or closed by the server during the handshake
        reason = exc.strerror or type(exc).__name__
        raise HandshakeFailed(f"TLS handshake with {host}:{port} failed: {reason}") from exc
    elapsed = (time.perf_counter() - started) * 1000
    cert = CertInfo.from_der(der) if der else None
    return Handshake(cert=cert, version=version, cipher=cipher, elapsed_ms=elapsed)


def probe(host: str, port: int, version: str, timeout: float) -> str:
    """Whether the server completes a handshake pinned to ``version`` (no verification):
    ``accepted (CIPHER)``, ``refused (reason)`` or ``error (reason)``."""
    context = _unverified_context()
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated; probing them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = VERSIONS[version]
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        _, negotiated, cipher = _handshake(context, host, port, timeout)
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)
        return f"refused ({reason.replace('_', ' ').lower()})"
    except Unreachable as exc:
        return f"error ({exc})"
    except OSError as exc:  # reset or closed mid-handshake: the server said no
        return f"refused ({exc.strerror or type(exc).__name__})"
    if negotiated != version:
        return f"refused (negotiated {negotiated})"
    return f"accepted ({cipher})"


def _ago(cert: CertInfo) -> str:
    days = -cert.days_left(datetime.now(UTC))
    return "today" if days <= 0 else f"{days} day{'s' * (days != 1)} ago"


def _left(cert: CertInfo) -> str:
    if cert.expired(datetime.now(UTC)):
        return f"expired {_ago(cert)}"
    days = cert.days_left(datetime.now(UTC))
    return f"{days} day{'s' * (days != 1)} left"


def describe_verify_error(
    error: ssl.SSLCertVerificationError, cert: CertInfo | None, host: str
) -> str:
    """Why verification failed, in words a release manager can act on."""
    code = error.verify_code
    message = error.verify_message or str(error.reason or error)
    if code == _EXPIRED and cert is not None:
        return f"certificate expired on {cert.not_after:%Y-%m-%d} ({_ago(cert)})"
    if code == _EXPIRED:
        return "certificate has expired"
    if code == _NOT_YET_VALID:
        when = f" until {cert.not_before:%Y-%m-%d %H:%M} UTC" if cert else " yet"
        return f"certificate is not valid{when}"
    if code in _NAME_MISMATCH_CODES:
        names = ", ".join(cert.names) if cert and cert.names else "another name"
        return f"certificate is for {names}, not {host}"
    if code in _UNTRUSTED_CODES:
        issuer = f"; issuer {cert.issuer}" if cert else ""
        return f"certificate is not trusted ({message}{issuer})"
    return f"certificate verification failed: {message}"


class TlsCheck(Check[TlsOptions]):
    """Verifies the HTTPS endpoint's certificate and refuses-old-protocols posture."""

    type_name: ClassVar[str] = "tls"
    Options: ClassVar[type[CheckOptions]] = TlsOptions
    default_timeout: ClassVar[float] = 60.0

    async def run(self, ctx: CheckContext) -> CheckResult:
        opts = self.options
        url = httpx.URL(ctx.target.base_url)
        if url.scheme != "https":
            return CheckResult.failed(
                f"served over plain HTTP ({ctx.redact(str(url))}), not HTTPS",
                evidence=f"base_url: {ctx.redact(str(url))}",
            )
        host = opts.host or url.host
        port = opts.port or url.port or 443
        cafile = opts.ca_bundle or ctx.target.ca_bundle
        timeout = opts.connect_timeout
        minimum = opts.min_version
        ctx.progress(f"TLS handshake with {host}:{port}")
        try:
            handshake = await asyncio.to_thread(
                verified_handshake, host, port, cafile, opts.check_hostname, timeout
            )
        except Unreachable as exc:
            return CheckResult.error(str(exc))
        except TimeoutError:
            return CheckResult.error(
                f"TLS handshake with {host}:{port} timed out after {timeout:g}s"
            )
        except HandshakeFailed as exc:
            handshake, first_problem = Handshake(), str(exc)
        else:
            first_problem = ""

        below = [name for name in VERSIONS if VERSIONS[name] < VERSIONS[minimum]]
        ctx.progress(f"probing {', '.join(below)}")
        results = await asyncio.gather(
            *(asyncio.to_thread(probe, host, port, name, timeout) for name in below)
        )
        findings = Findings(probes=dict(zip(below, results, strict=True)))
        if first_problem:
            findings.problems.append(first_problem)
        days_left = handshake.cert.days_left(datetime.now(UTC)) if handshake.cert else None
        findings.problems += self._problems(handshake, findings.probes, host, days_left)

        metrics: dict[str, float] = {
            "protocol_probes": float(len(below)),
            "protocols_accepted_below_min": float(
                sum(outcome.startswith("accepted") for outcome in findings.probes.values())
            ),
            "problems": float(len(findings.problems)),
        }
        if days_left is not None:
            metrics["days_left"] = float(days_left)
        if handshake.elapsed_ms:
            metrics["handshake_ms"] = round(handshake.elapsed_ms, 1)
        evidence = ctx.redact(self._evidence(host, port, cafile, handshake, findings, days_left))

        if findings.problems:
            first, more = findings.problems[0], len(findings.problems) - 1
            summary = first + (f"; +{more} more problem{'s' * (more != 1)}" if more else "")
            return CheckResult.failed(summary, metrics=metrics, evidence=evidence)
        refused = "/".join(name.removeprefix("TLSv") for name in below)
        return CheckResult.passed(
            f"{handshake.version}, certificate valid {days_left} more days, TLS {refused} refused",
            metrics=metrics,
            evidence=evidence,
        )

    def _problems(
        self, handshake: Handshake, probes: dict[str, str], host: str, days_left: int | None
    ) -> list[str]:
        """Everything wrong, most fundamental first: trust, expiry, protocol versions."""
        opts, minimum = self.options, self.options.min_version
        problems: list[str] = []
        error, cert = handshake.verify_error, handshake.cert
        if error is not None:
            problems.append(describe_verify_error(error, cert, host))
        expiry_known = error is not None and error.verify_code == _EXPIRED
        if cert is not None and days_left is not None and not expiry_known:
            if cert.expired(datetime.now(UTC)):
                problems.append(f"certificate expired on {cert.not_after:%Y-%m-%d} ({_ago(cert)})")
            elif days_left < opts.min_days_valid:
                plural = "s" * (days_left != 1)
                problems.append(
                    f"certificate expires in {days_left} day{plural} (< {opts.min_days_valid})"
                )
        negotiated = VERSIONS.get(handshake.version)
        if negotiated is not None and negotiated < VERSIONS[minimum]:
            problems.append(f"negotiated {handshake.version} (minimum {minimum})")
        for name, outcome in probes.items():
            if outcome.startswith("accepted"):
                problems.append(f"accepts {name} (minimum {minimum})")
        return problems

    def _evidence(
        self,
        host: str,
        port: int,
        cafile: Path | None,
        handshake: Handshake,
        findings: Findings,
        days_left: int | None,
    ) -> str:
        opts = self.options
        lines = [
            f"endpoint: {host}:{port} (hostname check {'on' if opts.check_hostname else 'off'})",
            f"trust: {cafile if cafile else 'system CA store'}",
        ]
        cert = handshake.cert
        if cert is not None:
            lines += [
                f"subject: {cert.subject}",
                f"SANs: {', '.join(cert.names) or '-'}",
                f"issuer: {cert.issuer}",
                f"notBefore: {cert.not_before:%Y-%m-%d %H:%M:%S} UTC",
                f"notAfter: {cert.not_after:%Y-%m-%d %H:%M:%S} UTC ({_left(cert)})",
            ]
        error = handshake.verify_error
        lines.append(f"verification: {'ok' if error is None else error.verify_message}")
        if handshake.version:
            lines.append(f"negotiated: {handshake.version} {handshake.cipher}")
        lines += [f"probe {name}: {outcome}" for name, outcome in findings.probes.items()]
        if findings.problems:
            lines.append("problems:")
            lines += [f"- {problem}" for problem in findings.problems]
        return "\n".join(lines)
