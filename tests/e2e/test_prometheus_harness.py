"""The real-Prometheus harness: a Prometheus server of its own scrapes the synthetic exporter and evaluates
rules loaded the way prometheus-operator loads them (rule file + reload).

Every wait polls with a deadline. Prometheus 2.42 first scrapes a new target ~5 s after start-up (its scrape
manager applies target changes at most every 5 s), so the module shares one server and one exporter.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kpi_operator_devtools.prometheus_server import (
    PrometheusError,
    PrometheusReloadError,
    PrometheusServer,
)
from kpi_operator_devtools.synthetic_exporter import Exporter

pytestmark = pytest.mark.e2e

NO_PROMETHEUS = "prometheus not installed: apt-get install prometheus"
requires_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason=NO_PROMETHEUS)

SERVICE = "checkout"
ERROR_RATIO = 0.01
RPS = 20.0
SLOW_RATIO = 0.2  # 20% of requests take 1 s, the rest 0.05 s

ERROR_RATIO_RULE = {
    "record": "service:http_error_ratio:rate30s",
    "expr": 'sum(rate(http_requests_total{code=~"5.."}[30s])) / sum(rate(http_requests_total[30s]))',
}
FAST_FRACTION_RULE = {
    "record": "service:http_requests_within_300ms:ratio_rate30s",
    "expr": 'sum(rate(http_request_duration_seconds_bucket{le="0.3"}[30s]))'
    " / sum(rate(http_request_duration_seconds_count[30s]))",
}


@pytest.fixture(scope="module")
def exporter():
    with Exporter(service=SERVICE) as exp:
        exp.set_traffic("canary", rps=RPS, error_ratio=ERROR_RATIO, slow_ratio=SLOW_RATIO, slow_latency=1.0)
        yield exp


@pytest.fixture(scope="module")
def prometheus(exporter):
    if shutil.which("prometheus") is None:
        pytest.skip(NO_PROMETHEUS)
    with PrometheusServer([exporter.target], job_name="synthetic") as prom:
        prom.set_rule_groups(
            [{"name": "synthetic-slo", "rules": [ERROR_RATIO_RULE, FAST_FRACTION_RULE]}]
        )
        prom.wait_for_series('up{job="synthetic"} == 1', timeout=30)
        yield prom


def _single_value(result):
    assert len(result) == 1, result
    return result[0][1]


def test_exporter_counts_are_exact():
    """errors == floor(requests * ratio) at every moment: the carry makes the ratio exact, not random."""
    with Exporter(service=SERVICE) as exp:
        exp.set_traffic("canary", rps=RPS, error_ratio=ERROR_RATIO, slow_ratio=SLOW_RATIO, slow_latency=1.0)
        exp.advance(7.3)  # a burst on top of the background thread's traffic: at least 146 requests
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        text = no_proxy.open(exp.url, timeout=5).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    counts = {s.labels["code"]: s.value for s in families["http_requests"].samples if s.name.endswith("_total")}
    requests = counts["200"] + counts["500"]
    assert requests >= 146
    assert counts["500"] == math.floor(requests * ERROR_RATIO)
    histogram = {
        s.labels.get("le"): s.value
        for s in families["http_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert {"0.1", "0.25", "0.3", "0.5", "1.0", "+Inf"} <= set(histogram)
    assert histogram["+Inf"] == requests
    assert histogram["0.3"] == requests - math.floor(requests * SLOW_RATIO)  # slow ones are 1 s, above 0.3


def test_recorded_error_ratio_matches_the_exporter(prometheus):
    # 1% of 20 rps is one error every 5 s. With a full 30 s window the ratio is 5 or 6 errors out of ~580
    # requests (0.0086 or 0.0103); while the window still fills it swings more (one error more or less among
    # fewer requests). Tolerance 0.01 +/- 0.003: met at both full-window values, while 0.5% or 2% would miss.
    # A ratio is unaffected by rate()'s partial-window extrapolation, which scales both sums alike.
    result = prometheus.wait_for_series(
        "service:http_error_ratio:rate30s",
        timeout=40,
        predicate=lambda r: abs(_single_value(r) - ERROR_RATIO) <= 0.003,
    )
    assert result[0][0] == {"__name__": "service:http_error_ratio:rate30s"}
    assert prometheus.query('sum(http_requests_total{track="stable"})') == []  # only canary has traffic


def test_request_rate_matches_the_exporter(prometheus):
    # An absolute rate needs a full window: for a series younger than the range, rate() extrapolates only
    # half a scrape interval past its first sample, so a [30s] rate reads ~17 rps with 25 s of data. A [10s]
    # range fills quickly; the exporter adds 4 requests every 0.2 s, so 20 rps is met within 1 rps.
    prometheus.wait_for_series(
        "sum(rate(http_requests_total[10s]))", timeout=20, predicate=lambda r: abs(_single_value(r) - RPS) <= 1.0
    )


def test_histogram_latency_fraction(prometheus):
    # 80% of requests take 0.05 s (le="0.3" bucket), 20% take 1 s: the fraction within 300 ms is 0.8. Slow
    # requests come 0.8 per 0.2 s tick, so over >= 2 s of samples the fraction is within 0.02.
    prometheus.wait_for_series(
        "service:http_requests_within_300ms:ratio_rate30s",
        timeout=30,
        predicate=lambda r: abs(_single_value(r) - (1 - SLOW_RATIO)) <= 0.02,
    )
    # histogram_quantile over the same buckets: p90 falls among the 1 s requests, in the (0.5, 1] bucket.
    p90 = prometheus.wait_for_series(
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[30s])))", timeout=10
    )
    assert 0.5 < _single_value(p90) <= 1.0


def test_gauge_reaches_prometheus_and_goes_stale_when_removed(prometheus, exporter):
    labels = {"service": SERVICE, "track": "canary"}
    exporter.set_gauge("checkout_conversion_ratio", 0.031, labels)
    prometheus.wait_for_series(
        'checkout_conversion_ratio{track="canary"}', timeout=15, predicate=lambda r: _single_value(r) == 0.031
    )
    exporter.set_gauge("checkout_conversion_ratio", 0.045, labels)
    prometheus.wait_for_series(
        'checkout_conversion_ratio{track="canary"}', timeout=15, predicate=lambda r: _single_value(r) == 0.045
    )
    # A series that disappears from a scrape gets a staleness marker: the query is empty at once, not after
    # the 5 m lookback delta.
    exporter.remove_gauge("checkout_conversion_ratio")
    prometheus.wait_for_series(
        'absent(checkout_conversion_ratio{track="canary"})', timeout=15, predicate=lambda r: r[0][1] == 1
    )


def test_bad_rule_raises_with_prometheus_message_and_keeps_the_old_rules(prometheus):
    bad = [{"name": "broken", "rules": [{"record": "broken:ratio", "expr": "sum(rate(http_requests_total[30s])"}]}]
    with pytest.raises(PrometheusReloadError) as excinfo:
        prometheus.set_rule_groups(bad, name="broken")
    message = str(excinfo.value)
    # Prometheus' own parser message, with file, group and rule, not just the reload's HTTP 500 text.
    assert "unclosed left parenthesis" in message, message
    assert "broken.yml" in message and 'group "broken"' in message, message
    # The bad file is rolled back, the previous rules stay loaded, and the next good reload works.
    assert not (prometheus.rules_dir / "broken.yml").exists()
    assert {g["name"] for g in prometheus.rule_groups()} == {"synthetic-slo"}
    fixed_rule = {"record": "fixed:requests:rate30s", "expr": "sum(rate(http_requests_total[30s]))"}
    good = [{"name": "fixed", "rules": [fixed_rule]}]
    prometheus.set_rule_groups(good, name="fixed", wait_for_evaluation=True)
    prometheus.wait_for_series("fixed:requests:rate30s", timeout=10)
    prometheus.remove_rules("fixed")
    assert {g["name"] for g in prometheus.rule_groups()} == {"synthetic-slo"}


def test_query_error_carries_prometheus_message(prometheus):
    with pytest.raises(PrometheusError, match="parse error"):
        prometheus.query("sum(")


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                children.append(int(entry.name))
    return children


@requires_prometheus
def test_stop_leaves_no_process_port_or_files():
    before = set(_children_of(os.getpid()))
    server = PrometheusServer().start()
    pid, port, tmpdir = server.pid, server.port, server.tmpdir
    assert pid in _children_of(os.getpid())
    assert server.query("vector(1)") == [({}, 1.0)]
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(ProcessLookupError):  # exited and reaped: not even a zombie is left
        os.kill(pid, 0)
    assert set(_children_of(os.getpid())) <= before
    assert not tmpdir.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
