#!/bin/bash
# fresh-machine.sh [--demo-only] [--keep] - the README's two commands as a new
# user runs them: in a fresh Debian 12 root that has only gcc, make, git and
# python3 (debootstrap from this machine's own apt sources), clone the
# project, run `make demo`, then `make check`.  A package the build, the demo
# or the tests need and that no script installs fails here, not on a
# newcomer's machine.
#
#   --demo-only   stop after `make demo` (a few minutes less)
#   --keep        keep the root afterwards (its path is printed)
#
# /dev/kvm, /proc and /sys (with the cgroup hierarchies) are bound in, so the
# demo and the tests run for real.  Everything happens in a private mount and
# PID namespace (unshare): the mounts and every process started in the root
# go with it on any exit, a kill included; the root itself is removed by the
# EXIT trap, and only once nothing is mounted under it.
#
# The debootstrapped root is cached as a tarball in /var/cache/zpsi (keyed by
# suite, variant, packages and mirror), and the packages apt downloads in the
# root are kept in /var/cache/zpsi/debs, so a second run downloads nothing.
# Logs and timings: build/fresh-machine/ (or $FRESH_OUT).
#
# Exit: 0 both commands passed; 1 one failed (the log's tail is shown);
# 77 cannot run here (not root, already inside a fresh root).
set -eu -o pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

demo_only=0
keep=0
for a in "$@"; do
	case $a in
	--demo-only) demo_only=1 ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fresh-machine: unknown option '$a' (--demo-only, --keep, --help)" >&2; exit 2 ;;
	esac
done

say() { echo "fresh-machine: $*" >&2; }
skip() { echo "SKIP: $*"; exit 77; }

[ -z "${ZPSI_FRESH_ROOT:-}" ] || skip "already inside a fresh root (the outer run tests this)"
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot and mounts); run it as root or with sudo"
[ -e /dev/kvm ] || say "warning: no /dev/kvm here: the demo and the tests in the root will skip what needs it"
scripts/deps.sh fresh

suite=bookworm
variant=minbase
include=gcc,make,git,python3
cache=${ZPSI_CACHE:-/var/cache/zpsi}
out=${FRESH_OUT:-$src/build/fresh-machine}
mkdir -p "$cache/debs/partial" "$out"

# The machine's own mirror: the first deb URI that serves $suite main.
mirror=$(
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null
		{ grep -h '^deb ' /etc/apt/sources.list 2>/dev/null || true; } | awk '{ print "URIs: " $2; print "Suites: " $3 }'
	} | awk -v s="$suite" '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s && m == "") m = u }
		END { print m }'
)
[ -n "$mirror" ] || { say "no apt source for '$suite' in /etc/apt/sources.list{,.d}: debootstrap has no mirror"; exit 1; }

exec 9>"$cache/fresh.lock"
if ! flock -n 9; then
	say "another fresh-machine run holds $cache/fresh.lock; waiting for it"
	flock 9
fi

key="suite=$suite variant=$variant include=$include mirror=$mirror"
tarball=$cache/debootstrap-$suite-$(printf '%s' "$key" | sha256sum | cut -c1-16).tar.gz
t0=$(date +%s)
timing() { echo "$1 $(($(date +%s) - t0))" >>"$out/timings"; }
: >"$out/timings"

if [ ! -s "$tarball" ]; then
	say "debootstrap $suite ($variant, +$include) from $mirror, cached afterwards in $cache (a few minutes, once)"
	tmp=$(mktemp -d /var/tmp/zpsi-debootstrap.XXXXXX)
	if ! debootstrap --variant="$variant" --include="$include" --cache-dir="$cache/debs" \
		"$suite" "$tmp" "$mirror" >"$out/debootstrap.log" 2>&1; then
		tail -n 20 "$out/debootstrap.log" >&2
		rm -rf --one-file-system "$tmp"
		say "debootstrap failed (above; all of it in $out/debootstrap.log): is $mirror reachable?"
		exit 1
	fi
	tar -C "$tmp" -czf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	printf '%s\n' "$key" >"${tarball%.tar.gz}.txt"
	rm -rf --one-file-system "$tmp"
fi

