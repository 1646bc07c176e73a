{{/*
The pod template of one role: (dict "root" $ "role" "api"|"worker"). Both run the same image with
the role as the verb and the role's cohort.conf; they differ in probes, grace and node pool.
*/}}
{{- define "cohort.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $r := index $v .role -}}
{{- $p := include "cohort.paths" $root | fromJson -}}
metadata:
  labels:
    {{- include "cohort.roleSelectorLabels" . | nindent 4 }}
    {{- with $r.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Settings changed: the pods restart (cohort reads its settings once, at start).
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $r.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cohort.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ int64 $r.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .role }}
      image: {{ include "cohort.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      # No secret here: cohort refuses one given as a flag.
      args: [{{ .role | quote }}, "--config", {{ printf "%s/%s.conf" $p.conf .role | quote }}]
      ports:
        - name: http
          containerPort: {{ int64 $v.containerPort }}
          protocol: TCP
      env:
        {{- include "cohort.env" $root | nindent 8 }}
      {{- with $r.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if and (eq .role "api") (gt (int $r.preStopSleepSeconds) 0) }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", {{ int $r.preStopSleepSeconds | toString | quote }}]
      {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      resources:
        {{- toYaml $r.resources | nindent 8 }}
      volumeMounts:
        {{- include "cohort.volumeMounts" $root | nindent 8 }}
  volumes:
    {{- include "cohort.volumes" $root | nindent 4 }}
  {{- with $r.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  topologySpreadConstraints:
    {{- include "cohort.topologySpread" . | nindent 4 }}
{{- end -}}
