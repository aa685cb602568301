# shellcheck shell=sh
# The shell functions install-hub.sh and install-centre.sh share, in one copy so that a fix to
# one installer's put_dir or number_of is not missed in the other. Each installer sources it
# from its own directory (`. "$here/lib.sh"`) before it reads its arguments; it defines
# functions only and runs nothing. POSIX sh, like the installers.
#
# The functions read the installer's variables when they are called, not when this file is
# read: root ("" for /, else --root's directory), checkout, wheel ("" for the checkout), owners
# (yes when run as root); did sets changed=1. usage prints the installer's own header ($0).
# shellcheck disable=SC2034,SC2154

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

refuse() {
    echo "$*" >&2
    exit 1
}

is_debian() {
    [ -r /etc/os-release ] || return 1
    # shellcheck disable=SC1091
    id_words=$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")
    case " $id_words " in
    *" debian "*) ;;
    *) return 1 ;;
    esac
    command -v apt-get >/dev/null && command -v dpkg-query >/dev/null
}

say() { echo "$*"; }
did() {
    changed=1
    echo "changed: $*"
}

# --- helpers: each one changes only what differs ----------------------------------------------

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_packages() {
    for package in "$@"; do
        package_installed "$package" || printf '%s ' "$package"
    done
}

# put_file SOURCE TARGET MODE: TARGET gets SOURCE's bytes and MODE, owned by root.
put_file() {
    if cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "$3" ]; then
        say "ok: $2"
    else
        install -D -m "$3" "$1" "$2"
        did "$2"
    fi
}

# number_of FILE NAME: a user's or group's number in the root's passwd or group (root is 0 even
# in a --root without passwd).
number_of() {
    if [ "$2" = root ]; then
        echo 0
    else
        awk -F: -v name="$2" '$1 == name { print $3 }' "$root/etc/$1" 2>/dev/null
    fi
}

# put_dir DIR USER GROUP MODE: DIR exists with this owner and mode; what is in it is not touched.
put_dir() {
    made=""
    [ -d "$1" ] || { mkdir -p "$1" && made="made "; }
    if [ "$owners" = yes ]; then
        want="$(number_of passwd "$2"):$(number_of group "$3") $4"
        have=$(stat -c '%u:%g %a' "$1")
    else
        want=$4
        have=$(stat -c %a "$1")
    fi
    if [ "$have" = "$want" ] && [ -z "$made" ]; then
        [ "$owners" = yes ] && say "ok: $1 ($2:$3 $4)" || say "ok: $1 ($4)"
        return
    fi
    chmod "$4" "$1"
    if [ "$owners" = yes ]; then
        chown "$(number_of passwd "$2"):$(number_of group "$3")" "$1"
        did "$made$1 ($2:$3 $4)"
    else
        did "$made$1 ($4; not given to $2:$3: not run as root)"
    fi
}

# What the software in the venv was installed from: the wheel's hash, or the checkout's files.
source_stamp() {
    if [ -n "$wheel" ]; then
        sha256sum "$wheel" | cut -d' ' -f1
    else
        (cd "$checkout" && find pyproject.toml hub centre -type f ! -name '*.pyc' |
            LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
    fi
}

systemctl_root() {
    if [ -n "$root" ]; then systemctl --root="$root" "$@"; else systemctl "$@"; fi
}
