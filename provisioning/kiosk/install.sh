#!/bin/sh
# Installs the patient screen's kiosk on a hub (as root, from a checkout of this project):
# Debian packages cage, foot, fonts-terminus-otb and console-setup; foot.ini to
# /etc/dho-hub/foot.ini; the PAM service to /etc/pam.d/dho-hub-ui; the console font to
# /etc/default/console-setup; the unit to /etc/systemd/system. Then it masks getty@tty1.
# It does not enable or start the unit: provisioning/README.md says when.
# Why these packages and files: docs/kiosk.md.
#
#   sh provisioning/kiosk/install.sh            install
#   sh provisioning/kiosk/install.sh --check    only say whether this system's foot is new enough
set -eu

# foot turns touches into mouse clicks from version 1.15.0 on (its changelog, "Support for
# touchscreen input"). Debian 12 (bookworm) has 1.13.1 and no backport: the screen would show
# but not answer a finger. Debian 13 (trixie) and Raspberry Pi OS based on it have 1.21.0.
FOOT_MIN=1.15.0
PACKAGES="cage foot fonts-terminus-otb console-setup"

here=$(dirname "$0")
root=$(cd "$here/../.." && pwd)

candidate_foot() {
    apt-cache policy foot | sed -n 's/^ *Candidate: *//p'
}

foot_is_new_enough() {
    version=$1
    [ -n "$version" ] && [ "$version" != "(none)" ] &&
        dpkg --compare-versions "$version" ge "$FOOT_MIN"
}

refuse_old_foot() {
    version=$1
    echo "This system offers foot ${version:-none}; the patient screen needs foot $FOOT_MIN or" >&2
    echo "newer, or a tap on the screen does nothing. Install Raspberry Pi OS or Debian based on Debian 13" >&2
    echo "(trixie) or later on the hub, then run this again. See docs/kiosk.md." >&2
    exit 1
}

if [ "${1:-}" = "--check" ]; then
    version=$(candidate_foot)
    foot_is_new_enough "$version" || refuse_old_foot "$version"
    echo "foot $version is new enough (>= $FOOT_MIN)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Run this as root (it installs packages and writes to /etc)." >&2
    exit 1
fi

apt-get update
version=$(candidate_foot)
foot_is_new_enough "$version" || refuse_old_foot "$version"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES

install -d -m 0755 /etc/dho-hub
install -m 0644 "$here/foot.ini" /etc/dho-hub/foot.ini
install -m 0644 "$here/dho-hub-ui.pam" /etc/pam.d/dho-hub-ui
install -m 0644 "$here/console-setup" /etc/default/console-setup
install -m 0644 "$root/systemd/dho-hub-ui.service" /etc/systemd/system/dho-hub-ui.service
# The console font now, not only from the next boot on.
setupcon --force || echo "setupcon failed: the console keeps its font until the next boot" >&2
systemctl daemon-reload
systemctl mask getty@tty1.service
echo "Kiosk installed. Enable it with: systemctl enable --now dho-hub.service dho-hub-ui.service"
