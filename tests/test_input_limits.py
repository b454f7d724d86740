"""Bounded input: names in a command and free text in the gate, refused with a clear
answer wherever they come in (the parser, the modals, the gate, a command over HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.gate.policy import Vote
from bot.gate.refusals import Refused
from bot.gate.view import Target
from bot.input_limits import MAX_COMMAND, MAX_TEXT, MIN_REASON
from bot.slack.actions import REASON_BLOCK
from bot.slack.commands import Rerun, Start, UsageError, parse
from bot.slack.render_decision import attest_modal, reject_modal, waive_modal
from tests.slackbot import Harness, running_bot

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
policy:
  required_signoffs: [sre]
  waivers_by: [sre]
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - {id: smoke, type: scripted}
      - {id: latency, type: scripted, outcome: fail, critical: false}
    attestations:
      - {id: oncall, text: On-call rotation staffed, role: sre}
"""


def problem(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        parse(text)
    return str(caught.value)


def test_a_huge_command_is_refused_without_echoing_it() -> None:
    message = problem(f"start {'a' * 5_000_000} 1 staging")
    assert message == (
        f"the command is 5,000,016 characters long; at most {MAX_COMMAND:,} are accepted"
    )
    assert len(problem(f"{'x' * 900}")) < 100  # an unknown verb is quoted, cut
    assert len(problem(f"status {'9' * 900}")) < 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"start {'s' * 101} 1 staging", "the service is 101 characters long; at most 100"),
        (f"start svc {'1' * 65} staging", "the version is 65 characters long; at most 64"),
        (f"start svc 1 {'e' * 65}", "the environment is 65 characters long; at most 64"),
        (
            "start <script>alert(1)</script> 1 staging",
            "the service `<script>alert(1)</script>` may",
        ),
        ("start svc 1.0;reboot staging", "the version `1.0;reboot` may only contain letters"),
        ("start svc 1 <!channel>", "the environment `<!channel>` may only contain"),
        ("start svc 1 staging plan=a|b", "the plan `a|b` may only contain"),
        ("start svc 1 staging only=ok,<x>", "the check id `<x>` may only contain"),
        ("rerun 1 <!here>", "the check id `<!here>` may only contain"),
        ("status 99999999999", "`99999999999` is not a run number"),
        ("status ١٢", "`١٢` is not a run number"),
    ],
)
def test_names_are_bounded_in_length_and_characters(text: str, message: str) -> None:
    assert message in problem(text)


def test_sensible_names_still_parse() -> None:
    text = "start team/checkout-api@eu v2.14.0-rc.1+build.5 eu_west-1 plan=quick only=smoke,tls"
    assert parse(text) == Start(
        "team/checkout-api@eu", "v2.14.0-rc.1+build.5", "eu_west-1", "quick", ("smoke", "tls")
    )
    assert parse(f"start {'s' * 100} {'1' * 64} {'e' * 64}").service == "s" * 100
    assert parse("rerun #2147483647 load_test.1") == Rerun(2147483647, "load_test.1")


def test_modals_carry_the_same_bounds() -> None:
    target = Target(1, 1, "sre")
    for modal in (reject_modal(target, "SRE"), waive_modal(target, "latency", "slow")):
        [field] = [b for b in modal["blocks"] if b.get("block_id") == REASON_BLOCK]
        assert field["element"]["max_length"] == MAX_TEXT
        assert field["element"]["min_length"] == MIN_REASON
    [note] = [b for b in attest_modal(target, "On call")["blocks"] if b.get("block_id")]
    assert note["element"]["max_length"] == MAX_TEXT and "min_length" not in note["element"]


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    async with running_bot(path, tmp_path) as harness:
        yield harness


@pytest.mark.usefixtures("scripted_kinds")
async def test_the_gate_refuses_free_text_past_the_bound(bot: Harness) -> None:
    await bot.command("start checkout-api 2.14.0 staging")
    await bot.settle()
    run = await bot.bot.store.get_run(1)
    assert run is not None
    gate, long = bot.bot.gate, "x" * (MAX_TEXT + 1)
    said = f"is {MAX_TEXT + 1:,} characters long; at most {MAX_TEXT:,} are allowed"
    with pytest.raises(Refused, match=f"The reason {said}"):
        await gate.sign("U0SRE1", Target(1, run.generation, "sre"), Vote.REJECT, long)
    with pytest.raises(Refused, match=f"The justification {said}"):
        await gate.waive("U0SRE1", Target(1, run.generation, "latency"), long)
    with pytest.raises(Refused, match=f"The note {said}"):
        await gate.attest("U0SRE1", Target(1, run.generation, "oncall"), long)
    decision = await gate.waive("U0SRE1", Target(1, run.generation, "latency"), "x" * MAX_TEXT)
    assert not decision.outcome.final  # a justification at the bound is recorded


@pytest.mark.usefixtures("scripted_kinds")
async def test_an_overlong_service_gets_a_usage_reply_and_no_run(bot: Harness) -> None:
    ack = await bot.command(f"start {'s' * 150} 2.14.0 staging")
    assert ack == "the service is 150 characters long; at most 100 are allowed"
    usage = str(bot.standin.ephemerals("U0RM")[-1].blocks)
    assert "/preprod start &lt;service&gt;" in usage
    assert await bot.bot.store.list_runs() == []
