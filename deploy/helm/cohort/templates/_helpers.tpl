{{/* Names and labels. */}}
{{- define "cohort.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cohort.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A role's object name: RELEASE-cohort-api, RELEASE-cohort-worker (pod names stay below 63). */}}
{{- define "cohort.roleName" -}}
{{- printf "%s-%s" (include "cohort.fullname" .root | trunc 48 | trimSuffix "-") .role -}}
{{- end -}}

{{/* The CronJob's name: at most 52 characters, as Kubernetes allows (its Jobs add 11). */}}
{{- define "cohort.integrityCheckName" -}}
{{- printf "%s-integrity-check" (include "cohort.fullname" . | trunc 36 | trimSuffix "-") -}}
{{- end -}}

{{- define "cohort.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cohort.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cohort.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cohort.labels" -}}
helm.sh/chart: {{ include "cohort.chart" . }}
{{ include "cohort.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cohort
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one role's objects; call with (dict "root" $ "role" "api"). */}}
{{- define "cohort.roleLabels" -}}
{{ include "cohort.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "cohort.roleSelectorLabels" -}}
{{ include "cohort.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "cohort.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cohort.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cohort.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* A Kubernetes memory quantity in MiB (rounded down), or "" when it is not one we read. */}}
{{- define "cohort.mebibytes" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $factors := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 -}}
{{- if and $num (hasKey $factors $unit) -}}
{{- divf (mulf (float64 $num) (get $factors $unit)) 1048576.0 | floor | int64 -}}
{{- end -}}
{{- end -}}

{{/*
Checks that the schema cannot express, each failing with what to set. PostgreSQL, S3, NATS and
Redis are external: the chart installs none of them.
*/}}
{{- define "cohort.validate" -}}
{{- $v := .Values -}}
{{- $ext := "(this chart installs no PostgreSQL, S3, NATS or Redis: see the chart's README.md, \"Install first\")" -}}
{{- if not $v.postgresql.url -}}
{{- fail (printf "cohort: set postgresql.url, the PostgreSQL that holds Cohort's state, e.g. postgres://cohort@pg.db.svc:5432/cohort?sslmode=require %s" $ext) -}}
{{- end -}}
{{- /* A password in a URL value would land in the ConfigMap and the release history. */ -}}
{{- if or (regexMatch "^[a-z]+://[^/?#@]*:[^/?#@]*@" $v.postgresql.url) (regexMatch "[?&]password=" $v.postgresql.url) -}}
{{- fail "cohort: postgresql.url holds a password: it would be stored in a ConfigMap. Remove it and set postgresql.existingSecret (the password reaches libpq as PGPASSWORD)" -}}
{{- end -}}
{{- if contains "@" $v.nats.url -}}
{{- fail "cohort: nats.url holds credentials: it would be stored in a ConfigMap. Put the whole URL in a Secret and set nats.existingSecret (and nats.urlKey)" -}}
{{- end -}}
{{- if contains "@" $v.redis.url -}}
{{- fail "cohort: redis.url holds a password: it would be stored in a ConfigMap. Remove it and set redis.existingSecret (and redis.passwordKey)" -}}
{{- end -}}
{{- if not $v.s3.url -}}
{{- fail (printf "cohort: set s3.url, the bucket for datasets and trainees, e.g. s3://cohort/prod?endpoint=http://minio.storage.svc:9000 %s" $ext) -}}
{{- end -}}
{{- if not $v.s3.existingSecret -}}
{{- fail "cohort: set s3.existingSecret, a Secret holding the S3 secret access key under s3.secretAccessKeyKey (kubectl create secret generic cohort-s3 --from-literal=access-key-id=... --from-file=secret-access-key=...)" -}}
{{- end -}}
{{- if and (not $v.s3.accessKeyIdKey) (not $v.s3.accessKeyId) -}}
{{- fail "cohort: set s3.accessKeyId, or s3.accessKeyIdKey to the key of the access key id in s3.existingSecret" -}}
{{- end -}}
{{- if and (not $v.nats.url) (not $v.nats.existingSecret) -}}
{{- fail (printf "cohort: set nats.url (nats://HOST:4222 of a JetStream-enabled NATS: API replicas and workers talk through it) or nats.existingSecret %s" $ext) -}}
{{- end -}}
{{- if and $v.redis.enabled (not $v.redis.url) -}}
{{- fail (printf "cohort: set redis.url (redis://HOST:6379/0: large message bodies travel through it), or redis.enabled=false to refuse bodies larger than a NATS message %s" $ext) -}}
{{- end -}}
{{- if not $v.admin.existingSecret -}}
{{- fail "cohort: set admin.existingSecret, a Secret holding the first administrator's password under admin.passwordKey (kubectl create secret generic cohort-admin --from-file=password=./admin-password)" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.api.trustedProxies) -}}
{{- fail "cohort: ingress.enabled needs api.trustedProxies: the ingress controller's pod addresses or CIDR (e.g. 10.244.0.0/16), so that sign-in backoff and logs see the client, not the controller" -}}
{{- end -}}
{{- if and $v.worker.keda.enabled $v.worker.autoscaling.enabled -}}
{{- fail "cohort: worker.keda.enabled and worker.autoscaling.enabled are exclusive: KEDA makes its own HPA" -}}
{{- end -}}
{{- if and $v.worker.keda.enabled (not $v.worker.keda.natsServerMonitoringEndpoint) -}}
{{- fail "cohort: worker.keda.enabled needs worker.keda.natsServerMonitoringEndpoint, nats-server's monitoring HOST:PORT (8222) as the KEDA operator reaches it" -}}
{{- end -}}
{{- if le (int $v.nats.workMaxDeliver) (int $v.jobs.maxAttempts) -}}
{{- fail (printf "cohort: nats.workMaxDeliver (%v) must be above jobs.maxAttempts (%v), so that a worker sees a job's last attempt and records its failure" $v.nats.workMaxDeliver $v.jobs.maxAttempts) -}}
{{- end -}}
{{- with $v.worker.resources.limits -}}
{{- with .memory -}}
{{- $limit := include "cohort.mebibytes" . -}}
{{- if and $limit (gt (mul (int64 $v.worker.memoryBudgetMb) 4) (mul (int64 $limit) 3)) -}}
{{- fail (printf "cohort: worker.memoryBudgetMb (%v MiB) leaves less than a quarter of worker.resources.limits.memory (%v = %v MiB) for the rest of the process: lower it or raise the limit" $v.worker.memoryBudgetMb . $limit) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the chart mounts what Cohort reads. */}}
{{- define "cohort.paths" -}}
{{- dict "conf" "/etc/cohort" "data" "/var/lib/cohort" "admin" "/var/run/secrets/cohort/admin" "s3" "/var/run/secrets/cohort/s3" | toJson -}}
{{- end -}}

{{/* A value as cohort.conf wants it: helm reads numbers as floats (2e+07); integers print whole. */}}
{{- define "cohort.scalar" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/*
cohort.conf of one role: (dict "root" $ "role" "api"|"worker"). No secret in it: passwords come
from mounted files (admin, S3) or the environment (PGPASSWORD, the Redis URL, a NATS URL).
*/}}
{{- define "cohort.conf" -}}
{{- $v := .root.Values -}}
{{- $p := include "cohort.paths" . | fromJson -}}
{{- $role := .role -}}
# cohort.conf of the {{ $role }} role, rendered by the cohort Helm chart ({{ include "cohort.chart" .root }}).
# Secrets are not in this file: they come from mounted Secrets and the environment.
# instance comes from COHORT_INSTANCE (the pod's name).
listen = {{ $v.listenAddress }}:{{ int64 $v.containerPort }}
data_dir = {{ $p.data }}
store = {{ $v.postgresql.url }}
store_pool_size = {{ int64 $v.postgresql.poolSize }}
store_timeout_ms = {{ int64 $v.postgresql.timeoutMs }}
blobs = {{ $v.s3.url }}
{{- if and $v.s3.accessKeyId (not $v.s3.accessKeyIdKey) }}
s3_access_key_id = {{ $v.s3.accessKeyId }}
{{- end }}
s3_secret_access_key_file = {{ $p.s3 }}/secret-access-key
s3_cache_mb = {{ int64 $v.s3.cacheMb }}
{{- if not $v.nats.existingSecret }}
bus = {{ $v.nats.url }}
{{- end }}
{{- if and $v.redis.enabled (not $v.redis.existingSecret) }}
bus_redis = {{ $v.redis.url }}
{{- end }}
bus_offload_ttl_s = {{ int64 $v.redis.offloadTtlSeconds }}
bus_timeout_ms = {{ int64 $v.nats.timeoutMs }}
bus_work_stream = {{ $v.nats.workStream }}
bus_work_consumer = {{ $v.nats.workConsumer }}
bus_work_ack_wait_s = {{ int64 $v.nats.workAckWaitSeconds }}
bus_work_max_deliver = {{ int64 $v.nats.workMaxDeliver }}
job_lease_s = {{ int64 $v.jobs.leaseSeconds }}
job_max_attempts = {{ int64 $v.jobs.maxAttempts }}
admin_user = {{ $v.admin.user }}
admin_password_file = {{ $p.admin }}/password
{{- if eq $role "api" }}
http_threads = {{ int64 $v.api.httpThreads }}
login_concurrency = {{ int64 $v.api.loginConcurrency }}
{{- with $v.api.trustedProxies }}
trusted_proxies = {{ . }}
{{- end }}
{{- else }}
workers = {{ int64 $v.worker.jobThreads }}
memory_budget_mb = {{ int64 $v.worker.memoryBudgetMb }}
compute_threads = {{ int64 $v.worker.computeThreads }}
{{- end }}
{{- $extra := merge (deepCopy (index $v $role).config) $v.config }}
{{- range $k, $val := $extra }}
{{ $k }} = {{ include "cohort.scalar" $val }}
{{- end }}
{{- end -}}

{{/* Environment of both roles: the instance name and the secrets that travel by environment. */}}
{{- define "cohort.env" -}}
{{- $v := .Values -}}
- name: COHORT_INSTANCE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $v.postgresql.existingSecret }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.postgresql.existingSecret }}
      key: {{ $v.postgresql.passwordKey }}
{{- end }}
{{- if $v.s3.accessKeyIdKey }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.s3.existingSecret }}
      key: {{ $v.s3.accessKeyIdKey }}
{{- end }}
{{- if $v.nats.existingSecret }}
- name: COHORT_BUS
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.existingSecret }}
      key: {{ $v.nats.urlKey }}
{{- end }}
{{- if and $v.redis.enabled $v.redis.existingSecret }}
- name: COHORT_CHART_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.passwordKey }}
{{- /* Kubernetes expands $(VAR) from the variables above when the container starts: the
       password is in the process's environment, not in the pod spec or the ConfigMap. */}}
