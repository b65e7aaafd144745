"""A synthetic HTTP service's metrics, served for a real Prometheus to scrape.

End-to-end tests and ``kpi-operator demo`` need traffic whose error ratio and latency they *choose*, so that
what Prometheus computes from it can be compared with what the caller set. This module serves the same metric
shapes a real instrumented HTTP service exposes:

- ``http_requests_total{service, track, code}``: a counter; ``code`` is ``"200"`` for good requests and
  ``"500"`` for errors; ``track`` is the rollout track, by convention ``stable`` or ``canary``.
- ``http_request_duration_seconds{service, track}``: a classic histogram (``_bucket{le}``, ``_sum``,
  ``_count``) whose buckets include 0.1, 0.25, 0.3, 0.5 and 1 s, the usual latency-SLO thresholds.
- any gauge the caller sets with :meth:`Exporter.set_gauge` (for KPIs such as a conversion ratio).

Counts are deterministic: a background thread advances every track each ``tick`` seconds (0.1-0.25 s, so
per-second rates look smooth to a 1 s scrape) by ``rps * elapsed`` requests, of which exactly
``error_ratio`` are errors and ``slow_ratio`` are slow. Fractions of a request or of an error are carried to
the next tick (exact rational arithmetic for the ratios), so after N requests at a constant ratio r there are
exactly ``floor(N * r)`` errors. Nothing is random, so a test can derive its expectation from the inputs.

The exporter has its own :class:`prometheus_client.CollectorRegistry` (never the process-global one), so
several exporters can run in one process and tests do not leak metrics into each other.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = ["Exporter", "DEFAULT_BUCKETS", "GOOD_CODE", "ERROR_CODE"]

#: Histogram buckets (seconds). 0.1, 0.25, 0.3, 0.5 and 1 are the thresholds latency SLOs usually name;
#: the others keep the histogram useful for quantiles.
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
GOOD_CODE = "200"
ERROR_CODE = "500"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_NAMES = {"http_requests_total", "http_request_duration_seconds"}


def _exact(value: float | int | Fraction | Decimal, what: str) -> Fraction:
    """The ratio as an exact fraction (0.01 -> 1/100, not the nearest binary float), validated in [0, 1]."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value!r}")
        frac = Fraction(repr(value))  # repr gives the shortest decimal that round-trips: 0.01 -> "0.01"
    else:
        frac = Fraction(value)
    if not 0 <= frac <= 1:
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return frac


def _format_le(bound: float) -> str:
    """Bucket bound as Prometheus prints it ("0.3", "1.0"), so queries can use le="1.0" as usual."""
    return repr(float(bound))


@dataclass
class _Track:
    """Traffic settings and cumulative counts of one (service, track)."""

    rps: float = 0.0
    error_ratio: Fraction = Fraction(0)
    slow_ratio: Fraction = Fraction(0)
    slow_latency: float = 1.0
    fast_latency: float = 0.05
    # carries: the fraction of a request / error / slow request not yet emitted
    request_carry: float = 0.0
    error_carry: Fraction = Fraction(0)
    slow_carry: Fraction = Fraction(0)
    # cumulative counts, what the exposition shows
    good: int = 0
    errors: int = 0
    slow: int = 0
    bucket_counts: list[int] = field(default_factory=list)  # non-cumulative count per bucket, +Inf last
    latency_sum: float = 0.0


