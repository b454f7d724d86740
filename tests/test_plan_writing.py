"""Writing a plan for a real system (issue 24, point 10): a run without --release is said
or refused, work files stay beside the database, and parity's key is `json` in errors
as in the docs."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bot.config.loader import ConfigError, load_config
from bot.engine.request import WORKDIR_ENV, default_workdir
from tests.support.in_process import preprod_main

pytestmark = pytest.mark.usefixtures("scripted_kinds")

DRILL = """\
      - id: d
        type: drill
        script:
          argv: ["{python}", -c, "import os; open(os.environ['PREPROD_DRILL_DIR'] + '/x', 'w')"]
"""


def write_config(tmp_path: Path, checks: str) -> Path:
    path = tmp_path / "conf" / "preprod.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "environments:\n  staging: {base_url: 'http://127.0.0.1:9', plan: p}\n"
        "plans:\n  p:\n    checks:\n" + checks
    )
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own, and no PREPROD_WORK_DIR."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(WORKDIR_ENV, raising=False)
    return cwd


def check(config: Path, database: Path, *more: str) -> int:
    return preprod_main(
        "check", "--config", str(config), "--env", "staging",
        "--database", f"sqlite:///{database}", *more,
    )  # fmt: skip


def test_release_is_required_where_the_plan_uses_version(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path, '      - {id: smoke, type: scripted, evidence: "v{version}"}\n' + DRILL
    )
    assert check(config, tmp_path / "db" / "p.db") == 2
    err = capsys.readouterr().err
    assert "--release is required: plan 'p' uses {version} in smoke" in err
    # --only leaves the check that needs it out: the run goes on, saying so
    assert check(config, tmp_path / "p.db", "--only", "d") == 0
    err = capsys.readouterr().err
    assert "no --release given: the run is recorded as version 'unversioned'" in err


def test_work_files_stay_beside_the_database(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, DRILL)
    database = tmp_path / "db" / "runs.db"
    database.parent.mkdir()
    assert check(config, database, "--release", "1.0") == 0
    work = database.parent / "work" / "run-1"
    assert (work / "d" / "x").is_file()
    assert f"work files in {work}" in capsys.readouterr().err
    assert not (elsewhere / ".preprod").exists()


def test_default_workdir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKDIR_ENV, raising=False)
    assert default_workdir("sqlite:////var/lib/preprod/p.db") == Path("/var/lib/preprod/work")
    server = default_workdir("postgresql+psycopg://u@db/preprod")
    assert server.name.startswith("preprod-work-") and not server.is_relative_to(Path.cwd())
    monkeypatch.setenv(WORKDIR_ENV, "/srv/work")
    assert default_workdir("sqlite:///x.db") == Path("/srv/work")


def test_parity_json_is_named_as_the_docs_name_it(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(
        dedent("""\
        environments:
          staging: {base_url: 'http://127.0.0.1:9', plan: p}
        plans:
          p:
            checks:
              - {id: parity, type: parity, jsn: [{path: /version}]}
              - {id: parity2, type: parity, bogus: 1}
        """)
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    text = str(caught.value)
    assert "unknown key 'jsn' (did you mean 'json'?)" in text
    assert "json_endpoints" not in text
    assert ", json, " in text
