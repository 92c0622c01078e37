#!/bin/sh
# mmdebstrap --customize-hook of ro-root's arm64 test images with Debian's
# raspi-firmware, run after ../customize.sh. Usage: sh customize.sh ROOTDIR
#
# The disk is partitioned as on a Raspberry Pi (testbed/raspi.py): 1 the FAT
# firmware partition on /boot/firmware, 2 the root; qemu's virt machine
# shows it as /dev/vda.
set -eu

root=$1
here=$(dirname "$0")

install -m 0644 "$here/fstab" "$root/etc/fstab"
# The serial console of qemu's virt machine is ttyAMA0: a getty there hangs
# up the tty and the probe's output is lost (see ../customize.sh).
chroot "$root" systemctl mask serial-getty@ttyAMA0.service
# raspi-firmware has written what it always writes; check it, so that a
# change of the package fails here and not in a boot.
for file in config.txt cmdline.txt; do
	if [ ! -s "$root/boot/firmware/$file" ]; then
		echo "raspi/customize.sh: raspi-firmware wrote no /boot/firmware/$file" >&2
		exit 1
	fi
done
