"""structlog configuration: readable console lines in development, JSON lines in production."""

from __future__ import annotations

import logging
import sys

import msgspec
import structlog

from entrypoints.settings import Settings
from entrypoints.tracing import log_processors

_encode = msgspec.json.Encoder(enc_hook=repr).encode


def _json_line(event: object, **_: object) -> str:
    """One JSON log line (msgspec: several times json.dumps' speed; what it cannot encode is
    written as its repr, as structlog's default does)."""
    return _encode(event).decode()


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level, logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        *log_processors(settings),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Cached loggers are faster but ignore later reconfiguration (tests capture logs).
        cache_logger_on_first_use=settings.is_production,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
