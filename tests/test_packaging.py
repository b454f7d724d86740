"""Packaging metadata in the form current setuptools reads without deprecation warnings."""

from __future__ import annotations

import re
import tomllib

from tests.support.target import REPO_ROOT


def test_license_is_an_spdx_expression_and_setuptools_can_read_it() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    # A table (`{text = "MIT"}`) is deprecated since setuptools 77 (PEP 639).
    assert project["project"]["license"] == "MIT"
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    found = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert found is not None and int(found.group(1)) >= 77, setuptools  # first with PEP 639
