"""The operator on a real API server (a kind cluster): what the emulated API cannot show.

Opt-in: ``KPI_OPERATOR_CLUSTER_TESTS=1``, with ``kind``, ``docker`` and ``kubectl`` on PATH and a kind cluster as
the current kubeconfig context (``kind create cluster`` makes one and selects it). See ``tests/cluster/README.md``.
Elsewhere the whole module is skipped, saying so.

What runs: this project's CRDs applied with ``kubectl``; ``kpi-operator run`` as a local process against the
cluster, watching one namespace made for the run (deleted afterwards); objects created and deleted with
``kubectl``. What is proved, beyond the emulated e2e tests:

- a PrometheusRule is created with an ownerReference the real API server accepts, and status is written through
  the real ``/status`` subresource (``observedGeneration``, ``definition``, and the Prometheus-unreachable state);
- deleting an SLO while the operator runs deletes its rule and releases kopf's finalizer;
- with the operator gone, the API server's garbage collector deletes the rule of a deleted SLO (the
  ownerReference is right: apiVersion, kind, name and uid);
- ``kubectl apply`` refuses an invalid manifest, naming the field (OpenAPI schema and CEL rules, which the
  emulator does not evaluate).

No Prometheus is needed: the operator is pointed at a closed local port, so every object goes ``Unknown`` with
condition ``Stalled``/``PrometheusUnavailable``, which is itself asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import pytest
import yaml

if not (os.environ.get("KPI_OPERATOR_CLUSTER_TESTS") == "1" and shutil.which("kind") and shutil.which("docker")):
    pytest.skip("needs Docker and kind (and KPI_OPERATOR_CLUSTER_TESTS=1): see tests/cluster/README.md", allow_module_level=True)
if not shutil.which("kubectl"):
    pytest.skip("needs kubectl on PATH: see tests/cluster/README.md", allow_module_level=True)

pytestmark = [pytest.mark.cluster]

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
DEADLINE = 120.0  # seconds for anything the cluster does (a real API server, GC and watch delays included)


# ------------------------------------------------------------------------------------------------ helpers


def poll(predicate: Callable[[], Optional[T]], timeout: float = DEADLINE, message: str = "", interval: float = 0.5) -> T:
    """Call ``predicate`` until it returns something truthy (exceptions count as not yet); fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as error:  # e.g. a field not there yet
            last = error
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {message or predicate}; last: {last!r}")
        time.sleep(interval)  # the poll interval, bounded by the deadline above


class Kubectl:
    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, input: Optional[str] = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def apply(self, obj: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("apply", "-f", "-", input=yaml.safe_dump(obj), check=check)

    def get(self, resource: str, namespace: str, name: str) -> Optional[dict[str, Any]]:
        result = self("get", resource, name, "-n", namespace, "-o", "json", "--ignore-not-found", check=True)
        return json.loads(result.stdout) if result.stdout.strip() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def operator_command() -> list[str]:
    script = Path(sys.executable).parent / "kpi-operator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kpi_operator.cli"]


