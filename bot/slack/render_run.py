"""The run's thread as Block Kit: parent post, live progress, failure replies, results.

Pure functions of state. Each plans for Slack's limits itself (long lists are
summarised, problems first, with a link to the report) and passes through
:func:`bot.slack.limits.fit` as a safety net.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.record.report import RunReport, Verdict
from bot.reports.figures import brief as brief_figures
from bot.slack.limits import MAX_SECTION_TEXT, Block, Message, fit, fit_text, see_report
from bot.slack.render_source import source_line
from bot.slack.state import PENDING, RUNNING, CheckRow, RowState, RunState
from bot.slack.text import (
    ELLIPSIS,
    FENCE,
    Mrkdwn,
    code_safe,
    escape,
    join,
    link,
    one_line,
    render,
    truncate,
)
from checks.base import Status
from checks.units import format_duration

EMOJI: dict[RowState, str] = {
    PENDING: "⏳",
    RUNNING: "🔄",
    Status.PASSED: "✅",
    Status.WARNED: "⚠️",
    Status.FAILED: "❌",
    Status.ERROR: "🛑",
    Status.SKIPPED: "⏭️",
    Status.INTERRUPTED: "⏸️",
}
COUNT_ORDER: tuple[RowState, ...] = (
    Status.PASSED,
    Status.WARNED,
    Status.FAILED,
    Status.ERROR,
    Status.INTERRUPTED,
    Status.SKIPPED,
    RUNNING,
    PENDING,
)
SUMMARY_ORDER: tuple[RowState, ...] = (
    Status.FAILED,
    Status.ERROR,
    Status.INTERRUPTED,
    RUNNING,
    Status.WARNED,
)
"""When a long list is summarised, the rows still listed, most urgent first; the rest
(pending, passed, skipped) are only counted."""
BAR_WIDTH = 10
MAX_ROWS = 40
"""Rows listed in the progress message before it summarises (a thread, not a report)."""
MAX_DETAIL = 240
"""A row's summary or live line, in characters, before it is cut."""
LISTED_PROBLEMS = 15
"""Problem rows named in the results message before it says 'and N more'."""


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``▓▓▓▓░░░░░░ 4/10``: filled by completed checks, never full before the last one."""
    filled = width if total and done >= total else (done * width // total if total else 0)
    return f"{'▓' * filled}{'░' * (width - filled)} {done}/{total}"


def title(state: RunState | RunReport) -> Mrkdwn:
    return Mrkdwn(
        f"*{escape(state.service)} {escape(state.version)}* on *{escape(state.environment)}*"
    )


def row_line(row: CheckRow, run_active: bool = True) -> Mrkdwn:
    """One check on one line: emoji, id, kind, what it says now, how long it took."""
    kind = escape(row.check_type) + ("" if row.critical else ", non-critical")
    if row.state == RUNNING:
        detail = row.progress or _figures(row.figures)
    elif row.state == PENDING:
        detail = "" if run_active else "not run"
    else:
        detail = row.summary
    text = f"{EMOJI[row.state]} *{escape(row.check_id)}* ({kind})"
    if detail:
        text += f": {truncate(escape(one_line(detail)), MAX_DETAIL)}"
    if row.is_final and row.duration_s:
        text += f" _{escape(format_duration(row.duration_s))}_"
    return Mrkdwn(text)


def counts_line(counts: dict[str, int]) -> Mrkdwn:
    """``✅ 7 passed · ❌ 1 failed``: states with no checks left out."""
    parts = [f"{EMOJI[state]} {counts[str(state)]} {state}" for state in COUNT_ORDER]
    return join(
        " · ", (part for part, state in zip(parts, COUNT_ORDER, strict=True) if counts[str(state)])
    )


def pack(lines: Iterable[Mrkdwn], limit: int = MAX_SECTION_TEXT) -> list[Mrkdwn]:
    """Lines joined into as few section texts of at most ``limit`` characters as possible."""
    chunks: list[Mrkdwn] = []
    for line in lines:
        line = truncate(line, limit)
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] = Mrkdwn(f"{chunks[-1]}\n{line}")
        else:
            chunks.append(line)
    return chunks


def section(text: Mrkdwn, **extra: Any) -> Block:
    """A mrkdwn section: ``text`` must be :class:`Mrkdwn` (user text goes through escape)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def context(*texts: Mrkdwn) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts]}


