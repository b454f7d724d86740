"""Reports of decided runs (who signed, rejections, waivers, ticks, decision, outcome, the
audit trail) and evidence packs: written from a real database by the real commands, then
tampered with."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from bot.audit import keys
from bot.cli.main import main
from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.roles import RoleDirectory
from bot.gate.view import Target
from bot.reports import evidence
from bot.store.runs import RunStore

pytestmark = pytest.mark.usefixtures("scripted_kinds")

RM, SRE, SEC = "U0RM", "U0SRE1", "U0SEC1"
LITERAL_KEY = "literal-api-key-0123456789"
JUSTIFICATION = "Headers <script>alert(1)</script> fixed in 2.14.1 & tracked in SEC-9"
REJECTION = "Pen test finding <b>open</b> & unresolved"

CONFIG = f"""\
roles:
  sre: {{label: SRE, members: [{SRE}]}}
  security: {{label: Security, members: [{SEC}]}}
policy:
  required_signoffs: [sre, security]
  waivers_by: [sre]
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: standard
    headers: {{Authorization: "Bearer ${{TOKEN}}", X-Api-Key: "{LITERAL_KEY}"}}
plans:
  standard:
    attestations:
      - {{id: oncall, text: On-call staffed, role: sre}}
    checks:
      - {{id: smoke, type: scripted}}
      - {{id: headers, type: scripted, outcome: fail, critical: false}}
