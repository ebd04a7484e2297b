"""The service's SDK providers are OpenTelemetry's global ones: an instrumentation a user adds, given no providers,
reports through them, with the service's resource and exporters; OBSERVABILITY_GLOBAL_PROVIDERS=false opts out.

Each run is a process of its own: the API lets a process set each global provider once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from core.semantic_conventions import INSTRUMENTATION_SCOPE, OPERATIONS_TOTAL

# A service started as `bootstrap` starts it, then the httpx instrumentation added after it, as a user adds one:
# `instrument()` with no providers. Its one request goes to a server that answers every GET 501.
_SERVICE_WITH_ONE_MORE_INSTRUMENTATION = """
import asyncio
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from adapters.memory.repository import InMemoryUnitOfWork
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

runtime = bootstrap(Settings.from_env(), InMemoryUnitOfWork(), framework="litestar")
HTTPXClientInstrumentor().instrument()
server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
threading.Thread(target=server.handle_request, daemon=True).start()
httpx.get(f"http://127.0.0.1:{server.server_port}/", timeout=5.0)
asyncio.run(runtime.stop())
"""
_HTTPX_SCOPE = "opentelemetry.instrumentation.httpx"


def _exported(**env: str) -> list[dict[str, Any]]:
    """What the console exporters printed: every span, and every batch of metrics, as JSON documents."""
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("OTEL_")},
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
        "SATURATION_METRICS": "false",
        "LOG_LEVEL": "error",
        **env,
    }
    run = subprocess.run(
        [sys.executable, "-c", _SERVICE_WITH_ONE_MORE_INSTRUMENTATION],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    decoder, text, documents, at = json.JSONDecoder(), run.stdout, [], 0
    while (at := _next_document(text, at)) < len(text):
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def _next_document(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _spans_of(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document.get("kind") == f"SpanKind.{kind}"]


def _metrics_of(documents: list[dict[str, Any]], scope: str) -> dict[str, dict[str, Any]]:
    """Each metric of the instrumentation scope `scope`, by name, with the resource attributes it was sent with."""
    return {
        metric["name"]: resource_metrics["resource"]["attributes"]
        for document in documents
        for resource_metrics in document.get("resource_metrics", [])
        for scope_metrics in resource_metrics["scope_metrics"]
        if scope_metrics["scope"]["name"] == scope
        for metric in scope_metrics["metrics"]
    }


def test_an_instrumentation_added_later_reports_through_the_service_s_providers() -> None:
    documents = _exported()
    [span] = _spans_of(documents, "CLIENT")
    assert span["name"] == "GET"
    assert span["attributes"]["http.response.status_code"] == 501
    resource = span["resource"]["attributes"]
    assert (resource["service.name"], resource["framework.name"]) == ("resource-service", "litestar")
    http_metrics = _metrics_of(documents, _HTTPX_SCOPE)
    assert "http.client.request.duration" in http_metrics
    assert http_metrics["http.client.request.duration"]["framework.name"] == "litestar"


def test_opted_out_the_added_instrumentation_reports_nowhere_and_the_service_still_does() -> None:
    documents = _exported(OBSERVABILITY_GLOBAL_PROVIDERS="false")
    assert _spans_of(documents, "CLIENT") == []
    assert _metrics_of(documents, _HTTPX_SCOPE) == {}
    assert OPERATIONS_TOTAL in _metrics_of(documents, INSTRUMENTATION_SCOPE)
