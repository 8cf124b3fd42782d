#!/bin/sh
# Run Prometheus on prometheus.yml with the monitoring UIs' credentials, then with "$@".
#
# Beyond loopback Alertmanager and Prometheus itself ask for basic auth (alertmanager/web.yml and
# prometheus/web.yml from .env's MONITORING_UI_USERNAME and MONITORING_UI_PASSWORD, see
# alertmanager/ui-auth.sh): Prometheus must send them with every alert
# (alerting.alertmanagers[].basic_auth) and with the scrapes of Alertmanager and of itself, or no
# alert is delivered and both look down. On loopback nobody asks and they are ignored. Prometheus
# expands no environment variable in its configuration, so, as alertmanager/entrypoint.sh does for
# Alertmanager, this script renders the file that --config.file=PATH names into the folder `config` of --storage.tsdb.path=DIR:
#   DIR/config/prometheus.yml        PATH with ${MONITORING_UI_USERNAME} replaced
#   DIR/config/monitoring_ui_password the password (mode 0600), which the configuration names as
#                                     basic_auth.password_file: never in the configuration itself
#   DIR/config/rules                  a link to the rules beside PATH (rule_files stays relative)
# and runs Prometheus with --config.file=DIR/config/prometheus.yml. Edits of PATH take effect at the
# next start (`docker compose restart prometheus`); the rules, read through the link, on SIGHUP too.
# When the web configuration PROMETHEUS_WEB_CONFIG (default: web.yml beside this script, which
# ./run.sh writes beyond loopback) is a non-empty file, Prometheus also gets --web.config.file=it:
# every path of its HTTP server, /-/healthy included, then asks for the basic auth it lists.
# POSIX sh, sed and grep only: the prom/prometheus image is busybox.
set -eu

PROMETHEUS_BIN=${PROMETHEUS_BIN:-/bin/prometheus}
HERE=$(cd "$(dirname "$0")" && pwd)
WEB_CONFIG=${PROMETHEUS_WEB_CONFIG:-$HERE/web.yml}

die() {
    echo "prometheus entrypoint: $*" >&2
    exit 2
}

TEMPLATE=""
STORAGE=""
for arg in "$@"; do
    case $arg in
        --config.file=*) TEMPLATE=${arg#--config.file=} ;;
        --storage.tsdb.path=*) STORAGE=${arg#--storage.tsdb.path=} ;;
        --config.file | --storage.tsdb.path) die "give $arg=VALUE as one argument" ;;
        --web.config.file*) die "give no --web.config.file: PROMETHEUS_WEB_CONFIG (web.yml beside this script) names it" ;;
    esac
done
[ -n "$TEMPLATE" ] || die "no --config.file=PATH argument: which configuration should Prometheus run?"
[ -n "$STORAGE" ] || die "no --storage.tsdb.path=DIR argument: where should the rendered configuration go?"
[ -r "$TEMPLATE" ] || die "cannot read $TEMPLATE"

# The same rule as ui-auth.sh's: safe in sed and as a plain YAML scalar.
USERNAME=${MONITORING_UI_USERNAME:-}
printf '%s' "$USERNAME" | grep -Eqx '[A-Za-z0-9._-]+' ||
    die "MONITORING_UI_USERNAME must be letters, digits, '.', '_' or '-' (got '$USERNAME'; see .example.env)"
case ${MONITORING_UI_PASSWORD:-} in
    *"
"*) die "MONITORING_UI_PASSWORD must be one line" ;;
esac

OUT=$STORAGE/config
mkdir -p "$OUT"
(
    umask 077
    printf '%s' "${MONITORING_UI_PASSWORD:-}" > "$OUT/monitoring_ui_password.new"
)
mv "$OUT/monitoring_ui_password.new" "$OUT/monitoring_ui_password"
RULES=$(cd "$(dirname "$TEMPLATE")" && pwd)/rules
rm -f "$OUT/rules"
ln -s "$RULES" "$OUT/rules"
sed "s|\${MONITORING_UI_USERNAME}|$USERNAME|g" "$TEMPLATE" > "$OUT/prometheus.yml.new"
mv "$OUT/prometheus.yml.new" "$OUT/prometheus.yml"

# "$@" with --config.file pointing at the rendered file.
for arg in "$@"; do
    shift
    case $arg in
        --config.file=*) set -- "$@" "--config.file=$OUT/prometheus.yml" ;;
        *) set -- "$@" "$arg" ;;
    esac
done
if [ -s "$WEB_CONFIG" ]; then
    set -- "$@" "--web.config.file=$WEB_CONFIG"
fi
exec "$PROMETHEUS_BIN" "$@"
