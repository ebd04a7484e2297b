"""The Grafana provisioning of the ops stack read as data: every query of its dashboards and alert rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

OPS = Path(__file__).parents[2] / "ops"
GRAFANA = OPS / "grafana"
DATASOURCES_FILE = GRAFANA / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDER_FILE = GRAFANA / "dashboards" / "dashboards.yaml"
DASHBOARDS_DIR = GRAFANA / "dashboards"
ALERTS_DIR = GRAFANA / "alerts"
NOTIFICATIONS_FILE = ALERTS_DIR / "notifications.yaml"

# Who produces a PromQL query's series: the service itself, the collector (`otelcol_*`), or Tempo's metrics
# generator (span metrics and service graph). Only `service` queries can be checked without those two.
Origin = Literal["service", "collector", "tempo"]
_COLLECTOR_SERIES = re.compile(r"\botelcol_")
_TEMPO_SERIES = re.compile(r"\btraces_(spanmetrics|service_graph)_")

# What each Grafana variable becomes for a live check. `framework` names both apps, so a query returns series
# only if the framework_name label is really there.
LIVE_VALUES: Final[Mapping[str, str]] = {
    "framework": "fastapi|litestar",
    "operation": ".+",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}
# `$name`, `${name}` and `${name:format}`.
VARIABLE: Final = re.compile(r"\$\{(?P<braced>\w+)(?::\w+)?\}|\$(?P<plain>\w+)")


@dataclass(frozen=True)
class PanelQuery:
    """One query of one dashboard panel: `expr` is ready to run, `raw` is as the dashboard has it."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    raw: str


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: it fires when `expr` (query A) stays above `threshold` for `for_duration`."""

    file: str
    uid: str
    title: str
    expr: str
    threshold: float
    for_duration: str
    interval: str
    origin: Origin


def variables_in(text: str) -> set[str]:
    """Names of the Grafana variables `text` uses."""
    return {match["braced"] or match["plain"] for match in VARIABLE.finditer(text)}


def substitute(text: str, values: Mapping[str, str] = LIVE_VALUES) -> str:
    """`text` with every Grafana variable replaced by its value; a KeyError names a variable without one."""
    return VARIABLE.sub(lambda match: values[match["braced"] or match["plain"]], text)


def origin_of(promql: str) -> Origin:
    """Which process produces the series `promql` reads."""
    if _COLLECTOR_SERIES.search(promql):
        return "collector"
    if _TEMPO_SERIES.search(promql):
        return "tempo"
    return "service"


def load_yaml(path: Path) -> Any:
    """A provisioning file, parsed."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def pinned_grafana() -> str:
    """The version of the Grafana image the compose file pins, as `11.4.0`."""
    image: str = load_yaml(OPS / "docker-compose.yml")["services"]["grafana"]["image"]
    return image.removeprefix("grafana/grafana:")


def dashboard_files() -> list[Path]:
    """Every dashboard JSON file, by name."""
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    """A dashboard JSON file, parsed."""
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def panels_of(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those folded into a row included; rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def alert_files() -> list[Path]:
    """Every alert-rule file, by name (the contact point and the notification policy have a file of their own)."""
    return sorted(path for path in ALERTS_DIR.glob("*.yaml") if path != NOTIFICATIONS_FILE)


def alert_rule_documents() -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(file, group, rule) for every rule of every alert file, as written."""
    for path in alert_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path, group, rule


def prometheus_queries(origin: Origin | None = None) -> list[PanelQuery]:
    """Every PromQL query of the dashboards, or only those whose series come from `origin`."""
    queries = _panel_queries("prometheus", "expr")
    return [query for query in queries if origin is None or origin_of(query.expr) == origin]


def loki_queries() -> list[PanelQuery]:
    """Every LogQL query of the dashboards."""
    return _panel_queries("loki", "expr")


def tempo_queries() -> list[PanelQuery]:
    """Every TraceQL search of the dashboards (not the timeline's trace-id lookup nor the service map)."""
    return [query for query in _panel_queries("tempo", "query") if query.raw.lstrip().startswith("{")]


def alert_rules(origin: Origin | None = None) -> list[AlertRule]:
    """Every alert rule, or only those whose series come from `origin`."""
    rules = [_alert_rule(path, group, rule) for path, group, rule in alert_rule_documents()]
    return [rule for rule in rules if origin is None or rule.origin == origin]


def _panel_queries(datasource_uid: str, field: str) -> list[PanelQuery]:
    queries = []
    for path in dashboard_files():
        for panel in panels_of(load_dashboard(path)):
            for target in panel.get("targets", []):
                datasource = target.get("datasource") or panel["datasource"]
                if datasource["uid"] == datasource_uid and target.get(field):
                    raw = target[field]
                    queries.append(PanelQuery(path.name, panel["title"], target["refId"], substitute(raw), raw))
    return queries


def _alert_rule(path: Path, group: Mapping[str, Any], rule: Mapping[str, Any]) -> AlertRule:
    queries = {query["refId"]: query["model"] for query in rule["data"]}
    expr = queries["A"]["expr"]
    (threshold,) = queries["C"]["conditions"][0]["evaluator"]["params"]
    return AlertRule(
        file=path.name,
        uid=rule["uid"],
        title=rule["title"],
        expr=expr,
        threshold=float(threshold),
        for_duration=rule["for"],
        interval=group["interval"],
        origin=origin_of(expr),
    )
