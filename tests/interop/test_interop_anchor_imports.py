"""Every spec in ``../shared/anchors`` imports, or fails with a message naming the field it cannot carry over.

One row per file (and a few rows per file with the one field changed that stopped it, to reach the next rule).
The expected outcome is literal: the objects produced (``Kind/name``), or the source field each refused
document names. Several OpenSLO examples are also invalid under OpenSLO's own v1 validator (go-sdk rules, see
``anchors/SOURCES.md``); the test ids say which and why, and the importer's first refusal is what the table
holds. Every import result is then accepted by ``kpi-operator validate -f -`` run as a subprocess.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from kpi_operator.interop import Imported, import_documents, split_documents
from kpi_operator.cli.render import dump_yaml_documents
from support.anchors import anchor

Edit = Callable[[list[Any]], None]
KPI_OPERATOR = str(Path(sys.executable).with_name("kpi-operator"))

SLOTH = "sloth/test/integration/prometheus/testdata"
SPEC = "openslo-spec/examples"
SDK = "openslo-go-sdk/pkg/openslo/v1/examples"
INLINE = "openslo-go-sdk/pkg/openslosdk/test_data/inline"
RESOLVED = "the SLO imports once its budgeting and window are ones kpi-operator supports"


def import_files(files: list[str], edit: Optional[Edit] = None) -> list[Imported]:
    """Import the files as one input; ``edit`` changes the first file's parsed documents first."""
    documents = []
    for number, relative in enumerate(files):
        bodies = list(yaml.safe_load_all(anchor(relative).read_text()))
        if edit is not None and number == 0:
            bodies = copy.deepcopy(bodies)
            edit(bodies)
        documents.extend(split_documents(relative, bodies))
    return import_documents(documents)


def occurrences_rolling(*, drop_op: bool = False) -> Edit:
    """Switch every SLO in a YAML list to Occurrences over a rolling 1w window (optionally without ``op``)."""

    def edit(bodies: list[Any]) -> None:
        for body in (item for doc in bodies for item in (doc if isinstance(doc, list) else [doc])):
            if body.get("kind") == "SLO":
                body["spec"]["budgetingMethod"] = "Occurrences"
                body["spec"]["timeWindow"] = [{"duration": "1w", "isRolling": True}]
                for objective in body["spec"]["objectives"]:
                    if drop_op:
                        objective.pop("op", None)
                    objective.pop("timeSliceTarget", None)
                    objective.pop("timeSliceWindow", None)

    return edit


def slo_referencing(sli_name: str, threshold: bool = False) -> Edit:
    """Add an Occurrences SLO that refers to one of the go-sdk example SLIs by name."""

    def edit(bodies: list[Any]) -> None:
        objective: dict[str, Any] = {"target": 0.99}
        if threshold:
            objective.update(op="lt", value=1000)
        bodies.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": f"uses-{sli_name}"},
                "spec": {
                    "service": "web",
                    "indicatorRef": sli_name,
                    "budgetingMethod": "Occurrences",
                    "timeWindow": [{"duration": "28d", "isRolling": True}],
                    "objectives": [objective],
                },
            }
        )

    return edit


def ok(*names: str) -> dict[str, Any]:
    return {"objects": list(names), "problems": []}


def refused(*problems: tuple[str, str], objects: tuple[str, ...] = ()) -> dict[str, Any]:
    """Expected refusals as ``(position, source field path)``."""
    return {"objects": list(objects), "problems": list(problems)}


