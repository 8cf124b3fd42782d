#!/bin/bash
# Debian packages the apache tests need: apache2 (the server under test),
# iproute2 (ip link set lo up) and util-linux (unshare, mount).
# Waits for the dpkg lock instead of failing when another apt runs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600)
need=()
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
if [ "${#need[@]}" -eq 0 ]; then
    exit 0
fi
# The apache2 package starts the service on install where it can: it would
# listen on *:80 of the host. Forbid service starts for this install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${need[@]}"
