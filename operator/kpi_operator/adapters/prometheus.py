"""The Prometheus HTTP API, through ``prometheus-api-client``: the operator's only reader of metrics.

Any Prometheus-compatible query API works (Prometheus, Thanos Querier, Mimir, VictoriaMetrics): the address,
bearer token file, extra headers (``X-Scope-OrgID`` for tenants) and TLS settings come from the configuration.
The client is blocking (requests); the operator calls it from a worker thread so kopf's event loop never waits.
"""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from ..api.redaction import redact
from ..evaluation.collect import Sample


def _datetime(ts: float) -> "datetime.datetime":
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


class PrometheusUnavailable(Exception):
    """Prometheus could not answer: refused, timed out, failed TLS, or answered with an error. The message says
    which, with Prometheus' own error text, and never a credential (``api.redaction``)."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(redact(message))
        self.status = status


class PrometheusQueryRejected(PrometheusUnavailable):
    """Prometheus answered, and refused the query (HTTP 4xx such as 400 ``bad_data``): the query is at fault, not
    Prometheus' availability."""


@dataclass
class PrometheusSettings:
    """Where and how to reach the query API; ``runtime.config`` fills it from its ``prometheus_*`` settings."""

    url: str = "http://127.0.0.1:9090"
    token_file: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    ca_file: Optional[str] = None
    insecure: bool = False
    timeout: float = 10.0


# ------------------------------------------------------------------------------------------- the deadline
#
# requests' timeouts bound each socket operation, not the request: a server that sends a byte every few seconds
# would hold a query for ever. Each call gets a deadline; when it passes, the socket of the connection in use is
# shut down, which ends the blocked read at once. The connection is known from the pool's ``_make_request``.


