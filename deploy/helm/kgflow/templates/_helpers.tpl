{{/* Names: <release>-kgflow unless the release is already named kgflow. */}}
{{- define "kgflow.fullname" -}}
{{- if contains "kgflow" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-kgflow" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "kgflow.labels" -}}
app.kubernetes.io/name: kgflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kgflow.selector" -}}
app.kubernetes.io/name: kgflow
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kgflow.image" -}}
{{- if .digest -}}{{ .repository }}@{{ .digest }}{{- else -}}{{ .repository }}:{{ .tag }}{{- end -}}
{{- end -}}

{{/* What differs between engines: port, probe paths, the waiting-requests metric, the kgflow backend
     that speaks to it, and whether adapters load at run time. One table, read by every template. */}}
{{- define "kgflow.engineSpec" -}}
{{- $table := dict
  "vllm" (dict "port" 8000 "ready" "/health" "metric" "vllm:num_requests_waiting" "backend" "vllm" "runtimeLora" true)
  "sglang" (dict "port" 30000 "ready" "/health" "metric" "sglang:num_queue_reqs" "backend" "vllm" "runtimeLora" true)
  "tgi" (dict "port" 8080 "ready" "/health" "metric" "tgi_queue_size" "backend" "tgi" "runtimeLora" false)
  "triton" (dict "port" 9000 "ready" "/health/ready" "metric" "nv_inference_pending_request_count" "backend" "triton" "runtimeLora" false)
  "llamacpp" (dict "port" 8080 "ready" "/v1/models" "metric" "" "backend" "llamacpp" "runtimeLora" false)
-}}
{{- $spec := get $table .Values.engine.kind -}}
{{- if not $spec -}}{{- fail (printf "engine.kind %q: choose vllm, sglang, tgi, triton or llamacpp" .Values.engine.kind) -}}{{- end -}}
{{- toYaml $spec -}}
{{- end -}}

{{/* The slot (blue|green) the engine Service points at: kept from the cluster across upgrades, since the
     model_deploy DAG switches it after its smoke test; blue on a first install and in `helm template`. */}}
{{- define "kgflow.liveSlot" -}}
{{- $svc := lookup "v1" "Service" .Release.Namespace (printf "%s-engine" (include "kgflow.fullname" .)) -}}
{{- if and $svc $svc.spec $svc.spec.selector (hasKey $svc.spec.selector "kgflow.io/slot") -}}
{{- get $svc.spec.selector "kgflow.io/slot" -}}
{{- else -}}blue{{- end -}}
{{- end -}}

{{- define "kgflow.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "kgflow.containerSecurity" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "kgflow.homeClaim" -}}
{{- default (printf "%s-home" (include "kgflow.fullname" .)) .Values.home.existingClaim -}}
{{- end -}}

{{- define "kgflow.modelsClaim" -}}
{{- default (printf "%s-models" (include "kgflow.fullname" .)) .Values.engine.models.existingClaim -}}
{{- end -}}
