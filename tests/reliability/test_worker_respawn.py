"""A server worker that dies is replaced at once and the server keeps answering (docs/api.md
``wallet serve``: "A worker process that dies (OOM, SIGKILL) is replaced at once").

Against ``wallet serve --workers 2`` in its own process: one worker is killed with SIGKILL; the
other keeps answering every request on fresh connections, a new worker takes the dead one's
place and answers too, the server process never exits, and the counts the dead worker had made
stay in ``/metrics`` (counters never go back).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from environment import app_environment
from servers import eventually, is_running, metric_value, wallet_serve

ROUTE = "/api/v1/wallet/transactions/{transaction_id}"
PROBE = "/api/v1/wallet/transactions/0195a1b2-0000-7000-8000-000000000001"


async def test_a_killed_worker_is_replaced_while_the_server_keeps_answering(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = app_environment(DATABASE_URL=database_url, REDIS_URL=redis_url)
    async with wallet_serve(env, tmp_path, workers=2) as server:
        fresh = httpx.Limits(max_keepalive_connections=0)  # every request on a new connection
        async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=fresh) as http:
            sent = 0

            async def both_counted() -> bool:
                nonlocal sent
                assert (await http.get(PROBE)).status_code == 401
                sent += 1
                return len(by_worker()) == 2

            def by_worker() -> dict[int, float]:
                return server.counts_by_process(
                    "wallet_http_requests_total", route=ROUTE, status="401"
                )

            await eventually(both_counted, "requests served by both workers", every=0)
            counted = metric_value(
                await server.metrics(), "wallet_http_requests_total", route=ROUTE, status="401"
            )
            assert counted == sent

            victim, survivor = sorted(server.worker_pids())
            assert by_worker()[victim] > 0
            os.kill(victim, signal.SIGKILL)

            async def victim_gone() -> bool:
                return not is_running(victim)

            await eventually(victim_gone, "the killed worker is gone")
            answered = 0
            dropped = 0

            async def replaced() -> bool:
                nonlocal answered, dropped
                try:
                    response = await http.get(PROBE)
                except httpx.TransportError:
                    # A connection caught in the kill itself (seen on a loaded machine): the client
                    # retries; what matters is that the server keeps answering.
                    dropped += 1
                    return False
                assert response.status_code == 401, response.text
                answered += 1
                pids = server.worker_pids()
                return len(pids) == 2 and victim not in pids

            await eventually(replaced, "a new worker in place of the killed one", every=0.01)
            assert dropped <= 3, f"{dropped} connections dropped while the worker was replaced"
            assert survivor in server.worker_pids()
            (replacement,) = server.worker_pids() - {survivor}

            async def replacement_serves() -> bool:
                nonlocal answered
                assert (await http.get(PROBE)).status_code == 401
                answered += 1
                return by_worker().get(replacement, 0) > 0

            await eventually(replacement_serves, "the new worker answers", timeout=180, every=0)
            assert server.process.returncode is None

            # Whatever the dead worker had counted is still in the total.
            after = metric_value(
                await server.metrics(), "wallet_http_requests_total", route=ROUTE, status="401"
            )
            assert after == counted + answered
    assert "Respawning worker" in server.log_text()