class Exporter:
    """Serves a synthetic HTTP service's metrics on a free 127.0.0.1 port; the caller sets the traffic.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with Exporter(service="checkout") as exporter:
            exporter.set_traffic("canary", rps=20, error_ratio=0.01)
            ...  # scrape exporter.target ("127.0.0.1:PORT")

    ``tick`` is how often the background thread adds requests (0.1-0.25 s: often enough that every 1 s scrape
    sees a rate close to ``rps``, rarely enough to cost nothing).
    """

    def __init__(
        self,
        service: str = "demo-api",
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        tick: float = 0.2,
        host: str = "127.0.0.1",
    ) -> None:
        if not 0.1 <= tick <= 0.25:
            raise ValueError(f"tick must be between 0.1 and 0.25 seconds (smooth per-second rates), got {tick}")
        bounds = sorted(float(b) for b in buckets if not math.isinf(float(b)))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"buckets must be distinct finite numbers, got {list(buckets)!r}")
        self.service = service
        self.buckets: tuple[float, ...] = tuple(bounds)
        self.tick = tick
        self.host = host
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # the registry calls self.collect() on every scrape
        self._lock = threading.Lock()
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}
        self._last_advance = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._httpd = None
        self._port: int | None = None

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> "Exporter":
        """Start serving ``/metrics`` and advancing traffic. Returns self."""
        if self._httpd is not None:
            return self
        self._httpd, _ = start_http_server(0, addr=self.host, registry=self.registry)
        self._port = self._httpd.server_address[1]
        self._stop.clear()
        with self._lock:
            self._last_advance = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"synthetic-exporter-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the traffic thread and the HTTP server, and release the port. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "Exporter":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("exporter not started")
        return self._port

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape target."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The metrics URL, ``http://host:port/metrics``."""
        return f"http://{self.target}/metrics"

    # ------------------------------------------------------------------------------------------- traffic

    def set_traffic(
        self,
        track: str,
        rps: float,
        error_ratio: float | Fraction = 0.0,
        slow_ratio: float | Fraction = 0.0,
        slow_latency: float = 1.0,
        fast_latency: float = 0.05,
        *,
        service: str | None = None,
    ) -> None:
        """From now on, ``track`` serves ``rps`` requests per second, ``error_ratio`` of them errors (code 500),
        ``slow_ratio`` of them taking ``slow_latency`` seconds and the rest ``fast_latency`` seconds.

        Traffic up to now is accounted at the old settings first, so a change takes effect at this instant.
        Both code series and the histogram exist (at 0) from the first call: a counter that appears only when
        it first increments would hide that increment from ``rate()``.
        """
        if not track:
            raise ValueError("track must be a non-empty string (stable or canary, by convention)")
        if not (math.isfinite(rps) and rps >= 0):
            raise ValueError(f"rps must be a finite number >= 0, got {rps!r}")
        for name, latency in (("slow_latency", slow_latency), ("fast_latency", fast_latency)):
            if not (math.isfinite(latency) and latency >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {latency!r}")
        errors = _exact(error_ratio, "error_ratio")
        slow = _exact(slow_ratio, "slow_ratio")
        with self._lock:
            self._advance_locked(time.monotonic())
            state = self._track_locked(service or self.service, track)
            state.rps = float(rps)
            state.error_ratio = errors
            state.slow_ratio = slow
            state.slow_latency = float(slow_latency)
            state.fast_latency = float(fast_latency)

    def advance(self, seconds: float) -> None:
        """Add ``seconds`` worth of traffic at once, on top of the background thread's (e.g. a burst)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        with self._lock:
            for state in self._tracks.values():
                self._add_traffic(state, seconds)

    def totals(self, track: str, *, service: str | None = None) -> dict[str, float]:
        """Cumulative counts of one track so far: ``requests``, ``errors``, ``slow`` (requests observed at the
        slow latency) and ``latency_sum``; what the exposition shows, for exact assertions."""
        with self._lock:
            state = self._tracks.get((service or self.service, track))
            if state is None:
                return {"requests": 0, "errors": 0, "slow": 0, "latency_sum": 0.0}
            return {
                "requests": state.good + state.errors,
                "errors": state.errors,
                "slow": state.slow,
                "latency_sum": state.latency_sum,
            }

    # -------------------------------------------------------------------------------------------- gauges

    def set_gauge(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        documentation: str = "Synthetic gauge set by the test or demo.",
    ) -> None:
        """Expose gauge ``name{labels} value`` (e.g. ``checkout_conversion_ratio{track="canary"} 0.031``)."""
        if not _METRIC_NAME.match(name) or name in _RESERVED_NAMES or name.startswith("http_request"):
            raise ValueError(f"invalid or reserved gauge name {name!r}")
        key = self._label_key(labels)
        with self._lock:
            doc, series = self._gauges.setdefault(name, (documentation, {}))
            series[key] = float(value)

    def remove_gauge(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Stop exposing one series of gauge ``name`` (or all of them when ``labels`` is None); Prometheus then
        marks it stale, as when a real pod stops reporting it."""
        with self._lock:
            if name not in self._gauges:
                return
            if labels is None:
                del self._gauges[name]
            else:
                self._gauges[name][1].pop(self._label_key(labels), None)

    # ------------------------------------------------------------------------------ prometheus_client API

    def collect(self) -> Iterable[Metric]:
        """Called by the registry on each scrape: the current counts as metric families."""
        with self._lock:
            self._advance_locked(time.monotonic())
            requests = CounterMetricFamily(
                "http_requests", "Requests served by the synthetic service.", labels=["service", "track", "code"]
            )
            durations = HistogramMetricFamily(
                "http_request_duration_seconds",
                "Latency of requests served by the synthetic service.",
                labels=["service", "track"],
            )
            for (service, track), state in sorted(self._tracks.items()):
                requests.add_metric([service, track, GOOD_CODE], state.good)
                requests.add_metric([service, track, ERROR_CODE], state.errors)
                cumulative, buckets = 0, []
                for bound, count in zip(self.buckets, state.bucket_counts):
                    cumulative += count
                    buckets.append((_format_le(bound), cumulative))
                buckets.append(("+Inf", cumulative + state.bucket_counts[-1]))
                durations.add_metric([service, track], buckets, state.latency_sum)
            families: list[Metric] = [requests, durations]
            for name, (doc, series) in sorted(self._gauges.items()):
                gauge = Metric(name, doc, "gauge")
                for key, value in sorted(series.items()):
                    gauge.add_sample(name, dict(key), value)
                families.append(gauge)
        return families

    # ---------------------------------------------------------------------------------------- internals

    @staticmethod
    def _label_key(labels: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
        items = tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))
        for k, _ in items:
            if not _LABEL_NAME.match(k) or k.startswith("__"):
                raise ValueError(f"invalid label name {k!r}")
        return items

    def _track_locked(self, service: str, track: str) -> _Track:
        state = self._tracks.get((service, track))
        if state is None:
            state = _Track(bucket_counts=[0] * (len(self.buckets) + 1))
            self._tracks[(service, track)] = state
        return state

    def _bucket_index(self, latency: float) -> int:
        """Index of the first bucket whose upper bound is >= latency (``le`` is inclusive); last = +Inf."""
        for i, bound in enumerate(self.buckets):
            if latency <= bound:
                return i
        return len(self.buckets)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                self._advance_locked(time.monotonic())

    def _advance_locked(self, now: float) -> None:
        """Account the traffic of the real time elapsed since the last call (thread, scrape or change)."""
        elapsed = now - self._last_advance
        if elapsed <= 0:
            return
        self._last_advance = now
        for state in self._tracks.values():
            self._add_traffic(state, elapsed)

    def _add_traffic(self, state: _Track, seconds: float) -> None:
        state.request_carry += state.rps * seconds
        # 1e-9: 0.2 s * 20 rps can come out as 3.9999999; it is 4 requests.
        n = math.floor(state.request_carry + 1e-9)
        if n <= 0:
            return
        state.request_carry = max(0.0, state.request_carry - n)
        state.error_carry += n * state.error_ratio
        errors = math.floor(state.error_carry)
        state.error_carry -= errors
        state.slow_carry += n * state.slow_ratio
        slow = math.floor(state.slow_carry)
        state.slow_carry -= slow
        state.errors += errors
        state.good += n - errors
        state.slow += slow
        fast = n - slow
        state.bucket_counts[self._bucket_index(state.slow_latency)] += slow
        state.bucket_counts[self._bucket_index(state.fast_latency)] += fast
        state.latency_sum += slow * state.slow_latency + fast * state.fast_latency
