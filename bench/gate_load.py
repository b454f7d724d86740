"""What one load of a run's gate costs (``Gate.load``: after every click, at every sweep,
for every pipeline polling the API): the process CPU and wall time a load, and the
database connections and statements it takes, over N loads in one process of a run of
two checks, on SQLite or a throw-away PostgreSQL.

    .venv/bin/python bench/gate_load.py [--loads 300] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.store.runs import RunStore  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402
from tests.test_flaky import failed_run  # noqa: E402
from tests.test_gate_reads import counting, gate_for  # noqa: E402


async def measure(url: str, folder: Path, loads: int) -> None:
    store = RunStore(url)
    gate = gate_for(store, folder)
    run_id = await failed_run(store)
    for _ in range(30):  # warm: imports, the pool, compiled statements
        await gate.load(run_id)
    with counting(store) as counted:
        await gate.load(run_id)
    print(f"{store.engine.dialect.name}: a load takes {counted.checkouts} connection(s), "
          f"{len(counted.statements)} statement(s)")  # fmt: skip
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(loads):
            await gate.load(run_id)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"  {loads} loads: {wall / loads * 1000:.2f} ms wall, "
              f"{cpu / loads * 1000:.2f} ms CPU a load")  # fmt: skip
    store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=300)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = (
            stack.enter_context(running_postgres())
            if args.database == "postgres"
            else f"sqlite:///{folder}/gate.db"
        )
        asyncio.run(measure(url, folder, args.loads))


if __name__ == "__main__":
    main()