ROWS = [
    # --- Sloth ---
    pytest.param([f"{SLOTH}/in-base.yaml"], None, ok("SLO/slo1", "SLO/slo02"), id="sloth in-base.yaml: an events SLO and a raw SLO import"),
    pytest.param([f"{SLOTH}/in-base-k8s.yaml"], None, ok("SLO/slo1", "SLO/slo02"), id="sloth in-base-k8s.yaml: the CR's two SLOs import"),
    pytest.param([f"{SLOTH}/in-openslo.yaml"], None, ok("SLO/slo1-0"), id="sloth in-openslo.yaml: OpenSLO v1alpha imports, named as Sloth names it"),
    pytest.param(["sloth/examples/getting-started.yml"], None, ok("SLO/requests-availability"), id="sloth getting-started.yml imports"),
    pytest.param(["sloth/examples/k8s-getting-started.yml"], None, ok("SLO/requests-availability"), id="sloth k8s-getting-started.yml imports"),
    pytest.param(["sloth/internal/alert/windows/google-30d.yaml"], None, refused(("document 1", "kind")),
                 id="sloth google-30d.yaml: an AlertWindows document is refused at kind (set the tiers' windows instead)"),
    pytest.param(["sloth/test/integration/prometheus/windows/7d.yaml"], None, refused(("document 1", "kind")),
                 id="sloth windows/7d.yaml: an AlertWindows document is refused at kind"),
    # --- Pyrra ---
    pytest.param(["pyrra/examples/caddy-response-latency.yaml"], None, ok("SLO/caddy-response-latency"), id="pyrra caddy-response-latency: classic latency imports"),
    pytest.param(["pyrra/examples/prometheus-http.yaml"], None, ok("SLO/prometheus-api-query"), id="pyrra prometheus-http: grouped ratio imports"),
    pytest.param(["pyrra/examples/pyrra-connect-latency.yaml"], None, ok("SLO/pyrra-connect-latency"), id="pyrra pyrra-connect-latency: grouped native latency imports"),
    pytest.param(["pyrra/examples/kubernetes/manifests/slos/slo-coredns-response-errors.yaml"], None, ok("SLO/coredns-response-errors"),
                 id="pyrra slo-coredns-response-errors: ratio imports"),
    pytest.param(["pyrra/examples/prometheus-probe-success.yaml"], None, refused(("document 1", "spec.indicator.bool_gauge.grouping")),
                 id="pyrra prometheus-probe-success: a grouped bool_gauge is refused at its grouping"),
    pytest.param(["pyrra/examples/prometheus-probe-success.yaml"], lambda b: b[0]["spec"]["indicator"]["bool_gauge"].pop("grouping"),
                 ok("SLO/prometheus-blackbox-probe-success"), id="pyrra prometheus-probe-success without grouping imports as a sample-count ratio"),
    # --- OpenSLO spec examples ---
    pytest.param([f"{SPEC}/budgeting-method/occurences-slo.yaml"], None, refused(("document 1", "spec.indicator.spec.thresholdMetric.metricSource.type")),
                 id="openslo-spec occurences-slo: metricSource type Any is not PromQL (also ends with an empty alertPolicies, a strict-validator caveat)"),
    pytest.param([f"{SPEC}/budgeting-method/occurences-slo.yaml"],
                 lambda b: b[0]["spec"]["indicator"]["spec"]["thresholdMetric"]["metricSource"].update(type="Prometheus", spec={"query": "max(search_latency_ms)"}),
                 ok("KPI/search-slo"), id="openslo-spec occurences-slo with a Prometheus query imports as a KPI (thresholdMetric)"),
    pytest.param([f"{SPEC}/budgeting-method/ratio-timeslices.yaml"], None, refused(("document 1", "spec.budgetingMethod")),
                 id="openslo-spec ratio-timeslices: RatioTimeslices is refused (and op: gt on a ratio objective is invalid OpenSLO v1)"),
    pytest.param([f"{SPEC}/budgeting-method/ratio-timeslices.yaml"], occurrences_rolling(), refused(("document 1", "spec.objectives[0].op")),
                 id="openslo-spec ratio-timeslices as Occurrences: op on a ratio objective is refused, as the OpenSLO validator forbids it"),
    pytest.param([f"{SPEC}/budgeting-method/timeslices-slo.yaml"], None, refused(("document 1", "spec.budgetingMethod")),
                 id="openslo-spec timeslices-slo: Timeslices is refused (also invalid: op on a ratio objective; duration 1m is one minute, not the month its comment means)"),
    pytest.param([f"{SPEC}/treat-low-traffic-as-equally-important/timeslices-slo.yaml"], None, refused(("document 1", "spec.budgetingMethod")),
                 id="openslo-spec treat-low-traffic timeslices-slo: Timeslices is refused (also invalid: op on a ratio objective)"),
    # --- OpenSLO go-sdk examples ---
    pytest.param([f"{SDK}/slos.yaml"], None, refused(("document 1 item 1", "spec.budgetingMethod")),
                 id="go-sdk slos.yaml: Timeslices is refused (also invalid: op gt on a ratio objective, as oslo's transcript says)"),
    pytest.param([f"{SDK}/slos.yaml"], occurrences_rolling(), refused(("document 1 item 1", "spec.objectives[0].op")),
                 id="go-sdk slos.yaml as Occurrences: the importer refuses spec.objectives[0].op like oslo validate does"),
    pytest.param([f"{SDK}/slos.yaml"], occurrences_rolling(drop_op=True), ok("SLO/web-availability"),
                 id="go-sdk slos.yaml as valid Occurrences: the counter sums become sums of rates"),
    pytest.param([f"{SDK}/slis.yaml"], None, ok(), id="go-sdk slis.yaml: SLIs alone produce nothing"),
    pytest.param([f"{SDK}/slis.yaml", f"{SDK}/data_sources.yaml"], slo_referencing("search-availability"),
                 refused(("document 2", "SLI/search-availability.spec.ratioMetric.good.metricSource.type")),
                 id="go-sdk SLI search-availability (Datadog) referenced by an SLO is refused at its metricSource type"),
    pytest.param([f"{SDK}/slis.yaml"], slo_referencing("end-user-response"),
                 refused(("document 2", "SLI/end-user-response.spec.ratioMetric.bad.metricSource.type")),
                 id="go-sdk SLI end-user-response (AppDynamics) referenced by an SLO is refused at its metricSource type"),
    pytest.param([f"{SDK}/slis.yaml"], slo_referencing("wifi-client-satisfaction"), ok("SLO/uses-wifi-client-satisfaction"),
                 id="go-sdk SLI wifi-client-satisfaction (raw success ratio with {{.window}}) imports as a raw SLO"),
    pytest.param([f"{SDK}/slis.yaml"], slo_referencing("annotator-throughput", threshold=True), ok("KPI/uses-annotator-throughput"),
                 id="go-sdk SLI annotator-throughput (thresholdMetric) imports as a KPI"),
    pytest.param([f"{SDK}/alert_conditions.yaml", f"{SDK}/alert_notification_targets.yaml", f"{SDK}/alert_policies.yaml", f"{SDK}/data_sources.yaml", f"{SDK}/services.yaml"],
                 None, ok(), id="go-sdk alerting, data source and service examples produce nothing on their own"),
    pytest.param([f"{INLINE}/inputs/v1_slo.yaml"], None, refused(("document 1 item 1", "spec.budgetingMethod"), ("document 1 item 2", "spec.budgetingMethod")),
                 id="go-sdk inline inputs: both SLOs use Timeslices and are refused"),
    pytest.param([f"{INLINE}/inputs/v1_slo.yaml"], occurrences_rolling(), ok("KPI/my-slo-1", "KPI/my-slo-2"),
                 id="go-sdk inline inputs as Occurrences: an inline and an indicatorRef thresholdMetric import as KPIs"),
    pytest.param([f"{INLINE}/outputs/v1_slo.yaml"], None, refused(("document 1 item 1", "spec.budgetingMethod"), ("document 1 item 2", "spec.budgetingMethod")),
                 id="go-sdk inline outputs (references resolved): both SLOs use Timeslices and are refused"),
    # --- oslo ---
    pytest.param(["oslo/test/inputs/validate/v1.yaml"], None, refused(("document 1 item 1", "spec.budgetingMethod")),
                 id="oslo validate v1.yaml: Timeslices is refused; the Service named 'example service' (invalid RFC-1123, per oslo) produces nothing"),
    # --- not a supported format ---
    pytest.param(["slo-generator/samples/prometheus/slo_prom_metrics_availability_ratio.yaml"], None, refused(("document 1", "apiVersion")),
                 id="slo-generator sre.google.com/v2 is not a supported format: refused at apiVersion"),
]


def outcome(results: list[Imported]) -> dict[str, Any]:
    objects = [f"{body['kind']}/{body['metadata']['name']}" for result in results for body in result.objects]
    problems = [(result.document.position, result.problem.path) for result in results if result.problem is not None]
    return {"objects": objects, "problems": problems}


@pytest.mark.parametrize("files, edit, expected", ROWS)
def test_anchor_spec_imports_or_names_the_field(files: list[str], edit: Optional[Edit], expected: dict[str, Any]) -> None:
    results = import_files(files, edit)
    assert outcome(results) == expected
    produced = [body for result in results for body in result.objects]
    if produced and not expected["problems"]:
        run = subprocess.run([KPI_OPERATOR, "validate", "-f", "-"], input=dump_yaml_documents(produced), capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
