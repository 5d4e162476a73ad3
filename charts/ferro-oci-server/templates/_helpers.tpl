{{- define "ferro.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ferro.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferro.labels" -}}
{{ include "ferro.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pod template shared by the StatefulSet (filesystem) and the Deployment (s3-postgres). */}}
{{- define "ferro.podTemplate" -}}
metadata:
  labels:
    {{- include "ferro.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ add .Values.server.shutdownTimeoutSeconds 10 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: registry
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop: [ALL]
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "ferro.fullname" . }}
      {{- if eq .Values.storage.mode "s3-postgres" }}
      env:
        - name: FERRO_OCI_METADATA_URL
          valueFrom:
            secretKeyRef:
              name: {{ .Values.storage.postgres.existingSecret }}
              key: {{ .Values.storage.postgres.urlKey }}
        {{- if .Values.storage.s3.existingSecret }}
        - name: FERRO_OCI_S3_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ .Values.storage.s3.existingSecret }}
              key: {{ .Values.storage.s3.accessKeyIdKey }}
        - name: FERRO_OCI_S3_SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ .Values.storage.s3.existingSecret }}
              key: {{ .Values.storage.s3.secretAccessKeyKey }}
        {{- end }}
      {{- end }}
      startupProbe:
        httpGet: { path: /live, port: http }
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet: { path: /live, port: http }
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 3
      readinessProbe:
        httpGet: { path: /ready, port: http }
        periodSeconds: 5
        timeoutSeconds: 5
        failureThreshold: 2
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if eq .Values.storage.mode "filesystem" }}
        - name: data
          mountPath: /var/lib/ferro-oci
        {{- end }}
        {{- if .Values.config }}
        - name: config
          mountPath: /etc/ferro-oci/config
          readOnly: true
        {{- end }}
        {{- range .Values.secretMounts }}
        - name: secret-{{ .name }}
          mountPath: /etc/ferro-oci/secrets/{{ .name }}
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if .Values.config }}
    - name: config
      configMap:
        name: {{ include "ferro.fullname" . }}
        items:
          - key: config.yaml
            path: config.yaml
    {{- end }}
    {{- range .Values.secretMounts }}
    - name: secret-{{ .name }}
      secret:
        secretName: {{ .secretName }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
