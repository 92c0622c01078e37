# ro-root's package guard, run by /usr/libexec/ro-root/apt-guard for APT
# (DPkg::Pre-Invoke) and dpkg (pre-invoke). While ro-root's overlay is the
# root, package changes land in RAM and vanish at reboot: warn, or with
# apt_guard=refuse in the real root's /etc/ro-root.conf refuse (a non-zero
# status stops APT and dpkg). Silent everywhere else: a plain or writable
# boot, an image build or chroot (no record of a boot), and inside
# `ro-root exec` (there / is the real root, not an overlay). Sourced after
# common.sh, settings.sh and record.sh.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034,SC2153

# rr_apt_guard apt|dpkg: the guard; its exit status is APT's or dpkg's verdict.
rr_apt_guard()
{
	rr_overlay_active || return 0
	# dpkg run by APT: APT's own hook has spoken already.
	if [ "${1-}" = dpkg ] && [ -n "${DPKG_FRONTEND_LOCKED-}" ]; then
		return 0
	fi

	# The real root's setting, read as the next boot reads it (the overlay's
	# copy may have been edited in RAM).
	rr_guard=$(rr_config_value "$RR_LOWER/etc/ro-root.conf" apt_guard)

	# The command line of the APT or dpkg process that runs this hook, to name
	# it in the advice; a generic one if it cannot be found.
	rr_cmdl=
	rr_pid=$PPID
	for _ in 1 2 3; do
		[ -r "/proc/$rr_pid/stat" ] || break
		rr_comm=$(cat "/proc/$rr_pid/comm" 2>/dev/null)
		case "$rr_comm" in
		apt | apt-get | aptitude | dpkg)
			rr_cmdl=$(tr '\000' ' ' <"/proc/$rr_pid/cmdline" 2>/dev/null)
			rr_cmdl=${rr_cmdl% }
			break
			;;
		esac
		# /proc/PID/stat: "PID (COMM) STATE PPID ..."; COMM may hold spaces.
		rr_stat=$(cat "/proc/$rr_pid/stat" 2>/dev/null)
		rr_stat=${rr_stat##*) }
		set -f
		# shellcheck disable=SC2086 # split the fields after COMM
		set -- $rr_stat
		set +f
		rr_pid=${2-}
		[ -n "$rr_pid" ] || break
	done
	[ -n "$rr_cmdl" ] || rr_cmdl="apt-get ..."

	if [ "$rr_guard" = refuse ]; then
		{
			echo "ro-root: refusing to change packages: the root file system is a RAM overlay"
			echo "ro-root: (apt_guard=refuse in /etc/ro-root.conf) and the change would vanish at reboot."
			echo "ro-root: To change the real system, run:  ro-root exec $rr_cmdl"
		} >&2
		return 1
	fi
	{
		echo "ro-root: WARNING: the root file system is a RAM overlay: these package changes vanish at reboot."
		echo "ro-root: To change the real system, run instead:  ro-root exec $rr_cmdl"
	} >&2
	return 0
}
