#!/usr/bin/env bash
# Starts Promethoide with Docker Compose.
#
#   ./run.sh                  build, start, wait until every service is healthy, print the URLs
#   ./run.sh down             stop the stack (data volumes are kept)
#   ./run.sh logs [SERVICE]   follow the logs
#   ./run.sh status           containers and their health
#   ./run.sh load [ARGS]      the Locust load test, from inside the api container, through Apache
#   ./run.sh backup [--with-prometheus] [DIR]
#                             a timestamped, checksummed backup under DIR (default BACKUP_DIR, ./backups)
#   ./run.sh restore DIR      verify the backup in DIR, then restore it (the API is stopped meanwhile)
#   ./run.sh restore --check DIR
#                             rehearse it: restored beside the live database, counted, dropped (nothing stopped)
#   ./run.sh site-credentials NAME [CENTRE_ADDRESS]
#                             credentials and agent config for a remote site (site/README.md)
#   ./run.sh drill [NAME...|all|--list]
#                             fault drills: break a part, check the alerts and mails it must cause, repair
set -euo pipefail
cd "$(dirname "$0")"

die() {
    echo "run.sh: $*" >&2
    exit 1
}

# `up --wait-timeout` appeared in Compose 2.17.0 (docker/compose commit 9ac0392, February 2023).
COMPOSE_MINIMUM=2.17.0

# Whether version $1 (e.g. 2.40.3, v2.17.0-desktop.1) is at least $2 (MAJOR.MINOR.PATCH).
version_at_least() {
    local have want i
    IFS=. read -r -a have <<<"${1#v}"
    IFS=. read -r -a want <<<"$2"
    for i in 0 1 2; do
        have[i]=${have[i]:-0}
        have[i]=${have[i]%%[!0-9]*}
        (( ${have[i]:-0} > want[i] )) && return 0
        (( ${have[i]:-0} < want[i] )) && return 1
    done
    return 0
}

require_docker() {
    command -v docker >/dev/null 2>&1 ||
        die "Docker is not installed: see https://docs.docker.com/engine/install/"
    local version
    version=$(docker compose version --short 2>/dev/null) ||
        die "Docker Compose v2 ('docker compose') is not installed: see https://docs.docker.com/compose/install/"
    [[ $version =~ ^v?[0-9]+\.[0-9]+ ]] ||
        die "cannot read the Docker Compose version from '$version'"
    version_at_least "$version" "$COMPOSE_MINIMUM" ||
        die "Docker Compose $COMPOSE_MINIMUM or newer is needed (for 'up --wait-timeout'), found $version: see https://docs.docker.com/compose/install/"
    docker info >/dev/null 2>&1 ||
        die "cannot reach the Docker engine: is it running, and may $(id -un) use it?"
}