def parent_message(state: RunState) -> Message:
    """The channel post that opens the run's thread."""
    text = render(
        "parent.md.j2",
        service=state.service,
        version=state.version,
        environment=state.environment,
        requester=state.requester,
        plan=state.plan,
        run_id=state.run_id,
        base_url=state.base_url,
        report_url=state.report_url,
        source=source_line(state.origin, state.commit),
        keep_going=state.keep_going,
    )
    fallback = f"Pre-production validation: {escape(state.service)} {escape(state.version)}"
    fallback += f" on {escape(state.environment)}"
    return Message(fit_text(Mrkdwn(fallback)), fit([section(text)], state.report_url))


def progress_message(state: RunState, max_rows: int = MAX_ROWS) -> Message:
    """The live progress message (updated in place): bar, counts and each check's state.

    More than ``max_rows`` checks are summarised: problems and running checks first, the
    rest counted, and the report linked.
    """
    active = state.status == "running"
    phase = {"running": "running", "finished": "finished", "cancelled": "🚫 cancelled"}
    status = phase.get(state.status, "⚠️ stopped by an internal error")
    if state.finished_at is not None and state.status == "finished":
        status += f" in {format_duration((state.finished_at - state.started_at).total_seconds())}"
    bar = progress_bar(state.done, state.total)
    head = Mrkdwn(f"{title(state)} · run `#{state.run_id}`\n`{bar}` {status}")
    blocks = [section(head)]
    if counts := counts_line(state.counts):
        blocks.append(context(counts))
    rows = list(state.selected)
    shown, left_out = _select_rows(rows, max_rows)
    blocks += [section(chunk) for chunk in pack(row_line(row, active) for row in shown)]
    footer: list[Mrkdwn] = []
    if left_out:
        more = f"{len(left_out)} more: {_brief_counts(left_out)}"
        where = "" if state.report_url else ";" + see_report(None)
        footer.append(
            Mrkdwn(
                f"Summarised: {len(shown)} of {len(rows)} checks shown, "
                f"problems first ({more}){where}."
            )
        )
    if skipped := [row.check_id for row in state.rows if not row.selected]:
        footer.append(truncate(Mrkdwn(f"⏭️ Not selected: {join(', ', skipped)}"), 1000))
    if state.report_url:
        footer.append(link(state.report_url, "Full report"))
    if footer:
        blocks.append(context(*footer))
    fallback = f"{escape(state.service)} {escape(state.version)} on {escape(state.environment)}:"
    fallback += f" {state.done}/{state.total} checks done"
    if state.failures:
        fallback += f", {len(state.failures)} failed"
    return Message(fit_text(Mrkdwn(fallback)), fit(blocks, state.report_url))


def failure_reply(row: CheckRow, evidence: str, report_url: str | None = None) -> Message:
    """A thread reply for one failed or errored check: summary, then evidence in a code
    block cut to one section, with a pointer to the report for the rest."""
    impact = "blocks the release" if row.blocking else "does not block the release"
    state = row.state.value if isinstance(row.state, Status) else row.state
    head = (
        f"{EMOJI[row.state]} *{escape(row.check_id)}* ({escape(row.check_type)}) {state}: {impact}"
    )
    blocks = [section(truncate(Mrkdwn(f"{head}\n{escape(row.summary)}"), MAX_SECTION_TEXT))]
    if evidence.strip():
        note = f"\n{ELLIPSIS} truncated, full evidence in the{_report_ref(report_url)}"
        body = code_safe(evidence.strip("\n"))
        room = MAX_SECTION_TEXT - 2 * (len(FENCE) + 1) - len(note)
        cut = len(body) > room
        if cut:
            body = Mrkdwn(truncate(body, room).removesuffix(ELLIPSIS))
        blocks.append(section(Mrkdwn(f"{FENCE}\n{body}\n{FENCE}" + (note if cut else ""))))
    if row.duration_s:
        blocks.append(context(Mrkdwn(f"took {escape(format_duration(row.duration_s))}")))
    fallback = Mrkdwn(f"{escape(row.check_id)} {state}: {escape(one_line(row.summary))}")
    return Message(fit_text(fallback, report_url), fit(blocks, report_url))


