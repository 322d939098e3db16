#!/bin/sh
# deps.sh [GROUP...] - install the Debian packages zpsi needs that are missing.
# Groups: build (default), test, fuzz, e2e.  Safe to run again: it only
# calls apt when something is missing.
set -eu

build="meson ninja-build pkgconf gcc libc6-dev python3"
test="libcmocka-dev"
fuzz="clang libclang-rt-14-dev"
e2e="libseccomp-dev libjansson-dev libmicrohttpd-dev prometheus curl"

[ $# -gt 0 ] || set -- build
want=""
for g in "$@"; do
	case $g in
	build) want="$want $build" ;;
	test) want="$want $build $test" ;;
	fuzz) want="$want $fuzz" ;;
	e2e) want="$want $e2e" ;;
	all) want="$want $build $test $fuzz $e2e" ;;
	*) echo "deps.sh: unknown group '$g' (build, test, fuzz, e2e, all)" >&2; exit 2 ;;
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

echo "deps.sh: installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# A stale package index is the usual reason an install fails on a fresh machine.
$sudo apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
