"""``preprod keys generate`` / ``keys show`` through the real command line, and the public
key at ``/.well-known/preprod-signing-key.pem`` of the running bot."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from bot.audit.keys import fingerprint, load_private, load_public, sign, verify
from bot.web.app import WELL_KNOWN_KEY
from examples.processes import ROOT
from tests.slackbot import running_bot
from tests.support.processes import preprod_command

KEY_ENV = "PREPROD_SIGNING_KEY_FILE"
PRIVATE, PUBLIC = "preprod-signing-key.pem", "preprod-signing-key.pub.pem"


def preprod(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREPROD_")}
    if key is not None:
        env[KEY_ENV] = key
    return subprocess.run(
        preprod_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_generate_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    out = tmp_path / "keys"
    made = preprod("keys", "generate", "--out", str(out))
    assert made.returncode == 0, made.stderr
    private, public = out / PRIVATE, out / PUBLIC
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_private(private.read_bytes())
    assert load_public(public.read_bytes()) == key.public_key()
    shown = fingerprint(key.public_key())
    assert f"fingerprint {shown}" in made.stdout
    assert f"export {KEY_ENV}={private.resolve()}" in made.stdout
    assert verify(key.public_key(), b"seq=1", sign(key, b"seq=1"))

    before = private.read_bytes()
    again = preprod("keys", "generate", "--out", str(out))
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"preprod: {private} exists; not overwritten (remove it or give --out)"
    )
    assert private.read_bytes() == before


def test_show_prints_the_public_key_and_fingerprint_or_names_the_variable(
    tmp_path: Path,
) -> None:
    assert preprod("keys", "generate", "--out", str(tmp_path)).returncode == 0
    private = tmp_path / PRIVATE
    shown = preprod("keys", "show", key=str(private))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith((tmp_path / PUBLIC).read_text())
    key = load_private(private.read_bytes())
    assert shown.stdout.rstrip().endswith(fingerprint(key.public_key()))
    assert private.read_text() not in shown.stdout  # never the private half

    unset = preprod("keys", "show")
    assert unset.returncode == 2
    assert f"preprod: {KEY_ENV} is not set" in unset.stderr
    missing = preprod("keys", "show", key=str(tmp_path / "gone.pem"))
    assert missing.returncode == 2
    assert f"{KEY_ENV}={tmp_path}/gone.pem: cannot read the key file" in missing.stderr
    (tmp_path / "junk.pem").write_text("not a key")
    junk = preprod("keys", "show", key=str(tmp_path / "junk.pem"))
    assert junk.returncode == 2 and "not a PEM private key" in junk.stderr
    assert "Traceback" not in junk.stderr + missing.stderr + unset.stderr


CONFIG = """\
channel: C0RELEASES
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: p}
plans:
  p: {checks: [{id: smoke, type: http, requests: [{path: /}]}]}
"""


async def test_the_running_bot_serves_its_public_key_without_a_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    assert preprod("keys", "generate", "--out", str(tmp_path)).returncode == 0
    async with running_bot(config, tmp_path) as harness, httpx.AsyncClient() as client:
        monkeypatch.delenv(KEY_ENV, raising=False)
        none = await client.get(harness.url + WELL_KNOWN_KEY)
        assert none.status_code == 404 and "no signing key" in none.text
        monkeypatch.setenv(KEY_ENV, str(tmp_path / PRIVATE))
        served = await client.get(harness.url + WELL_KNOWN_KEY)
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/x-pem-file"
        assert served.text == (tmp_path / PUBLIC).read_text()
        monkeypatch.setenv(KEY_ENV, str(tmp_path / "gone.pem"))
        broken = await client.get(harness.url + WELL_KNOWN_KEY)
        assert broken.status_code == 503 and "gone.pem" not in broken.text
