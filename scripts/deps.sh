#!/bin/bash
# deps.sh [GROUP...] - install the Debian packages zpsi needs that are missing.
# Each top-level command asks for the groups it uses:
#   make          build
#   make demo     build demo
#   make bench    build
#   make check    build test fuzz e2e
#   make check-fresh  fresh
# Safe to run again, and at the same time (apt waits for its lock): it only
# calls apt when something is missing, and when an install fails it says
# which packages and shows apt's own words.
set -eu -o pipefail

build="meson ninja-build pkgconf gcc libc6-dev python3 libjansson-dev libmicrohttpd-dev libseccomp-dev"
test="libcmocka-dev"
# gnuplot draws the demo report; prometheus scrapes zpsid for real in the demo
demo="gnuplot-nox prometheus"
fuzz="clang libclang-rt-14-dev"
# chromium renders the demo report in a test; debootstrap makes the fresh root
e2e="prometheus curl gnuplot-nox chromium systemd qemu-system-x86 busybox-static cpio"
fresh="debootstrap git ca-certificates"

[ $# -gt 0 ] || set -- build
want=""
for g in "$@"; do
	case $g in
	build) want="$want $build" ;;
	test) want="$want $build $test" ;;
	demo) want="$want $build $demo" ;;
	fuzz) want="$want $fuzz" ;;
	e2e) want="$want $e2e" ;;
	fresh) want="$want $fresh" ;;
	all) want="$want $build $test $demo $fuzz $e2e $fresh" ;;
	*) echo "deps.sh: unknown group '$g' (build, test, demo, fuzz, e2e, fresh, all)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: this is not a Debian-like system (no apt-get): install their equivalents by hand" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: missing packages:$missing" >&2
		echo "deps.sh: not root and no sudo: run 'apt-get install$missing' as root, then again" >&2
		exit 1
	fi
	sudo="sudo"
fi

echo "deps.sh: installing:$missing (apt-get; about a minute)" >&2
log=$(mktemp "${TMPDIR:-/tmp}/zpsi-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# A stale or absent package index is the usual reason an install fails on a
# fresh machine, so update first; a failed update is reported, not fatal
# (the index may still be good enough).
if ! $sudo apt-get -o DPkg::Lock::Timeout=600 update -q >"$log" 2>&1; then
	echo "deps.sh: warning: apt-get update failed; trying the install with the old index:" >&2
	tail -n 5 "$log" >&2
fi
# Progress: apt says how many packages it will set up, then one line each.
# On a terminal one line rewritten in place; in a log a line at every tenth.
progress() {
	tty=0
	[ -t 2 ] && tty=1
	awk -v tty=$tty '/newly installed/ { n = $3 + $1 }
	     /^Setting up / { k++
		if (n && tty) printf "deps.sh: %d/%d packages set up\r", k, n
		else if (n && int(10 * k / n) > shown) { shown = int(10 * k / n); printf "deps.sh: %d/%d packages set up\n", k, n }
		fflush() }
	     END { if (k && tty) printf "deps.sh: %d packages set up        \n", k }' >&2
}
# shellcheck disable=SC2086
if ! $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing 2>&1 |
	tee "$log" | progress; then
	echo "deps.sh: apt-get install failed for:$missing" >&2
	echo "deps.sh: apt said (last lines):" >&2
	tail -n 15 "$log" >&2
	echo "deps.sh: fix the package source (/etc/apt/sources.list*) or install them by hand, then run again" >&2
	exit 1
fi
