"""Config files that are broken or hostile: each answer says, in the user's terms, what is
wrong and where (file, line, column, a hint), never a library's jargon or a traceback.
(tests/test_config_fuzz.py runs the whole corpus through the CLI for time and memory.)"""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, load_config
from bot.config.yaml_lines import MAX_BYTES, MAX_DEPTH, MAX_NODES
from checks.registry import check_types

VALID = """\
environments:
  staging:
    base_url: https://staging.example
    plan: standard
plans:
  standard:
    checks:
      - {id: headers, type: security_headers}
"""

JARGON = ("<block", "expected <", "instance of", "after validation", "Input should", "tag:yaml")


def answer(tmp_path: Path, content: str | bytes) -> list[str]:
    """The problems, one string each, for a file holding ``content``."""
    path = tmp_path / "preprod.yml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    check_types()  # the catalog's first import is not the file's cost
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert time.perf_counter() - started < 1.0
    rendered = caught.value.render()
    assert rendered.startswith(f"{path}: ")
    for word in JARGON:
        assert word not in rendered, rendered
    return [str(problem) for problem in caught.value.problems]


# Issue 10, item 12: errors in the user's terms.


def test_bad_indentation_names_the_line_to_check(tmp_path: Path) -> None:
    text = VALID.replace("    plan: standard", "   plan: standard")
    [problem] = answer(tmp_path, text)
    assert problem.startswith(
        "line 4, column 4: line 4 is not indented like the lines above it "
        "(the block that starts on line 2): check the indentation of line 4"
    )


def test_a_list_item_out_of_line(tmp_path: Path) -> None:
    text = VALID + "      - {id: tls, type: tls}\n     - {id: auth, type: auth_required}\n"
    [problem] = answer(tmp_path, text)
    assert problem.startswith("line 10, column 6: line 10 is not indented like the lines above")


def test_a_mis_indented_key_says_which_mapping_it_belongs_to(tmp_path: Path) -> None:
    text = VALID.replace("    base_url:", "  base_url:").replace("    plan:", "  plan:")
    assert answer(tmp_path, text) == [
        "environments.staging (line 2): expected an environment (a mapping with keys such as "
        "base_url, plan), got nothing; nothing is indented under 'staging': check the "
        "indentation of the lines after line 2 (what belongs to 'staging' is indented "
        "further than it)",
        "environments.base_url (line 3): expected an environment (a mapping with keys such as "
        "base_url, plan), got the text 'https://staging.example'; if 'base_url' belongs to "
        "'staging' above it, indent it further than 'staging' (check the indentation of line 3)",
        "environments.plan (line 4): expected an environment (a mapping with keys such as "
        "base_url, plan), got the text 'standard'; if 'plan' belongs to 'staging' above it, "
        "indent it further than 'staging' (check the indentation of line 4)",
    ]


def test_an_empty_list_of_checks(tmp_path: Path) -> None:
    text = VALID.replace("    checks:\n      - {id: headers, type: security_headers}\n", "")
    text += "    checks: []\n"
    assert answer(tmp_path, text) == [
        "plans.standard.checks (line 7): expected at least 1 item, found none"
    ]


def test_a_tab_and_an_unexpected_colon(tmp_path: Path) -> None:
    [tab] = answer(tmp_path, VALID.replace("    plan:", "\tplan:"))
    assert (
        tab == "line 4, column 1: line 4 is indented with a tab: YAML indentation takes spaces only"
    )
    [colon] = answer(tmp_path, VALID.replace("plan: standard", "plan: standard: x"))
    assert colon.startswith("line 4, column 19: unexpected ':' on line 4")


def test_a_missing_file_gives_its_absolute_path_and_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("preprod.yml")
    [problem] = caught.value.problems
    assert str(problem) == (
        f"file not found: {tmp_path / 'preprod.yml'}. Create one with `preprod init`, or name "
        "another with --config FILE or $PREPROD_CONFIG"
    )
    with pytest.raises(ConfigError, match="is a directory, not a file"):
        load_config(tmp_path)


@pytest.mark.parametrize("content", ["", "# to do\n", "---\n", "~\n", codecs.BOM_UTF8])
def test_an_empty_file_says_so_and_what_it_must_hold(tmp_path: Path, content: str | bytes) -> None:
    assert answer(tmp_path, content) == [
        "the file is empty (or holds only comments); a config is a mapping of keys, at least "
        "`environments:` (each with `base_url` and `plan`) and `plans:` (each with a list of "
        "`checks`). `preprod init` writes a starter"
    ]


def test_a_list_at_the_top_level(tmp_path: Path) -> None:
    [problem] = answer(tmp_path, "- environments\n- plans\n")
    assert problem.startswith("line 1: a config is a mapping of keys, at least `environments:`")
    assert problem.endswith("the file holds a list instead")


def test_duplicate_keys_are_refused_not_silently_dropped(tmp_path: Path) -> None:
    text = VALID.replace("    plan: standard", "    plan: standard\n    plan: other")
    assert answer(tmp_path, text) == [
        "environments.staging.plan (line 5, column 5): key 'plan' is given twice "
        "(lines 4 and 5); keep one"
    ]


# Issue 9, item 2: files that explode.