class _Call:
    """One query in flight in this thread: its deadline, the connection it uses, the response it got."""

    def __init__(self, seconds: float):
        self.expired = False
        self.connection: Any = None
        self.response: Optional[requests.Response] = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Call":
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def attach(self, connection: Any) -> None:
        with self._lock:
            self.connection = connection
            if self.expired:
                self._shut()

    def _shut(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_current = threading.local()


def _attach(connection: Any) -> None:
    call: Optional[_Call] = getattr(_current, "call", None)
    if call is not None:
        call.attach(connection)


class _DeadlineHTTPPool(HTTPConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _attach(conn)
        return super()._make_request(conn, *args, **kwargs)


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _attach(conn)
        return super()._make_request(conn, *args, **kwargs)


_POOLS = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class _OneAttemptAdapter(HTTPAdapter):
    """No retries (prometheus-api-client's default adapter retries 3 times with backoff, on 5xx too: a hung
    Prometheus cost four timeouts per query); retrying is the evaluation loop's, with its visible backoff."""

    def __init__(self) -> None:
        super().__init__(max_retries=Retry(total=0, read=False, redirect=0, raise_on_status=False))

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


# ------------------------------------------------------------------------------------------- the reasons


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps (causes, contexts, urllib3's ``reason``, exceptions in ``args``)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _http_error(status: int, body: bytes) -> str:
    """Prometheus' own error (``errorType: error``) from its JSON body, else the start of whatever the body is."""
    text = ""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("error"):
            text = f"{document.get('errorType') or 'error'}: {document['error']}"
    except ValueError:
        pass
    if not text:
        text = " ".join(body.decode("utf-8", "replace").split())[:300] or "(empty body)"
    return f"HTTP {status} {text}"


def failure_reason(error: BaseException, timeout: float, expired: bool, host: str) -> str:
    """What went wrong, in words a person can act on (the part after ``Prometheus at URL``)."""
    chain = list(_chain(error))
    late = f"did not answer within {timeout:g}s (the timeout of one query)"
    if expired:
        return late
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"failed TLS verification: certificate verify failed: {e.verify_message or e.reason}"
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return f"failed the TLS handshake: {e.reason or e}"
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "is unreachable: connection refused"
        if isinstance(e, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            detail = next((f" ({g.strerror})" for g in chain if isinstance(g, socket.gaierror) and g.strerror), "")
            return f"is unreachable: DNS lookup of {host} failed{detail}"
    # After the refusals: urllib3's NewConnectionError is a ConnectTimeoutError.
    if any(isinstance(e, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout)) for e in chain):
        return late
    for e in chain:
        if isinstance(e, (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError, BrokenPipeError)):
            return "closed the connection without a complete answer"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return f"is unreachable: {e.strerror}"
    return f"failed: {type(error).__name__}: {error}"


class PrometheusReader:
    """Instant queries returning plain ``Sample`` s; each call counts in ``queries`` (for the benchmark).

    One attempt per query, bounded as a whole by ``settings.timeout`` (connect, TLS, headers and body)."""

    def __init__(self, settings: PrometheusSettings):
        self.settings = settings
        self.queries = 0
        self.where = f"Prometheus at {redact(settings.url)}"
        session = requests.Session()
        if settings.ca_file:
            session.verify = settings.ca_file
        if settings.insecure:
            session.verify = False
        session.hooks["response"].append(self._remember)
        self._session = session
        self._client = PrometheusConnect(
            url=settings.url,
            disable_ssl=settings.insecure,
            session=session,
            retry=Retry(total=0, read=False, redirect=0, raise_on_status=False),
            timeout=urllib3.Timeout(total=settings.timeout),  # type: ignore[arg-type]
        )
        # PrometheusConnect mounted an adapter of its own for the URL: every prefix gets the one-attempt one.
        adapter = _OneAttemptAdapter()
        for prefix in [*session.adapters, "http://", "https://"]:
            session.mount(prefix, adapter)

    @staticmethod
    def _remember(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        call: Optional[_Call] = getattr(_current, "call", None)
        if call is not None:
            call.response = response
        return response

    def _headers(self) -> dict[str, str]:
        headers = dict(self.settings.headers)
        if self.settings.token_file:
            # Read each time: projected service-account tokens are rotated on disk.
            headers["Authorization"] = f"Bearer {Path(self.settings.token_file).read_text().strip()}"
        return headers

    def _call(self, request: Callable[[PrometheusConnect], Any]) -> Any:
        """Run one request; every failure becomes ``PrometheusUnavailable`` (``PrometheusQueryRejected`` for a
        4xx) naming its real cause."""
        self.queries += 1
        try:
            self._client.headers = self._headers()
        except OSError as error:
            raise PrometheusUnavailable(f"{self.where}: the bearer token file {self.settings.token_file} cannot be read ({error.strerror})") from None
        with _Call(self.settings.timeout) as call:
            _current.call = call
            try:
                return request(self._client)
            except PrometheusApiClientException:
                response = call.response
                if response is None:
                    raise PrometheusUnavailable(f"{self.where} answered with an error") from None
                status = response.status_code
                message = f"{self.where} answered {_http_error(status, response.content)}"
                if 400 <= status < 500 and status not in (408, 429):
                    raise PrometheusQueryRejected(message.replace("answered", "rejected the query:", 1), status) from None
                raise PrometheusUnavailable(message, status) from None
            except (KeyError, TypeError, ValueError) as error:
                if call.response is None or call.expired:  # no answer at all (an invalid URL, say)
                    raise PrometheusUnavailable(f"{self.where} {failure_reason(error, self.settings.timeout, call.expired, self._host())}") from None
                raise PrometheusUnavailable(
                    f"{self.where} answered HTTP {call.response.status_code} with a body that is not a Prometheus API answer"
                ) from None
            except (requests.exceptions.RequestException, OSError) as error:
                raise PrometheusUnavailable(f"{self.where} {failure_reason(error, self.settings.timeout, call.expired, self._host())}") from None
            finally:
                _current.call = None

    def _host(self) -> str:
        return urlsplit(self.settings.url).hostname or "?"

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

    def recording_rule_groups(self) -> list[dict[str, Any]]:
        """The recording-rule groups Prometheus evaluates, with each rule's ``health`` and ``lastError``
        (``/api/v1/rules?type=record``): why a rule records nothing (``evaluation.rule_health``). Failures as
        ``query``'s."""

        def request(client: PrometheusConnect) -> list[dict[str, Any]]:
            response = client._session.get(
                f"{client.url}/api/v1/rules", params={"type": "record"}, headers=client.headers, timeout=client._timeout
            )
            if response.status_code != 200:
                raise PrometheusApiClientException(f"HTTP status code {response.status_code}")
            groups = response.json()["data"]["groups"]
            if not isinstance(groups, list):
                raise ValueError("groups is not a list")
            return groups

        result: list[dict[str, Any]] = self._call(request)
        return result

    async def arecording_rule_groups(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.recording_rule_groups)
