"""Run the real ``preprod config validate --config FILE`` in a child process and report
what it cost: exit code, seconds spent validating (wall and CPU) and the child's peak RSS.

    python tests/fuzz/measure.py FILE...

imports the CLI once, then forks one child per FILE: each child calls the ``preprod``
entry point (``bot.cli.main.main``) exactly as the console script does, with its output
in FILE's own ``.out``/``.err`` files next to a ``.cost.json`` (all in $MEASURE_DIR). The
seconds count from the fork (the imports, the check kinds' modules included, are done
once before the first fork: they depend on the machine, not on the file); the peak
RSS is the child's ``ru_maxrss`` from ``wait4``, the imports included. A hard
address-space limit in each child makes a loader that explodes fail fast with a
MemoryError traceback instead of taking the machine down with it."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

ADDRESS_SPACE = 3 << 30


def measure(config: str, out: Path) -> dict[str, float | int]:
    from bot.cli.main import main as preprod

    stdout, stderr = out.with_suffix(".out"), out.with_suffix(".err")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: the real CLI, output to files
        code = 1
        try:
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
            for fd, path in ((1, stdout), (2, stderr)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            started = time.perf_counter()
            try:
                code = preprod(["config", "validate", "--config", config])
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            out.with_suffix(".seconds").write_text(str(time.perf_counter() - started))
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    seconds_file = out.with_suffix(".seconds")
    return {
        "code": os.waitstatus_to_exitcode(status),
        "seconds": float(seconds_file.read_text()) if seconds_file.exists() else -1.0,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss": usage.ru_maxrss * 1024,  # KiB on Linux
    }


def main() -> int:
    directory = Path(os.environ.get("MEASURE_DIR", "."))
    import bot.cli.main  # noqa: F401  the imports, once, before any fork
    import bot.config.loader  # noqa: F401  (the CLI loads it only when a command runs)
    from checks.registry import check_types

    check_types()  # the check kinds' modules (httpx, locust...) too
    for index, config in enumerate(sys.argv[1:]):
        out = directory / f"{index}.case"
        cost = measure(config, out)
        out.with_suffix(".cost.json").write_text(json.dumps({"config": config, **cost}))
        print(json.dumps({"config": config, **cost}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
