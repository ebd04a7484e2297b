"""The Grafana provisioning is complete, consistent and asks only for telemetry the service really emits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from itertools import combinations
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import promql_parser
import pytest

from core import semantic_conventions as conventions

from .provisioning import (
    DASHBOARD_PROVIDER_FILE,
    DATASOURCES_FILE,
    LIVE_VALUES,
    NOTIFICATIONS_FILE,
    OPS,
    alert_files,
    alert_rule_documents,
    alert_rules,
    dashboard_files,
    load_dashboard,
    load_yaml,
    loki_queries,
    panels_of,
    pinned_grafana,
    prometheus_queries,
    tempo_queries,
    variables_in,
)
from .tools import grafana_dashboard_fields, grafana_parse_errors

Node = TypeVar("Node", bound=promql_parser.Expr)

DOCS = OPS.parent / "docs"
DASHBOARD_NAMES = {
    "crud-operations-overview.json",
    "performance-analysis.json",
    "error-analysis.json",
    "distributed-tracing.json",
    "logs-correlation.json",
    "saturation.json",
}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__auto", "__all"}
GRID_WIDTH = 24

# Labels from the resource on every series of the service. `job` and `instance` differ between the scrape
# and the collector path, so queries must not use them.
RESOURCE_LABELS = frozenset({
    "service_name", "service_version", "service_instance_id", "deployment_environment_name", "framework_name",
    "otel_scope_name", "otel_scope_version",
})  # fmt: skip
# (kind, unit) the OpenTelemetry adapters register each instrument of the contract with.
INSTRUMENTS: dict[str, tuple[str, str]] = {
    conventions.OPERATION_DURATION: ("histogram", "s"),
    conventions.OPERATIONS_TOTAL: ("counter", "{operation}"),
    conventions.OPERATION_ERRORS: ("counter", "{error}"),
    conventions.RESOURCE_COUNT: ("gauge", "{resource}"),
    conventions.CASCADE_SIZE: ("histogram", "{resource}"),
    conventions.CIRCULAR_DEPENDENCY_DETECTED: ("counter", "{operation}"),
    conventions.REPOSITORY_DURATION: ("histogram", "s"),
    conventions.ADMISSION_IN_FLIGHT: ("gauge", "{request}"),
    conventions.ADMISSION_WAITING: ("gauge", "{request}"),
    conventions.ADMISSION_LIMIT: ("gauge", "{request}"),
    conventions.ADMISSION_SHED: ("counter", "{request}"),
    conventions.EXPORT_FAILURES: ("counter", "{export}"),
    # An up-down counter is a gauge in Prometheus; the system-metrics instrumentation gives threads and file
    # descriptors no unit.
    conventions.EVENT_LOOP_DELAY: ("histogram", "s"),
    conventions.CONNECTION_COUNT: ("gauge", "{connection}"),
    conventions.CONNECTION_MAX: ("gauge", "{connection}"),
    conventions.CONNECTION_PENDING_REQUESTS: ("gauge", "{request}"),
    conventions.CONNECTION_TIMEOUTS: ("counter", "{timeout}"),
    conventions.CONNECTION_WAIT_TIME: ("histogram", "s"),
    conventions.CONNECTION_USE_TIME: ("histogram", "s"),
    conventions.PROCESS_CPU_TIME: ("counter", "s"),
    conventions.PROCESS_MEMORY_USAGE: ("gauge", "By"),
    conventions.PROCESS_MEMORY_VIRTUAL: ("gauge", "By"),
    conventions.PROCESS_THREAD_COUNT: ("gauge", ""),
    conventions.PROCESS_FILE_DESCRIPTOR_COUNT: ("gauge", ""),
    conventions.GC_COLLECTIONS: ("counter", "{collection}"),
    conventions.GC_COLLECTED_OBJECTS: ("counter", "{object}"),
    conventions.GC_UNCOLLECTABLE_OBJECTS: ("counter", "{object}"),
}
PROMETHEUS_UNIT_SUFFIXES = {"s": "_seconds", "By": "_bytes"}
POOL_ATTRIBUTES = set(conventions.pool_attributes("pool"))
GC_ATTRIBUTES = {conventions.ATTR_GC_GENERATION}
# The attributes of each instrument, from the functions of the contract that build them.
INSTRUMENT_ATTRIBUTES: dict[str, set[str]] = {
    conventions.OPERATION_DURATION: set(conventions.duration_attributes("create", "validation")),
    conventions.OPERATIONS_TOTAL: set(conventions.count_attributes("create", None)),
    conventions.OPERATION_ERRORS: set(conventions.error_attributes("create", "validation")),
    conventions.RESOURCE_COUNT: set(),
    conventions.CASCADE_SIZE: set(),
    conventions.CIRCULAR_DEPENDENCY_DETECTED: set(conventions.circular_dependency_attributes("update")),
    conventions.REPOSITORY_DURATION: set(
        conventions.repository_attributes("get", conventions.Database("postgresql", "db", "host", 5432), "database")
    ),
    conventions.ADMISSION_IN_FLIGHT: set(),
    conventions.ADMISSION_WAITING: set(),
    conventions.ADMISSION_LIMIT: set(),
    conventions.ADMISSION_SHED: set(conventions.shed_attributes("queue_full")),
    conventions.EXPORT_FAILURES: {"signal"},
    conventions.EVENT_LOOP_DELAY: set(),
    conventions.CONNECTION_COUNT: set(conventions.connection_count_attributes("pool", "idle")),
    conventions.CONNECTION_MAX: POOL_ATTRIBUTES,
    conventions.CONNECTION_PENDING_REQUESTS: POOL_ATTRIBUTES,
    conventions.CONNECTION_TIMEOUTS: POOL_ATTRIBUTES,
    conventions.CONNECTION_WAIT_TIME: POOL_ATTRIBUTES,
    conventions.CONNECTION_USE_TIME: POOL_ATTRIBUTES,
    conventions.PROCESS_CPU_TIME: {"type"},
    conventions.PROCESS_MEMORY_USAGE: set(),
    conventions.PROCESS_MEMORY_VIRTUAL: set(),
    conventions.PROCESS_THREAD_COUNT: set(),
    conventions.PROCESS_FILE_DESCRIPTOR_COUNT: set(),
    conventions.GC_COLLECTIONS: GC_ATTRIBUTES,
    conventions.GC_COLLECTED_OBJECTS: GC_ATTRIBUTES,
    conventions.GC_UNCOLLECTABLE_OBJECTS: GC_ATTRIBUTES,
}
HTTP_DURATION_ATTRIBUTES = {
    "http.request.method", "http.response.status_code", "http.route", "url.scheme", "network.protocol.version",
    "error.type",
}  # fmt: skip
# Series from elsewhere, named explicitly: the collector's own exporter counters and Tempo's metrics generator.
# The collector pinned (0.159) names its counters without `_total`, as 0.116 did; 0.119 to 0.151 add it (readers
# configured explicitly, as ops/otel-collector-config.yaml does), 0.152 drops it again.
COLLECTOR_SERIES = {
    f"otelcol_exporter_send_failed_{kind}{suffix}": {"exporter"}
    for kind in ("spans", "metric_points", "log_records")
    for suffix in ("", "_total")
}
TEMPO_SERIES = {
    name: {"service", "span_name", "span_kind", "status_code", *extra}
    for name, extra in {
        "traces_spanmetrics_calls_total": (),
        "traces_spanmetrics_latency_bucket": ("le",),
        "traces_spanmetrics_latency_sum": (),
        "traces_spanmetrics_latency_count": (),
    }.items()
}

SPAN_ATTRIBUTES = {
    conventions.SPAN_OPERATION, conventions.SPAN_RESOURCE_ID, conventions.SPAN_DEPENDENCY_COUNT,
    conventions.SPAN_CASCADE_SIZE, conventions.SPAN_SEARCH_QUERY, conventions.SPAN_SEARCH_QUERY_LENGTH,
    conventions.SPAN_SEARCH_RESULT_COUNT, conventions.ATTR_ERROR_TYPE, conventions.ATTR_DB_SYSTEM,
    "http.request.method", "http.route", "http.response.status_code", "url.scheme", "url.path", "server.address",
    "network.protocol.version",
}  # fmt: skip
RESOURCE_ATTRIBUTES = {
    "service.name",
    "service.version",
    "service.instance.id",
    "deployment.environment.name",
    "framework.name",
}
# Loki's OTLP ingestion: the body is the line, `service.name` an index label, and everything else structured
# metadata: the record's attributes, trace and span ids, severity, scope and the other resource attributes.
LOKI_STREAM_LABELS = {"service_name"}
LOKI_RECORD_FIELDS = {"severity_text", "severity_number", "observed_timestamp", "flags", "scope_name", "scope_version"}
# Record fields that OTLP carries in fields of its own, not as attributes.
NOT_LOG_ATTRIBUTES = {"timestamp", "level", "event"}
EVENTS = {conventions.EVENT_STARTED, conventions.EVENT_COMPLETED, conventions.EVENT_FAILED}

RUNBOOK_ANCHORS = {
    "high-error-rate.yaml": "alert-high-error-rate",
    "slow-operations.yaml": "alert-slow-operations",
    "circular-dependency.yaml": "alert-circular-dependency",
    "database-connection.yaml": "alert-database-connection",
    "otlp-export-failures.yaml": "alert-otlp-export-failures",
    "event-loop-delay.yaml": "alert-event-loop-delayed",
    "connection-pool-wait.yaml": "alert-waiting-for-database-connections",
    "admission-shedding.yaml": "alert-shedding-load",
}
# The keys Grafana's alerting provisioning reads (pkg/services/provisioning/alerting at v11.4.0: AlertingFileV1,
# ContactPointV1, ReceiverV1) and those of the Alertmanager route a policy is read into.
ALERTING_FILE_KEYS = {
    "apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies", "resetPolicies",
}  # fmt: skip
CONTACT_POINT_KEYS = {"orgId", "name", "receivers"}
RECEIVER_KEYS = {"uid", "type", "settings", "disableResolveMessage"}
POLICY_KEYS = {
    "orgId", "receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "routes", "matchers",
    "object_matchers", "continue", "mute_time_intervals", "active_time_intervals",
}  # fmt: skip
# (threshold, for) each alert's wording asks for; durations are seconds, thresholds ratios, seconds or counts.
ALERT_CONDITIONS = {
    "high-error-rate.yaml": (0.05, "5m"),
    "slow-operations.yaml": (1.0, "10m"),
    "circular-dependency.yaml": (0.0, "0s"),
    "database-connection.yaml": (5.0, "0s"),
    "otlp-export-failures.yaml": (10.0, "0s"),
    "event-loop-delay.yaml": (0.1, "5m"),
    "connection-pool-wait.yaml": (0.1, "5m"),
    "admission-shedding.yaml": (0.05, "5m"),
}


def prometheus_label(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def service_series() -> dict[str, set[str]]:
    """Every Prometheus series name of the service with its labels, from the telemetry contract."""
    contract = {*conventions.METRICS, conventions.EXPORT_FAILURES, *conventions.SATURATION_METRICS}
    assert set(INSTRUMENTS) == contract, "a metric without a kind and unit"
    series: dict[str, set[str]] = {}
    for name, (kind, unit) in INSTRUMENTS.items():
        base = prometheus_label(name) + PROMETHEUS_UNIT_SUFFIXES.get(unit, "")
        labels = {prometheus_label(attribute) for attribute in INSTRUMENT_ATTRIBUTES[name]} | RESOURCE_LABELS
        series.update(histogram_series(base, labels) if kind == "histogram" else {})
        series.update({base + "_total": labels} if kind == "counter" else {})
        series.update({base: labels} if kind == "gauge" else {})
    http_labels = {prometheus_label(attribute) for attribute in HTTP_DURATION_ATTRIBUTES} | RESOURCE_LABELS
    return series | histogram_series("http_server_request_duration_seconds", http_labels)


def histogram_series(base: str, labels: set[str]) -> dict[str, set[str]]:
    return {base + "_bucket": labels | {"le"}, base + "_sum": labels, base + "_count": labels}


KNOWN_SERIES = service_series() | COLLECTOR_SERIES | TEMPO_SERIES


def datasources() -> dict[str, dict[str, Any]]:
    return {source["uid"]: source for source in load_yaml(DATASOURCES_FILE)["datasources"]}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: load_dashboard(path) for path in dashboard_files()}


def every_promql() -> Iterator[tuple[str, str]]:
    """(where, expression ready to run) for every PromQL of the dashboards and the alert rules."""
    for query in prometheus_queries():
        yield f"{query.dashboard}: {query.panel} {query.ref_id}", query.expr
    for rule in alert_rules():
        yield f"{rule.file}: {rule.uid}", rule.expr


def nodes_of(expr: promql_parser.Expr, kind: type[Node]) -> list[Node]:
    """Every node of `kind` in `expr`."""
    found: list[Node] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, kind):
            found.append(node)

    promql_parser.walk(expr, visit)
    return found


def selectors(expr: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    return nodes_of(expr, promql_parser.VectorSelector)


def aggregations(expr: promql_parser.Expr) -> list[promql_parser.AggregateExpr]:
    return nodes_of(expr, promql_parser.AggregateExpr)


def series_of(selector: promql_parser.VectorSelector) -> list[str]:
    """The known series a selector reads: its name, or those its `__name__` regex matches in full."""
    if selector.name is not None:
        return [selector.name]
    (name_matcher,) = [matcher for matcher in selector.matchers.matchers if matcher.name == "__name__"]
    return [name for name in KNOWN_SERIES if re.fullmatch(name_matcher.value, name)]


# Datasources.


def test_the_datasources_have_the_fixed_uids_urls_and_types() -> None:
    document = load_yaml(DATASOURCES_FILE)
    sources = datasources()
    assert document["apiVersion"] == 1
    assert {uid: (source["type"], source["url"]) for uid, source in sources.items()} == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "tempo": ("tempo", "http://tempo:3200"),
        "loki": ("loki", "http://loki:3100"),
    }


def test_exemplars_of_the_service_and_of_tempo_lead_from_prometheus_to_tempo() -> None:
    """The service's exemplars carry `trace_id`; those of Tempo's span metrics carry `traceID`."""
    destinations = datasources()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {destination["name"]: destination["datasourceUid"] for destination in destinations} == {
        "trace_id": "tempo",
        "traceID": "tempo",
    }


def test_tempo_links_to_logs_by_trace_id_and_draws_the_service_map() -> None:
    settings = datasources()["tempo"]["jsonData"]
    to_logs = settings["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert to_logs["filterByTraceID"] is True
    assert 'trace_id="$${__trace.traceId}"' in to_logs["query"]
    assert {"key": "service.name", "value": "service_name"} in to_logs["tags"]
    assert settings["serviceMap"]["datasourceUid"] == "prometheus"
    assert settings["nodeGraph"]["enabled"] is True


def test_loki_links_a_json_log_line_to_its_trace() -> None:
    fields = {field["name"]: field for field in datasources()["loki"]["jsonData"]["derivedFields"]}
    trace_id = fields["TraceID"]
    line = orjson.dumps({"event": conventions.EVENT_COMPLETED, "trace_id": LIVE_VALUES["trace_id"]}).decode()
    match = re.search(trace_id["matcherRegex"], line)
    assert match is not None
    assert match.group(1) == LIVE_VALUES["trace_id"]
    assert (trace_id["datasourceUid"], trace_id["url"]) == ("tempo", "$${__value.raw}")


def test_loki_links_an_otlp_record_to_its_trace_through_its_metadata() -> None:
    by_label = [
        field for field in datasources()["loki"]["jsonData"]["derivedFields"] if field["matcherType"] == "label"
    ]
    assert [(field["matcherRegex"], field["datasourceUid"]) for field in by_label] == [("trace_id", "tempo")]


def test_every_dollar_in_the_datasources_is_escaped_from_environment_expansion() -> None:
    text = DATASOURCES_FILE.read_text(encoding="utf-8")
    assert "$$" in text
    assert not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", ""))


def test_the_dashboard_provider_loads_the_dashboard_folder() -> None:
    document = load_yaml(DASHBOARD_PROVIDER_FILE)
    (provider,) = document["providers"]
    assert document["apiVersion"] == 1
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# Dashboards.


def test_the_expected_dashboards_exist_with_unique_uids() -> None:
    boards = dashboards()
    assert set(boards) == DASHBOARD_NAMES
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    assert all(board["title"] and board["panels"] for board in boards.values())


@pytest.mark.parametrize("name", sorted(DASHBOARD_NAMES))
def test_every_dashboard_and_panel_field_is_one_the_grafana_pinned_reads(name: str) -> None:
    """A field outside the schema of the release pinned (renamed, removed, misspelt) is dropped without a word."""
    fields = grafana_dashboard_fields(pinned_grafana())
    assert {"uid", "panels", "schemaVersion"} <= fields["Dashboard"], "the dashboard schema was read"
    board = dashboards()[name]
    assert set(board) <= fields["Dashboard"], f"not dashboard fields: {sorted(set(board) - fields['Dashboard'])}"
    rows = [panel for panel in board["panels"] if panel["type"] == "row"]
    for kind, panels in (("RowPanel", rows), ("Panel", list(panels_of(board)))):
        for panel in panels:
            unknown = set(panel) - fields[kind]
            assert not unknown, f"{panel['title']!r}: not {kind} fields: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(DASHBOARD_NAMES))
def test_every_dashboard_filters_by_framework(name: str) -> None:
    variables = {variable["name"]: variable for variable in dashboards()[name]["templating"]["list"]}
    framework = variables["framework"]
    query = framework["query"]["query"] if isinstance(framework["query"], dict) else framework["query"]
    assert framework["type"] == "query"
    assert framework["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    assert query == "label_values(resource_operations_total, framework_name)"
    assert framework["multi"] is True
    assert framework["includeAll"] is True


def test_the_logs_dashboard_offers_a_trace_id_box_and_every_operation() -> None:
    variables = {variable["name"]: variable for variable in dashboards()["logs-correlation.json"]["templating"]["list"]}
    assert variables["trace_id"]["type"] == "textbox"
    assert variables["operation"]["query"].split(",") == list(conventions.OPERATIONS)


@pytest.mark.parametrize("name", sorted(DASHBOARD_NAMES))
def test_every_panel_and_query_names_a_provisioned_datasource(name: str) -> None:
    types = {uid: source["type"] for uid, source in datasources().items()}
    for panel in panels_of(dashboards()[name]):
        references = [panel["datasource"], *(target["datasource"] for target in panel["targets"])]
        assert panel["targets"], panel["title"]
        for reference in references:
            assert types.get(reference["uid"]) == reference["type"], (panel["title"], reference)


@pytest.mark.parametrize("name", sorted(DASHBOARD_NAMES))
def test_panels_have_unique_ids_and_never_overlap(name: str) -> None:
    panels = list(panels_of(dashboards()[name]))
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids)
    for panel in panels:
        grid = panel["gridPos"]
        assert min(grid["x"], grid["y"]) >= 0, panel["title"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
    for first, second in combinations(panels, 2):
        assert not overlap(first["gridPos"], second["gridPos"]), (first["title"], second["title"])


def overlap(first: Mapping[str, int], second: Mapping[str, int]) -> bool:
    across = first["x"] < second["x"] + second["w"] and second["x"] < first["x"] + first["w"]
    down = first["y"] < second["y"] + second["h"] and second["y"] < first["y"] + first["h"]
    return across and down


def test_the_overlap_check_tells_touching_from_overlapping_panels() -> None:
    panel = {"x": 0, "y": 0, "w": 12, "h": 8}
    assert not overlap(panel, {"x": 12, "y": 0, "w": 12, "h": 8})
    assert not overlap(panel, {"x": 0, "y": 8, "w": 24, "h": 8})
    assert overlap(panel, {"x": 11, "y": 7, "w": 2, "h": 2})


@pytest.mark.parametrize("name", sorted(DASHBOARD_NAMES))
def test_every_variable_a_panel_uses_is_defined(name: str) -> None:
    board = dashboards()[name]
    defined = {variable["name"] for variable in board["templating"]["list"]} | GRAFANA_BUILTINS
    used = variables_in(json.dumps(list(panels_of(board))))
    assert used
    assert used <= defined, used - defined


def test_the_variable_scan_finds_every_spelling() -> None:
    assert variables_in('a{f=~"$framework"}[$__rate_interval] ${trace_id} ${framework:regex}') == {
        "framework", "__rate_interval", "trace_id",
    }  # fmt: skip


# PromQL.


def test_every_promql_parses_and_reads_only_known_series_and_labels() -> None:
    checked = 0
    for where, text in every_promql():
        expr = promql_parser.parse(text)
        for selector in selectors(expr):
            names = series_of(selector)
            assert names, (where, str(selector))
            for name in names:
                labels = KNOWN_SERIES.get(name)
                assert labels is not None, (where, name)
                used = {matcher.name for matcher in selector.matchers.matchers} - {"__name__"}
                assert used <= labels, (where, name, used - labels)
                checked += 1
    assert checked > 30


def test_every_aggregation_keeps_only_labels_its_series_have() -> None:
    for where, text in every_promql():
        for aggregation in aggregations(promql_parser.parse(text)):
            available = set().union(*(KNOWN_SERIES[name] for s in selectors(aggregation.expr) for name in series_of(s)))
            kept = set(aggregation.modifier.labels) if aggregation.modifier else set()
            assert kept <= available, (where, kept - available)
            assert not kept & {"job", "instance"}, where


def test_every_dashboard_query_of_the_service_follows_the_framework_variable() -> None:
    for query in prometheus_queries("service"):
        for selector in selectors(promql_parser.parse(query.expr)):
            matchers = {(matcher.name, matcher.value) for matcher in selector.matchers.matchers}
            assert ("framework_name", LIVE_VALUES["framework"]) in matchers, (query.dashboard, query.panel)


def test_the_resource_count_is_never_summed_across_processes() -> None:
    for where, text in every_promql():
        for aggregation in aggregations(promql_parser.parse(text)):
            reads_count = any(s.name == "resource_count" for s in selectors(aggregation.expr))
            assert not reads_count or str(aggregation.op) == "max", where


def test_the_collector_failures_are_read_in_either_spelling_of_its_counters() -> None:
    queries = [rule.expr for rule in alert_rules("collector")] + [
        query.expr for query in prometheus_queries("collector")
    ]
    assert len(queries) == 2
    for text in queries:
        read = {name for selector in selectors(promql_parser.parse(text)) for name in series_of(selector)}
        assert read == set(COLLECTOR_SERIES), (text, set(COLLECTOR_SERIES) - read)


def test_the_known_series_are_those_the_contract_names() -> None:
    assert {"resource_operations_total", "resource_operation_duration_seconds_bucket", "resource_count"} <= set(
        KNOWN_SERIES
    )
    assert KNOWN_SERIES["resource_repository_duration_seconds_bucket"] >= {"method", "db_system_name", "le"}
    assert "error_type" in KNOWN_SERIES["resource_operation_errors_total"]
    assert "job" not in KNOWN_SERIES["resource_operations_total"]


# LogQL and TraceQL.


def log_fields() -> set[str]:
    """Structured metadata of a service record in Loki: the documented fields as Loki renames them."""
    documented = documented_names(DOCS / "logging-reference.md", "field")
    attributes = documented - NOT_LOG_ATTRIBUTES
    resource = {prometheus_label(name) for name in RESOURCE_ATTRIBUTES} - LOKI_STREAM_LABELS
    return {prometheus_label(name) for name in attributes} | LOKI_RECORD_FIELDS | resource


def documented_names(page: Path, first_header: str) -> set[str]:
    """The backticked names in the first column of every table of `page` whose first header is `first_header`."""
    names: set[str] = set()
    in_table = False
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[0] == first_header:
            in_table = True
        elif in_table and (match := re.fullmatch(r"`([^`]+)`", cells[0])):
            names.add(match.group(1))
    return names


def test_the_documented_log_fields_include_the_trace_and_the_exception() -> None:
    fields = log_fields()
    assert {"trace_id", "span_id", "operation", "error_type", "exception_stacktrace", "framework_name"} <= fields
    assert not {"event", "level", "timestamp"} & fields


def test_every_logql_reads_only_fields_the_service_writes() -> None:
    fields = log_fields()
    queries = loki_queries()
    assert len(queries) >= 5
    for query in queries:
        where = (query.dashboard, query.panel)
        stream = re.search(r"\{([^}]*)\}", query.expr)
        assert stream is not None, where
        assert set(re.findall(r"(\w+)\s*=~?", stream.group(1))) <= LOKI_STREAM_LABELS, where
        filters = set(re.findall(r'\|\s*(\w+)\s*(?:=~|!~|!=|>=|<=|=|>|<)\s*"', query.expr))
        grouped = {
            label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", query.expr) for label in group.split(",")
        }
        templated = set(re.findall(r"\{\{\s*\.(\w+)\s*\}\}", query.expr))
        assert filters | grouped | templated <= fields, (where, (filters | grouped | templated) - fields)
        assert set(re.findall(r'\|=\s*"([^"]*)"', query.expr)) <= EVENTS, where


# A string literal, skipped, or a scoped attribute: `span.name`, `span."quoted.name"`, `resource.name`.
TRACEQL_ATTRIBUTE = re.compile(r'"[^"]*"|(?<![\w.])(span|resource)\.(?:"([^"]+)"|([\w.]+))')


def scoped_attributes(traceql: str) -> list[tuple[str, str]]:
    """(scope, name) of every attribute `traceql` reads, quoted names unquoted."""
    return [(scope, quoted or plain) for scope, quoted, plain in TRACEQL_ATTRIBUTE.findall(traceql) if scope]


def test_the_attribute_scan_reads_quoted_names_and_skips_strings() -> None:
    assert scoped_attributes('{ span."resource.id" = "span.not.this" && resource.framework.name = "x" }') == [
        ("span", "resource.id"),
        ("resource", "framework.name"),
    ]


def test_every_traceql_reads_only_attributes_the_service_sets() -> None:
    queries = tempo_queries()
    assert len(queries) >= 3
    for query in queries:
        scoped = scoped_attributes(query.expr)
        assert {name for scope, name in scoped if scope == "span"} <= SPAN_ATTRIBUTES, query.panel
        assert {name for scope, name in scoped if scope == "resource"} <= RESOURCE_ATTRIBUTES, query.panel
        assert ("resource", "framework.name") in scoped, query.panel


QUERIES_BY_LANGUAGE = {"logql": loki_queries, "traceql": tempo_queries}


@pytest.mark.parametrize("language", sorted(QUERIES_BY_LANGUAGE))
def test_every_logql_and_traceql_parses_in_grafanas_own_grammar(language: Literal["logql", "traceql"]) -> None:
    """The grammars of Grafana's query editors: an error node is a query Grafana marks broken."""
    queries = QUERIES_BY_LANGUAGE[language]()
    assert len(queries) >= 3
    errors = grafana_parse_errors(language, [query.expr for query in queries])
    broken = {
        f"{query.dashboard}: {query.panel}": [query.expr[start : max(end, start + 20)] for start, end in spans]
        for query, spans in zip(queries, errors, strict=True)
        if spans
    }
    assert not broken