def results_message(
    report: RunReport, report_url: str | None = None, actions: list[Block] | None = None
) -> Message:
    """The automated phase's outcome: verdict, blocking failures, counts, other problems,
    the report link. ``actions`` (the sign-off buttons) go last, in one actions block."""
    state = RunState.from_report(report, report_url)
    blocking = state.blocking_failures
    verdict = render(
        "results.md.j2",
        verdict=report.verdict.value,
        blocking=[row.check_id for row in blocking],
        status=report.status,
        service=report.service,
        version=report.version,
        environment=report.environment,
    )
    blocks = [section(verdict)]
    blocks += _listed(Mrkdwn("*Blocking failures*"), blocking, report_url)
    others = [row for row in state.failures if not row.blocking]
    blocks += _listed(Mrkdwn("*Non-blocking failures*"), others, report_url)
    warned = [row for row in state.rows if row.state == Status.WARNED]
    blocks += _listed(Mrkdwn("*Warnings*"), warned, report_url)
    # checks a failed stage left unrun ("stage smoke failed: health"), not --only's
    stopped = [row for row in state.rows if row.state == Status.SKIPPED and row.selected]
    blocks += _listed(Mrkdwn("*Not run*"), stopped, report_url)
    facts = [
        counts_line(state.counts) or Mrkdwn("no checks ran"),
        Mrkdwn(f"run `#{report.run_id}`"),
    ]
    if report.finished_at is not None:
        facts.append(escape(f"took {format_duration(report.duration_s)}"))
    blocks.append(context(join(" · ", facts)))
    if report_url:
        blocks.append(context(link(report_url, "Full report")))
    if actions:
        blocks.append({"type": "actions", "block_id": "preprod_signoff", "elements": actions})
    words = {Verdict.PASS: "all blocking checks passed", Verdict.FAIL: "blocking failures"}
    outcome = words.get(report.verdict, "incomplete")
    fallback = Mrkdwn(f"Results for {escape(report.service)} {escape(report.version)}: {outcome}")
    return Message(fit_text(fallback), fit(blocks, report_url))


def _listed(heading: Mrkdwn, rows: Sequence[CheckRow], report_url: str | None) -> list[Block]:
    if not rows:
        return []
    lines = [heading, *(row_line(row, False) for row in rows[:LISTED_PROBLEMS])]
    if len(rows) > LISTED_PROBLEMS:
        more = len(rows) - LISTED_PROBLEMS
        lines.append(Mrkdwn(f"{ELLIPSIS} and {more} more;{see_report(report_url)}"))
    return [section(chunk) for chunk in pack(lines)]


def _select_rows(rows: list[CheckRow], max_rows: int) -> tuple[list[CheckRow], list[CheckRow]]:
    """All rows in plan order when they fit; else at most ``max_rows`` urgent ones."""
    if len(rows) <= max_rows:
        return rows, []
    urgent = [row for row in rows if row.state in SUMMARY_ORDER]
    shown = sorted(urgent, key=lambda row: SUMMARY_ORDER.index(row.state))[:max_rows]
    listed = {id(row) for row in shown}
    return shown, [row for row in rows if id(row) not in listed]


def _brief_counts(rows: Sequence[CheckRow]) -> str:
    counts = {str(state): 0 for state in COUNT_ORDER}
    for row in rows:
        counts[str(row.state)] += 1
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n)


def _figures(figures: Mapping[str, float]) -> str:
    return brief_figures(figures, limit=6)


def _report_ref(report_url: str | None) -> Mrkdwn:
    return Mrkdwn(f" {link(report_url, 'report')}" if report_url else " report")


def stage_line(
    stage: str,
    passed: Sequence[str],
    next_stage: str,
    next_checks: Sequence[str],
    expected_s: float | None,
) -> Message:
    """The "early confidence" reply when a stage passes: what passed, what comes next, and
    how long the rest should take from the same checks' past durations."""
    took = (
        f"about {format_duration(expected_s)} from past runs"
        if expected_s is not None
        else "no history yet"
    )
    text = Mrkdwn(
        f"✅ Stage *{escape(stage)}* passed ({join(', ', map(escape, passed))}). "
        f"Next: *{escape(next_stage)}* ({join(', ', map(escape, next_checks))}), "
        f"{escape(took)}."
    )
    return Message(fit_text(text), fit([section(truncate(text, MAX_SECTION_TEXT))]))
