#!/bin/sh
# dracut module of ro-root: the second thin adapter on ro-root's shared core
# (the first is initramfs-tools': hooks/ro-root and scripts/). dracut
# sources this file when it builds an initrd; it puts into the initrd:
#   ro-root's core from /usr/lib/ro-root (the same path in the initrd);
#   ro-root-generator: a systemd generator that, before the root is
#     mounted on /sysroot, makes it mount read-only and skips its fsck
#     (boot.sh rr_premount_systemd), as initramfs-tools' local-premount
#     step does;
#   a pre-pivot hook: with the root mounted on /sysroot, before the switch
#     to it, the overlay (boot.sh rr_main), as initramfs-tools' init-bottom
#     step does.
# ro-root supports dracut's systemd-based initrd (Debian's default). An
# initrd built without dracut's systemd module gets the hook only, which
# then reports the boot as failed and follows failure_policy: without the
# generator nothing keeps the root from being mounted writable or checked.

# dracut sets moddir and systemdutildir, and provides inst_* and dwarn.
# shellcheck disable=SC2154

# Always included: ro-root is installed to be used.
check()
{
	return 0
}

depends()
{
	return 0
}

installkernel()
{
	# A kernel without overlayfs: the boot then reports it (rr_setup).
	hostonly='' instmods overlay
	# The flag file's partitions (common.sh): FAT's modules where the fstab
	# mounts /boot/firmware or /boot/efi from a partition of their own.
	if [ -r /usr/lib/ro-root/common.sh ]; then
		# shellcheck source=lib/common.sh
		. /usr/lib/ro-root/common.sh
		rr_mods=$(rr_flag_modules /etc/fstab)
		# shellcheck disable=SC2086 # a list of module names
		[ -z "$rr_mods" ] || hostonly='' instmods $rr_mods
	fi
}

install()
{
	for lib in common settings record boot; do
		inst_simple "/usr/lib/ro-root/$lib.sh" "/usr/lib/ro-root/$lib.sh" ||
			dwarn "ro-root: /usr/lib/ro-root/$lib.sh is missing: this initrd will boot with a writable root"
	done
	# What the core calls beyond dracut's base: dd (settings.sh reads a
	# bounded head of /etc/ro-root.conf), blockdev (protect_device), blkid
	# (the type of a data or upper device), dmesg (journal replay).
	inst_multiple -o dd blockdev blkid dmesg rm mv mkdir ln readlink sleep
	inst_hook pre-pivot 50 "$moddir/ro-root-pre-pivot.sh"
	if dracut_module_included systemd; then
		inst_script "$moddir/ro-root-generator.sh" \
			"$systemdutildir/system-generators/ro-root-generator"
	else
		dwarn "ro-root: this initrd is built without dracut's systemd module, which ro-root needs to keep the root read-only before it is mounted: every boot of it reports ro-root as failed and follows failure_policy"
	fi
}
