{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "kpi-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, suffixed with the chart name unless it contains it. */}}
{{- define "kpi-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "kpi-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kpi-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kpi-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kpi-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kpi-operator
{{- end }}

{{- define "kpi-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kpi-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kpi-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the Prometheus bearer token and CA bundle are mounted. */}}
{{- define "kpi-operator.tokenDir" -}}/etc/kpi-operator/prometheus-token{{- end }}
{{- define "kpi-operator.caDir" -}}/etc/kpi-operator/prometheus-ca{{- end }}

{{/* KPI_OPERATOR_PROMETHEUS_HEADERS: "Name: value" pairs, comma-separated; the tenant first. */}}
{{- define "kpi-operator.prometheusHeaders" -}}
{{- $headers := list }}
{{- with .Values.prometheus.tenant }}
{{- $headers = append $headers (printf "X-Scope-OrgID: %s" .) }}
{{- end }}
{{- range $name, $value := .Values.prometheus.headers }}
{{- $headers = append $headers (printf "%s: %s" $name $value) }}
{{- end }}
{{- join "," $headers }}
{{- end }}

{{/* The leader-election Lease: leaderElection.leaseName, else the release's full name. */}}
{{- define "kpi-operator.leaseName" -}}
{{- default (include "kpi-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Refuse value combinations that would deploy a broken operator. */}}
{{- define "kpi-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled=true: without it every replica would reconcile and act on the same objects" }}
{{- end }}
{{- if and .Values.peering.enabled .Values.leaderElection.enabled }}
{{- fail "peering.enabled=true requires leaderElection.enabled=false: the Lease decides which replica acts, and kopf peering must be off with it" }}
{{- end }}
{{- with .Values.leaderElection }}
{{- if and .enabled (not (lt (float64 .renewDeadline) (float64 .leaseDuration))) }}
{{- fail "leaderElection.renewDeadline must be below leaderElection.leaseDuration: a leader must stop acting before a standby may take over" }}
{{- end }}
{{- if and .enabled (not (lt (float64 .retryPeriod) (float64 .renewDeadline))) }}
{{- fail "leaderElection.retryPeriod must be below leaderElection.renewDeadline" }}
{{- end }}
{{- end }}
{{- if and .Values.prometheus.tls.ca.secretName .Values.prometheus.tls.ca.configMapName }}
{{- fail "prometheus.tls.ca: set secretName or configMapName, not both" }}
{{- end }}
{{- end }}
