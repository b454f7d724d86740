"""slack_standin.mrkdwn: Slack's mrkdwn as safe HTML, a pure function."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from slack_standin.mrkdwn import Names, clock, render, render_plain

BERLIN = ZoneInfo("Europe/Berlin")
NAMES = Names(
    users={"U0RM": "rita", "U0SRE1": "sam"},
    channels={"C0RELEASES": "releases"},
    tz=BERLIN,
    now=datetime(2024, 6, 10, 12, 0, tzinfo=UTC),
    channel_href=lambda c: f"/?in={c}",
)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold* and _212ms_ and ~gone~", "<b>bold</b> and <i>212ms</i> and <s>gone</s>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("* not bold *", "* not bold *"),
        ("`a *b* <c>` ok", "<code>a *b* &lt;c&gt;</code> ok"),
        ("```\nline *1*\n&lt;x&gt;\n```", "<pre>line *1*\n&lt;x&gt;</pre>"),
        ("by <@U0RM>", 'by <span class="mention">@rita</span>'),
        (
            "<@U9|ghost> <@U8>",
            '<span class="mention">@ghost</span> <span class="mention">@U8</span>',
        ),
        ("in <#C0RELEASES>", 'in <a class="mention" href="/?in=C0RELEASES">#releases</a>'),
        (
            "<!here> <!subteam^S1|@sre>",
            '<span class="mention">@here</span> <span class="mention">@sre</span>',
        ),
        (
            "<http://127.0.0.1:3000/runs/1|Live report>",
            '<a href="http://127.0.0.1:3000/runs/1" target="_blank" '
            'rel="noopener noreferrer">Live report</a>',
        ),
        (
            "*<https://x.example/a?b=1&amp;c=2|report>*",
            '<b><a href="https://x.example/a?b=1&amp;c=2"'
            ' target="_blank" rel="noopener noreferrer">report</a></b>',
        ),
        ("/preprod start &lt;service&gt; &amp;", "/preprod start &lt;service&gt; &amp;"),
        ("&amp;lt;b&amp;gt;", "&amp;lt;b&amp;gt;"),
        (":white_check_mark: done :no_such_emoji:", "✅ done :no_such_emoji:"),
        ("&gt; quoted\nnot", "<blockquote>quoted</blockquote>\nnot"),
        ("a\nb", "a\nb"),
    ],
)
def test_render(text: str, html: str) -> None:
    assert render(text, NAMES) == html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<javascript:alert(1)|click me>",
        '<http://x.example/"onmouseover="alert(1)|x>',
        "&lt;img src=x onerror=alert(1)&gt;",
        "<@U1|<img src=x>>",
        "<!date^1718020800^{date}^javascript:alert(1)|x>",
        "\ue0000\ue001 <@U0RM>",
        "`<img src=x onerror=alert(1)>`",
    ],
)
def test_nothing_in_a_message_becomes_markup(text: str) -> None:
    html = render(text, NAMES)
    assert "<img" not in html and "<script" not in html and "javascript:" not in html.lower()
    assert 'onmouseover="' not in html


def test_dates_are_shown_in_the_viewers_zone() -> None:
    # 2024-06-10 14:00 UTC is 16:00 in Berlin
    text = (
        "<!date^1718028000^{date_short_pretty} {time}|fallback> / <!date^1718028000^{date_num}|f>"
    )
    html = render(text, NAMES)
    assert "today 16:00" in html and "2024-06-10" in html and "<time datetime=" in html
    long = render("<!date^1717941600^{date_long_pretty} ({ago})|x>", NAMES)
    assert "yesterday (" in long and "hours ago)" in long
    assert render("<!date^1717941600^{date_long}|x>", NAMES).count("Sunday, June 9th, 2024") == 1
    assert render("<!date^nonsense^{date}|the fallback>", NAMES) == "the fallback"
    link = render("<!date^1718028000^{time}^https://example.com/x|f>", NAMES)
    assert '<a href="https://example.com/x"' in link


def test_plain_text_and_clock() -> None:
    assert render_plain("Approve *SRE* <b> :rocket:") == "Approve *SRE* &lt;b&gt; 🚀"
    assert render_plain(":rocket:", emoji=False) == ":rocket:"
    assert clock("1718028000.000100", BERLIN) == ("16:00 CEST", "2024-06-10T16:00:00+02:00")
    assert clock("not-a-ts", BERLIN) == ("not-a-ts", "")
