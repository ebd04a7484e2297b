"""FastAPI's native telemetry (`FastAPI(telemetry=...)`), set up to give the span and metric the instrumentor gives.

Chosen with FASTAPI_HTTP_TELEMETRY=native (`entrypoints.settings.HttpSpanSettings`). FastAPI opens the SERVER span
and records `http.server.request.duration` around the whole app, with the providers passed here: the global
ones are never read. What it does not do as `http_instrumentation` does is done through public APIs only:

- `exclude`: the same URL regexes as the instrumentor (`http_instrumentation.excluded_urls`), searched in the same
  `scheme://host/path`;
- `ServerSpanCorrections`, the outermost middleware: `url.query` without its values (FastAPI redacts five
  signature parameters only), `client.address` and `user_agent.original` (FastAPI records neither),
  `client.port` when asked for, `server.*` from a trusted X-Forwarded-Host, and the request and response headers
  that OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST / _RESPONSE name, sanitised as the instrumentor
  does (FastAPI reads neither variable). FastAPI sets none of these after it has started the span.

Left off: `operation_spans` (FastAPI's `fastapi.dependencies`, `fastapi.endpoint` and `fastapi.serialization`
spans would put the operation span under `fastapi.endpoint`, not directly under the server span), `logs` (the
service logs through structlog; FastAPI would log the same failures a second time, through the global logger
provider) and `auto_configure` (the runtime owns export). The differences that remain are listed in
docs/tracing-guide.md ("The HTTP server span").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig, get_telemetry_data
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS, CLIENT_PORT
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from opentelemetry.trace import Span, TracerProvider
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE,
    ExcludeList,
    SanitizeValue,
    get_custom_headers,
    normalise_request_header_name,
    normalise_response_header_name,
    parse_excluded_urls,
)
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http_instrumentation import ServerSpanAttributes, excluded_urls, sanitize_fields
from entrypoints.settings import HttpSpanSettings

__all__ = ["ExcludedUrls", "ServerSpanCorrections", "native_telemetry", "native_telemetry_middleware"]


def native_telemetry(tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> TelemetryConfig:
    """FastAPI's telemetry over these providers; a provider left out records nothing."""
    return {
        "tracing": tracer_provider is not None,
        "metrics": meter_provider is not None,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
        "exclude": ExcludedUrls(parse_excluded_urls(excluded_urls("fastapi"))),
    }


def native_telemetry_middleware(
    tracer_provider: TracerProvider | None, http_spans: HttpSpanSettings
) -> list[Middleware]:
    """The middleware to put first, outermost, in the app's list: none when nothing is traced."""
    return [] if tracer_provider is None else [Middleware(ServerSpanCorrections, http_spans=http_spans)]


class ExcludedUrls:
    """FastAPI's `exclude`: True for a request whose `scheme://host/path` the instrumentor's regexes exclude."""

    def __init__(self, excluded: ExcludeList) -> None:
        self._excluded = excluded

    def __call__(self, scope: MutableMapping[str, Any]) -> bool:
        host = _header(scope, b"host")
        if not host:
            # The instrumentor's own default for a scope without a server.
            server = scope.get("server") or ("0.0.0.0", 80)
            host = str(server[0]) if server[1] == 80 else f"{server[0]}:{server[1]}"
        return self._excluded.url_disabled(f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}")


class ServerSpanCorrections:
    """Set, on FastAPI's SERVER span, the attributes it takes otherwise than the instrumentor does.

    The span is current here, and FastAPI's request data is there (`get_telemetry_data`) only for a request it
    traces: an excluded one, or one that FastAPIInstrumentor traces instead, is left alone.
    """

    def __init__(self, app: ASGIApp, http_spans: HttpSpanSettings) -> None:
        self.app = app
        self._server_attributes = ServerSpanAttributes(http_spans)
        self._client_port = http_spans.client_port
        # Read once, as the instrumentor reads them when it is set up.
        self._sanitize = SanitizeValue(sanitize_fields())
        self._request_headers = get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST)
        self._response_headers = get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if scope["type"] != "http" or get_telemetry_data() is None or not span.is_recording():
            await self.app(scope, receive, send)
            return
        span.set_attributes(self.attributes(scope))
        await self.app(scope, receive, self._capturing_response_headers(span, send) if self._response_headers else send)

    def attributes(self, scope: Scope) -> dict[str, str | int | list[str]]:
        """What replaces or adds to FastAPI's own attributes for the request `scope`."""
        attributes: dict[str, str | int | list[str]] = {**self._server_attributes.attributes(scope)}
        client = scope.get("client")
        if client:
            attributes[CLIENT_ADDRESS] = str(client[0])
            if self._client_port:
                attributes[CLIENT_PORT] = int(client[1])
        if user_agent := _header(scope, b"user-agent"):
            attributes[USER_AGENT_ORIGINAL] = user_agent
        if self._request_headers:
            attributes.update(self._headers(scope["headers"], self._request_headers, normalise_request_header_name))
        return attributes

    def _capturing_response_headers(self, span: Span, send: Send) -> Send:
        async def send_capturing(message: Message) -> None:
            if message["type"] == "http.response.start":
                span.set_attributes(
                    self._headers(message.get("headers", ()), self._response_headers, normalise_response_header_name)
                )
            await send(message)

        return send_capturing

    def _headers(
        self, raw: Iterable[tuple[bytes, bytes]], wanted: list[str], attribute: Callable[[str], str]
    ) -> dict[str, list[str]]:
        headers: dict[str, list[str]] = {}
        for name, value in raw:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        return self._sanitize.sanitize_header_values(headers, wanted, attribute)


def _header(scope: MutableMapping[str, Any], name: bytes) -> str:
    """The first value of the request header `name` (lower case), or ""."""
    return next((value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name), "")
