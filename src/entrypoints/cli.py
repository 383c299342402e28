"""The ``wallet`` command: serve, migrate, worker, scheduler, expire, create-admin, audit,
sign-webhook. Settings are loaded once, here, and passed down."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from entrypoints.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
#: prometheus_client's switch (``entrypoints.metrics`` is not imported here: see cmd_serve).
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_KILL_TIMEOUT_SECONDS = 30


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


def _with_container(settings: Settings, job: Callable[[Any], Awaitable[T]]) -> T:
    from entrypoints.bootstrap import build
    from entrypoints.logging import configure_logging

    configure_logging(settings)

    async def main() -> T:
        container = build(settings)
        try:
            return await job(container)
        finally:
            await container.close()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from adapters.sql.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest revision")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    if settings.uses_sqlite:
        from adapters.sql.migrate import upgrade

        upgrade(settings.database_url)
    mode = "embedded (SQLite/in-process jobs)" if settings.embedded else "with Redis"
    print(f"serving on http://{args.host}:{args.port} ({mode}, {args.workers} worker(s))")
    with metrics_directory():
        Granian(
            target="entrypoints.http.asgi:create",
            factory=True,
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            # A worker that dies (OOM, SIGKILL) is replaced at once while the others keep
            # serving; granian gives up only on a crash loop (the same worker dying again
            # within 5.5 s of its respawn, e.g. when it cannot start at all).
            respawn_failed_workers=True,
            # On shutdown, a worker still busy after this long (or one that was still starting,
            # and so missed the signal) is killed rather than kept as an orphan.
            workers_kill_timeout=WORKERS_KILL_TIMEOUT_SECONDS,
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, round(settings.http_header_timeout_seconds * 1000))
            ),
            log_access=False,
            backlog=2048,
        ).serve()
    return 0


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A fresh prometheus_client multiprocess directory for this server's workers, removed when
    the server stops. It must be in the environment before the workers fork and before anything
    in this process imports prometheus_client (which picks its mode at import)."""
    if "prometheus_client" in sys.modules:  # the forked workers would count on their own
        raise RuntimeError("prometheus_client was imported before the metrics directory was set")
    directory = Path(tempfile.mkdtemp(prefix="wallet-metrics-"))
    previous = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = previous
        shutil.rmtree(directory, ignore_errors=True)


def cmd_expire(settings: Settings, _: argparse.Namespace) -> int:
    async def job(container: Any) -> int:
        return int(await container.core.expiry.expire_due())

    count = _with_container(settings, job)
    print(f"expired {count} transaction(s)")
    return 0


def cmd_audit(settings: Settings, _: argparse.Namespace) -> int:
    async def job(container: Any) -> Any:
        return await container.core.audit.run()

    report = _with_container(settings, job)
    print(f"accounts checked: {report.accounts}")
    for currency, total in sorted(report.balances.items()):
        print(f"wallet balances {currency}: {total} minor units")
    if report.ok:
        print("audit clean: every account matches its entries; all invariants hold")
        return 0
    print(f"AUDIT FAILED: {len(report.problems)} problem(s)")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from wallet_core.errors import DomainError
    from wallet_core.services.auth import Registration

    password = args.password or getpass.getpass("Password for the new staff user: ")

    async def job(container: Any) -> Any:
        return await container.core.auth.register(
            Registration(
                email=args.email,
                username=args.username,
                password=password,
                phone_number=args.phone,
                is_staff=True,
            )
        )

    try:
        user, _ = _with_container(settings, job)
    except DomainError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    print(f"created staff user {user.username} ({user.id})")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.worker.run import run_worker

    return run_worker(settings, concurrency=args.concurrency)


def cmd_scheduler(settings: Settings, _: argparse.Namespace) -> int:
    from entrypoints.worker.run import run_scheduler

    return run_scheduler(settings)


def cmd_sign_webhook(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.http.webhooks.signatures import sign

    body = Path(args.body_file).read_bytes() if args.body_file else args.body.encode()
    secrets = (
        settings.paysend_webhook_secrets
        if args.source == "paysend"
        else (settings.atm_webhook_secrets)
    )
    secret = args.secret or (secrets[0] if secrets else None)
    if not secret:
        print(
            "error: no secret: pass --secret or set the source's *_WEBHOOK_SECRETS", file=sys.stderr
        )
        return 1
    headers = sign(body, secret, int(time.time()))
    if args.json:
        print(json.dumps(headers))
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="wallet", description="Digital Wallet: API server, workers and operator commands."
    )
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API (migrates an embedded SQLite database)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations (idempotent)").set_defaults(
        handler=cmd_migrate
    )
    worker = sub.add_parser("worker", help="run the taskiq worker (needs REDIS_URL)")
    worker.add_argument("--concurrency", type=int, default=10, help="tasks run at once")
    worker.set_defaults(handler=cmd_worker)
    sub.add_parser("scheduler", help="run the single job scheduler (needs REDIS_URL)").set_defaults(
        handler=cmd_scheduler
    )
    sub.add_parser("expire", help="run the expiry job once").set_defaults(handler=cmd_expire)
    sub.add_parser(
        "audit", help="recompute every account from entries; exit 1 on a difference"
    ).set_defaults(handler=cmd_audit)

    admin = sub.add_parser("create-admin", help="create a staff user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--username", required=True)
    admin.add_argument("--phone", required=True)
    admin.add_argument("--password", help="prompted for when not given")
    admin.set_defaults(handler=cmd_create_admin)

    signer = sub.add_parser("sign-webhook", help="print signature headers for a webhook body")
    signer.add_argument("--source", choices=("paysend", "atm"), default="paysend")
    signer.add_argument("--secret", help="default: the first configured secret of the source")
    group = signer.add_mutually_exclusive_group(required=True)
    group.add_argument("--body", help="the exact JSON body to send")
    group.add_argument("--body-file", help="a file holding the exact body")
    signer.add_argument("--json", action="store_true", help="print the headers as JSON")
    signer.set_defaults(handler=cmd_sign_webhook)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    return handler(settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
