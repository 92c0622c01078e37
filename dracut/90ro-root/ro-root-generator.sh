#!/bin/sh
# ro-root's systemd generator in a dracut initrd (see module-setup.sh):
# before the root is mounted on /sysroot, make it mount read-only and skip
# its fsck unless the kernel command line turns ro-root off for this boot.
# Thin entry point: the logic is rr_premount_systemd in
# /usr/lib/ro-root/boot.sh. Arguments: systemd's three output directories;
# the drop-ins go to the first (normal priority).

# A generator's output reaches no console: messages go to the kernel log.
log_success_msg()
{
	printf '<5>%s\n' "$*" >/dev/kmsg 2>/dev/null
}

log_warning_msg()
{
	printf '<4>%s\n' "$*" >/dev/kmsg 2>/dev/null
}

for lib in common settings record boot; do
	if [ ! -r "/usr/lib/ro-root/$lib.sh" ]; then
		log_warning_msg "ro-root: /usr/lib/ro-root/$lib.sh is not in this initrd: the root is mounted as the kernel command line says"
		exit 0
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

# Shown on the console too, `quiet` or not: see boot.sh rr_show_warning.
rr_show_warning()
{
	rr_record warning "$1"
	log_warning_msg "ro-root: warning: $1"
}

[ -n "${1-}" ] && rr_premount_systemd "$1"
exit 0
