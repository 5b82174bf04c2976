#!/usr/bin/env bash
# Installs what claynet needs to build, test and benchmark. Idempotent: when everything is
# present it only checks (dpkg-query, no network) and returns within a second or so.
set -euo pipefail

cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  libnice-dev libusrsctp-dev libssl-dev libglib2.0-dev libsoup-3.0-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libcli11-dev
  glib-networking clang libclang-rt-dev  # libclang-rt-dev: libFuzzer and sanitizer runtimes (clang only recommends it)
  coturn chromium python3-aiortc iproute2
  # The NAT lab (tests/nat/lab.sh): routers with nftables and conntrack, a DNS server, a test CA
  nftables conntrack dnsmasq-base openssl
  libhiredis-dev redis-server haproxy  # claynet signal --redis, and its cluster tests
  nodejs npm
  # Clayground.Network QML module (src/qml), its tests (qmltestrunner, the qml tool) and the
  # sandbox with its screenshot test (Xvfb, xwd from x11-apps)
  qt6-base-dev qt6-declarative-dev qt6-declarative-dev-tools qml-qt6 qml6-module-qttest
  qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript
  qml6-module-qtquick qml6-module-qtquick-window xvfb x11-apps
)

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)" = "ii " ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  case "$pkg" in
    # Node.js may come from NodeSource, whose nodejs package bundles npm and conflicts with
    # Debian's npm package: a working `node`/`npm` on PATH is enough.
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing missing Debian packages: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# coturn's package may start a system turnserver on install; tests start their own on other ports.

if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: npm ci"
    npm ci --no-audit --no-fund
  else
    echo "setup: node_modules up to date"
  fi
elif [ -f package.json ]; then
  echo "setup: package.json without package-lock.json; skipping npm ci"
fi
