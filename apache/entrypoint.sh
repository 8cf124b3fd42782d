#!/bin/sh
# Apache's entrypoint: keeps the members of the API balancer (httpd.conf, <Proxy "balancer://api">)
# in step with the API's replicas, and runs the command it is given (the image's httpd-foreground;
# the twin's apache2 -DFOREGROUND) as its child.
#
# Why: "api" resolves to one address per replica, but mod_proxy connects to the first address the
# C library returns, and glibc sorts them (RFC 6724 rule 9), so one replica got every request. The
# balancer spreads the requests over its members, one per address written here.
#
# Run from ServerRoot (the image's WORKDIR; the twin's working directory): the members go to
# logs/api-members.conf, which httpd.conf includes, and httpd's pid is read from logs/httpd.pid.
# The API's host, port and the members' options are httpd.conf's own member, "http://api:8000" (its
# file: the command's -f, or conf/httpd.conf as in the image): each address of the host becomes a
# member on that port with those options.
#
# It also writes logs/prometheus-authorization.conf, which the remote-write proxy (port 9443) includes:
# the request it forwards carries Prometheus's basic auth in place of the site's (Prometheus asks for
# it beyond loopback: alertmanager/ui-auth.sh). The password never appears in a command line, and
# the file is readable by root only (httpd reads its configuration before it drops to daemon).
#
# Environment:
#   API_DISCOVERY_INTERVAL_S  seconds between lookups (default 5); a changed set of addresses is
#                             applied with a graceful restart (requests in flight finish)
#   MONITORING_UI_USERNAME, MONITORING_UI_PASSWORD
#                             the monitoring UIs' account (.env); without a user name no file is
#                             written, and the proxy sends Prometheus no credentials at all
set -eu

# RequestHeader (mod_headers, not `early`) replaces the header after the site's password was checked
# and before mod_proxy sends the request on; it never appears in a response.
prometheus_authorization=logs/prometheus-authorization.conf
if [ -n "${MONITORING_UI_USERNAME:-}" ]; then
    # base64's alphabet (A-Z a-z 0-9 + / =) needs no quoting inside the directive's double quotes.
    credentials=$(printf '%s:%s' "$MONITORING_UI_USERNAME" "${MONITORING_UI_PASSWORD:-}" | base64 | tr -d '\n')
    (
        umask 077
        printf 'RequestHeader set Authorization "Basic %s"\n' "$credentials" > "$prometheus_authorization.new"
    )
    mv "$prometheus_authorization.new" "$prometheus_authorization"
else
    rm -f "$prometheus_authorization"
fi

interval=${API_DISCOVERY_INTERVAL_S:-5}
members=logs/api-members.conf
conf=conf/httpd.conf
previous=
for arg in "$@"; do
    if [ "$previous" = "-f" ]; then
        conf=$arg
    fi
    previous=$arg
done
member=$(sed -n 's/^[[:space:]]*BalancerMember[[:space:]]*"http:\/\/\([^"]*\)"[[:space:]]*\(.*\)$/\1 \2/p' "$conf" | head -n 1)
if [ -z "$member" ]; then
    echo "apache entrypoint: no BalancerMember \"http://HOST:PORT\" in $conf" >&2
    exit 1
fi
upstream=${member%% *}
options=${member#* }
host=${upstream%:*}
port=${upstream##*:}

# The replicas' IPv4 addresses, sorted, one a line; nothing when the name does not resolve (no
# replica running). `ahosts`, not `ahostsv4`: the latter asks with AI_ADDRCONFIG, which finds nothing
# where the only IPv4 address is loopback's.
addresses() {
    getent ahosts "$host" | awk '$1 ~ /^[0-9.]+$/ { print $1 }' | sort -u || true
}

# Write the members for a set of addresses (atomically: httpd may be reading the file). No address
# at all: no file, and httpd.conf's fallback member "api" is used (resolved per request).
write_members() {
    if [ -z "$1" ]; then
        rm -f "$members"
        return
    fi
    printf '%s\n' "$1" | awk -v port="$port" -v options="$options" \
        '{ printf "BalancerMember \"http://%s:%s\" %s\n", $1, port, options }' > "$members.new"
    mv "$members.new" "$members"
}

current=$(addresses)
write_members "$current"

"$@" &
httpd=$!
# Docker stops the image with SIGWINCH (httpd's graceful stop), compose and the twin may send TERM or
# INT: whatever comes goes to httpd, and this script ends with it.
for signal in WINCH TERM INT HUP USR1; do
    # shellcheck disable=SC2064  # the signal's name is meant to be expanded now
    trap "kill -$signal $httpd 2>/dev/null || true" "$signal"
done

while kill -0 "$httpd" 2>/dev/null; do
    # In the background so that a signal's trap runs at once, not after the sleep.
    sleep "$interval" &
    wait $! || true
    found=$(addresses)
    if [ "$found" != "$current" ] && [ -s logs/httpd.pid ]; then
        write_members "$found"
        current=$found
        kill -USR1 "$(cat logs/httpd.pid)" 2>/dev/null || true
    fi
done
wait "$httpd"
