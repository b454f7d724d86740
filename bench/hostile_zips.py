"""Does ``preprod evidence verify`` answer every hostile file quickly, in little memory?

Builds each case of tests/support/hostile_zips.py (zip bombs such as 32 members of 64 MiB
of zeros in 2 MB, sizes that lie, a bad CRC, names with ``../``, manifests that are not
JSON or hold a string where an object belongs, missing, extra and nested members, a
tampered pack; and a genuine pack with a 60 MiB report, which must verify: exit 0, and
252 MiB of files within every bound, near the most verify reads: exit 1) and
runs the real CLI (``python -m bot.cli evidence verify``) on each, one
child at a time. Prints each case's exit code, peak RSS (the child's own, from ``wait4``),
CPU and wall time, and the line it printed; then whether every case stayed within 200 MB
and 5 s of CPU, exited as expected, printed one line (a tampered pack: and a line per
problem) and no traceback.

    .venv/bin/python bench/hostile_zips.py [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hostile_zips import (  # noqa: E402
    CASES,
    Case,
    at_every_bound,
    big_genuine,
    verify_in_child,
)

MAX_RSS_MIB, MAX_CPU_S = 200, 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    every = [
        *CASES,
        Case("genuine, report.html of 60 MiB", big_genuine, 0),
        Case("4 x 63 MiB, within every bound", at_every_bound, 1, lines=22),
    ]
    cases = [case for case in every if args.only in case.name]
    columns = ("zip bytes", "exit", "RSS MiB", "CPU s", "wall s")
    print(f"{'case':<32} " + " ".join(f"{c:>{max(len(c), 6)}}" for c in columns) + "  line")
    failures = 0
    with tempfile.TemporaryDirectory() as directory:
        for case in cases:
            path = Path(directory) / "case.zip"
            data = case.build()
            path.write_bytes(data)
            outcome = verify_in_child(path)
            lines = outcome.output.splitlines()
            held = (
                outcome.exit_code == case.exit_code
                and 1 <= len(lines) <= case.lines
                and "Traceback" not in outcome.output
                and outcome.peak_rss_mib < MAX_RSS_MIB
                and outcome.cpu_s < MAX_CPU_S
            )
            failures += not held
            line = lines[0].replace(str(path), "PACK") if lines else "(nothing)"
            print(
                f"{case.name[:32]:<32} {len(data):>9} {outcome.exit_code:>6} "
                f"{outcome.peak_rss_mib:>7.1f} {outcome.cpu_s:>6.2f} {outcome.wall_s:>6.2f}  "
                f"{'' if held else 'FAILS: '}{line[:150]}"
            )
    print(
        f"{len(cases) - failures} of {len(cases)} cases answered as expected within "
        f"{MAX_RSS_MIB} MB and {MAX_CPU_S:.0f} s of CPU, in one line (a tampered pack: "
        "and its problems), no traceback"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
