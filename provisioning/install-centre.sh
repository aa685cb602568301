#!/bin/sh
# Turns a fresh Debian (12 "bookworm" or later) into a follow-up centre, as root, from a checkout
# of this project (docs/operations.md, "Install the software"; tests/test_installer_centre.py):
#
#   sh provisioning/install-centre.sh                  install on this system
#   sh provisioning/install-centre.sh --wheel FILE     the software from a built wheel, not the checkout
#   sh provisioning/install-centre.sh --postgresql     also PostgreSQL here, with a role and database
#   sh provisioning/install-centre.sh --root DIR       write into DIR instead of / (testing; no apt-get)
#
# It installs the Debian packages below, the user dho-centre (systemd-sysusers), the software with
# its centre extra in /opt/dho-hub/releases/VERSION with /opt/dho-hub/venv linked to it (as on a
# hub), the units dho-centre.service (the ingest worker) and dho-centre-web.service (the nurses'
# web), enabled, not started, waiting for centre.toml; Mosquitto's drop-in (waiting for the
# configuration `centre broker-config` writes); /etc/dho-centre and /var/lib/dho-centre. Run it
# again at any time: it changes only what differs and says "Nothing to change" if nothing did. It
# never writes centre.toml, keys or the broker's configuration: `centre init` and `centre
# broker-config` do (docs/operations.md, step 1).
#
# POSIX sh, like install-hub.sh: it runs before the Python this project needs is there.
set -eu

# Everything the centre needs from Debian. mosquitto: the broker (2.0 or newer); gcc,
# mosquitto-dev, libmosquitto-dev: `centre broker-config` compiles the broker's subscription
# check; systemd: systemd-sysusers and the units. With --postgresql also postgresql.
PACKAGES="python3 python3-venv mosquitto gcc mosquitto-dev libmosquitto-dev systemd"
UNITS="dho-centre.service dho-centre-web.service"
DROP_IN=mosquitto.service.d/dho.conf
VENV=/opt/dho-hub/venv
RELEASES=/opt/dho-hub/releases
# The role and database --postgresql makes: the role is the units' user, so it signs in over
# PostgreSQL's local socket as itself (peer authentication) and no password is kept anywhere.
PG_ROLE=dho-centre
PG_DATABASE=dho

here=$(cd "$(dirname "$0")" && pwd)
# usage, refuse, say, did, put_file, put_dir, ...: one copy for both installers, beside them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
checkout=$(cd "$here/.." && pwd)
root=""
wheel=""
postgresql=no
changed=0

while [ $# -gt 0 ]; do
    case $1 in
    --root)
        [ $# -ge 2 ] || refuse "--root needs a directory"
        root=$2
        shift 2
        ;;
    --wheel)
        [ $# -ge 2 ] || refuse "--wheel needs a file"
        wheel=$2
        shift 2
        ;;
    --postgresql)
        postgresql=yes
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) refuse "Unknown argument: $1 (see --help)" ;;
    esac
done

# --- checks, before anything is written -------------------------------------------------------

if [ -z "$root" ]; then
    if ! is_debian; then
        name=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo "this system")
        refuse "This installer is for Debian (it uses apt-get and dpkg);
$name is neither, or lacks apt-get. Install Debian 12 or later on the centre and run it
there. To see what it would write, without installing: --root DIR."
    fi
    if [ "$(id -u)" -ne 0 ]; then
        refuse "Run this as root (sudo sh provisioning/install-centre.sh): it installs packages,
creates a user and writes to /etc, /opt and /var/lib. To try it without touching this system:
--root DIR."
    fi
else
    [ -d "$root" ] || refuse "--root $root: no such directory (make it first)"
    root=$(cd "$root" && pwd)
    [ "$root" != / ] || root=""
fi
for tool in systemd-sysusers systemctl; do
    command -v "$tool" >/dev/null || refuse "$tool is missing: install the Debian package systemd."
done
if [ -n "$wheel" ]; then
    [ -f "$wheel" ] || refuse "--wheel $wheel: no such file"
    wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
    version=$(basename "$wheel" | cut -d- -f2)
else
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$checkout/pyproject.toml" | head -n 1)
fi
echo "$version" | grep -Eq '^[0-9]+(\.[0-9]+){0,3}$' ||
    refuse "The software's version '$version' is not numbers and dots (such as 0.2.0)."
# Only root can give files to the centre's user; --root as another user writes them as its own.
owners=yes
[ "$(id -u)" -eq 0 ] || owners=no
[ $postgresql = no ] || PACKAGES="$PACKAGES postgresql"

# --- 1. Debian packages -----------------------------------------------------------------------

if [ -n "$root" ]; then
    # As install-hub.sh: apt-get into a directory that is not a booted system would run no
    # maintainer scripts right, and a test must not need the network.
    say "--root: no Debian packages installed (on a centre: $PACKAGES)"
