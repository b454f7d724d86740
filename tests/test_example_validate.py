"""A newcomer's first command: in a fresh clone, before ``make demo`` has started the
example target (which writes its CA to .preprod/target/ca.pem), ``preprod config
validate --config examples/preprod.yml`` used to fail on that missing file. Now validate
says so as a warning and exits 0; serve and check (``load_config`` without the list)
still refuse the config, and a CA file that is there but not PEM is still an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trustme

from bot.config.loader import ConfigError, load_config
from tests.support.in_process import preprod_main
from tests.support.target import REPO_ROOT

EXAMPLE_ENV = ("TARGET_HTTPS_URL", "TARGET_CA_BUNDLE", "TARGET_TOKEN", "PRODUCTION_URL",
               "PREVIOUS_VERSION", "PREPROD_CONFIG")  # fmt: skip
WARNING = (
    "warning: environments.staging.ca_bundle (line 29): file not found: "
    "../.preprod/target/ca.pem; serve and check refuse this config until it is there"
)


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """examples/preprod.yml as a fresh clone has it: no .preprod/ beside examples/ (the
    copy's own folder stands in for the clone, whatever this checkout's demo left), none
    of the demo's variables set, run from the checkout (the access log's path is relative
    to the working directory)."""
    config = tmp_path / "examples" / "preprod.yml"
    config.parent.mkdir()
    shutil.copy(REPO_ROOT / "examples" / "preprod.yml", config)
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    return config


def validate(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = preprod_main("config", "validate", "--config", str(config))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_example_validates_in_a_fresh_clone_with_a_warning(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = validate(fresh, capsys)
    assert code == 0, out + err
    assert f"{fresh}: {WARNING}" in out
    assert f"{fresh}: ok (" in out
    with pytest.raises(ConfigError, match=r"ca_bundle \(line 29\): file not found"):
        load_config(fresh)  # what serve and check load: still refused


def test_with_the_demo_targets_ca_there_is_no_warning(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = fresh.parent.parent / ".preprod" / "target" / "ca.pem"
    ca.parent.mkdir(parents=True)
    trustme.CA().cert_pem.write_to_path(str(ca))
    code, out, err = validate(fresh, capsys)
    assert (code, err) == (0, ""), out + err
    assert "warning" not in out and f"{fresh}: ok (" in out
    assert load_config(fresh).environments["staging"].ca_bundle == ca.resolve()


def test_a_ca_file_that_is_not_pem_is_still_an_error(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = fresh.parent.parent / ".preprod" / "target" / "ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text("not a certificate\n")
    code, out, err = validate(fresh, capsys)
    assert code == 2
    assert "ca_bundle (line 29): not a PEM file of CA certificates" in out + err
    assert "ok (" not in out
