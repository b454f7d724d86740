"""Write a production-like access log of the target in the combined log format (nginx's
and Apache's default), the input of the ``load`` check's ``tasks_from``.

    python examples/target/access_log.py [OUT]   # default: examples/target/data/access.log

The traffic is synthetic with known proportions (``MIX``), deterministic (a fixed seed),
with the noise real logs have: ids that vary, query strings, other methods, error codes,
bots and a few unreadable lines."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

MIX: dict[tuple[str, str], int] = {
    ("GET", "/api/items"): 600,
    ("GET", "/api/items/{id}"): 250,
    ("GET", "/version"): 50,
    ("GET", "/healthz"): 60,
    ("POST", "/api/orders"): 40,
}
"""Requests per (method, path template) in the example log: 1,000 in all."""
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15",
    "checkout-web/4.2 (+https://shop.example.com)",
)


def lines(mix: Mapping[tuple[str, str], int], *, seed: int = 7, garbage: int = 0) -> Iterator[str]:
    """``mix`` requests in a shuffled order, ``{id}`` replaced by varying ids (numbers,
    UUIDs), then ``garbage`` unreadable lines mixed in."""
    rng = random.Random(seed)
    requests = [key for key, count in mix.items() for _ in range(count)]
    rng.shuffle(requests)
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    for n, (method, template) in enumerate(requests):
        ident = str(rng.randint(1, 20)) if n % 5 else f"{rng.getrandbits(128):032x}"
        path = template.replace("{id}", ident)
        if rng.random() < 0.1:
            path += f"?utm_source=mail&page={rng.randint(1, 9)}"
        status = 201 if method == "POST" else rng.choice((200, 200, 200, 200, 304, 404))
        when = (start + timedelta(milliseconds=250 * n)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        client = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        yield (
            f'{client} - - [{when}] "{method} {path} HTTP/1.1" {status} {rng.randint(90, 4000)} '
            f'"https://shop.example.com/" "{rng.choice(AGENTS)}"'
        )
        if garbage and n % max(1, len(requests) // garbage) == 0:
            yield f'{client} - - [{when}] "\\x16\\x03\\x01\\x02\\x00" 400 157 "-" "-"'


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "data" / "access.log"
    out.write_text("\n".join(lines(MIX, garbage=3)) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
