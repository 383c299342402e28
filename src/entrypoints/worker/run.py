"""``wallet worker`` and ``wallet scheduler``: processes built from explicit settings.

The worker runs the taskiq receiver (email deliveries, scheduled jobs) and the outbox relay,
which hands committed events to the queue; with ``WORKER_METRICS_PORT`` set it serves its own
Prometheus metrics there (what its jobs moved, e.g. expiries), a scrape target of its own.
The scheduler fires the schedules; a Redis lease makes sure exactly one scheduler process does,
however many are started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import uuid
from datetime import timedelta

import structlog
from prometheus_client import start_http_server
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AsyncBroker
from taskiq.acks import AcknowledgeType
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.receiver import Receiver
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.scheduler.scheduler import TaskiqScheduler

from adapters.redis.client import connect
from entrypoints.bootstrap import build
from entrypoints.logging import configure_logging
from entrypoints.metrics import Metrics
from entrypoints.settings import Settings
from entrypoints.tracing import start_tracing
from entrypoints.worker.broker import make_broker
from entrypoints.worker.tasks import holder, register_tasks

log = structlog.get_logger(__name__)

LEADER_KEY = "wallet:scheduler:leader"


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def relay_forever(relay: object, interval: float) -> None:
    """Hand committed outbox events to the queue, forever (a failed pass is logged)."""
    while True:
        try:
            await relay()  # type: ignore[operator]
        except Exception:
            log.exception("outbox.relay_failed")
        await asyncio.sleep(interval)


async def worker_main(
    settings: Settings,
    *,
    concurrency: int = 10,
    stop: asyncio.Event | None = None,
) -> None:
    stop = stop or asyncio.Event()
    tracing = start_tracing(settings, "worker")
    broker = make_broker(settings, reclaim_after_seconds=settings.task_reclaim_seconds)
    get, set_ = holder()
    metrics = Metrics()
    tasks = register_tasks(broker, get, expiry_interval_seconds=settings.expiry_interval_seconds)
    exporter = None
    if settings.worker_metrics_port is not None:
        assert metrics.registry is not None
        exporter, _ = start_http_server(
            settings.worker_metrics_port,
            addr=settings.worker_metrics_host,
            registry=metrics.registry,
        )
        log.info(
            "worker.metrics",
            address=f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/",
        )
    container = build(settings, counter=metrics)
    if tracing is not None:
        tracing.instrument_broker(broker)
        tracing.instrument_engine(container.storage.engine)
    set_(container)
    broker.is_worker_process = True
    await broker.startup()

    redeliver_after = timedelta(seconds=settings.task_reclaim_seconds)

    async def relay() -> int:
        # A list-cache invalidation this process could not make is paid here, not only on the
        # next one (the worker never serves a list).
        await container.core.ctx.list_cache.settle()
        return await container.core.notifications.relay(
            tasks.enqueue_delivery, redeliver_after=redeliver_after
        )

    relaying = asyncio.create_task(relay_forever(relay, settings.outbox_poll_seconds))
    log.info("worker.started", concurrency=concurrency)
    try:
        await listen_until_stopped(broker, concurrency, stop)
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
        await broker.shutdown()
        await container.close()
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        if tracing is not None:
            tracing.shutdown()
        log.info("worker.stopped")


def broker_unreachable(error: BaseException) -> bool:
    """A lost or refused connection to Redis (possibly inside the receiver's exception group),
    or a consumer group that a Redis restart without persistence forgot."""
    if isinstance(error, BaseExceptionGroup):
        return all(broker_unreachable(e) for e in error.exceptions)
    if isinstance(error, ResponseError):
        return str(error).startswith("NOGROUP")
    return isinstance(error, RedisConnectionError | RedisTimeoutError | OSError)


async def listen_until_stopped(
    broker: AsyncBroker, concurrency: int, stop: asyncio.Event, *, max_pause: float = 5.0
) -> None:
    """Receive tasks until ``stop``. When Redis goes away the receiver fails; instead of ending
    the worker, listen again (re-declaring the consumer group) after a growing pause, so
    deliveries resume by themselves once Redis is back. Events committed meanwhile wait in the
    outbox, which the relay hands over again."""
    pause = 0.5
    first = True
    while not stop.is_set():
        started = asyncio.get_running_loop().time()
        try:
            if not first:
                await broker.startup()
            first = False
            receiver = Receiver(
                broker,
                max_async_tasks=concurrency,
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                propagate_exceptions=False,
                run_startup=False,
            )
            await receiver.listen(stop)
            return
        except Exception as exc:
            if not broker_unreachable(exc):
                raise
            if asyncio.get_running_loop().time() - started > 10 * max_pause:
                pause = 0.5  # it had been working for a while: a new outage
            log.warning("worker.broker_unavailable", error=repr(exc), retry_in=pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(pause * 2, max_pause)


async def scheduler_main(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    lease_seconds: int = 15,
) -> None:
    """Fire the schedules while holding the leader lease; wait for it otherwise."""
    stop = stop or asyncio.Event()
    assert settings.redis_url is not None
    tracing = start_tracing(settings, "scheduler")
    broker = make_broker(settings)
    if tracing is not None:
        tracing.instrument_broker(broker)
    get, _ = holder()
    register_tasks(broker, get, expiry_interval_seconds=settings.expiry_interval_seconds)
    redis = connect(settings.redis_url)  # short timeouts, like every other client
    me = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    try:
        while not stop.is_set():
            if await redis.set(LEADER_KEY, me, nx=True, ex=lease_seconds):
                log.info("scheduler.leading", me=me)
                await _lead(broker, redis, me, lease_seconds, stop)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=lease_seconds / 3)
    finally:
        if await redis.get(LEADER_KEY) == me.encode():
            await redis.delete(LEADER_KEY)
        await redis.aclose()
        if tracing is not None:
            tracing.shutdown()


async def _lead(broker: object, redis: Redis, me: str, lease: int, stop: asyncio.Event) -> None:
    source = LabelScheduleSource(broker)  # type: ignore[arg-type]
    scheduler = TaskiqScheduler(broker, sources=[source])  # type: ignore[arg-type]
    await source.startup()  # reads the schedules from the registered tasks' labels
    await scheduler.startup()
    firing = asyncio.create_task(SchedulerLoop(scheduler).run(skip_first_run=False))
    try:
        while not stop.is_set() and not firing.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=lease / 3)
            # Renew the lease only if it is still ours; losing it means stepping down.
            if await redis.get(LEADER_KEY) != me.encode():
                log.warning("scheduler.lost_lease", me=me)
                return
            await redis.expire(LEADER_KEY, lease)
    finally:
        firing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await firing
        await scheduler.shutdown()
        await source.shutdown()


def run_worker(settings: Settings, *, concurrency: int = 10) -> int:
    configure_logging(settings)
    if settings.redis_url is None:
        log.error("worker.needs_redis")
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await worker_main(settings, concurrency=concurrency, stop=stop)

    asyncio.run(main())
    return 0


def run_scheduler(settings: Settings) -> int:
    configure_logging(settings)
    if settings.redis_url is None:
        log.error("scheduler.needs_redis")
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await scheduler_main(settings, stop=stop)

    asyncio.run(main())
    return 0
