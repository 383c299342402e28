"""``wallet serve``: the API server (granian), with its own metrics directory for its workers."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from entrypoints.cli.common import Failure, describe, load

if TYPE_CHECKING:
    from entrypoints.settings import Settings

#: prometheus_client's switch (``entrypoints.metrics`` is not imported here: see serve).
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_KILL_TIMEOUT_SECONDS = 30

HELP = describe(
    """Serve the HTTP API on --host:--port with --workers processes (granian). A SQLite
    database is migrated first; with no REDIS_URL the expiry job and the notification queue run
    inside the server too (the embedded default: nothing else to start). A worker process that
    dies is replaced at once while the others keep answering. In development the webhook
    secrets in use are printed at start. A port already in use is a one-line error, exit code 1.
    Docs: /api/schema/swagger and /api/schema/redoc; probes: /health/live and /health/ready.""",
    "ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PAYSEND_WEBHOOK_SECRETS",
    "ATM_WEBHOOK_SECRETS",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


@click.command(help=HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes (each imports the app and answers requests).",
)
def serve(host: str, port: int, workers: int) -> int:
    settings = load()
    check_port(host, port)
    if settings.uses_sqlite:
        from adapters.sql.migrate import upgrade_if_needed

        upgrade_if_needed(settings.database_url)
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    mode = "embedded (SQLite/in-process jobs)" if settings.embedded else "with Redis"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving on http://{shown}:{port} ({mode}, {workers} worker(s))")
    _announce_development_secrets(settings)
    with metrics_directory():
        Granian(
            target="entrypoints.http.asgi:create",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
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


def check_port(host: str, port: int) -> None:
    """Fail with one line, before any worker starts, when the address cannot be listened on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise Failure(f"cannot listen on {host!r}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Failure(
                    f"port {port} on {host} is already in use (another server?); "
                    "stop it or choose another with --port"
                ) from None
            raise Failure(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _announce_development_secrets(settings: Settings) -> None:
    if not settings.development_secrets:
        return
    from entrypoints.dev_secrets import DEV_SECRETS_FILE

    click.echo(f"development secrets (from ./{DEV_SECRETS_FILE}, never used in production):")
    shown = {
        "PAYSEND_WEBHOOK_SECRETS": settings.paysend_webhook_secrets,
        "ATM_WEBHOOK_SECRETS": settings.atm_webhook_secrets,
    }
    for name, values in shown.items():
        if name in settings.development_secrets:
            click.echo(f"  {name}={','.join(values)}")
    if "SECRET_KEY" in settings.development_secrets:
        click.echo("  SECRET_KEY=<kept in that file; tokens survive a restart>")
    click.echo("  sign a webhook body for curl with: uv run wallet sign-webhook --body '<json>'")


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