random_secret() {
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

# The address containers reach the host at (host-gateway): the default bridge network's gateway.
host_gateway() {
    docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true
}

# First run only: .env from .example.env, every "change-me" replaced by a random secret and
# NODE_EXPORTER_ADDRESS set to this engine's host gateway. An existing .env is never touched.
create_env() {
    [ -e .env ] && return
    local line gateway
    gateway=$(host_gateway)
    (
        umask 077
        while IFS= read -r line || [ -n "$line" ]; do
            if [[ $line == *=change-me ]]; then
                printf '%s%s\n' "${line%change-me}" "$(random_secret)"
            elif [[ $line == NODE_EXPORTER_ADDRESS=* && $gateway =~ ^[0-9.]+$ ]]; then
                printf 'NODE_EXPORTER_ADDRESS=%s\n' "$gateway"
            else
                printf '%s\n' "$line"
            fi
        done < .example.env > .env.new
        mv .env.new .env
    )
    echo "Created .env with random secrets (keep it private)."
}

# A value from .env, read without executing the file.
env_value() {
    sed -n "s/^$1=//p" .env | tail -n 1
}

# Alertmanager and Grafana now share one set of SMTP settings (SMTP_*). A .env from before still
# names them GF_SMTP_*: starting would silently send every alert to the mailpit sink instead of the
# real server it configures, so stop and say what to rename.
check_smtp_settings() {
    local old new renames=""
    grep -q '^SMTP_SMARTHOST=' .env && return
    for old in GF_SMTP_HOST:SMTP_SMARTHOST GF_SMTP_USER:SMTP_AUTH_USERNAME GF_SMTP_PASSWORD:SMTP_AUTH_PASSWORD \
        GF_SMTP_FROM_ADDRESS:SMTP_FROM; do
        new=${old#*:}
        old=${old%%:*}
        grep -q "^$old=" .env && renames+="  $old -> $new"$'\n'
    done
    [ -z "$renames" ] && return
    die "$(printf '.env configures SMTP with the old GF_SMTP_* names, which Alertmanager and Grafana no longer
read. Rename these lines in .env (see .example.env, "Alerts and e-mail"), then run ./run.sh again:\n%s' "$renames")"
}

# Beyond loopback (BIND_ADDRESS), the published ports are reachable from the network: the page is
# served over HTTPS (apache/tls.sh: .env's TLS_CERT_FILE/TLS_KEY_FILE, or a self-signed pair), and the
# Prometheus, Alertmanager and Mailpit UIs ask for MONITORING_UI_USERNAME/PASSWORD (alertmanager/ui-auth.sh,
# hashed with htpasswd from the apache image: the host needs no tool for it). On loopback, both are
# removed again. Needs the images built.
secure_published_ports() {
    local bind user names
    # shellcheck disable=SC1091 # both are checked on their own
    . apache/tls.sh
    # shellcheck disable=SC1091
    . alertmanager/ui-auth.sh
    bind=$(env_value BIND_ADDRESS)
    if ! tls_wanted "$bind"; then
        tls_remove apache/tls
        ui_auth_remove
        return
    fi
    names=("$(hostname -f 2>/dev/null || hostname)" "$(hostname)" localhost)
    [[ $bind == 0.0.0.0 || $bind == "::" ]] || names=("$bind" "${names[@]}")
    tls_install apache/tls "$(env_value TLS_CERT_FILE)" "$(env_value TLS_KEY_FILE)" "${names[@]}" ||
        die "cannot serve the page over HTTPS (see above); fix TLS_CERT_FILE/TLS_KEY_FILE in .env"
    user=$(env_value MONITORING_UI_USERNAME)
    ui_auth_install "$user" "$(env_value MONITORING_UI_PASSWORD)" \
        docker compose run --rm --no-deps -T --entrypoint htpasswd apache -niBC 10 "$user" ||
        die "cannot set up the monitoring UIs' basic auth (see above)"
    echo "Prometheus, Alertmanager and Mailpit ask for user '$user' and MONITORING_UI_PASSWORD from .env."
}

print_urls() {
    local host port scheme=http
    host=$(env_value BIND_ADDRESS)
    [ -s apache/tls/cert.pem ] && scheme=https
    [[ -z $host || $host == 0.0.0.0 ]] && host=localhost
    port=$(env_value APACHE_PORT)
    cat <<TXT

Promethoide is up.
  Operator page  $scheme://$host:${port:-8080}
  Grafana        http://$host:3000   user: $(env_value GF_SECURITY_ADMIN_USER)  password: $(env_value GF_SECURITY_ADMIN_PASSWORD)
  Prometheus     http://$host:9090
  Alertmanager   http://$host:9093   (alerts being mailed, silences)
  Mailpit        http://$host:8025   (alert e-mails, while SMTP points at the mailpit sink)

./run.sh status | logs [SERVICE] | load | operator ... | down
TXT
}

# Operator accounts of the operator page (issue 12), managed inside the api container by
# `python -m app.operators` with the API's own database role: add, list, disable, reset-password.
operator_command() {
    [ $# -gt 0 ] || die "usage: ./run.sh operator add NAME [--role supervisor] | list | disable NAME | reset-password NAME"
    docker compose exec api python -m app.operators "$@"
}

# After start-up: the first supervisor, the first time only (its password is printed once, below the
# URLs), and the smoke and load tests' accounts from .env, made to match .env on every start. The
# passwords go by name (-e VAR, resolved from this environment), never on a command line.
ensure_operators() {
    local prefix name
    FIRST_SUPERVISOR=$(docker compose exec -T api python -m app.operators bootstrap supervisor) ||
        die "cannot create the first supervisor (see above)"
    for prefix in SMOKE_TEST LOAD_TEST; do
        name=$(env_value "${prefix}_USERNAME")
        [ -n "$name" ] || continue
        env "${prefix}_PASSWORD=$(env_value "${prefix}_PASSWORD")" \
            docker compose exec -T -e "${prefix}_PASSWORD" api \
            python -m app.operators ensure "$name" --password-env "${prefix}_PASSWORD" --role officer >/dev/null ||
            die "cannot create the ${prefix,,} account $name (see above)"
    done
}

print_first_supervisor() {
    [ -n "${FIRST_SUPERVISOR:-}" ] || return 0
    printf '\n%s\nNobody else sees this password: to change it, ./run.sh operator reset-password supervisor\n' \
        "$FIRST_SUPERVISOR"
}

up() {
    create_env
    check_smtp_settings
    docker compose build
    secure_published_ports
    docker compose up -d --wait --wait-timeout 300
    ensure_operators
    print_urls
    print_first_supervisor
}

# backup and restore: their functions live in backup/backup.sh, loaded only for them.
backup_command() {
    # shellcheck disable=SC1091 # backup/backup.sh is checked on its own
    . backup/backup.sh
    "$@"
}

# Remote sites (site/README.md). Everything lives under SITE_CREDENTIALS_DIR (default
# ./site-credentials, git-ignored): ca/ the CA that signs the centre's certificate (its key never
# leaves this folder), centre/ what Apache mounts (certificate, key, htpasswd), NAME/ what the site
# NAME copies into its site/credentials/. The directory is created private (umask 077); centre/ and
# its htpasswd are readable by others because Apache's www-data children read the htpasswd on every
# request (it holds hashes of random 128-bit passwords, not the passwords).
site_credentials_dir() {
    local dir=${SITE_CREDENTIALS_DIR:-}
    [[ -z $dir && -e .env ]] && dir=$(env_value SITE_CREDENTIALS_DIR)
    echo "${dir:-./site-credentials}"
}

# The CA and the centre's certificate, once: issued for the name `centre`, which every site's
# agent uses (site/docker-compose.yaml maps it to the centre's address), so no address is baked in.
centre_certificate() {
    local dir=$1
    [[ -s $dir/centre/centre.crt ]] && return
    mkdir -p "$dir/ca" "$dir/centre"
    chmod 700 "$dir/ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Promethoide sites CA" -keyout "$dir/ca/ca.key" -out "$dir/ca/ca.crt" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=centre" \
        -keyout "$dir/centre/centre.key" -out "$dir/ca/centre.csr" 2>/dev/null
    openssl x509 -req -in "$dir/ca/centre.csr" -CA "$dir/ca/ca.crt" -CAkey "$dir/ca/ca.key" \
        -set_serial "0x$(random_secret | cut -c1-30)" -days 825 -out "$dir/centre/centre.crt" \
        -extfile <(printf 'subjectAltName=DNS:centre\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n') 2>/dev/null
    rm -f "$dir/ca/centre.csr"
    chmod 600 "$dir/centre/centre.key"
}

# A new random password for site NAME (an existing one is replaced: the site must take the new
# files), its hash in centre/htpasswd, and NAME/ with everything the site needs.
site_credentials() {
    local name=${1:-} address=${2:-} dir password hash
    [[ $name =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] ||
        die "usage: ./run.sh site-credentials NAME [CENTRE_ADDRESS]; NAME: lower-case letters, digits and '-' (got '${name}')"
    [[ $name != centre && $name != ca ]] || die "'$name' is reserved (the central host is the site 'centre')"
    if [[ -z $address ]]; then
        address=$(hostname -I 2>/dev/null | awk '{print $1}')
        [[ -n $address ]] || die "cannot tell this host's address: give it, ./run.sh site-credentials $name CENTRE_ADDRESS"
    fi
    [[ $address =~ ^[0-9a-fA-F.:]+$ ]] || die "CENTRE_ADDRESS must be an IP address (compose extra_hosts), got '$address'"
    command -v openssl >/dev/null 2>&1 || die "openssl is needed to create certificates and password hashes"
    dir=$(site_credentials_dir)
    umask 077
    mkdir -p "$dir"
    centre_certificate "$dir"
    password=$(random_secret)
    # SHA-512 crypt: Apache checks it through the C library's crypt() (apr_password_validate), as
    # it does bcrypt; the password is random, so the hash's cost is not what protects it.
    hash=$(openssl passwd -6 -stdin <<<"$password")
    touch "$dir/centre/htpasswd"
    { grep -v "^$name:" "$dir/centre/htpasswd" || true; echo "$name:$hash"; } >"$dir/centre/htpasswd.new"
    mv "$dir/centre/htpasswd.new" "$dir/centre/htpasswd"
    chmod 755 "$dir/centre"
    chmod 644 "$dir/centre/htpasswd" "$dir/centre/centre.crt"
    mkdir -p "$dir/$name"
    printf '%s' "$password" >"$dir/$name/password"
    cp "$dir/ca/ca.crt" "$dir/$name/ca.crt"
    sed "s/\${SITE_NAME}/$name/g" site/prometheus-agent.yml >"$dir/$name/prometheus-agent.yml"
    printf '# The central host, as this site reaches it (an IP address).\nCENTRE_ADDRESS=%s\n' "$address" \
        >"$dir/$name/site.env"
    cat <<TXT
Site '$name' may now remote-write to this host (port 9443, TLS, user '$name').
Its files, private to you: $dir/$name/  (prometheus-agent.yml, password, ca.crt, site.env)
On the site's host:
  1. copy this repository's site/ folder there, and $dir/$name/ into it as site/credentials/
  2. cd site && cp credentials/site.env .env && sudo chown -R 65534:65534 credentials   (the agent runs as nobody)
  3. docker compose up -d
Here: start or reload Apache so it reads the new password: docker compose up -d apache && docker compose kill -s USR1 apache
The centre must be reachable from the site at $address:9443: set REMOTE_WRITE_BIND_ADDRESS in .env
(127.0.0.1 by default: this machine only), then docker compose up -d apache.
TXT
}

# Fault drills (drills/): the host's python3, standard library only, drives `docker compose` and reads
# the published APIs of Prometheus, Alertmanager, mailpit and the operator page.
drill() {
    command -v python3 >/dev/null 2>&1 ||
        die "the drills need python3 (3.9 or newer) on this host: e.g. apt-get install python3"
    [ -e .env ] || die "no .env: start the stack with ./run.sh first"
    local host port page
    host=$(env_value BIND_ADDRESS)
    [[ -z $host || $host == 0.0.0.0 ]] && host=127.0.0.1
    port=$(env_value APACHE_PORT)
    page="http://$host:${port:-8080}"
    # Beyond loopback the page is HTTPS only. The self-signed pair names localhost and BIND_ADDRESS:
    # the drills trust exactly it. An operator's certificate is checked against the system's CAs.
    if [ -s apache/tls/cert.pem ]; then
        [[ $(env_value BIND_ADDRESS) == 0.0.0.0 ]] && host=localhost
        page="https://$host:${port:-8080}"
        if cmp -s apache/tls/cert.pem apache/tls/self-signed/cert.pem; then
            set -- --page-cafile apache/tls/cert.pem "$@"
        fi
    fi
    # The drills sign in to the page as .env's load-test account and send the monitoring UIs' basic
    # auth (asked for beyond loopback); the values go by environment, never on the command line.
    MONITORING_UI_USERNAME=$(env_value MONITORING_UI_USERNAME) MONITORING_UI_PASSWORD=$(env_value MONITORING_UI_PASSWORD) \
        LOAD_TEST_USERNAME=$(env_value LOAD_TEST_USERNAME) LOAD_TEST_PASSWORD=$(env_value LOAD_TEST_PASSWORD) \
        exec python3 -m drills --prometheus "http://$host:9090" --alertmanager "http://$host:9093" \
        --mailpit "http://$host:8025" --page "$page" "$@"
}

# site-credentials only writes files: it works where Docker is not installed.
[[ ${1:-} == site-credentials ]] || require_docker
case "${1:-up}" in
    up) up ;;
    down) docker compose down ;;
    logs) shift; docker compose logs --follow --tail 100 "$@" ;;
    status) docker compose ps ;;
    load)
        shift
        # Locust signs in with .env's load-test account; the values go by name (-e VAR), not on the
        # command line.
        LOAD_TEST_USERNAME=$(env_value LOAD_TEST_USERNAME) LOAD_TEST_PASSWORD=$(env_value LOAD_TEST_PASSWORD) \
            docker compose exec -e LOAD_TEST_USERNAME -e LOAD_TEST_PASSWORD api \
            locust -f load/performance_tests.py --host http://apache:80/api --headless --only-summary "$@"
        ;;
    backup | restore) backup_command "$@" ;;
    site-credentials) shift; site_credentials "$@" ;;
    drill) shift; drill "$@" ;;
    operator) shift; operator_command "$@" ;;
    *) die "unknown command '$1' (use: up, down, logs, status, load, backup, restore, site-credentials, drill, operator)" ;;
esac
