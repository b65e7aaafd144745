"""A fake Prometheus query API that fails on purpose, over real HTTP (or HTTPS), in a thread of the test.

Each fault is a real answer on the wire, so the client's whole stack (sockets, TLS, urllib3, requests,
prometheus-api-client) meets it as it would meet a broken Prometheus:

- ``ok``: an empty instant vector (``status: success``);
- ``hang``: reads the request, never answers (until the server stops);
- ``drip``: answers 200 with a body of which it sends one byte every ``drip_every`` seconds;
- ``unavailable``: HTTP 503 with Prometheus' JSON error body (``errorType: unavailable``);
- ``bad_data``: HTTP 400 with ``errorType: bad_data``, as for a query that does not parse;
- ``close``: reads the request and closes the connection without a byte.

``tls=True`` serves HTTPS with a fresh self-signed certificate (made with the ``openssl`` command). ``requests``
counts every request received, by path.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

UNAVAILABLE_BODY = {"status": "error", "errorType": "unavailable", "error": "tsdb head is being compacted, try again"}
BAD_DATA_BODY = {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:1: parse error: unexpected "}"'}
OK_BODY = {"status": "success", "data": {"resultType": "vector", "result": []}}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and a self-signed certificate for ``127.0.0.1`` (the ``openssl`` command)."""
    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("the openssl command is needed to make a self-signed certificate")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return key, cert


class FakePrometheus:
    def __init__(self, mode: str = "ok", *, tls: bool = False, drip_every: float = 0.5):
        self.mode = mode
        self.tls = tls
        self.drip_every = drip_every
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def count(self, path: str = "/api/v1/query") -> int:
        with self._lock:
            return sum(1 for p in self.requests if p == path)

    def start(self) -> "FakePrometheus":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with fake._lock:
                    fake.requests.append(self.path.split("?", 1)[0])
                    fake.headers.append(dict(self.headers))
                mode = fake.mode
                if mode == "hang":
                    fake._stopping.wait()
                    self.close_connection = True
                elif mode == "close":
                    self.close_connection = True
                elif mode == "unavailable":
                    self._answer(503, UNAVAILABLE_BODY)
                elif mode == "bad_data":
                    self._answer(400, BAD_DATA_BODY)
                elif mode == "drip":
                    data = json.dumps(OK_BODY).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    try:
                        for index in range(len(data)):
                            self.wfile.write(data[index : index + 1])
                            self.wfile.flush()
                            if fake._stopping.wait(fake.drip_every):
                                break
                    except OSError:  # the client gave up: what the test wants
                        pass
                    self.close_connection = True
                else:
                    self._answer(200, OK_BODY)

            do_POST = do_GET

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory()
            key, cert = self_signed_certificate(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "FakePrometheus":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is true (a test helper for threads, not for the event loop)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)
