"""The task stream is bounded: Redis keeps at most about STREAM_MAXLEN messages."""

from __future__ import annotations

from entrypoints.settings import load_settings
from entrypoints.worker.broker import STREAM_MAXLEN, make_broker


def test_the_stream_is_trimmed_to_a_bound() -> None:
    settings = load_settings({"ENV": "test", "REDIS_URL": "redis://127.0.0.1:6379/15"}, None)
    broker = make_broker(settings)
    assert broker.maxlen == STREAM_MAXLEN  # type: ignore[attr-defined]
    assert broker.approximate is True  # type: ignore[attr-defined]
    assert 10_000 <= STREAM_MAXLEN <= 1_000_000
