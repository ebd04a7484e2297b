"""The floor of a refusal: a bare ASGI app under uvicorn, run as `resource-service serve` runs the service.

Every request but a health probe's is answered 503 from prepared bytes, with the same problem document and
headers as the service's refusal: the least a Python server on uvicorn can do to refuse a request. A POST reads
its body first, so that a POST whose body never comes holds a request open (`refusal_cost` uses it to keep
uvicorn's own bound full). `python -m tests.benchmarks.refusal_floor PORT [--limit-concurrency N]`.
"""

from __future__ import annotations

import argparse
from typing import Final

import msgspec
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from entrypoints.http.problems import PROBLEM_MEDIA_TYPE, overloaded_problem

RETRY_AFTER_S: Final = 1
BODY: Final = msgspec.json.encode(overloaded_problem(RETRY_AFTER_S))
HEADERS: Final = (
    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
    (b"content-length", str(len(BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_S).encode()),
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    status = 200 if scope["path"].startswith("/health/") else 503
    await send({"type": "http.response.start", "status": status, "headers": list(HEADERS)})
    await send({"type": "http.response.body", "body": BODY})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--limit-concurrency", type=int, default=None)
    args = parser.parse_args()
    # The options of `resource-service serve` (entrypoints/cli.py) that touch a request's cost.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        limit_concurrency=args.limit_concurrency,
    )


if __name__ == "__main__":
    main()
