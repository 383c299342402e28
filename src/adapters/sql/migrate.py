"""Schema migrations (Alembic), callable from the CLI and tests without an alembic.ini."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Alembic is imported only when there is something to migrate
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["url"] = url
    return config


def _in_thread(fn: object, *args: object) -> None:
    # Alembic's env.py runs its own event loop; keep it off any loop that is already running.
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    _in_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    _in_thread(command.downgrade, alembic_config(url), revision)


# Already at head? -------------------------------------------------------------------------------
# Loading Alembic's environment imports every model and migration (about a second); a database
# that is already at the latest revision, the common case for `wallet migrate` in a deploy and for
# every `wallet serve` on SQLite, is recognised without it: the revision ids are read from the
# scripts as text and compared with the database's alembic_version. Anything unusual (a merge, a
# form this does not read, a missing table or file) goes the full way through Alembic.

_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*[\"']([^\"']+)[\"']\s*$", re.MULTILINE)
_DOWN = re.compile(
    r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.MULTILINE
)


def script_heads() -> set[str] | None:
    """The head revision ids of the migration scripts, or None when they cannot be read as text."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision[1])
        if down[1]:
            parents.add(down[1])
    return revisions - parents or None


def database_revisions(url: str) -> set[str] | None:
    """The database's alembic_version rows, or None when it has none (or is not a plain file or
    server URL). An unreachable server raises, as the migration itself would."""
    scheme, sep, rest = url.partition("://")
    backend = scheme.split("+")[0]
    if not sep:
        return None
    if backend == "sqlite":
        path = Path(rest.removeprefix("/"))
        if "?" in rest or not rest.startswith("/") or not path.name or not path.is_file():
            return None
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            try:
                return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
            except sqlite3.OperationalError:
                return None
    if backend in ("postgresql", "postgres"):
        return asyncio.run(_postgres_revisions(f"postgresql://{rest}"))
    return None


async def _postgres_revisions(dsn: str) -> set[str] | None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    return {row[0] for row in rows}


def upgrade_if_needed(url: str) -> bool:
    """Migrate to head unless the database is there already; True when it migrated."""
    heads = script_heads()
    if heads is not None and database_revisions(url) == heads:
        return False
    upgrade(url)
    return True
