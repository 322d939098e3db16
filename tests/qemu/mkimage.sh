#!/bin/bash
# mkimage.sh BUILD OUT [INIT] - a Linux guest for QEMU made of Debian's own
# parts: the kernel of the linux-image-amd64 package (downloaded with apt,
# unpacked, never installed; cached in /var/cache/zpsi/kernel) and a busybox
# initramfs holding zpsi's programs with the shared libraries they load.
# INIT (a shell script) becomes the guest's /init.  Writes OUT/vmlinuz and
# OUT/initrd.img; prints the kernel's version.
set -eu -o pipefail
build=$(realpath "$1")
out=$2
init=${3:-}
cache=${ZPSI_CACHE:-/var/cache/zpsi}/kernel
mkdir -p "$out" "$cache"

say() { echo "mkimage: $*" >&2; }
for tool in busybox cpio dpkg-deb apt-get; do
	command -v $tool >/dev/null || { say "no $tool: scripts/deps.sh e2e installs it"; exit 1; }
done
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	say "/bin/busybox is missing or not static: scripts/deps.sh e2e installs busybox-static"
	exit 1
fi

# The kernel: the package linux-image-amd64 depends on, this machine's apt
# sources' version.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || { say "apt knows no linux-image-amd64 (apt-get update?)"; exit 1; }
deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$deb" ]; then
	say "downloading $pkg (apt-get download, about 70 MB, cached in $cache)"
	(cd "$cache" && apt-get download -q "$pkg" >/dev/null 2>&1) || { say "apt-get download $pkg failed"; exit 1; }
	deb=$(ls "$cache/${pkg}_"*.deb | tail -n 1)
fi
vmlinuz=$cache/$(basename "$deb" .deb).vmlinuz
if [ ! -s "$vmlinuz" ]; then
	tmp=$(mktemp -d)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
	mv "$tmp"/boot/vmlinuz-* "$vmlinuz.tmp" && mv "$vmlinuz.tmp" "$vmlinuz"
	rm -rf "$tmp"
fi
cp "$vmlinuz" "$out/vmlinuz"

# The initramfs: busybox, the programs and their libraries at their paths.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,run}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
progs="$build/daemon/zpsid $build/daemon/zpsictl $build/tests/daemon/zpsi-test-vmm"
for p in $progs; do
	[ -x "$p" ] || { say "$p is not built (ninja -C $build)"; exit 1; }
	cp "$p" "$root/bin/"
	for lib in $(ldd "$p" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
if [ -n "$init" ]; then
	cp "$init" "$root/init"
	chmod 755 "$root/init"
fi
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img"
echo "$pkg"
