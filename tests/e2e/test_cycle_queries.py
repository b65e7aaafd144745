"""An evaluation cycle asks a real Prometheus the same number of queries for one object as for hundreds.

The cost of the operator on Prometheus must not grow with the number of KPIs and SLOs: the recording rules
carry the per-object work, and a cycle reads them back with a constant handful of queries. Counted here at the
HTTP client (``PrometheusReader.queries``) and in the operator's own metric, on a real server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kpi_operator.api import parse_object
from kpi_operator.runtime.config import OperatorConfig
from kpi_operator.runtime.evaluation_loop import evaluate_once
from kpi_operator.runtime.state import Entry, Runtime
from kpi_operator_devtools.prometheus_server import PrometheusServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prom() -> Any:
    server = PrometheusServer([]).start()
    try:
        yield server
    finally:
        server.stop()


def body(index: int, kind: str) -> dict[str, Any]:
    meta = {"name": f"o-{index}", "namespace": "shop"}
    if kind == "KPI":
        spec: dict[str, Any] = {"owner": "o", "query": "sum(up)", "target": {"op": ">=", "value": 1}}
    else:
        spec = {"service": "api", "owner": "o", "objective": 99.9,
                "indicator": {"ratio": {"errorsMetric": 'http_requests_total{code=~"5.."}', "totalMetric": "http_requests_total"}}}
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


def runtime_with(prom: PrometheusServer, count: int) -> Runtime:
    runtime = Runtime(OperatorConfig(prometheus_url=prom.url, prometheus_timeout=5.0, metrics_port=-1))
    for index in range(count):
        kind = "KPI" if index % 3 == 0 else "SLO"
        obj, problems = parse_object(body(index, kind))
        assert obj is not None, problems
        runtime.store.put(Entry(kind=kind, namespace="shop", name=obj.metadata.name, uid=None, obj=obj))
    return runtime


@pytest.mark.parametrize("count", [1, 300], ids=["one object", "three hundred objects"])
def test_a_cycle_sends_three_queries_whatever_the_number_of_objects(prom: PrometheusServer, count: int) -> None:
    runtime = runtime_with(prom, count)
    asyncio.run(evaluate_once(runtime))
    asyncio.run(evaluate_once(runtime))
    # Three queries a cycle, and one read of rule health (these objects have no data, so the first cycle asks
    # why; the next read is not due for ten intervals), whatever the number of objects.
    assert runtime.reader.queries == 2 * 3 + 1
    assert runtime.telemetry.registry.get_sample_value("kpi_operator_prometheus_queries_total") == 2 * 3 + 1
    assert sum(sample.value for sample in runtime.telemetry.objects.collect()[0].samples) == count


def test_no_object_sends_no_query(prom: PrometheusServer) -> None:
    runtime = runtime_with(prom, 0)
    asyncio.run(evaluate_once(runtime))
    assert runtime.reader.queries == 0