def test_the_tracing_guides_traceql_examples_parse_in_grafanas_own_grammar() -> None:
    page = (DOCS / "tracing-guide.md").read_text(encoding="utf-8")
    table = page.split("| looking for | TraceQL |", 1)[1].split("\n\n", 1)[0]
    examples = re.findall(r"^\|[^|]+\| `([^`]+)` \|$", table, re.M)
    assert len(examples) >= 5
    errors = grafana_parse_errors("traceql", examples)
    assert not {example: spans for example, spans in zip(examples, errors, strict=True) if spans}


def test_grafanas_grammars_catch_a_broken_query() -> None:
    logql, traceql = loki_queries()[0].expr, tempo_queries()[0].expr
    logql_errors = grafana_parse_errors("logql", [logql, logql.replace("}", "", 1), logql + " | json |"])
    assert [bool(spans) for spans in logql_errors] == [False, True, True]
    unquoted = traceql.replace('span."resource.operation"', "span.resource.operation")
    assert unquoted != traceql
    traceql_errors = grafana_parse_errors("traceql", [traceql, traceql.rstrip("}"), unquoted])
    assert [bool(spans) for spans in traceql_errors] == [False, True, True]


def test_the_tracing_dashboard_draws_the_service_map_from_tempo() -> None:
    panels = {panel["title"]: panel for panel in panels_of(dashboards()["distributed-tracing.json"])}
    (service_map,) = [panel for panel in panels.values() if panel["type"] == "nodeGraph"]
    assert service_map["targets"][0]["queryType"] == "serviceMap"
    assert service_map["datasource"]["uid"] == "tempo"


