#!/bin/sh
# ro-root's pre-pivot hook in a dracut initrd (see module-setup.sh): with
# the real root mounted on $NEWROOT (/sysroot), before the switch to it,
# put it read-only under the overlay. Thin entry point: the logic is
# rr_main in /usr/lib/ro-root/boot.sh; here are only the functions it
# expects from the generator (boot.sh's header). dracut sources this file
# (dracut-pre-pivot.sh, with dracut-lib.sh loaded): it must not exit, and
# what it prints goes to standard error, which dracut's service shows on
# the console.

# dracut's `quiet` (check_quiet): progress only without it.
log_success_msg()
{
	[ "${DRACUT_QUIET-}" = yes ] || printf '%s\n' "$*"
}

log_warning_msg()
{
	printf '%s\n' "$*"
}

log_failure_msg()
{
	printf '%s\n' "$*"
}

# failure_policy=panic: dracut's own way to refuse to continue (die): an
# emergency shell with rd.shell, else the machine powers off.
panic()
{
	printf '%s\n' "$*"
	if command -v die >/dev/null 2>&1; then
		die "$*"
	fi
	exit 1
}

get_fstype()
{
	blkid -o value -s TYPE "$1"
}

ro_root_pre_pivot()
{
	for lib in common settings record boot; do
		if [ ! -r "/usr/lib/ro-root/$lib.sh" ]; then
			echo "ro-root: /usr/lib/ro-root/$lib.sh is not in this initrd: ro-root does nothing (run: update-initramfs -u)"
			return 0
		fi
	done
	# shellcheck source=lib/common.sh
	. /usr/lib/ro-root/common.sh
	# shellcheck source=lib/settings.sh
	. /usr/lib/ro-root/settings.sh
	# shellcheck source=lib/record.sh
	. /usr/lib/ro-root/record.sh
	# shellcheck source=lib/boot.sh
	. /usr/lib/ro-root/boot.sh
	command -v check_quiet >/dev/null 2>&1 && check_quiet
	rootmnt=${NEWROOT:-/sysroot}
	if [ -z "${DRACUT_SYSTEMD-}" ]; then
		rr_main_unsupported "this initrd was built by dracut without its systemd module, which ro-root needs to keep the root read-only before it is mounted (see ro-root(8))"
		return 0
	fi
	# systemd made the initrd's mounts shared, and the kernel refuses to
	# move a mount whose parent is shared: make / private, as systemd's
	# own switch to the root does next.
	mount --make-private / ||
		echo "ro-root: could not make the initrd's / a private mount: moving the root may fail"
	rr_main
}

ro_root_pre_pivot >&2