def test_billion_laughs_stops_at_the_expansion_limit(tmp_path: Path) -> None:
    laughs = "a0: &a0 lol\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
    )
    [problem] = answer(tmp_path, laughs)
    assert problem.startswith(f"line 6, column 10: the file holds more than {MAX_NODES:,} values")
    assert "once its *aliases are expanded" in problem


def test_an_alias_inside_its_own_anchor(tmp_path: Path) -> None:
    assert answer(tmp_path, "a: &x [1, *x]\n") == [
        "line 1, column 11: *x is used inside the value it names (&x on line 1), "
        "which would never end"
    ]


@pytest.mark.parametrize("text", ["a: " + "[" * 5000, "a: " + "{b: " * 5000, "a:\n" + "- " * 3000])
def test_deep_nesting(tmp_path: Path, text: str) -> None:
    [problem] = answer(tmp_path, text + "\n")
    assert f"nested more than {MAX_DEPTH} deep" in problem and problem.startswith("line ")


def test_a_binary_file(tmp_path: Path) -> None:
    [problem] = answer(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert problem == (
        "line 3, column 1: the file is not text (it contains NUL bytes): is this the right file?"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (codecs.BOM_UTF16_LE + VALID.encode("utf-16-le"), "the file is UTF-16 text"),
        (VALID.encode("utf-16-be"), "the file looks like UTF-16 text"),
        (
            VALID.replace("standard\n", "Müller\n", 1).encode("latin-1"),
            "line 4, column 12: not UTF-8 text (byte 0xfc); save the file as UTF-8",
        ),
    ],
)
def test_text_that_is_not_utf8(tmp_path: Path, content: bytes, problem: str) -> None:
    [found] = answer(tmp_path, content)
    assert found.startswith(problem)


def test_a_utf8_byte_order_mark_and_crlf_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_bytes(codecs.BOM_UTF8 + VALID.replace("\n", "\r\n").encode())
    config = load_config(path, environ={})
    assert config.environments["staging"].plan == "standard"


@pytest.mark.parametrize(
    "text",
    [
        'a: !!python/object/apply:os.system ["echo owned"]\n',
        "a: !!python/name:os.system\n",
        "a: !vault secret/path\n",
        "a: !!binary aGVsbG8=\n",
    ],
)
def test_tags_are_refused_by_name(tmp_path: Path, text: str) -> None:
    [problem] = answer(tmp_path, text)
    tag = text.split()[1]
    assert problem.startswith(f"line 1, column 4: unsupported tag {tag}: a preprod config holds")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 2024-13-45\n", "cannot read '2024-13-45' as a date; put it in quotes if it is text"),
        ("a: !!int abc\n", "cannot read 'abc' as a number"),
        ("a: " + "9" * 5000 + "\n", "cannot read '9999"),
    ],
)
def test_values_that_their_type_cannot_read(tmp_path: Path, text: str, problem: str) -> None:
    [found] = answer(tmp_path, text)
    assert found.startswith(f"line 1, column 4: {problem}")


def test_a_file_too_large_is_refused_unread(tmp_path: Path) -> None:
    [problem] = answer(tmp_path, b"a: " + b"x" * MAX_BYTES)
    assert problem.startswith(f"the file is {MAX_BYTES + 3:,} bytes; a preprod config is at most")


def test_a_huge_value_is_not_echoed_back_whole(tmp_path: Path) -> None:
    text = VALID.replace("https://staging.example", "ftp://" + "x" * 500_000)
    [problem] = answer(tmp_path, text)
    assert problem.startswith("environments.staging.base_url (line 3): expected an http://")
    assert len(problem) < 200


def test_keys_are_text_whatever_they_look_like(tmp_path: Path) -> None:
    problems = answer(tmp_path, VALID + "on: 1\n2024-01-01: x\n")
    assert "on (line 9): unknown key 'on'; expected one of: audit, channel" in problems[0]
    assert problems[1].startswith("2024-01-01 (line 10): unknown key '2024-01-01'")


# Issue 24, point 4: every problem in one pass.

EVERY_PROBLEM = """\
environments:
  staging:
    base_url: https://staging.example
    plan: standard
plans:
  standard:
    checks:
      - {id: one, type: nosuchkind}
      - id: two
        type: http
        requests: [{path: /, expect_stauts: 200}]
      - {id: three, type: security_headers, critcal: false}
"""


def test_an_unknown_type_does_not_hide_the_typos_of_other_checks(tmp_path: Path) -> None:
    problems = answer(tmp_path, EVERY_PROBLEM)
    assert len(problems) == 3, problems
    unknown, status, critical = problems  # in the order of the file
    assert "checks[0].type (line 8)" in unknown and "nosuchkind" in unknown
    assert "checks[1].requests[0].expect_stauts (line 11)" in status
    assert "did you mean 'expect_status'?" in status
    assert "checks[2].critcal (line 12)" in critical
    assert "did you mean 'critical'?" in critical


def test_the_keys_every_check_has_are_listed_with_the_kinds_own(tmp_path: Path) -> None:
    text = VALID.replace("type: security_headers}", "type: security_headers, zzz: 1}")
    [problem] = answer(tmp_path, text)
    expected = problem.split("expected one of: ")[1]
    for key in ("critical", "timeout", "description", "id", "type"):
        assert key in expected, problem