# Alert rules.


def test_the_alert_files_are_those_expected() -> None:
    assert {path.name for path in alert_files()} == set(RUNBOOK_ANCHORS)
    assert all(load_yaml(path)["apiVersion"] == 1 for path in alert_files())
    uids = [rule.uid for rule in alert_rules()]
    assert len(uids) == len(set(uids)) == 9


def test_every_rule_queries_prometheus_then_reduces_then_compares() -> None:
    for path, group, rule in alert_rule_documents():
        where = (path.name, rule["uid"])
        assert {"name", "folder", "interval"} <= set(group), path.name
        query, reduce, threshold = rule["data"]
        assert rule["condition"] == "C", where
        assert (query["refId"], query["datasourceUid"]) == ("A", "prometheus"), where
        assert query["relativeTimeRange"]["from"] > 0, where
        assert query["model"]["expr"], where
        assert (reduce["refId"], reduce["model"]["type"], reduce["model"]["expression"]) == ("B", "reduce", "A"), where
        assert reduce["model"]["reducer"] == "last", where
        assert (threshold["refId"], threshold["model"]["type"], threshold["model"]["expression"]) == (
            "C", "threshold", "B",
        ), where  # fmt: skip
        assert threshold["model"]["conditions"][0]["evaluator"]["type"] == "gt", where
        assert rule["noDataState"] in {"OK", "NoData", "Alerting"}, where
        assert rule["execErrState"] in {"OK", "Error", "Alerting"}, where


