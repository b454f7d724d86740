"""User text and the bot's own markup kept apart: user text is escaped exactly once, the
bot's links and mentions never, and the block builders refuse plain text at type-check
time."""

from __future__ import annotations

import uuid
from pathlib import Path

from mypy import api as mypy_api

from bot.slack.blocks import notice
from bot.slack.render_run import section
from bot.slack.text import Mrkdwn, channel_link, escape, join, mention, templates

EVIL = "<!channel> <@U0EVIL> & <https://evil.example|click>"
ESCAPED = "&lt;!channel&gt; &lt;@U0EVIL&gt; &amp; &lt;https://evil.example|click&gt;"


def test_escape_once_and_never_the_bots_own_markup() -> None:
    assert escape(EVIL) == ESCAPED
    assert escape(escape(EVIL)) == ESCAPED
    assert escape(channel_link("C0RELEASES")) == "<#C0RELEASES>"
    assert channel_link("<!here>") == "&lt;!here&gt;"
    assert escape(mention("U0RM")) == "<@U0RM>"
    assert join(", ", [channel_link("C1A"), "<#C2B>"]) == "<#C1A>, &lt;#C2B&gt;"


def test_notice_escapes_user_text_and_keeps_bot_markup() -> None:
    bot_text = Mrkdwn(f"Runs can only be started in {channel_link('C0RELEASES')}.")
    kept = notice(bot_text)
    assert kept.text == "Runs can only be started in <#C0RELEASES>."
    assert kept.blocks[0]["text"]["text"] == kept.text
    user = notice(f"no run {EVIL}")
    assert user.text == f"no run {ESCAPED}" and user.blocks[0]["text"]["text"] == user.text


def test_templates_escape_every_value_unless_it_is_markup() -> None:
    env = templates()
    plain = env.from_string("{{ value }} {{ value|esc }} {{ value|one_line }}")
    assert plain.render(value=EVIL) == f"{ESCAPED} {ESCAPED} {ESCAPED}"
    markup = env.from_string("{{ who|mention }} {{ link(url, label) }} {{ line }}")
    rendered = markup.render(who="U0RM", url="https://x.example", label=EVIL, line=Mrkdwn("*b*"))
    assert rendered == f"<@U0RM> <https://x.example|{ESCAPED}> *b*"


def test_block_builders_take_only_markup(tmp_path: Path) -> None:
    assert section(escape(EVIL))["text"]["text"] == ESCAPED
    # A module name of its own: mypy's cache would answer for another run's "mixup"
    # (with that run's path) and the errors would not be found.
    snippet = tmp_path / f"mixup_{uuid.uuid4().hex}.py"
    snippet.write_text(
        "from bot.slack.render_run import context, section\n"
        "from bot.slack.text import escape\n"
        "def user_value() -> str:\n"
        "    return '<!channel>'\n"
        "section(user_value())\n"
        "context(escape(user_value()), user_value())\n"
        "section(escape(user_value()))\n"
    )
    out, _err, status = mypy_api.run([str(snippet)])  # the project's settings: strict
    assert status == 1, out
    errors = [line for line in out.splitlines() if line.startswith(f"{snippet}:")]
    assert [line.split(":")[1] for line in errors] == ["5", "6"], out
    assert all('expected "Mrkdwn"' in line for line in errors), out
