#!/bin/sh
# Render Alertmanager's configuration from the environment, then run Alertmanager with "$@".
#
# Alertmanager expands no environment variable in its config file. This script reads the template
# alertmanager.yml and the mail templates templates/*.tmpl next to it, replaces each ${NAME} with the
# variable NAME, and writes them to the file the --config.file=PATH argument names (and templates/ next
# to it). The SMTP password goes to a file of its own (smtp_auth_password_file), never into the config.
# POSIX sh, sed and grep only: the prom/alertmanager image is busybox.
#
# Values are checked before anything is written: a bad one stops the start with a message naming it.
# Values are inserted into single-quoted YAML scalars (' doubled) after sed-escaping \ & and |, so any
# character survives except a newline or "${" (refused: it would read as another placeholder).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-/bin/alertmanager}

die() {
    echo "alertmanager entrypoint: $*" >&2
    exit 2
}

# The rendered file: where --config.file=PATH says (written once, in compose's command).
CONFIG=""
for arg in "$@"; do
    case $arg in
        --config.file=*) CONFIG=${arg#--config.file=} ;;
        --config.file) die "give --config.file=PATH as one argument" ;;
    esac
done
[ -n "$CONFIG" ] || die "no --config.file=PATH argument: where should the rendered configuration go?"

# Defaults: the mailpit sink, the compose ports.
SMTP_SMARTHOST=${SMTP_SMARTHOST:-mailpit:1025}
SMTP_FROM=${SMTP_FROM:-alerts@promethoide.local}
SMTP_AUTH_USERNAME=${SMTP_AUTH_USERNAME:-}
SMTP_AUTH_PASSWORD=${SMTP_AUTH_PASSWORD:-}
SMTP_REQUIRE_TLS=${SMTP_REQUIRE_TLS:-false}
ALERT_EMAIL_OPERATIONS=${ALERT_EMAIL_OPERATIONS:-operations@promethoide.local}
ALERT_EMAIL_DEVELOPERS=${ALERT_EMAIL_DEVELOPERS:-developers@promethoide.local}
WATCHDOG_WEBHOOK_URL=${WATCHDOG_WEBHOOK_URL:-}
GRAFANA_EXTERNAL_URL=${GRAFANA_EXTERNAL_URL:-http://localhost:3000}
ALERT_GROUP_WAIT=${ALERT_GROUP_WAIT:-30s}
ALERT_GROUP_INTERVAL=${ALERT_GROUP_INTERVAL:-5m}
ALERT_REPEAT_INTERVAL=${ALERT_REPEAT_INTERVAL:-4h}

# matches NAME ERE: the variable's value matches the extended regular expression (whole value).
matches() {
    eval "value=\${$1}"
    # shellcheck disable=SC2154  # value is set by the eval above
    printf '%s' "$value" | grep -Eqx -- "$2"
}

require() {
    matches "$1" "$2" || die "$1 must be $3"
}

NEWLINE='
'
for name in SMTP_SMARTHOST SMTP_FROM SMTP_AUTH_USERNAME SMTP_REQUIRE_TLS ALERT_EMAIL_OPERATIONS \
    ALERT_EMAIL_DEVELOPERS WATCHDOG_WEBHOOK_URL GRAFANA_EXTERNAL_URL ALERT_GROUP_WAIT ALERT_GROUP_INTERVAL \
    ALERT_REPEAT_INTERVAL; do
    eval "value=\${$name}"
    # shellcheck disable=SC2016  # a literal ${
    case $value in
        *"$NEWLINE"*) die "$name must be one line" ;;
        *'${'*) die "$name must not contain \"\${\"" ;;
    esac
