{{/* The chart's name. */}}
{{- define "magpie.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name for resources, at most 50 characters so that suffixes fit. */}}
{{- define "magpie.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "magpie.labels" -}}
app.kubernetes.io/name: {{ include "magpie.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "magpie.releaseLabels" . }}
{{- end }}

{{/* The labels that are not selectors. */}}
{{- define "magpie.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include "magpie.selectorLabels" (list . "gateway") */}}
{{- define "magpie.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "magpie.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "magpie.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "magpie.connectionSecret" -}}
{{- .Values.connection.existingSecret | default (printf "%s-connection" (include "magpie.fullname" .)) }}
{{- end }}

{{- define "magpie.masterKeySecret" -}}
{{- .Values.masterKey.existingSecret | default (printf "%s-master-key" (include "magpie.fullname" .)) }}
{{- end }}

{{/* Where gateways and workers read the master key (a copy with mode 0600). */}}
{{- define "magpie.masterKeyFile" -}}
/var/run/magpie/key/master.key
{{- end }}

{{/* Environment of the store flags: --mongo-url, --mongo-db. */}}
{{- define "magpie.storeEnv" -}}
- name: MAGPIE_MONGO_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "magpie.connectionSecret" . }}
      key: mongo-url
- name: MAGPIE_MONGO_DB
  value: {{ .Values.mongoDatabase | quote }}
{{- end }}

{{/* Environment shared by gateways and workers. */}}
{{- define "magpie.clusterEnv" -}}
{{ include "magpie.storeEnv" . }}
- name: MAGPIE_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "magpie.connectionSecret" . }}
      key: amqp-url
- name: MAGPIE_AMQP_PREFIX
  value: {{ .Values.amqpPrefix | quote }}
- name: MAGPIE_MASTER_KEY_FILE
  value: {{ include "magpie.masterKeyFile" . }}
- name: MAGPIE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{/* Environment of gateways only: workers do not use Redis. */}}
{{- define "magpie.gatewayEnv" -}}
{{ include "magpie.clusterEnv" . }}
- name: MAGPIE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "magpie.connectionSecret" . }}
      key: redis-url
- name: MAGPIE_REDIS_PREFIX
  value: {{ .Values.redisPrefix | quote }}
{{- end }}

{{/* The init container that copies the master key to a 0600 file. */}}
{{- define "magpie.keyCopyContainer" -}}
- name: copy-master-key
  image: "{{ .Values.keyCopyImage.repository }}:{{ .Values.keyCopyImage.tag }}"
  imagePullPolicy: {{ .Values.keyCopyImage.pullPolicy }}
  command:
    - sh
    - -c
    - cp /var/run/magpie/key-secret/master.key {{ include "magpie.masterKeyFile" . }} && chmod 0600 {{ include "magpie.masterKeyFile" . }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 16Mi
    limits:
      memory: 16Mi
  volumeMounts:
    - name: master-key-secret
      mountPath: /var/run/magpie/key-secret
      readOnly: true
    - name: master-key
      mountPath: /var/run/magpie/key
{{- end }}

{{/* Volumes of the master key: the Secret and the memory volume with the copy. */}}
{{- define "magpie.keyVolumes" -}}
- name: master-key-secret
  secret:
    secretName: {{ include "magpie.masterKeySecret" . }}
    # 0440: readable by the pod's fsGroup, for the copy.
    defaultMode: 288
    items:
      - key: {{ .Values.masterKey.secretKey }}
        path: master.key
- name: master-key
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "magpie.keyVolumeMounts" -}}
- name: master-key
  mountPath: /var/run/magpie/key
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Fails the render when a grace period does not cover the shutdown. */}}
{{- define "magpie.checkGrace" -}}
{{- $c := index . 0 -}}
{{- $name := index . 1 -}}
{{- $need := add (int $c.shutdownTimeoutSeconds) (int ($c.preStopSleepSeconds | default 0)) -}}
{{- if le (int $c.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + shutdownTimeoutSeconds (%d)" $name (int $c.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- end }}

{{/* Checksum of the chart-made Secrets, so that pods roll when they change. */}}
{{- define "magpie.secretsChecksum" -}}
{{- $s := dict "urls" (ternary "" .Values.connection.urls (ne .Values.connection.existingSecret "")) "key" (ternary "" .Values.masterKey.value (ne .Values.masterKey.existingSecret "")) -}}
{{- toJson $s | sha256sum -}}
{{- end }}
