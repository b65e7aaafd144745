"""The Prometheus HTTP API, through ``prometheus-api-client``: the operator's only reader of metrics.

Any Prometheus-compatible query API works (Prometheus, Thanos Querier, Mimir, VictoriaMetrics): the address,
bearer token file, extra headers (``X-Scope-OrgID`` for tenants) and TLS settings come from the configuration.
The client is blocking (requests); the operator calls it from a worker thread so kopf's event loop never waits.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from ..evaluation.collect import Sample


def _datetime(ts: float) -> "datetime.datetime":
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


class PrometheusUnavailable(Exception):
    """Prometheus could not answer: unreachable, timed out, or answered with an error. The message says which."""


@dataclass
class PrometheusSettings:
    """Where and how to reach the query API; ``runtime.config`` fills it from its ``prometheus_*`` settings."""

    url: str = "http://127.0.0.1:9090"
    token_file: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    ca_file: Optional[str] = None
    insecure: bool = False
    timeout: float = 10.0


class PrometheusReader:
    """Instant queries returning plain ``Sample`` s; each call counts in ``queries`` (for the benchmark)."""

    def __init__(self, settings: PrometheusSettings):
        self.settings = settings
        self.queries = 0
        session = requests.Session()
        if settings.ca_file:
            session.verify = settings.ca_file
        if settings.insecure:
            session.verify = False
        self._session = session
        self._client: Optional[PrometheusConnect] = None

    def _headers(self) -> dict[str, str]:
        headers = dict(self.settings.headers)
        if self.settings.token_file:
            # Read each time: projected service-account tokens are rotated on disk.
            headers["Authorization"] = f"Bearer {Path(self.settings.token_file).read_text().strip()}"
        return headers

    def _connect(self) -> PrometheusConnect:
        return PrometheusConnect(
            url=self.settings.url,
            headers=self._headers(),
            disable_ssl=self.settings.insecure,
            session=self._session,
            timeout=self.settings.timeout,
        )

    def _call(self, request: Callable[[PrometheusConnect], Any]) -> Any:
        """Run one request; every failure becomes ``PrometheusUnavailable`` with a reason a person can act on."""
        self.queries += 1
        try:
            return request(self._connect())
        except PrometheusApiClientException as error:
            raise PrometheusUnavailable(f"Prometheus at {self.settings.url} answered with an error: {error}") from None
        except requests.exceptions.ConnectionError:
            raise PrometheusUnavailable(f"Prometheus at {self.settings.url} is unreachable (connection refused or no route)") from None
        except requests.exceptions.Timeout:
            raise PrometheusUnavailable(f"Prometheus at {self.settings.url} did not answer within {self.settings.timeout:g}s") from None
        except (requests.exceptions.RequestException, OSError, ValueError) as error:
            raise PrometheusUnavailable(f"Prometheus at {self.settings.url} failed: {error}") from None

    def query(self, promql: str) -> list[Sample]:
        """One instant query; raises ``PrometheusUnavailable`` with the reason on any failure."""
        result: list[dict[str, Any]] = self._call(lambda client: client.custom_query(promql))
        samples = []
        for item in result:
            value = item.get("value") or [None, "NaN"]
            samples.append(Sample(labels=dict(item.get("metric", {})), value=float(value[1]), timestamp=float(value[0]) if value[0] is not None else None))
        return samples

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query: for each series, its labels and ``(timestamp, value)`` points."""
        result = self._call(
            lambda client: client.custom_query_range(promql, start_time=_datetime(start), end_time=_datetime(end), step=f"{max(step, 1):g}s")
        )
        return [
            (dict(item.get("metric", {})), [(float(t), float(v)) for t, v in item.get("values", [])])
            for item in result
        ]

    async def aquery(self, promql: str) -> list[Sample]:
        return await asyncio.to_thread(self.query, promql)