"""


async def _no_groups(_group: str) -> set[str]:
    return set()


@pytest.fixture
def decided(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """Run 1: waived, ticked, approved by both roles (GO), rolled out with success.
    Run 2: rejected by security (NO-GO)."""
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    monkeypatch.setenv("TOKEN", "hunter2-token")  # for the commands that read the config
    url = f"sqlite:///{tmp_path}/preprod.db"

    async def play() -> None:
        config = load_config(path, environ={"TOKEN": "hunter2-token"})
        store = RunStore(url)
        engine = Engine(config, store, tmp_path / "work")
        gate = Gate(config, store, RoleDirectory(config, _no_groups))
        request = RunRequest("checkout-api", "2.14.0", "staging", requester=RM, source="slack")
        await engine.run(request)
        await gate.waive(SRE, Target(1, 1, "headers"), JUSTIFICATION)
        await gate.attest(SRE, Target(1, 1, "oncall"), "PD-42")
        await gate.sign(SRE, Target(1, 1, "sre"), Vote.APPROVE)
        await gate.sign(SEC, Target(1, 1, "security"), Vote.APPROVE)
        await gate.record_outcome(1, RM, "success")
        await engine.run(request)
        await gate.sign(SEC, Target(2, 1, "security"), Vote.REJECT, REJECTION)
        store.engine.dispose()

    asyncio.run(play())
    return url, path


def preprod(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_reports_of_decided_runs_record_who_did_what(
    decided: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = decided
    out = tmp_path / "out"
    files = ["--json", f"{out}/1.json", "--html", f"{out}/1.html", "--junit", f"{out}/1.xml"]
    code, printed = preprod("report", "1", "--database", url, "--config", str(config), *files,
                            capsys=capsys)  # fmt: skip
    assert code == 0, printed
    data = json.loads((out / "1.json").read_text())
    gate = data["gate"]
    assert gate["decision"] == "go" and gate["outcome"] == "success" and gate["outcome_by"] == RM
    signed = {(s["role_label"], s["user"], s["vote"]) for s in gate["signatures"]}
    assert signed == {("SRE", SRE, "approve"), ("Security", SEC, "approve")}
    assert [(w["check_id"], w["user"], w["justification"]) for w in gate["waivers"]] == [
        ("headers", SRE, JUSTIFICATION)
    ]
    assert [(t["item_id"], t["user"], t["note"]) for t in gate["ticks"]] == [
        ("oncall", SRE, "PD-42")
    ]
    actions = [event["action"] for event in data["audit"]]
    assert actions == [
        "run.started", "check.finished", "check.finished", "run.finished", "gate.waiver",
        "gate.attestation", "gate.signoff", "gate.signoff", "gate.decision", "production.outcome",
    ]  # fmt: skip
    html = (out / "1.html").read_text()
    assert "Decision: GO" in html and "success" in html and "Audit trail" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; fixed in 2.14.1 &amp; tracked" in html
    junit = (out / "1.xml").read_text()
    assert 'name="decision" value="go"' in junit and f'name="signoff.sre.{SRE}"' in junit

    code, printed = preprod("show", "2", "--database", url, "--config", str(config), capsys=capsys)
    assert "decision: NO-GO" in printed
    assert f"Security: {SEC} REJECTED" in printed and REJECTION in printed
    code, _ = preprod("report", "2", "--database", url, "--config", str(config),
                      "--html", f"{out}/2.html", capsys=capsys)  # fmt: skip
    html = (out / "2.html").read_text()
    assert "REJECT" in html and "Pen test finding &lt;b&gt;open&lt;/b&gt; &amp; unresolved" in html


def test_evidence_pack_is_written_verified_and_tampering_is_named(
    decided: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = decided
    pack = tmp_path / "pack.zip"
    code, printed = preprod("evidence", "1", "-o", str(pack), "--database", url,
                            "--config", str(config), capsys=capsys)  # fmt: skip
    assert code == 0, printed
    files = _unzip(pack)
    assert set(files) == {
        "report.html", "report.json", "report.junit.xml", "audit.jsonl", "config.yml",
        "manifest.json",
    }  # fmt: skip
    manifest = json.loads(files["manifest.json"])
    assert manifest["run"] == 1 and manifest["decision"] == "go"
    assert manifest["audit"]["events"] == 10
    assert manifest["audit"]["chain_head"]["seq"] == 16  # run 2's events came after
    trail = [json.loads(line) for line in files["audit.jsonl"].splitlines()]
    assert manifest["audit"]["run_head"] == {"seq": trail[-1]["seq"], "hash": trail[-1]["hash"]}
    assert trail[0]["details"]["config_sha256"] == manifest["config"]["sha256_as_read"]
    kept = files["config.yml"].decode()
    assert "${TOKEN}" in kept and LITERAL_KEY not in kept and "[REDACTED]" in kept
    code, printed = preprod("evidence", "verify", str(pack), capsys=capsys)
    assert code == 0 and "evidence pack verifies: run 1, 5 files" in printed

    changed = dict(files, **{"report.json": files["report.json"].replace(b'"go"', b'"no-go"')})
    assert "NOT verify: report.json differs from the manifest: its SHA-256 is" in _verify(
        tmp_path, changed, capsys
    )

    listed = json.loads(files["manifest.json"])
    listed["files"]["report.html"]["sha256"] = "0" * 64
    forged = dict(files, **{"manifest.json": json.dumps(listed).encode()})
    problems = _verify(tmp_path, forged, capsys)
    assert (
        f"report.html differs from the manifest: its SHA-256 is {_sha(files['report.html'])}, "
        in problems
    )
    assert "the manifest says 0000000000000000" in problems

    # a forger who rewrites an event and the manifest's hash of audit.jsonl to match
    edited = files["audit.jsonl"].replace(SRE.encode(), b"U0MALLORY", 1)
    listed = json.loads(files["manifest.json"])
    listed["files"]["audit.jsonl"]["sha256"] = _sha(edited)
    listed["files"]["audit.jsonl"]["bytes"] = len(edited)
    rewritten = dict(files, **{"audit.jsonl": edited, "manifest.json": json.dumps(listed).encode()})
    problems = _verify(tmp_path, rewritten, capsys)
    assert "audit.jsonl line 5: event #5 gate.waiver on run 1 by U0MALLORY" in problems
    assert "was changed: its content no longer matches its hash" in problems

    extra = dict(files, **{"notes.txt": b"trust me"})
    refused = _verify(tmp_path, extra, capsys, code=2)
    assert (
        "not a readable evidence pack: notes.txt is in the pack but not in the manifest" in refused
    )

    listed = json.loads(files["manifest.json"])
    listed["audit"]["run_head"]["seq"] = 9
    headless = dict(files, **{"manifest.json": json.dumps(listed).encode()})
    assert "but the manifest's run head is #9" in _verify(tmp_path, headless, capsys)


def _unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(
    tmp_path: Path, files: dict[str, bytes], capsys: pytest.CaptureFixture[str], code: int = 1
) -> str:
    """``preprod evidence verify`` on a pack of ``files``: the problems it names (exit 1,
    tampered), or why it is not a pack (``code=2``, on one line)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path = tmp_path / "tampered.zip"
    path.write_bytes(buffer.getvalue())
    exited, printed = preprod("evidence", "verify", str(path), capsys=capsys)
    assert exited == code, printed
    if code == 1:
        assert "evidence pack does NOT verify" in printed
    else:
        assert len(printed.splitlines()) == 1, printed
    return printed


