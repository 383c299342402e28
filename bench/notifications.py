"""How many notifications per second one worker sends to a local SMTP server.

    uv run python bench/notifications.py [--emails 2000] [--concurrency 10]

Seeds its own database with ``--emails`` committed deposit events, then starts ONE
``wallet worker`` process (outbox relay + taskiq on Redis) and times the emails as they arrive
at an aiosmtpd server in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mailbox import Mailbox, running

from adapters.sql.migrate import upgrade
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from run import REDIS, admin, database
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor


async def seed(url: str, emails: int) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": url,
            "ENV": "test",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8",
        },
        env_file=None,
    )
    container = build(settings)
    core = container.core
    staff, _ = await core.auth.register(
        Registration("ops@n.test", "ops", "bench passphrase 1", "+19979999999", is_staff=True)
    )
    wallets = []
    for i in range(50):
        _, wallet = await core.auth.register(
            Registration(f"n{i}@n.test", f"notify{i}", "bench passphrase 1", f"+1998{i:07d}")
        )
        wallets.append(wallet)
    for start in range(0, emails, 100):
        await asyncio.gather(
            *(
                core.deposits.manual(
                    Actor(staff.id, True), amount="1.00", wallet_id=wallets[i % 50].id
                )
                for i in range(start, min(start + 100, emails))
            )
        )
    await container.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    name = f"wallet_mail_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = database(name)
    try:
        upgrade(url)
        asyncio.run(seed(url, args.emails))
        mailbox = Mailbox()
        with running(mailbox) as port:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "REDIS_URL": REDIS,
                "EMAIL_BACKEND": "smtp",
                "SMTP_PORT": str(port),
                "OUTBOX_POLL_SECONDS": "0.2",
                "LOG_LEVEL": "warning",
            }
            started = time.perf_counter()
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "entrypoints.cli",
                    "worker",
                    "--concurrency",
                    str(args.concurrency),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                first = None
                while len(mailbox.messages) < args.emails:
                    if first is None and mailbox.messages:
                        first = time.perf_counter()
                    if time.perf_counter() - started > 600:
                        raise RuntimeError(f"only {len(mailbox.messages)} emails arrived")
                    time.sleep(0.05)
                done = time.perf_counter()
            finally:
                worker.terminate()
                worker.wait(timeout=30)
        assert first is not None
        unique = len({m["Message-ID"] for m in mailbox.messages})
        print(f"{args.emails} emails, one worker (concurrency {args.concurrency}):")
        print(
            f"  from worker start: {args.emails / (done - started):.0f} emails/s ({done - started:.1f} s)"
        )
        print(f"  steady state (first to last email): {args.emails / (done - first):.0f} emails/s")
        print(
            f"  distinct Message-IDs received: {unique} (duplicates: {len(mailbox.messages) - unique})"
        )
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
