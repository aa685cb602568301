#!/usr/bin/env bash
# ./run.sh demo | test | check — installs what is missing, then runs.
#   demo   a simulated home: emulated devices, BlueZoo, Mosquitto, centre, hub, patient screen
#   test   the test suite (real BlueZoo, Mosquitto and SQLite)
#   check  ruff (lint and format), mypy and the layer contracts (lint-imports)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_debian_packages() {
    local missing=()
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
    # `centre broker-config` builds a broker plugin that checks subscriptions (centre/*.c).
    command -v cc >/dev/null || missing+=(gcc)
    [ -f /usr/include/mosquitto_broker.h ] || missing+=(mosquitto-dev)
    [ -f /usr/include/mosquitto.h ] || missing+=(libmosquitto-dev)
    command -v dbus-daemon >/dev/null || missing+=(dbus)
    # systemd-analyze and systemd-sysusers check the units offline (tests/test_units.py).
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    command -v python3 >/dev/null || missing+=(python3)
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    # The centre's tests start their own PostgreSQL server (testbed/postgres.py) from Debian's
    # binaries, as its `postgres` user; the package's own cluster and service are not used.
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
    # The centre's translation catalogues are checked against the code (xgettext, msgfmt).
    command -v msgfmt >/dev/null && command -v xgettext >/dev/null || missing+=(gettext)
    # The nurses' pages are tested in a real browser (tests/test_web_browser.py).
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    # The OIDC login's tests run a real provider (testbed/oidc_provider.py) on Node.js.
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        sudo_ apt-get update -qq
        sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    # The Debian package starts a system broker on 1883; ours start on free ports, so it can stay.
}

need_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[test]'
        touch "$VENV/.installed"
    fi
}

need_node_packages() {
    # panva's oidc-provider (OpenID certified), the real provider the OIDC login is tested
    # against (tests/test_web_oidc.py); kept in the venv's folder, out of the work tree.
    local version=9.13.3
    if ! grep -qs "\"version\": \"$version\"" "$VENV/node/node_modules/oidc-provider/package.json"; then
        npm install --prefix "$VENV/node" --no-audit --no-fund --loglevel=error "oidc-provider@$version"
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
    demo)  need_debian_packages; need_venv; exec "$VENV/bin/python" -m testbed.demo "$@" ;;
    test)  need_debian_packages; need_venv; need_node_packages; exec "$VENV/bin/python" -m pytest "$@" ;;
    check) need_venv; "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check . && "$VENV/bin/mypy" \
        && "$VENV/bin/lint-imports" ;;
    *) echo "usage: ./run.sh demo|test|check" >&2; exit 2 ;;
esac
