#!/bin/sh
# Run Prometheus on prometheus.yml with the credentials it sends Alertmanager, then with "$@".
#
# Beyond loopback Alertmanager asks for basic auth (alertmanager/web.yml from .env's
# MONITORING_UI_USERNAME and MONITORING_UI_PASSWORD, see alertmanager/ui-auth.sh): Prometheus must send
# them with every alert (alerting.alertmanagers[].basic_auth), or no alert is delivered. On loopback
# Alertmanager asks for nothing and ignores them. Prometheus expands no environment variable in its
# configuration, so, as alertmanager/entrypoint.sh does for Alertmanager, this script renders the file
# that --config.file=PATH names into the folder `config` of --storage.tsdb.path=DIR:
#   DIR/config/prometheus.yml        PATH with ${MONITORING_UI_USERNAME} replaced
#   DIR/config/alertmanager_password  the password (mode 0600), which the configuration names as
#                                     basic_auth.password_file: never in the configuration itself
#   DIR/config/rules                  a link to the rules beside PATH (rule_files stays relative)
# and runs Prometheus with --config.file=DIR/config/prometheus.yml. Edits of PATH take effect at the
# next start (`docker compose restart prometheus`); the rules, read through the link, on SIGHUP too.
# POSIX sh, sed and grep only: the prom/prometheus image is busybox.
set -eu

PROMETHEUS_BIN=${PROMETHEUS_BIN:-/bin/prometheus}

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
    printf '%s' "${MONITORING_UI_PASSWORD:-}" > "$OUT/alertmanager_password.new"
)
mv "$OUT/alertmanager_password.new" "$OUT/alertmanager_password"
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
exec "$PROMETHEUS_BIN" "$@"