def test_a_pack_that_is_not_one_is_refused_with_the_reason() -> None:
    assert str(evidence.verify(b"PK not really").malformed).startswith("not a zip file")
    assert evidence.verify(evidence.zipped({})).malformed == "manifest.json is missing"
    odd = evidence.zipped({"manifest.json": b"[1, 2]"})
    assert evidence.verify(odd).malformed == "manifest.json is a JSON list, not an object"
    many = evidence.zipped({f"f{i}": b"" for i in range(evidence.LIMITS.members + 1)})
    assert evidence.verify(many).malformed == "17 files in the zip; a pack holds at most 16"


@pytest.fixture
def key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The bot's key pair as PEM files, the private one named by PREPROD_SIGNING_KEY_FILE."""
    pair = keys.generate()
    private, public = tmp_path / "bot.key", tmp_path / "bot.pub.pem"
    private.write_bytes(pair.private_pem)
    public.write_bytes(pair.public_pem)
    monkeypatch.setenv(keys.SIGNING_KEY_ENV, str(private))
    return private, public


def test_a_pack_rewritten_consistently_verifies_only_without_the_key(
    decided: tuple[str, Path],
    key_files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's forgery: run 2's rejection removed from audit.jsonl, NO-GO turned into
    GO in the reports, the manifest recomputed. The hashes agree, so without --key the pack
    verifies (and says its signature was not checked); with the bot's public key it never
    does, whatever the forger does with manifest.sig."""
    url, config = decided
    _private, public = key_files
    fingerprint = keys.fingerprint(keys.load_public(public.read_bytes()))
    pack = tmp_path / "run2.zip"
    code, printed = preprod("evidence", "2", "-o", str(pack), "--database", url,
                            "--config", str(config), capsys=capsys)  # fmt: skip
    assert code == 0 and f"signed by {fingerprint}" in printed, printed
    files = _unzip(pack)
    assert set(files) >= {"manifest.json", "manifest.sig"}
    code, printed = preprod("evidence", "verify", str(pack), "--key", str(public), capsys=capsys)
    assert code == 0 and f"signature by {fingerprint} verified" in printed, printed

    forged = _rewrite_as_go(files)
    code, printed = preprod("evidence", "verify", _zip(tmp_path, forged), capsys=capsys)
    assert code == 0, printed  # self-consistent: without the key, nothing tells
    assert f"signature NOT checked (signed by {fingerprint}): give --key" in printed

    code, printed = preprod("evidence", "verify", _zip(tmp_path, forged), "--key", str(public),
                            capsys=capsys)  # fmt: skip
    assert code == 1, printed
    assert f"manifest.sig: the signature by {fingerprint} does not match manifest.json" in printed

    unsigned = {name: data for name, data in forged.items() if name != "manifest.sig"}
    code, printed = preprod("evidence", "verify", _zip(tmp_path, unsigned), capsys=capsys)
    assert code == 0 and "unsigned (no manifest.sig): signature not checked" in printed
    code, printed = preprod("evidence", "verify", _zip(tmp_path, unsigned), "--key", str(public),
                            capsys=capsys)  # fmt: skip
    assert code == 1 and "the pack is unsigned (no manifest.sig)" in printed, printed

    mallory = keys.load_private(keys.generate().private_pem)
    resigned = evidence.signed(unsigned, mallory)
    code, printed = preprod("evidence", "verify", _zip(tmp_path, resigned), "--key", str(public),
                            capsys=capsys)  # fmt: skip
    other = keys.fingerprint(mallory.public_key())
    assert (
        code == 1
        and f"manifest.sig is by key {other}, not by the given key {fingerprint}" in printed
    )
    relabelled = dict(resigned, **{"manifest.sig": resigned["manifest.sig"].replace(
        other.encode(), fingerprint.encode())})  # fmt: skip
    code, printed = preprod("evidence", "verify", _zip(tmp_path, relabelled), "--key", str(public),
                            capsys=capsys)  # fmt: skip
    assert code == 1 and "does not match manifest.json" in printed, printed


def _rewrite_as_go(files: dict[str, bytes]) -> dict[str, bytes]:
    """What a forger with the pack but not the key can do: a consistent rewrite."""
    lines = files["audit.jsonl"].decode().splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["action"] not in REJECTION_ACTIONS]
    assert len(kept) < len(lines)  # the rejection was there
    forged = dict(files, **{"audit.jsonl": "".join(kept).encode()})
    for name in ("report.html", "report.json", "report.junit.xml"):
        forged[name] = files[name].replace(b"NO-GO", b"GO").replace(b"no-go", b"go")
        assert forged[name] != files[name]
    manifest = json.loads(files["manifest.json"])
    assert manifest["decision"] == "no-go"
    manifest["decision"] = "go"
    for name, entry in manifest["files"].items():
        entry.update(sha256=_sha(forged[name]), bytes=len(forged[name]))
    last = json.loads(kept[-1])
    manifest["audit"].update(events=len(kept), run_head={"seq": last["seq"], "hash": last["hash"]})
    forged["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return forged


REJECTION_ACTIONS = ("gate.reject", "gate.decision")


def _zip(tmp_path: Path, files: dict[str, bytes]) -> str:
    path = tmp_path / f"forged-{len(list(tmp_path.glob('forged-*')))}.zip"
    path.write_bytes(evidence.zipped(files))
    return str(path)


def test_export_without_a_key_says_the_pack_is_unsigned_and_a_bad_key_is_refused(
    decided: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, config = decided
    monkeypatch.delenv(keys.SIGNING_KEY_ENV, raising=False)
    pack = tmp_path / "pack.zip"
    args = ("evidence", "1", "-o", str(pack), "--database", url, "--config", str(config))
    code, printed = preprod(*args, capsys=capsys)
    assert (
        code == 0
        and "preprod: note: the pack is unsigned: PREPROD_SIGNING_KEY_FILE is not set" in printed
    )
    assert "manifest.sig" not in _unzip(pack)

    pair = keys.generate()
    (tmp_path / "public.pem").write_bytes(pair.public_pem)
    monkeypatch.setenv(keys.SIGNING_KEY_ENV, str(tmp_path / "public.pem"))
    pack.unlink()
    code, printed = preprod(*args, capsys=capsys)
    assert code == 2 and printed.startswith(
        f"preprod: PREPROD_SIGNING_KEY_FILE={tmp_path}/public.pem: not a PEM private key"
    )
    assert len(printed.splitlines()) == 1 and not pack.exists()
    monkeypatch.setenv(keys.SIGNING_KEY_ENV, str(tmp_path / "nowhere.pem"))
    code, printed = preprod(*args, capsys=capsys)
    assert (
        code == 2 and "nowhere.pem: cannot read the key file (No such file or directory)" in printed
    )

    code, printed = preprod("evidence", "verify", str(tmp_path), capsys=capsys)
    assert code == 2 and printed == f"preprod: {tmp_path} is not a regular file\n"
    code, printed = preprod(*args, "--key", str(tmp_path / "public.pem"), capsys=capsys)
    assert code == 2 and "--key is for `evidence verify`" in printed

    (tmp_path / "private.pem").write_bytes(pair.private_pem)
    code, printed = preprod("evidence", "verify", str(tmp_path / "nothing.zip"), "--key",
                            str(tmp_path / "private.pem"), capsys=capsys)  # fmt: skip
    assert code == 2 and "--key" in printed and "not a PEM public key" in printed, printed