class Operator:
    """``kpi-operator run`` as a local process against the cluster, watching one namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path):
        self.port = free_port()
        self.log = log
        self._out = open(log, "wb")
        unreachable = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
        self.popen = subprocess.Popen(
            [*operator_command(), "run", "--kubeconfig", str(kubeconfig), "--namespace", namespace,
             "--prometheus-url", unreachable, "--evaluation-interval", "2",
             "--metrics-port", str(self.port), "--metrics-host", "127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True,
        )
        poll(self._healthy, 60, "the operator's /healthz")

    def _healthy(self) -> bool:
        self.check()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def check(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"kpi-operator exited with {self.popen.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM, and the exit code (polled within a deadline; SIGKILL of its own group after it)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
                self._out.close()
                raise AssertionError(f"kpi-operator did not exit within 30s of SIGTERM:\n{self.tail()}")
        self._out.close()
        return self.popen.returncode


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """The current context (or ``KPI_OPERATOR_CLUSTER_CONTEXT``), flattened into a kubeconfig of its own so the
    operator and kubectl use exactly that cluster whatever happens to the user's kubeconfig meanwhile."""
    context = os.environ.get("KPI_OPERATOR_CLUSTER_CONTEXT")
    if not context:
        result = subprocess.run(["kubectl", "config", "current-context"], capture_output=True, text=True, timeout=30)
        context = result.stdout.strip()
        if result.returncode != 0 or not context:
            pytest.fail("no current kubeconfig context: run `kind create cluster` first (tests/cluster/README.md)")
        if not context.startswith("kind-"):
            pytest.skip(f"the current context {context!r} is not a kind cluster; these tests create and delete objects, so "
                        f"they only run on kind-* contexts unless KPI_OPERATOR_CLUSTER_CONTEXT={context} names it")
    path = tmp_path_factory.mktemp("cluster") / "kubeconfig"
    view = subprocess.run(["kubectl", "config", "view", "--minify", "--flatten", "--context", context],
                          capture_output=True, text=True, timeout=30)
    if view.returncode != 0:
        pytest.fail(f"kubectl config view --context {context} failed: {view.stderr.strip()}")
    path.write_text(view.stdout)
    kubectl = Kubectl(path)
    kubectl("version", timeout=60)  # the cluster answers

    resources = kubectl("api-resources", "--api-group=monitoring.coreos.com", "-o", "name").stdout.split()
    if not any(r.startswith("prometheusrules") for r in resources):
        pytest.fail("prometheus-operator's PrometheusRule CRD is not installed in this cluster: see tests/cluster/README.md")

    kubectl("apply", "-f", str(CRDS))
    poll(lambda: kubectl("get", "slos.kpi.dev,kpis.kpi.dev", "-A", check=False).returncode == 0, 60, "the kpi.dev CRDs to be served")
    return kubectl


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"kpi-cluster-test-{uuid.uuid4().hex[:6]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "kpi-operator-tests"}}})
    try:
        yield name
    finally:
        # Objects whose operator is gone keep kopf's finalizer, which would hold the namespace in Terminating.
        for resource in ("slos.kpi.dev", "kpis.kpi.dev"):
            listed = kubectl("get", resource, "-n", name, "-o", "name", check=False).stdout.split()
            for item in listed:
                kubectl("patch", item, "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
        kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operator(kubectl: Kubectl, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    process = Operator(kubectl.kubeconfig, namespace, tmp_path / "operator.log")
    try:
        yield process
    finally:
        code = process.stop()
        assert code in (0, -signal.SIGTERM), f"kpi-operator exit code {code}:\n{process.tail()}"


def slo(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": namespace, "labels": {"release": "prometheus"}},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))',
                    "total": 'sum(rate(http_requests_total{job="checkout"}[{{.window}}]))',
                }
            },
        },
    }
    body["spec"].update(spec)
    return body


