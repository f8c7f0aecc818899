{{- define "leadstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "leadstream.labels" -}}
app.kubernetes.io/name: leadstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "leadstream.selector" -}}
app.kubernetes.io/name: leadstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "leadstream.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" .Release.Name) }}
{{- end -}}

{{/* The pod spec's parts every service shares: the config and the secrets as files. */}}
{{- define "leadstream.volumes" -}}
- name: config
  configMap:
    name: {{ .Release.Name }}-config
- name: secrets
  secret:
    secretName: {{ include "leadstream.secretName" . }}
{{- end -}}

{{- define "leadstream.mounts" -}}
- name: config
  mountPath: /etc/leadstream/config
  readOnly: true
- name: secrets
  mountPath: /run/secrets/leadstream
  readOnly: true
{{- end -}}

{{- define "leadstream.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "leadstream.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "leadstream.probes" -}}
livenessProbe:
  httpGet: { path: /health, port: http }
  periodSeconds: 10
  failureThreshold: 6
readinessProbe:
  httpGet: { path: /ready, port: http }
  periodSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet: { path: /health, port: http }
  periodSeconds: 5
  failureThreshold: 60
{{- end -}}
