# shellcheck shell=bash
# TLS for the published operator page, sourced by ./run.sh (and run by the tests' twin the same way).
#
# Apache serves HTTPS on its published port when its ServerRoot holds conf/tls/cert.pem and
# conf/tls/key.pem (apache/httpd.conf); compose mounts apache/tls/ there. These functions fill or
# empty that directory:
#
#   tls_wanted BIND_ADDRESS           true when the address is not a loopback one (127.0.0.0/8, ::1,
#                                     localhost): the page is then reachable from the network
#   tls_install DIR CERT KEY NAME...  DIR/cert.pem + DIR/key.pem (mode 600) from the operator's CERT
#                                     and KEY (checked: readable, and the key matches the certificate),
#                                     or, when CERT and KEY are both empty, from a self-signed pair kept
#                                     in DIR/self-signed/ (created on first use for the NAMEs, reused
#                                     afterwards so browsers' exceptions stay valid)
#   tls_remove DIR                    plain HTTP again (the self-signed pair is kept)
# Errors go to stderr with a non-zero status; nothing is half-written.

tls_wanted() {
    case "${1:-127.0.0.1}" in
        127.* | ::1 | "[::1]" | localhost) return 1 ;;
        *) return 0 ;;
    esac
}

# A self-signed certificate for the NAMEs (host names or IP addresses), valid 825 days (the longest
# lifetime Apple's platforms accept, support.apple.com/en-us/103769), key RSA 3072.
_tls_self_signed() {
    local dir=$1 name san=""
    shift
    for name in "$@"; do
        [ -z "$name" ] && continue
        if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
            san+=",IP:$name"
        else
            san+=",DNS:$name"
        fi
    done
    mkdir -p "$dir"
    chmod 700 "$dir"
    (
        umask 077
        openssl req -x509 -newkey rsa:3072 -sha256 -days 825 -nodes \
            -keyout "$dir/key.pem.new" -out "$dir/cert.pem.new" \
            -subj "/CN=$1" -addext "subjectAltName=${san#,}" 2>/dev/null
    ) || {
        rm -f "$dir/key.pem.new" "$dir/cert.pem.new"
        echo "openssl could not create a self-signed certificate" >&2
        return 1
    }
    mv "$dir/key.pem.new" "$dir/key.pem"
    mv "$dir/cert.pem.new" "$dir/cert.pem"
}

# Whether KEY is the private key of CERT (same public key).
_tls_pair_matches() {
    local from_cert from_key
    from_cert=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
    from_key=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
    [ -n "$from_cert" ] && [ "$from_cert" = "$from_key" ]
}

tls_install() {
    local dir=$1 cert=$2 key=$3
    shift 3
    mkdir -p "$dir"
    command -v openssl >/dev/null 2>&1 || {
        echo "TLS needs openssl on this machine (Debian/Ubuntu: apt-get install openssl)" >&2
        return 1
    }
    if [ -z "$cert" ] && [ -z "$key" ]; then
        if [ ! -s "$dir/self-signed/cert.pem" ] || [ ! -s "$dir/self-signed/key.pem" ]; then
            _tls_self_signed "$dir/self-signed" "$@" || return 1
            echo "Created a self-signed TLS certificate for: $* ($dir/self-signed/cert.pem)."
            echo "Browsers will warn about it until you trust it or set TLS_CERT_FILE and TLS_KEY_FILE in .env."
        else
            echo "Serving HTTPS with the self-signed certificate $dir/self-signed/cert.pem."
        fi
        cert=$dir/self-signed/cert.pem
        key=$dir/self-signed/key.pem
    elif [ -z "$cert" ] || [ -z "$key" ]; then
        echo "set both TLS_CERT_FILE and TLS_KEY_FILE in .env (or neither, for a self-signed pair)" >&2
        return 1
    fi
    [ -r "$cert" ] || { echo "TLS_CERT_FILE: cannot read $cert" >&2; return 1; }
    [ -r "$key" ] || { echo "TLS_KEY_FILE: cannot read $key" >&2; return 1; }
    _tls_pair_matches "$cert" "$key" ||
        { echo "$key is not the private key of the certificate $cert (or one of them is not PEM)" >&2; return 1; }
    (
        umask 077
        cp "$cert" "$dir/cert.pem.new" && cp "$key" "$dir/key.pem.new"
    ) || { rm -f "$dir/cert.pem.new" "$dir/key.pem.new"; return 1; }
    chmod 600 "$dir/cert.pem.new" "$dir/key.pem.new"
    mv "$dir/key.pem.new" "$dir/key.pem"
    mv "$dir/cert.pem.new" "$dir/cert.pem"
}

tls_remove() {
    rm -f "$1/cert.pem" "$1/key.pem"
}
