# ro-root's command (sbin/ro-root, see ro-root(8)): the common part and the
# dispatcher. sbin/ro-root sources common.sh, settings.sh, record.sh, this
# file, window.sh, changes.sh and status.sh from /usr/lib/ro-root and calls
# rr_command "$@"; the tests source them from the tree and set the paths
# below after sourcing (nothing here reads the environment).
#
# POSIX sh for dash; needs only what a Debian minbase system has (coreutils,
# findutils, sed, mount, util-linux's flock): no Python, no busybox. Files
# are read as data, never sourced.
#
# While the overlay is active the real root is mounted read-only on /ro.
# `exec`, `commit`, `enable` and `disable` open a short "window": /ro is
# remounted writable, the work is done, and /ro is remounted read-only again
# (retried; failures are loud), whatever happens to the command in between.
#
# Exit status: 0 success; 1 error; 2 bad usage; `status`: 3 skipped,
# 4 failed, 5 no record, 6 active but not as configured; `exec`: the
# command's own status, or 125 when ro-root itself failed.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# The merged root as this process sees it ("" is /; a directory in tests).
RR_ROOT=
# The overlay's upper directory; empty: what the boot recorded (record.sh).
RR_UPPER=
RR_SHARE=/usr/share/ro-root
RR_REMOUNT_TRIES=10
RR_DROP_CACHES=/proc/sys/vm/drop_caches
RR_EUID=$(id -u)
RR_SYSBLOCK=/sys/class/block
RR_BOOTDIR=/boot
# The root of process 1: / unless this is a chroot.
RR_INIT_ROOT=/proc/1/root
# The running kernel's version; empty: uname -r.
RR_KVER=

RR_CONF=/etc/ro-root.conf
RR_ONCE=/etc/ro-root.disable-once
# Written into the RAM layer by the boot itself: never listed nor committed.
RR_BOOT_WRITTEN="/etc/fstab"

RR_EXEC_FAILED=125

rr_say()
{
	printf 'ro-root: %s\n' "$*" >&2
}

# rr_alert MESSAGE: say MESSAGE, and keep it in the system log too: for what
# must not get lost with a dead terminal or pipe.
rr_alert()
{
	rr_say "$@"
	logger -t ro-root -p user.warning -- "$*" 2>/dev/null || true
}

# rr_die STATUS MESSAGE
rr_die()
{
	rr_status=$1
	shift
	rr_say "$*"
	exit "$rr_status"
}

rr_usage_error()
{
	rr_say "$*"
	printf "Try 'ro-root --help'.\n" >&2
	exit 2
}

rr_help()
{
	cat <<'HELP'
Usage: ro-root COMMAND [ARGUMENTS]

Live with a read-only root file system under ro-root's RAM overlay.

Commands:
  status [--json]        this boot's state (active, skipped, failed or none),
                         why, the layers, the next boot and the warnings
  exec [--] COMMAND...   run COMMAND chrooted into the real root, made writable
                         for the duration, so that its changes last; e.g.
                         ro-root exec apt-get upgrade
  enable                 boot read-only from the next boot on
  disable                boot writable from the next boot on
  disable --once         boot writable the next time only, then read-only again
  diff                   list what changed in the RAM layer (A added,
                         M modified, D deleted, O replaced directory)
  commit PATH...         copy these changes from the RAM layer to the real root
  --help, --version

Exit status: 0 success, 1 error, 2 bad usage; status: 0 active as configured,
3 skipped, 4 failed, 5 no record of this boot, 6 active but not as configured;
exec: the command's status, 127 if it is not found, or 125 if ro-root itself
failed.
See ro-root(8).
HELP
}

rr_version()
{
	rr_v=$(dpkg-query -W -f='${Version}' ro-root 2>/dev/null) || rr_v=
	printf 'ro-root %s\n' "${rr_v:-(version unknown: not installed by dpkg)}"
}

rr_require_active()
{
	if ! rr_overlay_active; then
		rr_die 1 "the overlay is not active on this boot (state: $STATE): $1"
	fi
}

rr_require_root()
{
	[ "$RR_EUID" = 0 ] || rr_die "${2:-1}" "$1 needs root (try: sudo ro-root $1)"
}

# rr_real PATH: PATH on the real root: under /ro while the overlay is active.
rr_real()
{
	if [ "$RR_IS_ACTIVE" = 1 ]; then
		printf '%s%s\n' "$RR_LOWER" "$1"
	else
		printf '%s%s\n' "$RR_ROOT" "$1"
	fi
}

# rr_command ARGS...: the command line of sbin/ro-root.
rr_command()
{
	RR_IS_ACTIVE=0
	# A RAM copy of the command (rr_run_copy) is removed however it ends.
	rr_own_copy
	[ -n "$RR_UPPER" ] || RR_UPPER=$(rr_upper_dir)
	case "${1-}" in
	exec | commit | enable | disable)
		if [ "$RR_EUID" = 0 ] && rr_overlay_active; then
			rr_run_copy "$@"
		fi
		;;
	esac
	case "${1-}" in
	status)
		shift
		cmd_status "$@"
		exit
		;;
	exec)
		shift
		cmd_exec "$@"
		;;
	enable)
		shift
		cmd_enable "$@"
		;;
	disable)
		shift
		cmd_disable "$@"
		;;
	diff)
		shift
		cmd_diff "$@"
		;;
	commit)
		shift
		cmd_commit "$@"
		;;
	-h | --help | help)
		rr_help
		;;
	--version)
		rr_version
		;;
	'')
		rr_usage_error "no command given"
		;;
	*)
		rr_usage_error "unknown command '$1'"
		;;
	esac
}
