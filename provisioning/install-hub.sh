#!/bin/sh
# Turns a fresh Raspberry Pi OS Lite / Debian (arm64) into a hub, as root, from a checkout of this
# project (docs/operations.md, "Install the software"; tests/test_installer.py):
#
#   sh provisioning/install-hub.sh                   install on this system
#   sh provisioning/install-hub.sh --wheel FILE      the software from a built wheel, not the checkout
#   sh provisioning/install-hub.sh --root DIR        write into DIR instead of / (testing; no apt-get)
#   sh provisioning/install-hub.sh --release-key FILE   pin the operator's release key (hub update)
#
# It installs the Debian packages below, the users (systemd-sysusers), the software in
# /opt/dho-hub/releases/VERSION with /opt/dho-hub/venv linked to it (what `hub update` switches),
# the hub's units (enabled, not started; they wait for hub.toml), the update timer, /etc/dho-hub
# and /var/lib/dho-hub, and then the patient screen's kiosk (provisioning/kiosk/install.sh). Run it
# again at any time: it changes only what differs and says "Nothing to change" if nothing did. It
# never writes hub.toml or keys: `hub provision` does (docs/operations.md, step 3).
#
# POSIX sh, like the kiosk's installer: a fresh Pi has sh, apt-get and systemd but not yet the
# Python this project needs, so the installer cannot be Python itself.
set -eu

# Everything the hub needs from Debian, in one place (the kiosk's own list is in kiosk/install.sh).
# python3-venv: the venv; bluez: bluetoothd and the `bluetooth` group the daemon unit joins;
# dbus: the system bus to BlueZ; systemd: systemd-sysusers and the units.
PACKAGES="python3 python3-venv bluez dbus systemd"
KIOSK_PACKAGES="cage foot fonts-terminus-otb console-setup"
UNITS="dho-hub.service dho-hub-ui.service dho-hub-update.service dho-hub-update.timer"
# Enabled: the two services start at boot once provisioned, the timer looks for releases. The
# update service itself is started by its timer only.
ENABLED="dho-hub.service dho-hub-ui.service dho-hub-update.timer"
# The units, /usr/local/bin/hub and `hub update` use this path; it is a link to the release that
# runs, /opt/dho-hub/releases/VERSION (hub/update/install.py).
VENV=/opt/dho-hub/venv
RELEASES=/opt/dho-hub/releases

