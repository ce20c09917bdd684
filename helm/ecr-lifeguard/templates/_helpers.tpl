{{/* The chart name, or nameOverride. */}}
{{- define "ecr-lifeguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The resource name prefix: fullnameOverride, else release-chart (once). */}}
{{- define "ecr-lifeguard.fullname" -}}
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

{{/* The bot's pods; the bundled Redis has component "redis" so neither selects the other. */}}
{{- define "ecr-lifeguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecr-lifeguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end -}}

{{- define "ecr-lifeguard.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ecr-lifeguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "ecr-lifeguard.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ecr-lifeguard
{{- end -}}

{{- define "ecr-lifeguard.labels" -}}
{{ include "ecr-lifeguard.commonLabels" . }}
{{ include "ecr-lifeguard.selectorLabels" . }}
{{- end -}}

{{- define "ecr-lifeguard.redisLabels" -}}
{{ include "ecr-lifeguard.commonLabels" . }}
{{ include "ecr-lifeguard.redisSelectorLabels" . }}
{{- end -}}

{{- define "ecr-lifeguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ecr-lifeguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name the existing ServiceAccount to use when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ecr-lifeguard.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The port the bot listens on: bot.http_port (3000) with --http, else bot.health_port (8080). */}}
{{- define "ecr-lifeguard.port" -}}
{{- $bot := .Values.config.bot | default dict -}}
{{- if eq .Values.mode "http" -}}
{{- $bot.http_port | default 3000 | int -}}
{{- else -}}
{{- $bot.health_port | default 8080 | int -}}
{{- end -}}
{{- end -}}

{{/* The Secret that holds the Slack credentials. */}}
{{- define "ecr-lifeguard.slackSecret" -}}
{{- if .Values.slack.create -}}
{{- include "ecr-lifeguard.fullname" . -}}
{{- else -}}
{{- .Values.slack.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* "external" (redis.url), "secret" (redis.existingSecret), "bundled", or "" (none). */}}
{{- define "ecr-lifeguard.redisSource" -}}
{{- if .Values.redis.url -}}external
{{- else if .Values.redis.existingSecret -}}secret
{{- else if .Values.redis.bundled.enabled -}}bundled
{{- end -}}
{{- end -}}

{{- define "ecr-lifeguard.redisName" -}}
{{- printf "%s-redis" (include "ecr-lifeguard.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Whether the chart creates its own Secret (Slack tokens from values, or the Redis URL). */}}
{{- define "ecr-lifeguard.ownSecret" -}}
{{- if or .Values.slack.create .Values.redis.url -}}true{{- end -}}
{{- end -}}

{{/* Refuse values that would render a bot that cannot start, with the fix in the message. */}}
{{- define "ecr-lifeguard.validate" -}}
{{- $slack := .Values.slack -}}
{{- if and $slack.create $slack.existingSecret -}}
{{- fail "slack: set either slack.existingSecret (a Secret you created) or slack.create=true with the tokens, not both" -}}
{{- end -}}
{{- if $slack.create -}}
{{- if not $slack.botToken -}}
{{- fail "slack.botToken is empty: slack.create=true needs the bot token (xoxb-...); or create a Secret and set slack.existingSecret" -}}
{{- end -}}
{{- if and (eq .Values.mode "socket") (not $slack.appToken) -}}
{{- fail "slack.appToken is empty: Socket Mode needs the app-level token (xapp-...); or set mode=http with slack.signingSecret" -}}
{{- end -}}
{{- if and (eq .Values.mode "http") (not $slack.signingSecret) -}}
{{- fail "slack.signingSecret is empty: mode=http needs the signing secret to verify Slack's requests" -}}
{{- end -}}
{{- else if not $slack.existingSecret -}}
{{- fail "slack: no Slack credentials. Set slack.existingSecret to a Secret holding SLACK_BOT_TOKEN and SLACK_APP_TOKEN (or SLACK_SIGNING_SECRET for mode=http), or slack.create=true with slack.botToken" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "ecr-lifeguard.redisSource" .)) -}}
{{- fail (printf "replicaCount=%d needs Redis: set redis.url, redis.existingSecret or redis.bundled.enabled=true (without it each replica keeps its own state and alerts twice)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (ne .Values.mode "http") -}}
{{- fail "ingress.enabled=true needs mode=http: in Socket Mode Slack never calls the bot" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is empty: name the host Slack's Request URL points at" -}}
{{- end -}}
{{- end -}}
