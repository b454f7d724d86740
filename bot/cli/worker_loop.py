"""The loop of ``preprod worker``: build the bot, execute runs until told to stop (or
until ``serve``, its parent, is gone), then hand the runs over. Apart from
bot/cli/worker.py so that the command's ``--help`` loads none of it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from bot.settings import Settings

log = logging.getLogger("bot.cli.worker")  # its lines keep the command's name


def execute_runs(settings: Settings, parent: int | None) -> None:
    asyncio.run(_work(settings, parent))


async def _work(settings: Settings, parent: int | None) -> None:
    from bot.web.bot import build_bot  # Slack libraries load only for the bot

    bot = build_bot(settings, executes=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Measured before the first claim: a worker whose clock is beyond the bound says so
    # and claims nothing (bot/slack/runs.py: RunManager.check_clock).
    try:
        clock = (await bot.manager.check_clock()).describe()
    except Exception as exc:  # the database is down: measured again before any claim
        clock = f"clock not measured yet ({type(exc).__name__})"
    bot.start(schedule=False)  # the replicas serving Slack run the reminder jobs
    log.info(
        "worker %s %s (polling every %ss); %s",
        os.getpid(),
        "claims no runs: its clock is skewed" if bot.manager.skewed else "executes runs",
        settings.poll_interval,
        clock,
    )
    watch = asyncio.create_task(_orphaned(parent, stop)) if parent else None
    try:
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        await bot.aclose()  # runs are handed over, their leases released
        log.info("worker %s stopped", os.getpid())


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """A child of ``serve --workers`` ends with its parent, even one killed outright."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    log.warning("worker %s: serve (pid %s) is gone; stopping", os.getpid(), parent)
    stop.set()