else
    missing=$(missing_packages $PACKAGES)
    if [ -n "$missing" ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
        did "installed $missing"
    else
        say "ok: Debian packages $PACKAGES"
    fi
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    refuse "The centre needs Python 3.11 or newer (Debian 12 or later): $(python3 --version 2>&1)."

# --- 2. the user ------------------------------------------------------------------------------

mkdir -p "$root/etc"
put_file "$checkout/systemd/dho-centre.sysusers.conf" "$root/etc/sysusers.d/dho-centre.conf" 644
if [ -n "$(number_of passwd dho-centre)" ] && [ -n "$(number_of group dho-centre)" ]; then
    say "ok: user dho-centre"
else
    if [ -n "$root" ]; then systemd-sysusers --root="$root"; else systemd-sysusers; fi
    [ -n "$(number_of passwd dho-centre)" ] ||
        refuse "systemd-sysusers did not create the user dho-centre; see its messages above."
    did "user dho-centre"
fi

# --- 3. the software, with the centre's extra (Django, psycopg, waitress, ...) ---------------------

release=$root$RELEASES/$version
if [ ! -x "$release/bin/python" ]; then
    python3 -m venv "$release"
    did "made the venv $RELEASES/$version"
fi
stamp=$(source_stamp)
if [ "$(cat "$release/.dho-hub-source" 2>/dev/null)" = "$stamp" ]; then
    say "ok: software in $RELEASES/$version (installed from this same source)"
else
    # A reinstall, not an upgrade: the checkout keeps one version number across changes.
    "$release/bin/python" -m pip uninstall --quiet --yes dho-hub 2>/dev/null || true
    "$release/bin/python" -m pip install --quiet "${wheel:-$checkout}[centre]"
    echo "$stamp" >"$release/.dho-hub-source"
    did "installed the software with its centre extra into $RELEASES/$version"
fi
venv=$root$VENV
if [ "$(readlink "$venv" 2>/dev/null)" = "releases/$version" ]; then
    say "ok: $VENV -> releases/$version"
else
    if [ -L "$venv" ]; then
        ln -sfn "$(readlink "$venv")" "$root/opt/dho-hub/previous"
    elif [ -d "$venv" ]; then
        # A venv installed by hand before this installer: the release replaces it.
        rm -rf "$venv"
    fi
    ln -sfn "releases/$version" "$root/opt/dho-hub/.venv.new"
    mv -T "$root/opt/dho-hub/.venv.new" "$venv"
    did "$VENV -> releases/$version"
fi
link=$root/usr/local/bin/centre
if [ "$(readlink "$link" 2>/dev/null)" = "$VENV/bin/centre" ]; then
    say "ok: $link"
else
    mkdir -p "$root/usr/local/bin"
    ln -sfn "$VENV/bin/centre" "$link"
    did "$link -> $VENV/bin/centre"
fi

# --- 4. units and Mosquitto's drop-in ---------------------------------------------------------

units_changed=$changed
changed=0
for unit in $UNITS; do
    put_file "$checkout/systemd/$unit" "$root/etc/systemd/system/$unit" 644
done
put_file "$checkout/systemd/$DROP_IN" "$root/etc/systemd/system/$DROP_IN" 644
[ $changed -eq 0 ] || [ -n "$root" ] || systemctl daemon-reload
[ $changed -eq 0 ] || units_changed=1
changed=$units_changed
for unit in $UNITS; do
    if [ "$(systemctl_root is-enabled "$unit" 2>/dev/null)" = enabled ]; then
        say "ok: $unit enabled"
    else
        systemctl_root enable --quiet "$unit"
        did "enabled $unit (not started now)"
    fi
done

# --- 5. configuration and state ---------------------------------------------------------------

put_dir "$root/etc/dho-centre" root root 755
put_dir "$root/var/lib/dho-centre" dho-centre dho-centre 700
[ ! -e "$root/etc/dho-centre/centre.toml" ] ||
    say "kept: $root/etc/dho-centre/centre.toml (never overwritten)"
[ ! -d "$root/var/lib/dho-centre/keys" ] || say "kept: $root/var/lib/dho-centre/keys (never touched)"

# --- 6. PostgreSQL (optional) -----------------------------------------------------------------

psql_says() {
    runuser -u postgres -- psql -XtAc "$1" 2>/dev/null
}
if [ $postgresql = no ]; then
    say "no PostgreSQL here (the centre uses SQLite, or a server elsewhere: --postgresql for one here)"
elif [ -n "$root" ]; then
    say "--root: no PostgreSQL role or database made (on a centre: role $PG_ROLE, database $PG_DATABASE)"
else
    systemctl is-active --quiet postgresql || systemctl start postgresql
    if [ "$(psql_says "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'")" = 1 ]; then
        say "ok: PostgreSQL role $PG_ROLE"
    else
        runuser -u postgres -- createuser "$PG_ROLE"
        did "PostgreSQL role $PG_ROLE (signs in over the local socket as the user $PG_ROLE)"
    fi
    if [ "$(psql_says "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" = 1 ]; then
        say "ok: PostgreSQL database $PG_DATABASE"
    else
        runuser -u postgres -- createdb --owner "$PG_ROLE" "$PG_DATABASE"
        did "PostgreSQL database $PG_DATABASE owned by $PG_ROLE"
    fi
    say "the database for centre init: --database postgresql:///$PG_DATABASE"
fi

# --- done -------------------------------------------------------------------------------------

if [ $changed -eq 0 ]; then
    say "Nothing to change: this centre was already installed."
else
    say "Installed. Next: centre init and centre broker-config (docs/operations.md, step 1)."
fi
