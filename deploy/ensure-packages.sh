#!/usr/bin/env bash
# Usage: bash deploy/ensure-packages.sh PACKAGE...
#
# Installs the named Debian packages that are not installed yet (apt-get, as
# root or through non-interactive sudo); otherwise prints what to install and
# exits 1. Quiet and idempotent when nothing is missing.
#
# When this run installs mosquitto, the package's own system service is stopped
# again: tests start their own throwaway brokers and 1883 must stay free.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi

missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get update" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
    if [ "$pkg" = mosquitto ]; then
        # systemctl exists in most containers but only works when systemd is
        # PID 1 (/run/systemd/system); elsewhere fall back to the SysV script.
        # Failures are fine: usually policy-rc.d already kept it from starting.
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            "${as_root[@]}" systemctl stop mosquitto >/dev/null 2>&1 || true
        elif command -v service >/dev/null 2>&1; then
            "${as_root[@]}" service mosquitto stop >/dev/null 2>&1 || true
        fi
    fi
done
