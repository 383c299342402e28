"""OpenTelemetry tracing against a real OTLP/HTTP receiver in the test process.

A real ``wallet serve`` process exports one trace per request: the HTTP server span, named after
the route and carrying the request id, with the request's SQL and Redis calls under it; the
request's log line carries the trace id. A worker traces a task from where it is sent to where it
runs. Off (the default), nothing of the SDK is even imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from textwrap import dedent

import httpx
import pytest
from sqlalchemy import text

import environment
from adapters.sql.migrate import upgrade
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, SettingsError, load_settings
from entrypoints.tracing import MISSING_EXTRA, start_tracing
from entrypoints.worker.run import worker_main
from otlp import ReceivedSpan, Receiver, otlp_receiver
from servers import free_port, wait_live
from support import PASSWORD, Api, idem, new_name, new_phone

TX = "/api/v1/wallet/transactions"


def ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


async def until(condition: Callable[[], bool], what: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@contextlib.asynccontextmanager
async def traced_server(
    receiver: Receiver, database_url: str, redis_url: str, log: Path
) -> AsyncIterator[str]:
    """``wallet serve`` exporting to ``receiver``, with JSON logs in ``log``; stopped (SIGTERM,
    which flushes the spans) when the block ends."""
    port = free_port()
    env = {
        **os.environ,
        **environment.app_environment(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="wallet-under-test",
            LOG_FORMAT="json",
            LOG_LEVEL="info",
        ),
    }
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            cwd=log.parent,
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_live(base, process, log)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()


def log_lines(log: Path) -> list[dict[str, object]]:
    lines = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                lines.append(parsed)
    return lines


async def test_a_request_is_one_trace_with_its_sql_and_redis_spans(
    api: Api, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    log = tmp_path / "server.log"
    with otlp_receiver() as receiver:
        async with (
            traced_server(receiver, database_url, redis_url, log) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as http,
        ):
            response = await http.post(
                TX,
                json={"type": "transfer", "amount": "2.50", "recipient": bob.username},
                headers={**alice.headers, **idem()},
            )
        # the server has stopped, and flushed its spans on the way out
        assert response.status_code == 201, (response.text, log.read_text()[-4000:])
        request_id = response.headers["x-request-id"]
        await until(lambda: bool(receiver.snapshot()), "spans arrive")
        spans = receiver.snapshot()

    servers = [s for s in spans if s.kind == "SPAN_KIND_SERVER"]
    assert len(servers) == 1, [s.name for s in servers]  # the health polls are not traced
    server = servers[0]
    assert server.name == f"POST {TX}"
    assert server.attributes["http.route"] == TX
    assert server.attributes["wallet.request_id"] == request_id
    assert server.resource["service.name"] == "wallet-under-test"
    assert server.resource["wallet.process"] == "api"
    assert {s.trace_id for s in spans} == {server.trace_id}, "one request, one trace"

    sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    statements = [str(s.attributes.get("db.statement", "")) for s in sql]
    # The money path's two statements: one read, and one write that locks and inserts.
    assert len(sql) == 2, statements
    assert any("INSERT INTO transactions" in st for st in statements), statements
    assert any("FOR UPDATE" in st.upper() for st in statements), statements
    redis_calls = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert redis_calls, [s.name for s in spans]
    for child in sql + redis_calls:
        assert server in ancestors(child, spans), child.name

    logged = [line for line in log_lines(log) if line.get("request_id") == request_id]
    access = [line for line in logged if line.get("event") == "request"]
    assert len(access) == 1, logged
    assert access[0]["trace_id"] == server.trace_id
    assert all(line["trace_id"] == server.trace_id for line in logged)


@pytest.fixture
async def quiet_outbox(container: Container) -> None:
    """Events other tests left unsent would be relayed here too: mark them sent."""
    async with container.storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE outbox_events SET sent_at = now(), dispatched_at = now() "
                "WHERE sent_at IS NULL"
            )
        )


@pytest.mark.usefixtures("quiet_outbox")
async def test_a_task_is_traced_from_where_it_is_sent_to_where_it_runs(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    person = await api.person()
    with otlp_receiver() as receiver:
        settings = make_settings(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OUTBOX_POLL_SECONDS="0.1",
            EMAIL_BACKEND="memory",
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(worker_main(settings, stop=stop))
        try:
            await asyncio.sleep(1)  # the worker idles: polling the outbox and the stream
            await api.fund(person, "3.00")  # a deposit: one notification in the outbox
            await until(
                lambda: (
                    any(
                        s.name == "execute/wallet.deliver_notification" for s in receiver.snapshot()
                    )
                    or worker.done()
                ),
                "the delivery runs",
                attempts=400,
            )
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=20)
        spans = receiver.snapshot()

    executes = [s for s in spans if s.name == "execute/wallet.deliver_notification"]
    sends = [s for s in spans if s.name == "send/wallet.deliver_notification"]
    assert len(executes) == 1 and len(sends) == 1, [s.name for s in spans]
    execute, send = executes[0], sends[0]
    assert execute.kind == "SPAN_KIND_CONSUMER" and send.kind == "SPAN_KIND_PRODUCER"
    assert execute.trace_id == send.trace_id
    assert send in ancestors(execute, spans)
    assert execute.resource["wallet.process"] == "worker"
    in_task = [
        s
        for s in spans
        if s.attributes.get("db.system") == "postgresql" and execute in ancestors(s, spans)
    ]
    assert in_task, "the delivery's SQL is inside its span"
    # Idle polling (outbox queries, stream reads) starts no trace of its own.
    roots = [s for s in spans if not s.parent_span_id]
    assert {s.kind for s in roots} <= {"SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"}, [
        (s.name, s.kind) for s in roots
    ]


def test_tracing_is_off_and_unimported_by_default(tmp_path: Path) -> None:
    """Without an endpoint the app has no tracing, and neither the SDK's tracer, the exporter
    nor any instrumentation is imported (Litestar and redis-py import parts of OpenTelemetry
    themselves when it is installed; that is why it is an optional extra)."""
    script = dedent(
        """
        import sys
        from entrypoints.http.app import create_app
        from entrypoints.settings import load_settings
        app = create_app(load_settings({"DATABASE_URL": "sqlite+aiosqlite:///x.db"}, env_file=None))
        assert app.state.tracing is None
        loaded = [
            name for name in sys.modules
            if name.startswith((
                "opentelemetry.sdk.trace",
                "opentelemetry.exporter",
                "opentelemetry.instrumentation.sqlalchemy",
                "opentelemetry.instrumentation.asyncpg",
                "opentelemetry.instrumentation.redis",
                "taskiq.middlewares.opentelemetry_middleware",
            ))
        ]
        print(",".join(loaded))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_tracing_settings() -> None:
    base = {"DATABASE_URL": "sqlite+aiosqlite:///x.db"}
    assert not load_settings(base, env_file=None).tracing
    settings = load_settings(
        {
            **base,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=abc%3D%3D, X-Team=wallet",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
        },
        env_file=None,
    )
    assert settings.tracing
    assert settings.otel_exporter_otlp_endpoint == "https://collector.example:4318"
    assert settings.otel_exporter_otlp_headers == (("x-api-key", "abc=="), ("x-team", "wallet"))
    assert settings.otel_traces_sampler_arg == 0.25
    assert "abc==" not in repr(settings)
    for variable, value in (
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ):
        with pytest.raises(SettingsError, match=variable):
            load_settings(
                {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", variable: value},
                env_file=None,
            )
    traced = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_HEADERS"):
        load_settings({**traced, "OTEL_EXPORTER_OTLP_HEADERS": "x"}, env_file=None)


def test_an_endpoint_without_the_extra_fails_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    settings = load_settings(
        {"DATABASE_URL": "sqlite+aiosqlite:///x.db", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:1"},
        env_file=None,
    )
    with pytest.raises(RuntimeError) as error:
        start_tracing(settings, "api")
    assert str(error.value) == MISSING_EXTRA
    assert "--extra tracing" in MISSING_EXTRA


async def test_the_embedded_app_traces_its_sqlite_statements(tmp_path: Path) -> None:
    """SQLite (no driver instrumentation) gets SQLAlchemy's; the in-process jobs' polling starts
    no trace; leaving the lifespan exports what is left and takes the instrumentation off."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}"
    await asyncio.to_thread(upgrade, url)
    with otlp_receiver() as receiver:
        env = environment.app_environment(
            DATABASE_URL=url,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OUTBOX_POLL_SECONDS="0.1",
        )
        app = create_app(load_settings(env, env_file=None))
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
                name = new_name()
                body = {
                    "email": f"{name}@example.com",
                    "username": name,
                    "password": PASSWORD,
                    "phone_number": new_phone(),
                }
                created = await http.post("/api/v1/auth/register", json=body)
                assert created.status_code == 201, created.text
                await asyncio.sleep(0.5)  # the relay polls a few times meanwhile
        spans = receiver.snapshot()
        after = app.state.container.storage.engine
        async with after.connect() as conn:  # uninstrumented now: nothing more is recorded
            await conn.execute(text("SELECT 1"))
        assert len(receiver.snapshot()) == len(spans)

    (server,) = [s for s in spans if s.kind == "SPAN_KIND_SERVER"]
    assert server.name == "POST /api/v1/auth/register"
    assert server.attributes["wallet.request_id"] == created.headers["x-request-id"]
    assert {s.trace_id for s in spans} == {server.trace_id}
    sql = [s for s in spans if s.attributes.get("db.system") == "sqlite"]
    statements = [str(s.attributes.get("db.statement", "")) for s in sql]
    assert any(st.startswith("INSERT INTO users") for st in statements), statements
    assert all(server in ancestors(s, spans) for s in sql)
