"""Run a real Prometheus server as a child process: for end-to-end tests and ``kpi-operator demo``.

Why a real server: the rules this project generates are only proven when Prometheus' own engine loads and
evaluates them (staleness, ``rate()`` extrapolation, recording-rule timing, reload errors). The server is
started the way the project's docs describe (``/usr/bin/prometheus`` from Debian's ``prometheus`` package, on
127.0.0.1 with a free port, a temporary data dir, ``--web.enable-lifecycle``, 1 s scrape and evaluation
intervals), and rules reach it the way prometheus-operator delivers a PrometheusRule: the ``spec.groups``
written to a rule file, then ``POST /-/reload``.

Only the standard library and PyYAML are used (HTTP via :mod:`urllib`), so the demo needs nothing more.

Facts about Prometheus 2.42 that shape this code:

- ``POST /-/reload`` answers 500 with only a generic message when a rule file is bad; the reason (file, line,
  rule, parse error) is only in the server's log. :meth:`PrometheusServer.set_rule_groups` therefore reads the
  log lines written during the reload and puts Prometheus' own message in the exception.
- After a failed rule reload Prometheus keeps the previous rule set; this class also restores the previous
  rule file on disk, so the next reload does not fail on the same file again.
- The scrape manager applies target changes at most every 5 s, so a new server (or a new target) is first
  scraped about 5 s later; wait for ``up`` with :meth:`PrometheusServer.wait_for_series`.
- Staleness: series of a removed rule, a removed rule group, a removed target of a job that remains, or a
  target that stops answering go stale within a second or two. But removing a whole *job* from the config
  writes no staleness markers in 2.42: its last samples stay visible for the lookback delta (5 m).
- A replaced rule group (same file and name) inherits the old group's ``lastEvaluation``; waiting for "has
  been evaluated" must compare with the reload time, which ``set_rule_groups(wait_for_evaluation=True)`` does.
- A range ``[5m]`` at time t holds samples in [t-5m, t], both ends included (Prometheus 3 excludes t-5m).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PrometheusServer",
    "PrometheusError",
    "PrometheusNotInstalled",
    "PrometheusReloadError",
    "PrometheusTimeout",
    "Sample",
]

#: One element of an instant query result: the series' labels (``__name__`` included when present) and value.
Sample = tuple[dict[str, str], float]

_INSTALL_HINT = "apt-get install prometheus"
_RULE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')
# Bypass any http_proxy in the environment: the server is always on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusError(RuntimeError):
    """Prometheus failed to start, answered an error, or a wait timed out."""


class PrometheusNotInstalled(PrometheusError, FileNotFoundError):
    """No ``prometheus`` binary on PATH."""


class PrometheusTimeout(PrometheusError, TimeoutError):
    """A wait for Prometheus (ready, rules listed, targets, a series) passed its deadline."""


class PrometheusReloadError(PrometheusError):
    """``POST /-/reload`` failed; ``details`` holds Prometheus' own error messages from its log."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


def _free_port(host: str) -> int:
    """A port the OS says is free now (Prometheus binds it a moment later; start() retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _unescape_logfmt(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value)


def _unix_time(rfc3339: str) -> float:
    """Prometheus' RFC 3339 timestamps (nanosecond fractions, "Z") as unix seconds; 0 for the zero time."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", rfc3339)
    if not match or rfc3339.startswith("0001-"):
        return 0.0
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    whole = datetime.fromisoformat(match.group(1) + zone).timestamp()
    return whole + float("0." + (match.group(2) or "0"))