here=$(cd "$(dirname "$0")" && pwd)
# usage, refuse, say, did, put_file, put_dir, ...: one copy for both installers, beside them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
checkout=$(cd "$here/.." && pwd)
root=""
wheel=""
release_key=""
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
    --release-key)
        [ $# -ge 2 ] || refuse "--release-key needs a file (release-key.pub from hub update keygen)"
        release_key=$2
        shift 2
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
        refuse "This installer is for Raspberry Pi OS or Debian (it uses apt-get and dpkg);
$name is neither, or lacks apt-get. Install Raspberry Pi OS Lite (64-bit) on the hub and run
it there. To see what it would write, without installing: --root DIR."
    fi
    if [ "$(id -u)" -ne 0 ]; then
        refuse "Run this as root (sudo sh provisioning/install-hub.sh): it installs packages,
creates users and writes to /etc, /opt and /var/lib. To try it without touching this system:
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
fi
if [ -n "$release_key" ]; then
    [ -f "$release_key" ] || refuse "--release-key $release_key: no such file"
    # One base64 Ed25519 key (44 characters) a line, # comments: hub update keygen's format.
    # At least one key, and no line that is neither (hub update would refuse the file).
    key_pattern='^[A-Za-z0-9+/]\{43\}=$'
    if ! grep -q "$key_pattern" "$release_key" ||
        grep -v '^#' "$release_key" | grep -v '^$' | grep -qv "$key_pattern"; then
        refuse "--release-key $release_key: not a release key (release-key.pub from hub update keygen)"
    fi
fi
# The version installed: the wheel's (dho_hub-VERSION-...) or the checkout's pyproject.toml. It
# names the release's directory, so only numbers and dots (as hub update requires).
if [ -n "$wheel" ]; then
    version=$(basename "$wheel" | cut -d- -f2)
else
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$checkout/pyproject.toml" | head -n 1)
fi
echo "$version" | grep -Eq '^[0-9]+(\.[0-9]+){0,3}$' ||
    refuse "The software's version '$version' is not numbers and dots (such as 0.2.0)."
# Only root can give files to the hub's users; --root as another user writes them as its own.
owners=yes
[ "$(id -u)" -eq 0 ] || owners=no

# --- 1. Debian packages -----------------------------------------------------------------------

if [ -n "$root" ]; then
    # apt-get into a directory that is not a booted system would run no maintainer scripts
    # right; a test must not need the network either. So: nothing installed, nothing written.
    say "--root: no Debian packages installed (on a hub: $PACKAGES)"
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
    refuse "The hub needs Python 3.11 or newer (Debian 12 or later): $(python3 --version 2>&1)."

# --- 2. users ---------------------------------------------------------------------------------

mkdir -p "$root/etc"
put_file "$checkout/systemd/dho-hub.sysusers.conf" "$root/etc/sysusers.d/dho-hub.conf" 644
users_present() {
    for user in dho-hub dho-hub-ui; do
        [ -n "$(number_of passwd $user)" ] || return 1
    done
    [ -n "$(number_of group dho-hub-sock)" ]
}
if users_present; then
    say "ok: users dho-hub, dho-hub-ui and group dho-hub-sock"
else
    if [ -n "$root" ]; then systemd-sysusers --root="$root"; else systemd-sysusers; fi
    users_present || refuse "systemd-sysusers did not create the hub's users; see its messages above."
    did "users dho-hub, dho-hub-ui and group dho-hub-sock"
fi

# --- 3. the software --------------------------------------------------------------------------

# One venv per version, made where it stays (a venv's scripts name their interpreter by its full
# path), and /opt/dho-hub/venv a link to it: `hub update` installs the next version beside it and
# switches the link (docs/operations.md, "Updating hubs").
venv=$root$VENV
running=$(readlink "$venv" 2>/dev/null | sed -n 's|^releases/||p')
newer=$(printf '%s\n%s\n' "$running" "$version" | sort -V | tail -n 1)
if [ -n "$running" ] && [ "$running" != "$version" ] && [ "$newer" = "$running" ] &&
    [ -x "$root$RELEASES/$running/bin/python" ]; then
    # `hub update` brought this hub past the checkout's version: installing the checkout would
    # take it back (and an old release may bring back a fixed flaw). By hand: hub update.
    version=$running
    keep_running=yes
else
    keep_running=no
fi
release=$root$RELEASES/$version
if [ $keep_running = yes ]; then
    say "kept: $VENV -> releases/$running (newer than this installer's software; hub update installed it)"
elif [ ! -x "$release/bin/python" ]; then
    python3 -m venv "$release"
    did "made the venv $RELEASES/$version"
fi
stamp=$(source_stamp)
if [ $keep_running = yes ]; then
    :
elif [ "$(cat "$release/.dho-hub-source" 2>/dev/null)" = "$stamp" ]; then
    say "ok: software in $RELEASES/$version (installed from this same source)"
else
    # A reinstall, not an upgrade: the checkout keeps one version number across changes.
    "$release/bin/python" -m pip uninstall --quiet --yes dho-hub 2>/dev/null || true
    "$release/bin/python" -m pip install --quiet "${wheel:-$checkout}"
    echo "$stamp" >"$release/.dho-hub-source"
    did "installed the software into $RELEASES/$version from ${wheel:-$checkout}"
fi
if [ "$(readlink "$venv" 2>/dev/null)" = "releases/$version" ]; then
    say "ok: $VENV -> releases/$version"
else
    if [ -L "$venv" ]; then
        # Another release ran (an update, or another installer): it stays, as the one
        # `hub update rollback` returns to.
        ln -sfn "$(readlink "$venv")" "$root/opt/dho-hub/previous"
    elif [ -d "$venv" ]; then
        # A venv from before releases (installed by hand or by an older installer): the new
        # release replaces it.
        rm -rf "$venv"
    fi
    ln -sfn "releases/$version" "$root/opt/dho-hub/.venv.new"
    mv -T "$root/opt/dho-hub/.venv.new" "$venv"
    did "$VENV -> releases/$version"
fi
link=$root/usr/local/bin/hub
if [ "$(readlink "$link" 2>/dev/null)" = "$VENV/bin/hub" ]; then
    say "ok: $link"
else
    mkdir -p "$root/usr/local/bin"
    ln -sfn "$VENV/bin/hub" "$link"
    did "$link -> $VENV/bin/hub"
fi

# --- 4. units ---------------------------------------------------------------------------------

units_changed=$changed
changed=0
for unit in $UNITS; do
    put_file "$checkout/systemd/$unit" "$root/etc/systemd/system/$unit" 644
done
[ $changed -eq 0 ] || [ -n "$root" ] || systemctl daemon-reload
[ $changed -eq 0 ] || units_changed=1
changed=$units_changed
for unit in $ENABLED; do
    if [ "$(systemctl_root is-enabled "$unit" 2>/dev/null)" = enabled ]; then
        say "ok: $unit enabled"
    else
        systemctl_root enable --quiet "$unit"
        did "enabled $unit (not started now)"
    fi
done

# --- 5. configuration and state ---------------------------------------------------------------

put_dir "$root/etc/dho-hub" root root 755
put_dir "$root/var/lib/dho-hub" dho-hub dho-hub-sock 700
if [ -n "$release_key" ]; then
    put_file "$release_key" "$root/etc/dho-hub/release-key.pub" 644
elif [ ! -e "$root/etc/dho-hub/release-key.pub" ]; then
    say "no release key pinned: hub update refuses every release until one is (--release-key FILE)"
fi
[ ! -e "$root/etc/dho-hub/hub.toml" ] || say "kept: $root/etc/dho-hub/hub.toml (never overwritten)"
[ ! -d "$root/var/lib/dho-hub/keys" ] || say "kept: $root/var/lib/dho-hub/keys (never touched)"

# --- 6. the patient screen's kiosk ------------------------------------------------------------

kiosk=$checkout/provisioning/kiosk
kiosk_installed() {
    [ -z "$(missing_packages $KIOSK_PACKAGES)" ] &&
        cmp -s "$kiosk/foot.ini" /etc/dho-hub/foot.ini &&
        cmp -s "$kiosk/dho-hub-ui.pam" /etc/pam.d/dho-hub-ui &&
        cmp -s "$kiosk/console-setup" /etc/default/console-setup &&
        [ "$(systemctl is-enabled getty@tty1.service 2>/dev/null)" = masked ]
}
kiosk_failed=no
if [ -n "$root" ]; then
    # The kiosk's installer runs apt-get and systemctl on the running system.
    say "--root: kiosk not installed; on the hub itself: sh provisioning/kiosk/install.sh"
elif kiosk_installed; then
    say "ok: kiosk (cage, foot, foot.ini, PAM service, console font, getty@tty1 masked)"
elif sh "$kiosk/install.sh"; then
    did "kiosk installed"
else
    kiosk_failed=yes
fi

# --- done -------------------------------------------------------------------------------------

if [ $kiosk_failed = yes ]; then
    refuse "The hub's software is installed, but not its patient screen: see the kiosk's message
above (docs/kiosk.md)."
fi
if [ $changed -eq 0 ]; then
    say "Nothing to change: this hub was already installed."
else
    say "Installed. Next: provision the hub with its bundle (docs/operations.md, step 3)."
fi
