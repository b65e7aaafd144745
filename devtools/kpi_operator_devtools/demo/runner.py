"""The demo: a local Prometheus, the emulated Kubernetes API, the operator as its own process, and a synthetic
``checkout`` service; errors injected into the canary; the gate rolls it back.

Everything real that can run on one machine is real: Prometheus (Debian's package) scrapes the exporter and
evaluates the generated rules, and ``kpi-operator run`` is the same process a cluster would run, talking HTTP to
the emulated API through a kubeconfig. Only the API server is emulated (and prometheus-operator's delivery of
rules, done by ``kpi_operator_devtools.rule_sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

from ..kube_emulator import KubeEmulator, load_crds
from ..prometheus_server import PrometheusNotInstalled, PrometheusServer
from ..rule_sync import RuleSync
from ..synthetic_exporter import Exporter
from . import scenario
from .narrator import Narrator


class DemoFailed(Exception):
    """A step did not reach its expected state in time; the message says which and what was seen."""


def _crds_dir() -> Path:
    """The CRDs of the clone this distribution was installed from (``pip install -e ./devtools``), else of the clone
    the demo runs in: neither distribution ships them."""
    for candidate in (Path(__file__).resolve().parents[3] / "crds", Path.cwd() / "crds"):
        if candidate.is_dir():
            return candidate
    raise DemoFailed("cannot find the CRDs (crds/ of the source tree); run the demo from a clone of the repository")


def _product_path() -> str:
    """Where this process found ``kpi_operator``: the operator's process runs that same copy, installed or not."""
    spec = importlib.util.find_spec("kpi_operator")
    if spec is None or not spec.submodule_search_locations:
        return ""
    return str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(self, narrator: Narrator, fast: bool, keep: bool, summary_path: Optional[str]):
        self.n = narrator
        self.fast = fast
        self.keep = keep
        self.summary_path = summary_path
        self.interval = 1.0 if fast else 2.0
        self.failure_limit = 3
        self.tmp = Path(tempfile.mkdtemp(prefix="kpi-demo-"))
        self.exporter: Optional[Exporter] = None
        self.prom: Optional[PrometheusServer] = None
        self.operator: Optional[subprocess.Popen[bytes]] = None
        self.metrics_port = _free_port()
        self.emu: Any = None
        self.summary: dict[str, Any] = {}

    # --- waiting ------------------------------------------------------------------------------------------------

    async def until(self, what: str, check: Callable[[], Any], reading: Callable[[], str] = lambda: "", timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if self.operator is not None and self.operator.poll() is not None:
                raise DemoFailed(f"the operator exited with code {self.operator.returncode}; see {self.tmp / 'operator.log'}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; last reading: {reading() or 'none'}")
            self.n.progress(what, reading())
            await asyncio.sleep(0.25)

    def status(self, plural: str, name: str) -> dict[str, Any]:
        body = self.emu.get(plural, scenario.NAMESPACE, name) or {}
        return body.get("status") or {}

    def condition(self, plural: str, name: str, type_: str) -> dict[str, Any]:
        return next((c for c in self.status(plural, name).get("conditions") or [] if c.get("type") == type_), {})

    # --- steps --------------------------------------------------------------------------------------------------

    def start_metrics(self) -> None:
        self.n.step("Start the synthetic checkout service and a local Prometheus")
        self.exporter = Exporter(service="checkout").start()
        self.exporter.set_traffic("stable", rps=40, error_ratio=0.0)
        self.exporter.set_traffic("canary", rps=10, error_ratio=0.0)
        self.exporter.set_gauge("checkout_conversion_ratio", 0.041)
        self.n.good(f"exporter on {self.exporter.url}: stable 40 req/s, canary 10 req/s, no errors; conversion 4.1%")
        try:
            self.prom = PrometheusServer([self.exporter.target], scrape_interval="1s", evaluation_interval="1s").start()
        except PrometheusNotInstalled as error:
            raise DemoFailed(f"{error} (or run `make demo`, which installs it)") from None
        self.n.good(f"Prometheus on {self.prom.url} (1s scrape and rule evaluation)")

    async def start_cluster(self) -> None:
        self.n.step("Start the emulated Kubernetes API and install the KPI and SLO CRDs")
        self.emu = KubeEmulator(crds=load_crds(_crds_dir()), request_log_limit=100, deployment_controller=True)
        await self.emu.__aenter__()
        self.kubeconfig = self.emu.write_kubeconfig(self.tmp / "kubeconfig")
        self.n.good(f"API server on {self.emu.server_url}; kubeconfig at {self.kubeconfig}")

    async def start_operator(self) -> None:
        self.n.step("Start the operator: `kpi-operator run`, as its own process")
        log = open(self.tmp / "operator.log", "wb")
        command = [
            sys.executable, "-m", "kpi_operator.cli", "run",
            "--kubeconfig", str(self.kubeconfig),
            "--prometheus-url", self.prom.url if self.prom else "",
            "--evaluation-interval", f"{self.interval:g}",
            "--metrics-port", str(self.metrics_port),
            "--metrics-host", "127.0.0.1",
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_product_path(), os.environ.get("PYTHONPATH", "")]))}
        self.operator = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"

        async def healthy() -> bool:
            return await asyncio.to_thread(_http_ok, url)

        await self.until("the operator's /healthz", healthy, timeout=30)
        self.n.good(f"operator pid {self.operator.pid}: /healthz and /metrics on 127.0.0.1:{self.metrics_port}; log in {self.tmp / 'operator.log'}")

    async def apply_objects(self) -> None:
        self.n.step("Apply the Deployments, the gated SLO and the KPI (what `kubectl apply` would send)")
        self.emu.create(scenario.deployment("stable", "checkout:1.4.2", replicas=4))
        self.emu.create(scenario.deployment("canary", "checkout:1.4.2", replicas=1))
        # The canary's new release: the Deployment controller makes it revision 2.
        self.emu.patch_object("deployments", scenario.NAMESPACE, "checkout-canary", {"spec": {"template": scenario.template("canary", "checkout:1.5.0")}})
        self.before = {name: self.emu.get("deployments", scenario.NAMESPACE, name) for name in ("checkout-stable", "checkout-canary")}
        self.n.say("Deployment checkout-stable  checkout:1.4.2  (revision 1)")
        self.n.say("Deployment checkout-canary  checkout:1.5.0  (revision 2; revision 1 was checkout:1.4.2)")
        self.emu.create(scenario.canary_slo(self.failure_limit))
        self.emu.create(scenario.conversion_kpi())
        self.n.say(f"SLO checkout-canary-availability  99.5% over 30d, gate: rollback after {self.failure_limit} failing evaluations")
        self.n.say("KPI checkout-conversion           >= 3% (warning 2.8%, critical 2.5%)")
        self.sync = RuleSync(self.emu, self.prom)  # type: ignore[arg-type]
        await self.sync.__aenter__()
        await self.until("the PrometheusRules", lambda: len(self.emu.list("prometheusrules", scenario.NAMESPACE)) == 2, timeout=30)
        rule = self.emu.get("prometheusrules", scenario.NAMESPACE, "checkout-canary-availability")
        count = sum(len(g["rules"]) for g in rule["spec"]["groups"])
        self.n.good(f"PrometheusRule checkout-canary-availability: {count} rules in {len(rule['spec']['groups'])} groups, owned by the SLO")
        await self.until("the rules loaded into Prometheus", lambda: len(self.sync.synced) == 2, timeout=30)
        self.n.good("rules delivered to Prometheus (prometheus-operator's job, done locally)")

    async def show_healthy(self) -> None:
        self.n.step("Watch both objects become Ready and Healthy")

        def healthy() -> bool:
            slo, kpi = self.status("slos", "checkout-canary-availability"), self.status("kpis", "checkout-conversion")
            return (
                self.condition("slos", "checkout-canary-availability", "Ready").get("status") == "True"
                and slo.get("state") == "Healthy"
                and (slo.get("burnRates") or {}).get("5m") is not None
                and kpi.get("state") == "Healthy"
            )

        await self.until("Ready + Healthy", healthy, self.reading, timeout=90)
        self.print_status()

    def reading(self) -> str:
        slo = self.status("slos", "checkout-canary-availability")
        burn = slo.get("burnRates") or {}
        gate = slo.get("gate") or {}
        return (
            f"state={slo.get('state', '-')} burn 5m={_num(burn.get('5m'))} 1h={_num(burn.get('1h'))} "
            f"gate={gate.get('state', '-')} failures={gate.get('consecutiveFailures', 0)}"
        )

    def print_status(self) -> None:
        slo = self.status("slos", "checkout-canary-availability")
        kpi = self.status("kpis", "checkout-conversion")
        self.n.table(
            ["OBJECT", "STATE", "SLI / VALUE", "BUDGET LEFT", "BURN 5m", "BURN 1h", "GATE"],
            [
                ["SLO/checkout-canary-availability", slo.get("state"), _pct(slo.get("sli")), _num((slo.get("errorBudget") or {}).get("remaining")),
                 _num((slo.get("burnRates") or {}).get("5m")), _num((slo.get("burnRates") or {}).get("1h")), (slo.get("gate") or {}).get("state")],
                ["KPI/checkout-conversion", kpi.get("state"), _num(kpi.get("value")), "-", "-", "-", "-"],
            ],
        )

    async def inject_and_roll_back(self) -> None:
        self.n.step("Inject errors into the canary: 40% of its requests now fail")
        assert self.exporter is not None
        injected = time.monotonic()
        self.exporter.set_traffic("canary", rps=10, error_ratio=0.4)
        self.n.say("page condition: error ratio > 14.4 x 0.5% = 7.2% over both 5m and 1h")
        await self.until("the burn rate to cross the page threshold (14.4x)", lambda: ((self.status("slos", "checkout-canary-availability").get("burnRates") or {}).get("1h") or 0) > 14.4, self.reading, timeout=60)
        self.n.warn(f"burning {self.reading()}")

        async def alert_firing() -> bool:
            alerts = await asyncio.to_thread(self.prom.query, 'ALERTS{alertname="CheckoutCanaryBurn",alertstate="firing"}')  # type: ignore[union-attr]
            return bool(alerts)

        await self.until("the page alert CheckoutCanaryBurn to fire in Prometheus", alert_firing, self.reading, timeout=60)
        self.n.warn("ALERTS{alertname=\"CheckoutCanaryBurn\", slo_tier=\"page\"} is firing")
        await self.until("the gate to act", lambda: (self.status("slos", "checkout-canary-availability").get("gate") or {}).get("state") == "Acted", self.reading, timeout=60)
        seconds = time.monotonic() - injected
        gate = self.status("slos", "checkout-canary-availability")["gate"]
        action = gate["lastAction"]
        self.n.good(f"rolled back {action['target']} from revision {action['fromRevision']} to {action['toRevision']} {seconds:.1f}s after the injection, after {gate['consecutiveFailures']} failing evaluations")
        self.n.say(f"why: {action['reason']}")
        before = self.before["checkout-canary"]["spec"]["template"]["spec"]["containers"][0]
        after = self.emu.get("deployments", scenario.NAMESPACE, "checkout-canary")["spec"]["template"]["spec"]["containers"][0]
        self.n.side_by_side(
            "before (revision 2)", [f"image: {before['image']}", f"name:  {before['name']}"],
            "after the rollback", [f"image: {after['image']}", f"name:  {after['name']}"],
        )
        self.summary.update(
            {
                "rolledBack": after["image"] == "checkout:1.4.2",
                "secondsToRollback": round(seconds, 1),
                "fromRevision": action["fromRevision"],
                "toRevision": action["toRevision"],
                "canaryImage": after["image"],
            }
        )

    def finish(self) -> None:
        self.n.step("Summary")
        self.print_status()
        stable_now = self.emu.get("deployments", scenario.NAMESPACE, "checkout-stable")
        canary_now = self.emu.get("deployments", scenario.NAMESPACE, "checkout-canary")
        untouched = stable_now["metadata"]["resourceVersion"] == self.before["checkout-stable"]["metadata"]["resourceVersion"]
        self.n.table(
            ["DEPLOYMENT", "IMAGE BEFORE", "IMAGE NOW", "TOUCHED BY THE GATE"],
            [
                ["checkout-stable", "checkout:1.4.2", stable_now["spec"]["template"]["spec"]["containers"][0]["image"], "no" if untouched else "YES"],
                ["checkout-canary", "checkout:1.5.0", canary_now["spec"]["template"]["spec"]["containers"][0]["image"], "rolled back"],
            ],
        )
        events = [e for e in self.emu.events(scenario.NAMESPACE) if e.get("reason") in ("GateActed", "DefinitionChanged", "PrometheusUnavailable")]
        for event in events:
            involved = event.get("involvedObject", {})
            self.n.say(f"Event {event.get('type')} {event.get('reason')} on {involved.get('kind')}/{involved.get('name')}")
        self.summary.update({"stableUntouched": untouched, "events": [e.get("reason") for e in events], "elapsedSeconds": round(time.monotonic() - self.n.started, 1)})
        if self.summary_path:
            Path(self.summary_path).write_text(json.dumps(self.summary, indent=2) + "\n")

    async def hold(self) -> None:
        self.n.step("--keep: everything stays up until Ctrl-C")
        self.n.say(f"Prometheus:      {self.prom.url if self.prom else '-'}  (try ALERTS, slo:error_ratio:rate5m)")
        self.n.say(f"Kubernetes API:  KUBECONFIG={self.kubeconfig}  (kubectl get slos,kpis,deployments -n shop -o yaml)")
        self.n.say(f"Operator:        http://127.0.0.1:{self.metrics_port}/metrics")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    async def cleanup(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.operator.wait, 15)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                await asyncio.to_thread(self.operator.wait)
        if getattr(self, "sync", None) is not None:
            await self.sync.__aexit__(None, None, None)
        if self.emu is not None:
            await self.emu.__aexit__(None, None, None)
        if self.prom is not None:
            await asyncio.to_thread(self.prom.stop)
        if self.exporter is not None:
            self.exporter.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def run(self) -> int:
        try:
            self.start_metrics()
            await self.start_cluster()
            await self.start_operator()
            await self.apply_objects()
            await self.show_healthy()
            await self.inject_and_roll_back()
            self.finish()
            if self.keep:
                await self.hold()
            self.n.step("Clean up")
            return 0
        except DemoFailed as error:
            self.n.bad(str(error))
            log = self.tmp / "operator.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                self.n.say("last lines of the operator's log:")
                for line in tail:
                    self.n.say("  " + line)
            return 1
        finally:
            await self.cleanup()
            self.n.good(f"stopped the operator, the API, Prometheus and the exporter ({self.n.elapsed().strip()} in all)")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}%"


def run_demo(fast: bool = False, keep: bool = False, summary_path: Optional[str] = None) -> int:
    narrator = Narrator()
    narrator.say("kpi-operator demo: SLO -> Prometheus rules -> live status -> canary gate, all on this machine")
    demo = Demo(narrator, fast=fast, keep=keep, summary_path=summary_path)
    return asyncio.run(demo.run())
