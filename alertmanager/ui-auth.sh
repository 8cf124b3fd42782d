# shellcheck shell=bash
# Basic auth for the monitoring UIs published beyond loopback, sourced by ./run.sh (and by the tests).
#
#   ui_auth_install USER PASSWORD HASHER...
#       writes, from one bcrypt hash of PASSWORD:
#         alertmanager/web.yml  exporter-toolkit's web configuration (basic_auth_users), read by
#                               alertmanager/entrypoint.sh (--web.config.file), checked by
#                               `promtool check web-config`
#         prometheus/web.yml    the same file for Prometheus (prometheus/entrypoint.sh); a copy each,
#                               because compose mounts each service's own folder only
#         mailpit/ui-auth       an htpasswd line for mailpit's --ui-auth-file (MP_UI_AUTH_FILE)
#       HASHER... is a command that reads the password on standard input and prints "USER:HASH" with a
#       bcrypt hash: `htpasswd -niBC 10 USER` (Apache's htpasswd; ./run.sh runs the one in the apache
#       image, so the host needs nothing). The password never appears in a command line.
#   ui_auth_remove          the UIs open again (loopback only)
#
# Only hashes are written; the password itself stays in .env. The files are readable by all (0644):
# the containers read them as their own users (Alertmanager runs as nobody), and a bcrypt hash at
# cost 10 does not give the password back.
# Run from the repository's root. Errors go to stderr with a non-zero status; nothing is half-written.

UI_AUTH_ALERTMANAGER=alertmanager/web.yml
UI_AUTH_PROMETHEUS=prometheus/web.yml
UI_AUTH_MAILPIT=mailpit/ui-auth

ui_auth_install() {
    local user=$1 password=$2 line hash
    shift 2
    [[ $user =~ ^[A-Za-z0-9._-]+$ ]] ||
        { echo "MONITORING_UI_USERNAME in .env must be letters, digits, '.', '_' or '-' (got '$user'; see .example.env)" >&2; return 1; }
    [ -n "$password" ] || { echo "MONITORING_UI_PASSWORD in .env is empty (see .example.env)" >&2; return 1; }
    line=$(printf '%s\n' "$password" | "$@") || { echo "could not hash the monitoring UI password" >&2; return 1; }
    line=$(printf '%s' "$line" | tr -d '\r' | head -n 1)
    hash=${line#"$user":}
    [[ $line == "$user":* && $hash =~ ^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$ ]] ||
        { echo "the hasher did not print '$user:<bcrypt hash>'" >&2; return 1; }
    mkdir -p "$(dirname "$UI_AUTH_ALERTMANAGER")" "$(dirname "$UI_AUTH_PROMETHEUS")" "$(dirname "$UI_AUTH_MAILPIT")"
    (
        umask 022
        printf '# Written by ./run.sh from .env (MONITORING_UI_USERNAME, MONITORING_UI_PASSWORD): edit .env instead.\n# exporter-toolkit web configuration (github.com/prometheus/exporter-toolkit, docs/web-configuration.md).\nbasic_auth_users:\n  %s: %s\n' \
            "$user" "'$hash'" > "$UI_AUTH_ALERTMANAGER.new" &&
            cp "$UI_AUTH_ALERTMANAGER.new" "$UI_AUTH_PROMETHEUS.new" &&
            printf '%s:%s\n' "$user" "$hash" > "$UI_AUTH_MAILPIT.new"
    ) || { rm -f "$UI_AUTH_ALERTMANAGER.new" "$UI_AUTH_PROMETHEUS.new" "$UI_AUTH_MAILPIT.new"; return 1; }
    chmod 644 "$UI_AUTH_ALERTMANAGER.new" "$UI_AUTH_PROMETHEUS.new" "$UI_AUTH_MAILPIT.new"
    mv "$UI_AUTH_ALERTMANAGER.new" "$UI_AUTH_ALERTMANAGER"
    mv "$UI_AUTH_PROMETHEUS.new" "$UI_AUTH_PROMETHEUS"
    mv "$UI_AUTH_MAILPIT.new" "$UI_AUTH_MAILPIT"
}

ui_auth_remove() {
    rm -f "$UI_AUTH_ALERTMANAGER" "$UI_AUTH_PROMETHEUS" "$UI_AUTH_MAILPIT"
}