def test_every_rule_has_the_threshold_and_duration_its_wording_asks_for() -> None:
    for rule in alert_rules():
        assert (rule.threshold, rule.for_duration) == ALERT_CONDITIONS[rule.file], rule.uid


def test_database_errors_are_evaluated_at_least_every_two_minutes() -> None:
    intervals = {rule.file: promql_parser.parse_duration(rule.interval).total_seconds() for rule in alert_rules()}
    assert intervals["database-connection.yaml"] <= 120


def test_only_the_collector_rule_needs_the_collector() -> None:
    assert {rule.uid for rule in alert_rules("collector")} == {"resource-collector-export-failures"}
    assert "telemetry_export_failures_total" in " ".join(rule.expr for rule in alert_rules("service"))


def test_every_rule_explains_itself_and_links_its_runbook_and_dashboard() -> None:
    panels = {board["uid"]: {panel["id"] for panel in panels_of(board)} for board in dashboards().values()}
    for path, _group, rule in alert_rule_documents():
        annotations = rule["annotations"]
        assert annotations["summary"], rule["uid"]
        assert annotations["description"], rule["uid"]
        assert f"for: {rule['for']}" in annotations["description"], rule["uid"]
        expected = f"docs/observability-setup.md#{RUNBOOK_ANCHORS[path.name]}"
        assert annotations["runbook_url"] == expected, rule["uid"]
        assert rule["panelId"] in panels[rule["dashboardUid"]], rule["uid"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["uid"]


def test_the_runbook_anchors_are_sections_of_the_setup_guide() -> None:
    headings = re.findall(r"^#+\s+(.+)$", (DOCS / "observability-setup.md").read_text(encoding="utf-8"), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings}
    assert set(RUNBOOK_ANCHORS.values()) <= anchors


def test_every_alert_is_mailed_to_the_local_mailbox() -> None:
    document = load_yaml(NOTIFICATIONS_FILE)
    assert document["apiVersion"] == 1
    assert set(document) <= ALERTING_FILE_KEYS, set(document) - ALERTING_FILE_KEYS
    (contact_point,) = document["contactPoints"]
    (receiver,) = contact_point["receivers"]
    (policy,) = document["policies"]
    assert set(contact_point) <= CONTACT_POINT_KEYS, set(contact_point) - CONTACT_POINT_KEYS
    assert set(receiver) <= RECEIVER_KEYS, set(receiver) - RECEIVER_KEYS
    assert set(policy) <= POLICY_KEYS, set(policy) - POLICY_KEYS
    assert (receiver["type"], receiver["settings"]["addresses"]) == ("email", "oncall@resource-service.local")
    assert receiver["uid"]
    assert policy["receiver"] == contact_point["name"]
    assert "routes" not in policy, "the root policy is the only one: every rule reaches its receiver"


def test_no_rule_field_that_grafana_expands_holds_a_dollar() -> None:
    """Grafana expands `$VAR` in alert files from its environment, everywhere but in annotations."""
    for _path, _group, rule in alert_rule_documents():
        expanded = {key: value for key, value in rule.items() if key != "annotations"}
        assert "$" not in json.dumps(expanded), rule["uid"]
