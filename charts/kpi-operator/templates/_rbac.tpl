{{/*
The rules on namespaced resources: KPIs, SLOs, PrometheusRules, the gated Deployments, Events. With the whole
cluster watched they are in the ClusterRole; with watch.namespaces they are in a Role in each watched namespace
(namespaced-rbac.yaml) and nowhere else, so the operator cannot patch a Deployment outside the namespaces it
serves. The verbs are kpi_operator.adapters.kube.VERBS_USED (tests/ship/test_chart.py compares them).
*/}}
{{- define "kpi-operator.namespacedRules" -}}
# KPIs and SLOs: kopf lists and watches them and patches its finalizer and annotations; the operator reads them.
- apiGroups: [kpi.dev]
  resources: [kpis, slos]
  verbs: [get, list, watch, patch]
# Status (observedGeneration, conditions, evaluation, gate) is written through the status subresource.
- apiGroups: [kpi.dev]
  resources: [kpis/status, slos/status]
  verbs: [patch]
# The PrometheusRule's ownerReference sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin (on in OpenShift) allows only to who may update the owner's finalizers.
- apiGroups: [kpi.dev]
  resources: [kpis/finalizers, slos/finalizers]
  verbs: [update]
# One PrometheusRule per KPI/SLO, owned by it; hand edits are watched and put back.
- apiGroups: [monitoring.coreos.com]
  resources: [prometheusrules]
  verbs: [get, list, watch, create, patch, delete]
# The canary gate: the Deployments a gate selects (pause, scale to zero, roll back) and their revision history.
# A gate acts only on a Deployment that names it in its kpi.dev/gated-by annotation (docs/gate.md, Trust model).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, patch]
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [list]
# Events on KPIs, SLOs and gated Deployments (kopf posts core/v1 Events).
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end }}
