#!/bin/sh
### BEGIN INIT INFO
# Provides:          checkroot mtab
# Required-Start:    mountdevsubfs hostname
# Required-Stop:
# Should-Start:      keymap hwclockfirst hdparm bootlogd
# Should-Stop:
# Default-Start:     S
# Default-Stop:
# X-Interactive:     true
# Short-Description: Check the root file system (through ro-root).
# Description:       ro-root diverts initscripts' checkroot.sh to
#                    /etc/init.d/checkroot.sh.ro-root.orig and puts this
#                    wrapper in its place. While the root is ro-root's
#                    overlay there is nothing to check or remount: the
#                    real root is read-only on /ro. Otherwise the original
#                    runs unchanged.
### END INIT INFO

ORIGINAL=/etc/init.d/checkroot.sh.ro-root.orig

# True if / is an overlay and ro-root's boot script reported it active.
overlay_active()
{
	state=
	read -r state 2>/dev/null </run/ro-root/state || true
	[ "$state" = active ] || return 1
	rootfs=
	while read -r _ mnt fstype _; do
		[ "$mnt" = / ] && rootfs=$fstype
	done </proc/mounts
	[ "$rootfs" = overlay ]
}

if overlay_active; then
	case "$1" in
	start)
		echo "ro-root: / is a read-only overlay: checkroot.sh has nothing to check or remount"
		;;
	esac
	exit 0
fi

# ro-root's failure_policy=ro: the overlay failed and the real root must
# stay read-only; the original would remount it writable.
if [ -e /run/ro-root/keep-read-only ]; then
	case "$1" in
	start)
		echo "ro-root: FAILED, and failure_policy=ro keeps the root read-only: checkroot.sh skipped"
		;;
	esac
	exit 0
fi

if [ -f "$ORIGINAL" ]; then
	exec /bin/sh "$ORIGINAL" "$@"
fi
# initscripts is not installed: there is no check to run.
exit 0