done
require SMTP_SMARTHOST '([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}' "host:port, e.g. smtp.example.com:587"
require SMTP_FROM '.+@.+' "an e-mail address, e.g. alerts@example.com"
require SMTP_REQUIRE_TLS 'true|false' "true or false"
require ALERT_EMAIL_OPERATIONS '.+@.+' "one or more e-mail addresses, separated by , or ;"
require ALERT_EMAIL_DEVELOPERS '.+@.+' "one or more e-mail addresses, separated by , or ;"
# URLs go into the mail templates' text as they are: nothing that could end a Go template or a quote.
require GRAFANA_EXTERNAL_URL 'https?://[^][:space:]{}"'\''<>\\]+' "an http(s) URL, e.g. https://grafana.example.com"
[ -z "$WATCHDOG_WEBHOOK_URL" ] || require WATCHDOG_WEBHOOK_URL 'https?://[^[:space:]]+' "empty or an http(s) URL"
for name in ALERT_GROUP_WAIT ALERT_GROUP_INTERVAL ALERT_REPEAT_INTERVAL; do
    require "$name" '[0-9]+(ms|s|m|h|d|w|y)' "a duration such as 30s, 5m or 4h"
done

# Grafana's old separator was ";": Alertmanager reads a comma-separated list.
ALERT_EMAIL_OPERATIONS=$(printf '%s' "$ALERT_EMAIL_OPERATIONS" | tr ';' ',')
ALERT_EMAIL_DEVELOPERS=$(printf '%s' "$ALERT_EMAIL_DEVELOPERS" | tr ';' ',')
GRAFANA_EXTERNAL_URL=${GRAFANA_EXTERNAL_URL%/}

# A value as a sed replacement inside a single-quoted YAML scalar.
yaml_sed() {
    printf '%s' "$1" | sed -e "s/'/''/g" -e 's/[\\&|]/\\&/g'
}

# The sed script: one s|${NAME}|value|g per variable.
substitutions() {
    for name in SMTP_SMARTHOST SMTP_FROM SMTP_AUTH_USERNAME SMTP_AUTH_PASSWORD_FILE SMTP_REQUIRE_TLS \
        ALERT_EMAIL_OPERATIONS ALERT_EMAIL_DEVELOPERS WATCHDOG_WEBHOOK_URL GRAFANA_EXTERNAL_URL \
        ALERT_GROUP_WAIT ALERT_GROUP_INTERVAL ALERT_REPEAT_INTERVAL; do
        eval "value=\${$name}"
        # shellcheck disable=SC2016  # a literal ${NAME} for sed to find
        printf 's|\\${%s}|%s|g\n' "$name" "$(yaml_sed "$value")"
    done
    if [ -z "$WATCHDOG_WEBHOOK_URL" ]; then
        echo '/# if WATCHDOG_WEBHOOK_URL$/d'
    else
        echo 's/ *# if WATCHDOG_WEBHOOK_URL$//'
    fi
}

umask 077
OUT=$(mkdir -p "$(dirname "$CONFIG")" && cd "$(dirname "$CONFIG")" && pwd)
SMTP_AUTH_PASSWORD_FILE="$OUT/smtp_password"
export SMTP_AUTH_PASSWORD_FILE
printf '%s' "$SMTP_AUTH_PASSWORD" > "$SMTP_AUTH_PASSWORD_FILE"

SCRIPT="$OUT/.render.sed"
substitutions > "$SCRIPT"
mkdir -p "$OUT/templates"
rm -f "$OUT"/templates/*.tmpl
for template in "$HERE"/templates/*.tmpl; do
    sed -f "$SCRIPT" "$template" > "$OUT/templates/$(basename "$template")"
done
sed -f "$SCRIPT" "$HERE/alertmanager.yml" > "$CONFIG.new"
mv "$CONFIG.new" "$CONFIG"
rm -f "$SCRIPT"

# Basic auth for the UI and API (exporter-toolkit's web configuration, bcrypt hashes): ./run.sh writes
# web.yml next to this script when BIND_ADDRESS is not a loopback address (alertmanager/ui-auth.sh);
# without it Alertmanager answers anyone who reaches it, which then is this machine only.
if [ -s "$HERE/web.yml" ]; then
    set -- "$@" "--web.config.file=$HERE/web.yml"
fi

exec "$ALERTMANAGER_BIN" "$@"
