#!/bin/bash
# Container health check: the httpd image has neither curl nor wget, but it
# has bash, whose /dev/tcp is enough for one HTTP/1.0 request.
# Healthy = the operator page answers 200 on port 80 (the API is not
# involved: an API outage must not mark the front door unhealthy).
# Usage: healthcheck.sh [HOST] [PORT]   (default 127.0.0.1 80)
set -euo pipefail
host="${1:-127.0.0.1}"
port="${2:-80}"

exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: promethoide-healthcheck\r\n\r\n' >&3
status_line=""
IFS= read -r -t 5 status_line <&3 || true
exec 3<&-
case "$status_line" in
    "HTTP/1."[01]" 200 "*) exit 0 ;;
    *)
        printf 'unhealthy: %s\n' "${status_line:-no answer}" >&2
        exit 1
        ;;
esac