- name: COHORT_BUS_REDIS
  value: {{ printf "redis://%s:$(COHORT_CHART_REDIS_PASSWORD)@%s" $v.redis.username (trimPrefix "redis://" $v.redis.url) | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes of both roles. */}}
{{- define "cohort.volumes" -}}
{{- $v := .Values -}}
- name: config
  configMap:
    name: {{ include "cohort.fullname" . }}
- name: scratch
  emptyDir:
    {{- with $v.scratch.medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ default (printf "%dMi" (add (int $v.s3.cacheMb) 1024)) $v.scratch.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: admin-password
  secret:
    secretName: {{ $v.admin.existingSecret }}
    defaultMode: 0440
    # Explicit (the default): podman kube play 4.3 crashes on a secret volume without it.
    optional: false
    items:
      - key: {{ $v.admin.passwordKey }}
        path: password
- name: s3-secret
  secret:
    secretName: {{ $v.s3.existingSecret }}
    defaultMode: 0440
    # Explicit (the default): podman kube play 4.3 crashes on a secret volume without it.
    optional: false
    items:
      - key: {{ $v.s3.secretAccessKeyKey }}
        path: secret-access-key
{{- with $v.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "cohort.volumeMounts" -}}
{{- $p := include "cohort.paths" . | fromJson -}}
- name: config
  mountPath: {{ $p.conf }}
  readOnly: true
- name: scratch
  mountPath: {{ $p.data }}
- name: tmp
  mountPath: /tmp
- name: admin-password
  mountPath: {{ $p.admin }}
  readOnly: true
- name: s3-secret
  mountPath: {{ $p.s3 }}
  readOnly: true
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Spread a role's pods over nodes and zones unless the values give constraints. */}}
{{- define "cohort.topologySpread" -}}
{{- $r := index .root.Values .role -}}
{{- if $r.topologySpreadConstraints -}}
{{- toYaml $r.topologySpreadConstraints -}}
{{- else -}}
{{- $sel := include "cohort.roleSelectorLabels" . | fromYaml -}}
{{- $list := list -}}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" -}}
{{- $list = append $list (dict "maxSkew" 1 "topologyKey" . "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" (dict "matchLabels" $sel)) -}}
{{- end -}}
{{- toYaml $list -}}
{{- end -}}
{{- end -}}

{{/* A Prometheus duration ("1m30s", "500ms"; the schema checks its form) in milliseconds. */}}
{{- define "cohort.durationMs" -}}
{{- $unit := dict "y" 31536000000 "w" 604800000 "d" 86400000 "h" 3600000 "m" 60000 "s" 1000 "ms" 1 -}}
{{- $ms := 0 -}}
{{- range $part := regexFindAll "[0-9]+(ms|y|w|d|h|m|s)" . -1 -}}
{{- $n := regexFind "^[0-9]+" $part -}}
{{- $ms = add $ms (mul ($n | int64) (get $unit (trimPrefix $n $part))) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}