def _kill(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (Prometheus flushes and exits cleanly), then SIGKILL if it has not exited after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _finalize(process: subprocess.Popen[bytes] | None, log: Any, tmpdir: str) -> None:
    """Last-resort cleanup when a server object is garbage collected or the interpreter exits unstopped."""
    if process is not None:
        _kill(process, timeout=5)
    if log is not None:
        log.close()
    shutil.rmtree(tmpdir, ignore_errors=True)


class PrometheusServer:
    """A Prometheus server of its own, on 127.0.0.1 and a free port, removed (process and data) on stop.

    ``scrape_targets`` is a list of ``host:port`` scraped as job ``job_name``, or a mapping
    ``{job_name: [host:port, ...]}`` for several jobs. Intervals are Prometheus durations (``"1s"``).
    ``extra_args`` are appended to the command line (e.g. ``["--query.lookback-delta=30s"]``).

    Usage::

        with Exporter() as exporter, PrometheusServer([exporter.target]) as prom:
            prom.set_rule_groups([{"name": "slo", "rules": [{"record": "x", "expr": "..."}]}])
            prom.wait_for_series("x")
    """

    def __init__(
        self,
        scrape_targets: Sequence[str] | Mapping[str, Sequence[str]] = (),
        *,
        job_name: str = "synthetic",
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        binary: str | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.job_name = job_name
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.host = host
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = list(extra_args)
        self._binary = binary
        self._jobs = self._normalise_targets(scrape_targets, job_name)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._tmpdir: Path | None = None
        self._port: int | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------------- lifecycle

    @staticmethod
    def find_binary() -> str:
        """Path of the ``prometheus`` binary, or :class:`PrometheusNotInstalled` saying how to install it."""
        path = shutil.which("prometheus")
        if path is None:
            raise PrometheusNotInstalled(f"prometheus binary not found on PATH: {_INSTALL_HINT}")
        return path

    def start(self) -> "PrometheusServer":
        """Start Prometheus and return once ``/-/ready`` answers 200 (polled, within ``start_timeout``).

        Raises :class:`PrometheusError` with the last lines of Prometheus' log if it exits or never gets ready.
        A port taken between choosing it and Prometheus binding it is retried with another port.
        """
        with self._lock:
            if self._process is not None:
                return self
            binary = self._binary or self.find_binary()
            self._tmpdir = Path(tempfile.mkdtemp(prefix="kpi-prometheus-"))
            self.rules_dir.mkdir()
            self.data_dir.mkdir()
            try:
                for attempt in range(3):
                    self._port = _free_port(self.host)
                    self._write_config()
                    try:
                        self._spawn(binary)
                        return self
                    except PrometheusError as exc:
                        if "address already in use" in str(exc) and attempt < 2:
                            continue
                        raise
            except BaseException:
                self.stop()
                raise
        return self  # pragma: no cover

    def _spawn(self, binary: str) -> None:
        assert self._tmpdir is not None
        if self._finalizer is not None:  # left by an attempt whose process already exited
            self._finalizer.detach()
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")
        self._log_offset = self.log_path.stat().st_size
        cmd = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={self.host}:{self._port}",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]
        # Log to a file, not a pipe: nobody drains a pipe while tests run, and a full pipe would block the server.
        self._process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=self._tmpdir
        )
        self._finalizer = weakref.finalize(self, _finalize, self._process, self._log, str(self._tmpdir))
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise PrometheusError(
                    f"prometheus exited with code {code} during start-up:\n{self.log_tail(since=self._log_offset)}"
                )
            try:
                with _OPENER.open(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                _kill(self._process, self.stop_timeout)
                self._process = None
                raise PrometheusTimeout(
                    f"prometheus not ready after {self.start_timeout}s:\n{self.log_tail(since=self._log_offset)}"
                )
            time.sleep(0.05)  # poll interval of the readiness wait, bounded by the deadline above

    def stop(self) -> None:
        """Terminate Prometheus (SIGKILL after ``stop_timeout``), wait for it, remove its temp dir. Idempotent."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                _kill(process, self.stop_timeout)
            if self._log is not None:
                self._log.close()
                self._log = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def halt(self) -> None:
        """Stop the process only, keeping its port, data and rules: Prometheus is down until ``resume()``.

        For "Prometheus went away and came back" scenarios: the operator must see it unreachable, then recover on
        the same address without any change of configuration.
        """
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                _kill(process, self.stop_timeout)

    def resume(self) -> "PrometheusServer":
        """Start the process again on the same port with the same data and rules (after ``halt()``)."""
        with self._lock:
            if self._process is not None:
                return self
            if self._tmpdir is None or self._port is None:
                return self.start()
            self._spawn(self._binary or self.find_binary())
            return self

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        if self._port is None:
            raise PrometheusError("prometheus not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def tmpdir(self) -> Path:
        if self._tmpdir is None:
            raise PrometheusError("prometheus not started")
        return self._tmpdir

    @property
    def config_path(self) -> Path:
        return self.tmpdir / "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        """Where rule files go; the config's ``rule_files`` globs ``*.yml`` in it."""
        return self.tmpdir / "rules"

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def log_path(self) -> Path:
        return self.tmpdir / "prometheus.log"

    def log_tail(self, lines: int = 20, *, since: int = 0) -> str:
        """The last ``lines`` lines Prometheus logged (stdout and stderr), from byte offset ``since``."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                text = fh.read().decode("utf-8", "replace")
        except (OSError, PrometheusError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---------------------------------------------------------------------------------------------- rules

    def set_rule_groups(
        self,
        groups: list[dict[str, Any]],
        name: str = "rules",
        *,
        timeout: float = 10.0,
        wait_for_evaluation: bool = False,
    ) -> None:
        """Write ``{"groups": groups}`` to ``rules/<name>.yml``, reload, and wait until the API lists them.

        Replaces what an earlier call with the same ``name`` wrote (like updating one PrometheusRule).
        Returns once ``/api/v1/rules`` shows exactly these group names, each with its rule names, for this
        file; with ``wait_for_evaluation`` also once every group has been evaluated after the reload (so a query
        made next sees the new rules' output; a replaced group keeps its old ``lastEvaluation`` until then).
        Raises :class:`PrometheusReloadError` with Prometheus' message (e.g. a PromQL parse error with file,
        line and rule) if the reload fails; the previous file is then restored.
        """
        path = self._rule_path(name)
        text = yaml.safe_dump({"groups": groups}, sort_keys=False, default_flow_style=False)
        expected = {
            g.get("name"): [r.get("record") or r.get("alert") for r in g.get("rules") or []] for g in groups
        }
        with self._lock:
            reloaded_at = time.time()
            previous = path.read_bytes() if path.exists() else None
            tmp = path.with_suffix(".yml.tmp")  # not matched by the *.yml glob
            tmp.write_text(text)
            os.replace(tmp, path)  # Prometheus never sees a half-written file
            try:
                self.reload()
            except Exception:
                if previous is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(previous)
                raise
        self._wait_for_rule_file(path, expected, timeout, reloaded_at if wait_for_evaluation else None)

    def remove_rules(self, name: str = "rules", *, timeout: float = 10.0) -> None:
        """Delete ``rules/<name>.yml``, reload, and wait until none of its groups is listed any more."""
        path = self._rule_path(name)
        with self._lock:
            path.unlink(missing_ok=True)
            self.reload()
        self._wait_for_rule_file(path, {}, timeout, None)

    def rule_groups(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``' groups (name, file, rules with health, lastError, state...)."""
        return self._api("/api/v1/rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: active (pending or firing) alerts with labels, state and activeAt."""
        return self._api("/api/v1/alerts")["alerts"]

    def _rule_path(self, name: str) -> Path:
        if not _RULE_FILE_NAME.match(name) or name.endswith(".tmp"):
            raise ValueError(f"rule file name must match {_RULE_FILE_NAME.pattern}, got {name!r}")
        return self.rules_dir / f"{name}.yml"

    def _wait_for_rule_file(
        self, path: Path, expected: dict[Any, list[Any]], timeout: float, evaluated_after: float | None
    ) -> None:
        deadline = time.monotonic() + timeout
        seen: dict[Any, list[Any]] = {}
        while True:
            groups = [g for g in self.rule_groups() if Path(g.get("file", "")) == path]
            seen = {g["name"]: [r["name"] for r in g.get("rules", [])] for g in groups}
            done = seen == expected
            if done and evaluated_after is not None:
                done = all(_unix_time(g.get("lastEvaluation", "")) > evaluated_after for g in groups)
            if done:
                return
            if time.monotonic() > deadline:
                raise PrometheusTimeout(
                    f"rule file {path.name}: expected groups {expected}, Prometheus lists {seen} after {timeout}s"
                )
            time.sleep(0.05)  # poll interval, bounded by the deadline

    # -------------------------------------------------------------------------------------------- scrape

    def set_scrape_targets(
        self,
        scrape_targets: Sequence[str] | Mapping[str, Sequence[str]],
        *,
        job_name: str | None = None,
        timeout: float = 30.0,
        wait: bool = True,
    ) -> None:
        """Replace the scrape targets (list for ``job_name``, or ``{job: [host:port]}``), rewrite the config and
        reload. With ``wait``, return once ``/api/v1/targets`` lists exactly these targets: Prometheus applies
        target changes at most every 5 s, so this takes up to ~5 s. A target dropped from a job that remains goes
        stale at once; the series of a job dropped entirely stay queryable for the lookback delta (5 m) in 2.42.
        Rules (in ``rules_dir``) are kept."""
        with self._lock:
            self._jobs = self._normalise_targets(scrape_targets, job_name or self.job_name)
            self._write_config()
            self.reload()
        if not wait:
            return
        expected = {(job, target) for job, targets in self._jobs.items() for target in targets}
        deadline = time.monotonic() + timeout
        while True:
            active = self._api("/api/v1/targets", {"state": "active"})["activeTargets"]
            seen = {(t["labels"].get("job"), t["discoveredLabels"].get("__address__")) for t in active}
            if seen == expected:
                return
            if time.monotonic() > deadline:
                raise PrometheusTimeout(f"expected scrape targets {sorted(expected)}, Prometheus has {sorted(seen)}")
            time.sleep(0.1)  # poll interval, bounded by the deadline

    def reload(self) -> None:
        """``POST /-/reload``; on failure raise :class:`PrometheusReloadError` with the errors Prometheus logged."""
        with self._lock:
            offset = self.log_path.stat().st_size
            try:
                with _OPENER.open(urllib.request.Request(f"{self.url}/-/reload", method="POST"), timeout=30):
                    return
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", "replace").strip()
                status = exc.code
            except urllib.error.URLError as exc:
                raise PrometheusError(f"POST /-/reload: {exc.reason} (is prometheus running?)") from exc
        # Prometheus logs "Error reloading config" before it answers; poll briefly in case the write lags.
        details: list[str] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            details = self._logged_errors(offset)
            if any("Error reloading config" in line for line in details):
                break
            time.sleep(0.02)  # poll interval, bounded by the deadline
        messages = [m for m in (self._err_value(line) for line in details) if m]
        specific = [m for m in messages if "one or more errors occurred" not in m and m != body]
        summary = "; ".join(dict.fromkeys(specific)) or body
        raise PrometheusReloadError(
            f"Prometheus rejected the reload (HTTP {status}: {body}): {summary}", details=specific or [body]
        )

    def _logged_errors(self, offset: int) -> list[str]:
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        return [line for line in text.splitlines() if "level=error" in line]

    @staticmethod
    def _err_value(line: str) -> str:
        match = _LOG_ERR.search(line)
        return _unescape_logfmt(match.group(1)) if match else ""

    # --------------------------------------------------------------------------------------------- query

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """Instant query (now, or at unix time ``at``); returns ``[(labels, value), ...]`` (a scalar result
        gives one ``({}, value)``). Raises :class:`PrometheusError` with Prometheus' message for a bad query."""
        params = {"query": promql}
        if at is not None:
            params["time"] = repr(float(at))
        data = self._api("/api/v1/query", params)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [(dict(item["metric"]), float(item["value"][1])) for item in result]
        if kind == "scalar":
            return [({}, float(result[1]))]
        if kind == "matrix":
            raise PrometheusError(f"query returned a range vector; use a function such as rate(): {promql}")
        return [({}, result[1])]  # string

    def wait_for_series(
        self,
        promql: str,
        timeout: float = 30.0,
        *,
        predicate: Callable[[list[Sample]], bool] | None = None,
        interval: float = 0.2,
    ) -> list[Sample]:
        """Poll ``query(promql)`` until it returns a series (and ``predicate(result)`` holds, if given).

        Returns that result. Raises :class:`PrometheusTimeout` with the last result seen, so a
        failing test shows how far off the value was.
        """
        deadline = time.monotonic() + timeout
        last: list[Sample] = []
        while True:
            last = self.query(promql)
            if last and (predicate is None or predicate(last)):
                return last
            if time.monotonic() > deadline:
                raise PrometheusTimeout(f"timed out after {timeout}s waiting for {promql!r}; last result: {last}")
            time.sleep(interval)  # poll interval, bounded by the deadline

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with _OPENER.open(url, timeout=30) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                payload = json.load(exc)
            except ValueError:
                raise PrometheusError(f"GET {path}: HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise PrometheusError(f"GET {path}: {exc.reason} (is prometheus running?)") from exc
        if payload.get("status") != "success":
            raise PrometheusError(f"GET {path}: {payload.get('errorType')}: {payload.get('error')}")
        return payload["data"]

    # -------------------------------------------------------------------------------------------- config

    @staticmethod
    def _normalise_targets(
        scrape_targets: Sequence[str] | Mapping[str, Sequence[str]], job_name: str
    ) -> dict[str, list[str]]:
        if isinstance(scrape_targets, str):
            raise TypeError("scrape_targets must be a list of host:port, not a single string")
        jobs = (
            {str(job): list(targets) for job, targets in scrape_targets.items()}
            if isinstance(scrape_targets, Mapping)
            else ({job_name: list(scrape_targets)} if scrape_targets else {})
        )
        for targets in jobs.values():
            for target in targets:
                if not re.match(r"^[^\s/:]+:\d+$", target):
                    raise ValueError(f"scrape target must be host:port, got {target!r}")
        return jobs

    def _write_config(self) -> None:
        config = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(self.rules_dir / "*.yml")],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in self._jobs.items()
            ],
        }
        tmp = self.config_path.with_suffix(".yml.tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.replace(tmp, self.config_path)

