#!/bin/sh
# mmdebstrap --customize-hook for ro-root's VM test and demo images.
# Usage: sh customize.sh ROOTDIR probe|demo systemd|sysvinit distribution|backports
#
# Everything here is independent of the package under test, so it is done
# once, when the base tarball is built, and cached with it
# (ro_root/vm.py hashes this directory into the cache key).
set -eu

root=$1
mode=$2
init=$3
kernel=$4
here=$(dirname "$0")

case "$mode" in probe | demo) ;; *) echo "customize.sh: bad mode '$mode'" >&2; exit 2 ;; esac
case "$init" in systemd | sysvinit) ;; *) echo "customize.sh: bad init '$init'" >&2; exit 2 ;; esac
case "$kernel" in distribution | backports) ;; *) echo "customize.sh: bad kernel '$kernel'" >&2; exit 2 ;; esac

if [ "$kernel" = backports ]; then
	# A second, newer kernel from SUITE-backports, from the mirror that
	# mmdebstrap wrote on the first line of the image's sources.list
	# ("deb URL SUITE main").
	# shellcheck disable=SC2046 # split the line into its fields
	set -- $(head -n 1 "$root/etc/apt/sources.list")
	[ "$1" = deb ] && [ -n "$3" ]
	echo "deb $2 $3-backports main" >"$root/etc/apt/sources.list.d/backports.list"
	chroot "$root" apt-get update
	DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends \
		-t "$3-backports" linux-image-amd64
	set -- "$root"/boot/vmlinuz-*
	[ "$#" -eq 2 ]
fi

# minbase leaves fstab empty; ro-root rewrites the root line inside its
# overlay, so the image needs a real one.
install -m 0644 "$here/fstab" "$root/etc/fstab"
echo "ro-root-$mode" >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tro-root-%s\n' "$mode" >"$root/etc/hosts"

if [ "$mode" = demo ]; then
	echo 'root:root' | chroot "$root" chpasswd
	if [ "$init" = sysvinit ]; then
		# sysvinit starts no getty on the serial console by itself.
		echo 'T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt100' >>"$root/etc/inittab"
	fi
	exit 0
fi

# The probe itself (/usr/local/sbin/ro-root-probe) is installed by
# prepare_image(), so that changing it does not rebuild the base tarballs.
if [ "$init" = systemd ]; then
	install -m 0644 "$here/ro-root-probe.service" "$root/etc/systemd/system/ro-root-probe.service"
	chroot "$root" systemctl enable ro-root-probe.service
	# A getty on the console hangs up the tty (vhangup) and the probe's
	# output written to it is lost silently.
	chroot "$root" systemctl mask serial-getty@ttyS0.service
else
	# initscripts' /etc/init.d/rc.local runs this if it is executable.
	install -m 0755 "$here/rc.local" "$root/etc/rc.local"
	# A `single` boot never reaches rc.local: init runs only the runlevel S
	# entries of inittab, and waits on sulogin. Start the probe there too,
	# before sulogin's `wait` entry.
	sed -i 's|^~~:S:wait:|rrpb:S:once:/usr/local/sbin/ro-root-probe\n&|' "$root/etc/inittab"
	grep -q '^rrpb:S:once:' "$root/etc/inittab"
fi
