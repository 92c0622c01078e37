# ro-root's one answer to "which initramfs generator builds this system's
# initrds, and how is one listed": initramfs-tools, or dracut (the default
# of Debian 14, forky). Sourced by sbin/ro-root (window.sh rebuilds
# initrds, status.sh checks the running kernel's), inlined by postinst and
# postrm (debian/snippets/initrds.sh). Both generators are driven through
# update-initramfs: initramfs-tools' own, or the compatibility wrapper that
# Debian's dracut package ships (same options, -u -k VERSION|all, and the
# same /etc/initramfs-tools/update-initramfs.conf), so only detection,
# listing and the inputs differ.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

# rr_initrd_generator ROOT: print which generator builds the initrds of the
# system whose root is ROOT ("" for /): dracut when its update-initramfs is
# Debian's dracut wrapper (dracut Conflicts: initramfs-tools, but
# initramfs-tools-core, whose mkinitramfs is not what runs, may stay),
# initramfs-tools when mkinitramfs is there, none otherwise.
rr_initrd_generator()
{
	if [ -x "$1/usr/bin/dracut" ] && [ -r "$1/usr/sbin/update-initramfs" ] &&
		grep -q 'dracut' "$1/usr/sbin/update-initramfs" 2>/dev/null; then
		echo dracut
	elif [ -x "$1/usr/sbin/mkinitramfs" ] && [ -e "$1/usr/sbin/update-initramfs" ]; then
		echo initramfs-tools
	else
		echo none
	fi
}

# rr_initrd_inputs GENERATOR: the directories (relative to the root, no
# leading /) whose files shape an initrd of GENERATOR, besides the kernels
# and their modules; ro-root's core is one of them.
rr_initrd_inputs()
{
	case "$1" in
	dracut) echo "etc/dracut.conf etc/dracut.conf.d usr/lib/dracut usr/lib/ro-root" ;;
	*) echo "etc/initramfs-tools usr/share/initramfs-tools usr/lib/ro-root" ;;
	esac
}

# rr_initrd_lister GENERATOR: the program that lists an initrd's files.
rr_initrd_lister()
{
	case "$1" in
	dracut) echo lsinitrd ;;
	*) echo lsinitramfs ;;
	esac
}

# rr_initrd_payload GENERATOR INITRD: does INITRD carry ro-root's boot
# payload (the dracut module's pre-pivot hook, or the init-bottom script)?
# Returns 0 yes, 1 no, 2 cannot tell; RR_INITRD_ERR then says why.
rr_initrd_payload()
{
	RR_INITRD_ERR=
	rr_lister=$(rr_initrd_lister "$1")
	if ! command -v "$rr_lister" >/dev/null 2>&1; then
		RR_INITRD_ERR="$rr_lister not found"
		return 2
	fi
	if ! rr_listing=$("$rr_lister" "$2" 2>/dev/null); then
		RR_INITRD_ERR="$rr_lister $2 failed (not root?)"
		return 2
	fi
	case "$1" in
	dracut)
		# lsinitrd prints `ls -l` lines: the name is the last field.
		printf '%s\n' "$rr_listing" |
			grep -qE ' (\./)?((usr|var)/)?lib/dracut/hooks/pre-pivot/[0-9]+-ro-root-pre-pivot\.sh$'
		;;
	*)
		printf '%s\n' "$rr_listing" | grep -qxE '(\./)?(usr/)?scripts/init-bottom/ro-root'
		;;
	esac || return 1
	return 0
}