root=$(mktemp -d /var/tmp/zpsi-fresh.XXXXXX)
cleanup() {
	rc=$?
	# The namespace's mounts are gone with it; never remove across a mount.
	if grep -q " $root[/ ]" /proc/self/mountinfo; then
		say "mounts remain under $root; not removing it (umount -R $root, then rm -rf)"
	elif [ $keep -eq 1 ]; then
		say "root kept: $root"
	else
		rm -rf --one-file-system "$root"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tar -C "$root" -xzf "$tarball"
timing root
say "fresh root $root ready ($(($(date +%s) - t0)) s): $(chroot "$root" sh -c 'echo $(dpkg-query -W -f "\${Package}\n" | wc -l)') packages"

# The machine's apt configuration: its sources and what its mirrors need
# (not the Docker image's archive cleaning, which would empty the cache).
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -f "$root/etc/apt/sources.list"
cp -a /etc/apt/sources.list* "$root/etc/apt/" 2>/dev/null || true
for f in /etc/apt/apt.conf.d/*; do
	case $(basename "$f") in docker-*) continue ;; esac
	grep -qE 'Acquire|Proxy' "$f" 2>/dev/null && cp "$f" "$root/etc/apt/apt.conf.d/"
done

# The project as a newcomer gets it: a clone (the commit under test).
head=$(git -C "$src" rev-parse HEAD)
[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] ||
	say "warning: uncommitted changes in $src are not tested (a clone of HEAD $head is)"
git clone -q "$src" "$root/root/zpsi"
git -C "$root/root/zpsi" checkout -q "$head"
# CI places the product brief beside the project; so does this
[ ! -d "$src/../shared" ] || cp -a "$src/../shared" "$root/root/shared"

steps="make demo"
[ $demo_only -eq 1 ] || steps="$steps; make check"
say "running in the root, as the README says: $steps (logs: $out)"

# Inside the namespaces: mount, then run each command chrooted with a clean
# environment.  One log per command; the exit code says which failed.
inner() {
	set -eu
	mount --rbind /sys "$root/sys"
	mount --make-rslave "$root/sys"
	mount -t proc proc "$root/proc"
	mount -t tmpfs -o mode=755,nosuid dev "$root/dev"
	for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		IFS=: read -r name maj min <<<"$n"
		mknod -m 666 "$root/dev/$name" c "$maj" "$min"
	done
	ln -s /proc/self/fd "$root/dev/fd"
	ln -s /proc/self/fd/0 "$root/dev/stdin"
	ln -s /proc/self/fd/1 "$root/dev/stdout"
	ln -s /proc/self/fd/2 "$root/dev/stderr"
	mkdir "$root/dev/pts" "$root/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
	ln -s pts/ptmx "$root/dev/ptmx"
	mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
	if [ -e /dev/kvm ]; then
		touch "$root/dev/kvm"
		mount --bind /dev/kvm "$root/dev/kvm"
	fi
	mount --bind "$cache/debs" "$root/var/cache/apt/archives"
	n=0
	for cmd in "make demo" "make check"; do
		n=$((n + 1))
		[ $n -eq 1 ] || [ "$demo_only" -eq 0 ] || break
		log=$out/$(echo "$cmd" | tr ' ' -).log
		s=$(date +%s)
		echo "fresh-machine: $cmd ..." >&2
		# a line of progress at least every minute: the log's last line
		(while sleep 60; do echo "fresh-machine:   $cmd, $(($(date +%s) - s)) s: $(tail -n 1 "$log" | cut -c1-100)" >&2; done) &
		ticker=$!
		rc=0
		chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb ZPSI_FRESH_ROOT=1 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			/bin/sh -c "cd /root/zpsi && $cmd" >"$log" 2>&1 </dev/null || rc=$?
		kill $ticker 2>/dev/null || true
		echo "$(echo "$cmd" | tr ' ' -) $(($(date +%s) - s))" >>"$out/timings"
		[ $rc -eq 0 ] || return $((10 + n))
	done
}
rc=0
export root out cache demo_only
export -f inner
unshare --mount --pid --fork --propagation private bash -c inner || rc=$?

show() { # show STEP: its result lines
	log=$out/$1.log
	case $1 in
	make-demo) sed -n '/^== Results/,$p' "$log" ;;
	make-check) grep -E '^(FAIL|SKIP) |passed, .*failed$' "$log" || true ;;
	esac
}
for s in make-demo make-check; do
	[ -f "$out/$s.log" ] || continue
	echo "== $s (in the fresh root; $(awk -v s="$s" '$1 == s { print $2 " s" }' "$out/timings"))"
	show "$s"
done
echo "== timings (s): $(tr '\n' ' ' <"$out/timings")"
case $rc in
0) echo "fresh-machine: PASS: $steps on a fresh Debian 12 root (HEAD $head)" ;;
11 | 12)
	step=$([ $rc -eq 11 ] && echo "make demo" || echo "make check")
	log=$out/$(echo "$step" | tr ' ' -).log
	echo "---- the last lines of $log:"
	tail -n 30 "$log"
	echo "fresh-machine: FAIL: '$step' failed in a fresh Debian 12 root (whole log: $log)"
	exit 1 ;;
*) echo "fresh-machine: FAIL: setting up the root's mounts failed (exit $rc)"; exit 1 ;;
esac
