"""A paced load on `resource-service serve` processes, and the environment that makes them export at once.

`paced_load` sends creates, gets and searches from LOAD_CLIENTS staggered clients at a steady pace, to one
service or to several at the same moments, and returns one `Sample` per request; `p99` reads their latency.
`telemetry_environment` points a service's exporters at an endpoint with short export intervals, a short
shutdown budget and a secret header that must never be printed.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx

SECRET = "s3cr3t-value"
SHUTDOWN_TIMEOUT_S = 2.0
SHUTDOWN_MARGIN_S = 3.0
LOAD_CLIENTS = 8
Kind = Literal["create", "get", "search"]
EXPECTED_STATUS: dict[Kind, int] = {"create": 201, "get": 200, "search": 200}


@dataclass(frozen=True, slots=True)
class Sample:
    kind: Kind
    status: int  # 0: no answer (transport error)
    seconds: float


def p99(samples: Sequence[Sample]) -> float:
    latencies = sorted(s.seconds for s in samples)
    return latencies[math.ceil(0.99 * len(latencies)) - 1]


async def _request(client: httpx.AsyncClient, kind: Kind, name: str, ids: list[str], k: int) -> Sample:
    began = time.perf_counter()
    try:
        if kind == "create":
            response = await client.post("/resources", json={"name": name, "description": "load"})
            if response.status_code == 201:
                ids.append(response.json()["id"])
        elif kind == "get":
            response = await client.get(f"/resources/{ids[k % len(ids)]}")
        else:
            response = await client.get("/resources/search", params={"q": name.rsplit("-", 1)[0], "limit": 10})
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return Sample(kind, status, time.perf_counter() - began)


async def _client(
    clients: Sequence[httpx.AsyncClient], prefix: str, index: int, count: int, interval: float, start: float
) -> list[list[Sample]]:
    """One client per service; each step sends the same kind of request to every service at the same moment."""
    samples: list[list[Sample]] = [[] for _ in clients]
    ids: list[list[str]] = [[] for _ in clients]
    loop = asyncio.get_running_loop()
    kinds: tuple[Kind, ...] = ("create", "get", "search")
    for k in range(count):
        await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
        kind = kinds[k % 3] if all(ids) else "create"
        name = f"{prefix}c{index}-{k}"
        step = await asyncio.gather(*(_request(c, kind, name, ids[j], k) for j, c in enumerate(clients)))
        for j, sample in enumerate(step):
            samples[j].append(sample)
    return samples


class LoadClients:
    """LOAD_CLIENTS HTTP clients per service, built once and kept for a whole measurement.

    Built on the load's clock they would skew it: building one takes tens of milliseconds (its TLS context), which
    would make the staggered clients overdue and fire their first requests as one burst. Kept, their connections
    stay open between rounds, so the samples hold the service's latency, not the load generator's connection set-up.
    """

    def __init__(self, base_urls: Sequence[str]) -> None:
        self._clients = {
            url: [httpx.AsyncClient(base_url=url, timeout=10.0) for _ in range(LOAD_CLIENTS)] for url in base_urls
        }

    def row(self, index: int, base_urls: Sequence[str]) -> list[httpx.AsyncClient]:
        """Client number `index` of each service."""
        return [self._clients[url][index] for url in base_urls]

    async def __aenter__(self) -> LoadClients:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for client in (c for clients in self._clients.values() for c in clients):
            await client.aclose()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The load generator's own garbage collections would land in the latency of whichever requests are waiting."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def paced_load(
    clients: LoadClients, base_urls: Sequence[str], prefix: str, total: int, seconds: float
) -> list[list[Sample]]:
    """`total` requests to each service over about `seconds`, paced, from LOAD_CLIENTS staggered clients."""
    with _collector_paused():
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        counts = [total // LOAD_CLIENTS + (1 if i < total % LOAD_CLIENTS else 0) for i in range(LOAD_CLIENTS)]
        interval = seconds / max(counts)
        runs = [
            _client(clients.row(i, base_urls), prefix, i, count, interval, start + i * interval / LOAD_CLIENTS)
            for i, count in enumerate(counts)
        ]
        results = await asyncio.gather(*runs)
    return [[sample for client in results for sample in client[j]] for j in range(len(base_urls))]


def telemetry_environment(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"api-key={SECRET}",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "RESOURCE_COUNT_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "info",
        "OBSERVABILITY_SHUTDOWN_TIMEOUT": str(int(SHUTDOWN_TIMEOUT_S)),
    }
