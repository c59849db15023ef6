#!/bin/sh
# The system packages the tests use: mosquitto (the tests start brokers of their own with it)
# and chromium (the browser tests drive it with Playwright). On Debian and Ubuntu the missing
# ones are installed with apt-get, as root or through sudo; elsewhere this stops at once and
# says what to install. `make test` runs it first.
set -eu

have() {
    command -v "$1" >/dev/null 2>&1
}

missing=""
# Debian puts mosquitto in /usr/sbin, which is not on every user's PATH.
if ! have mosquitto && [ ! -x /usr/sbin/mosquitto ]; then
    missing="mosquitto"
fi
if [ -n "${ARS_CHROMIUM:-}" ]; then
    if ! have "$ARS_CHROMIUM"; then
        echo "ARS_CHROMIUM=$ARS_CHROMIUM is not a program; set it to a chromium or Chrome binary" >&2
        exit 1
    fi
elif ! have chromium && ! have chromium-browser && ! have google-chrome \
    && ! have google-chrome-stable; then
    missing="$missing chromium"
fi
missing="${missing# }"
[ -z "$missing" ] && exit 0

if ! have apt-get || [ ! -r /etc/debian_version ]; then
    needs=""
    for package in $missing; do
        case $package in
            chromium) needs="$needs, chromium (or set ARS_CHROMIUM to a chromium or Chrome binary)" ;;
            *) needs="$needs, $package" ;;
        esac
    done
    echo "make test needs what is not installed here; install it and run it again: ${needs#, }" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif have sudo; then
    as_root="sudo"
else
    echo "make test needs $missing, which only root can install here (no sudo): run it once as root, or as root: apt-get install $missing" >&2
    exit 1
fi

$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
packages=""
for package in $missing; do
    # Ubuntu names its chromium package chromium-browser.
    if [ "$package" = chromium ] \
        && ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [^(]'; then
        package=chromium-browser
    fi
    packages="$packages $package"
done
echo "installing$packages (apt-get)"
# shellcheck disable=SC2086 # one word per package
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
