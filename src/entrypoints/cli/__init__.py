"""The ``wallet`` command (click): serve, migrate, worker, scheduler, expire, audit,
create-admin, demo and sign-webhook. Settings are loaded once per command and passed down.

Only click and the command modules are imported here; each command imports the application when
it runs, so ``wallet --help`` answers at once."""

from __future__ import annotations

from collections.abc import Sequence

import click

from entrypoints.cli import common
from entrypoints.cli.common import database_problem
from entrypoints.cli.demo import demo
from entrypoints.cli.operate import (
    audit,
    create_admin,
    expire,
    migrate,
    scheduler,
    sign_webhook,
    worker,
)
from entrypoints.cli.serve import metrics_directory, serve

__all__ = ["cli", "main", "metrics_directory"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="""Digital Wallet: the API server, its background workers and the operator's commands.

    Configuration is environment variables (and ./.env); `wallet COMMAND --help` names the ones
    each command reads, with their defaults. With nothing set, `wallet serve` runs the embedded
    default (SQLite in ./wallet.db, no Redis) and `wallet demo` seeds two funded users to try.
    Exit codes: 0 success, 1 failure (one line on stderr), 2 usage or configuration error.""",
)
def cli() -> None:
    pass


for command in (serve, migrate, worker, scheduler, expire, audit, create_admin, demo, sign_webhook):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``wallet`` exits with it). Without
    ``argv`` this is the ``wallet`` process itself (see common.skip_unused_integrations)."""
    common.OWN_PROCESS = argv is None
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="wallet"
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        problem = database_problem(exc)
        if problem is None:
            raise
        click.echo(f"error: {problem}", err=True)
        return 1
    return result if isinstance(result, int) else 0