def owned_rule(kubectl: Kubectl, namespace: str, name: str, operator: Optional[Operator] = None) -> dict[str, Any]:
    """Wait for the PrometheusRule of SLO ``name``; assert it is owned by that SLO (its current uid)."""
    def rule() -> Optional[dict[str, Any]]:
        if operator is not None:
            operator.check()
        return kubectl.get("prometheusrules.monitoring.coreos.com", namespace, name)

    found = poll(rule, message=f"PrometheusRule {namespace}/{name}")
    owner_uid = kubectl.get("slos.kpi.dev", namespace, name)["metadata"]["uid"]  # type: ignore[index]
    assert found["metadata"]["ownerReferences"] == [
        {"apiVersion": "kpi.dev/v1alpha1", "kind": "SLO", "name": name, "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}
    ]
    assert found["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kpi-operator"
    assert found["metadata"]["labels"]["release"] == "prometheus"
    return found


# -------------------------------------------------------------------------------------------------- tests


def test_an_slo_gets_an_owned_prometheus_rule_and_a_status(kubectl: Kubectl, namespace: str, operator: Operator) -> None:
    kubectl.apply(slo("availability", namespace))
    rule = owned_rule(kubectl, namespace, "availability", operator)
    assert any(g["name"].startswith("kpi-operator-slo-alerts:") for g in rule["spec"]["groups"])

    def status() -> Optional[dict[str, Any]]:
        operator.check()
        current = (kubectl.get("slos.kpi.dev", namespace, "availability") or {}).get("status") or {}
        return current if current.get("observedGeneration") == 1 and current.get("definition") and current.get("state") == "Unknown" else None

    current = poll(status, message="status: observedGeneration, definition, and state Unknown (no Prometheus)")
    assert current["definition"]["version"] == 1
    stalled = next(c for c in current["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "PrometheusUnavailable")

    # A change of objective is a new definition version, and new rules.
    kubectl("patch", "slos.kpi.dev", "availability", "-n", namespace, "--type=merge", "-p", '{"spec":{"objective":99.5}}')
    poll(lambda: (kubectl.get("slos.kpi.dev", namespace, "availability") or {}).get("status", {}).get("definition", {}).get("version") == 2,
         message="definition version 2")
    assert kubectl.get("slos.kpi.dev", namespace, "availability")["status"]["observedGeneration"] == 2  # type: ignore[index]


def test_deleting_an_slo_while_the_operator_runs_deletes_its_rule_and_releases_the_finalizer(kubectl: Kubectl, namespace: str, operator: Operator) -> None:
    kubectl.apply(slo("deleted-live", namespace))
    owned_rule(kubectl, namespace, "deleted-live", operator)
    assert "kpi.dev/kpi-operator" in kubectl.get("slos.kpi.dev", namespace, "deleted-live")["metadata"]["finalizers"]  # type: ignore[index]
    kubectl("delete", "slos.kpi.dev", "deleted-live", "-n", namespace, "--wait=false")
    poll(lambda: kubectl.get("slos.kpi.dev", namespace, "deleted-live") is None, message="the SLO gone (finalizer released)")
    poll(lambda: kubectl.get("prometheusrules.monitoring.coreos.com", namespace, "deleted-live") is None, message="its PrometheusRule gone")


def test_with_the_operator_gone_the_garbage_collector_deletes_the_rule_of_a_deleted_slo(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    process = Operator(kubectl.kubeconfig, namespace, tmp_path / "operator.log")
    try:
        kubectl.apply(slo("collected", namespace))
        owned_rule(kubectl, namespace, "collected", process)
    finally:
        code = process.stop()
    assert code in (0, -signal.SIGTERM), f"kpi-operator exit code {code}:\n{process.tail()}"

    # No operator runs now: only the API server's garbage collector can delete the rule.
    kubectl("delete", "slos.kpi.dev", "collected", "-n", namespace, "--wait=false")
    kubectl("patch", "slos.kpi.dev", "collected", "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    poll(lambda: kubectl.get("slos.kpi.dev", namespace, "collected") is None, message="the SLO gone")
    poll(lambda: kubectl.get("prometheusrules.monitoring.coreos.com", namespace, "collected") is None,
         message="the PrometheusRule garbage-collected by the API server")


@pytest.mark.parametrize(
    ("case", "spec", "field"),
    [
        ("objective-100", {"objective": 100}, "spec.objective"),
        ("no-owner", {"owner": None}, "spec.owner"),
        ("unknown-field", {"ownr": "team-payments"}, "ownr"),
        # A CEL rule (x-kubernetes-validations): only a real API server evaluates these.
        ("two-indicators", {"indicator": {"ratio": slo("x", "x")["spec"]["indicator"]["ratio"], "raw": {"errorRatio": "vector(0)[{{.window}}]"}}}, "spec.indicator"),
    ],
)
def test_kubectl_apply_refuses_an_invalid_manifest_naming_the_field(kubectl: Kubectl, namespace: str, case: str, spec: dict[str, Any], field: str) -> None:
    body = slo(f"invalid-{case}", namespace, **spec)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    result = kubectl.apply(body, check=False)
    assert result.returncode != 0, f"kubectl apply accepted an invalid SLO: {result.stdout}"
    assert field in result.stderr, result.stderr
    assert kubectl.get("slos.kpi.dev", namespace, f"invalid-{case}") is None
