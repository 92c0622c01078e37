# ro-root's command: the writable window on the real root, and the commands
# that open it: exec, enable, disable (commit is in changes.sh). Sourced by
# sbin/ro-root after command.sh.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034,SC2153

RR_WINDOW=
RR_BOUND=
RR_LOCKED=
RR_DEVICE_SETRO=
# The file systems of the real system that package operations write besides
# the root, parents first: the window mounts each one that is separate at
# the same path under the real root (/ro/boot...), writable. A separate /usr
# never gets here: the boot refuses a file system mounted below the root.
RR_WINDOW_FS="/var /boot /boot/efi /boot/firmware"
# Mounted by this window, deepest first; of those, the ones to make
# read-only again, and MOUNTPOINT=DEVICE of the devices to protect again.
RR_WINDOW_MOUNTED=
RR_WINDOW_RO=
RR_WINDOW_SETRO=

# rr_device_ro DEVICE: "true" if the block device DEVICE is read-only
# (protect_device=yes), "false" if not, "null" if unknown. Read from sysfs,
# which needs no privileges.
rr_device_ro()
{
	case "$1" in
	/dev/*) ;;
	*)
		echo null
		return 0
		;;
	esac
	rr_name=$(readlink -f "$1" 2>/dev/null) || rr_name=$1
	rr_name=${rr_name##*/}
	rr_flag=
	read -r rr_flag 2>/dev/null <"$RR_SYSBLOCK/$rr_name/ro" || true
	case "$rr_flag" in
	1) echo true ;;
	0) echo false ;;
	*) echo null ;;
	esac
}

rr_lock()
{
	mkdir -p "$RR_RUNDIR" 2>/dev/null
	# flock(1) is atomic, and the kernel drops the lock with its last
	# holder, however that ends: no stale lock to guess about. Descriptor 9
	# is closed for every program run in the window (9>&-), so that a daemon
	# started there cannot keep it.
	rr_lockfile=$RR_RUNDIR/exec.flock
	# Created by a regular builtin first: a redirection that fails on
	# `exec` itself would end the shell on the spot.
	true >>"$rr_lockfile" || rr_die "$1" "cannot create the lock $rr_lockfile"
	exec 9>>"$rr_lockfile"
	if ! flock -n 9; then
		rr_say "another ro-root command has the real root writable; waiting for it to finish (Ctrl-C to give up)"
		flock 9 || rr_die "$1" "could not take the lock $rr_lockfile"
	fi
	RR_LOCKED=1
}

rr_unlock()
{
	[ -n "$RR_LOCKED" ] || return 0
	flock -u 9 2>/dev/null
	exec 9>&-
	RR_LOCKED=
}

# rr_window_open FAILSTATUS: make the real root on /ro writable.
rr_window_open()
{
	rr_lock "$1"
	RR_WINDOW=1
	RR_LOWER_DEV=$(rr_mount_field "$RR_LOWER" 1)
	# protect_device=yes made the device itself read-only at boot: lift
	# that for the window; rr_window_close sets it again.
	if [ "$(rr_device_ro "$RR_LOWER_DEV")" = true ]; then
		if ! blockdev --setrw "$RR_LOWER_DEV"; then
			rr_window_close
			rr_die "$1" "could not make the real root's device $RR_LOWER_DEV writable (blockdev --setrw)"
		fi
		RR_DEVICE_SETRO=$RR_LOWER_DEV
	fi
	if rr_mounted_ro "$RR_LOWER"; then
		if ! mount -o remount,rw "$RR_LOWER"; then
			rr_window_close
			rr_die "$1" "could not remount the real root $RR_LOWER writable"
		fi
	fi
	for rr_mp in $RR_WINDOW_FS; do
		if ! rr_window_fs_open "$rr_mp"; then
			rr_why="could not make the real system's $rr_mp writable in the window ($RR_WINDOW_WHY): nothing was run; a package operation would write into the empty mount point on the root instead of the file system the boot loader reads"
			rr_window_close
			rr_die "$1" "$rr_why"
		fi
	done
}

# rr_window_fs_open MOUNTPOINT: if MOUNTPOINT is a file system of its own on
# the real system, mount it on the real root's MOUNTPOINT and make it
# writable. The running system's mount is bound there (its own mount stays
# as it is: read-only stays read-only); one the running system lacks is
# mounted as the real fstab says, as a writable boot would mount it. Fails
# with RR_WINDOW_WHY.
rr_window_fs_open()
{
	RR_WINDOW_WHY=
	rr_fs_dst=$RR_LOWER$1
	rr_fs_type=$(rr_mount_field "$RR_ROOT$1" 3) || rr_fs_type=
	if [ -n "$rr_fs_type" ] && [ "$rr_fs_type" != autofs ]; then
		rr_fs_how="mount --bind $RR_ROOT$1"
		mount --bind "$RR_ROOT$1" "$rr_fs_dst" || {
			RR_WINDOW_WHY="$rr_fs_how $rr_fs_dst failed"
			return 1
		}
	elif rr_fstab_separate "$RR_LOWER/etc/fstab" "$1"; then
		# Read-only first: a file system mounted read-only elsewhere
		# refuses a writable second mount.
		rr_fs_how="$RR_FSTAB_SPEC ($RR_FSTAB_TYPE, from $RR_LOWER/etc/fstab)"
		if [ "$RR_FSTAB_TYPE" = auto ]; then
			mount -o "$RR_FSTAB_OPTS,ro" "$RR_FSTAB_SPEC" "$rr_fs_dst"
		else
			mount -t "$RR_FSTAB_TYPE" -o "$RR_FSTAB_OPTS,ro" "$RR_FSTAB_SPEC" "$rr_fs_dst"
		fi || {
			RR_WINDOW_WHY="could not mount $rr_fs_how on $rr_fs_dst"
			return 1
		}
	else
		return 0
	fi
	RR_WINDOW_MOUNTED="$1 $RR_WINDOW_MOUNTED"
	rr_fs_dev=$(rr_mount_field "$rr_fs_dst" 1) || rr_fs_dev=
	if [ "$(rr_device_ro "$rr_fs_dev")" = true ]; then
		blockdev --setrw "$rr_fs_dev" || {
			RR_WINDOW_WHY="could not make its device $rr_fs_dev writable (blockdev --setrw)"
			return 1
		}
		RR_WINDOW_SETRO="$1=$rr_fs_dev $RR_WINDOW_SETRO"
	fi
	if rr_mounted_ro "$rr_fs_dst"; then
		RR_WINDOW_RO="$1 $RR_WINDOW_RO"
		mount -o remount,rw "$rr_fs_dst" || {
			RR_WINDOW_WHY="could not remount $rr_fs_dst writable"
			return 1
		}
	fi
	return 0
}

# rr_window_fs_close: the file systems rr_window_fs_open mounted, deepest
# first: read-only again (retrying while busy) and their devices protected
# again if they were, then unmounted. One that stays writable stays mounted,
# where the alert says, and the result is failure.
rr_window_fs_close()
{
	rr_fs_ok=0
	for rr_mp in $RR_WINDOW_MOUNTED; do
		rr_fs_dst=$RR_LOWER$rr_mp
		case " $RR_WINDOW_RO " in
		*" $rr_mp "*)
			if ! rr_remount_ro "$rr_fs_dst" "the real system's $rr_mp"; then
				rr_fs_ok=1
				continue
			fi
			;;
		esac
		for rr_sd in $RR_WINDOW_SETRO; do
			[ "${rr_sd%%=*}" = "$rr_mp" ] || continue
			blockdev --setro "${rr_sd#*=}" || {
				rr_alert "could not make the device ${rr_sd#*=} of $rr_mp read-only again (blockdev --setro): it is mounted read-only, but could be remounted writable until the next boot"
				rr_fs_ok=1
			}
		done
		if ! umount "$rr_fs_dst" 2>/dev/null; then
			sleep 1
			if ! umount "$rr_fs_dst"; then
				rr_say "could not unmount $rr_fs_dst: detaching it lazily (it is read-only)"
				umount -l "$rr_fs_dst" || rr_fs_ok=1
			fi
		fi
	done
	RR_WINDOW_MOUNTED=
	RR_WINDOW_RO=
	RR_WINDOW_SETRO=
	return "$rr_fs_ok"
}

# rr_remount_ro MOUNTPOINT WHAT: remount MOUNTPOINT (WHAT, for messages)
# read-only, retrying while it is busy; loud if it stays writable.
rr_remount_ro()
{
	rr_try=1
	while ! rr_mounted_ro "$1"; do
		if mount -o remount,ro "$1" 2>"$RR_RUNDIR/remount.err"; then
			continue
		fi
		if [ "$rr_try" -ge "$RR_REMOUNT_TRIES" ]; then
			rr_alert "could not remount $2 $1 read-only after $rr_try tries: $(cat "$RR_RUNDIR/remount.err" 2>/dev/null)"
			rr_alert "$2 is still WRITABLE: a process holds a file on it open for writing, or a deleted file the running system still uses (after an upgrade of a library it runs); it becomes read-only again at the next boot, or with: mount -o remount,ro $1"
			rm -f "$RR_RUNDIR/remount.err"
			return 1
		fi
		rr_try=$((rr_try + 1))
		# Files deleted on /ro that the overlay still caches keep the
		# file system busy; dropping unused cache entries releases them.
		sync
		echo 2 >"$RR_DROP_CACHES" 2>/dev/null
		sleep 1
	done
	rm -f "$RR_RUNDIR/remount.err"
	return 0
}

# rr_bind: what a chrooted command needs: /proc, /sys, /dev, /run, and a
# tmpfs on /tmp so that scratch files do not land on the real root.
rr_bind()
{
	for rr_d in proc sys dev run tmp; do
		case "$rr_d" in
		proc) mount -t proc proc "$RR_LOWER/proc" ;;
		tmp) mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$RR_LOWER/tmp" ;;
		*)
			# A slave, so that nothing unmounted under it in the
			# chroot propagates back to the running system. Recorded
			# as soon as it is mounted: rr_unbind removes it even if
			# --make-rslave fails.
			if mount --rbind "/$rr_d" "$RR_LOWER/$rr_d"; then
				RR_BOUND="$RR_LOWER/$rr_d $RR_BOUND"
				mount --make-rslave "$RR_LOWER/$rr_d" || return 1
			else
				return 1
			fi
			continue
			;;
		esac || return 1
		RR_BOUND="$RR_LOWER/$rr_d $RR_BOUND"
	done
	rr_policy_rc ||
		rr_say "could not forbid service starts in the window (/usr/sbin/policy-rc.d): a daemon a package starts there keeps $RR_LOWER busy"
	return 0
}

# rr_policy_rc: package scripts run in the window must not start daemons in
# the chroot (sysvinit's invoke-rc.d would; they would keep /ro busy). A
# policy-rc.d that forbids every action is bound over the real root's
# /usr/sbin/policy-rc.d for the window. Where there is none, an empty,
# non-executable placeholder is made to bind over (invoke-rc.d ignores a
# file that is not executable, should a power cut leave it behind) and
# removed afterwards.
rr_policy_rc()
{
	rr_policy=$RR_LOWER/usr/sbin/policy-rc.d
	rr_deny=$RR_RUNDIR/policy-rc.d
	[ -d "${rr_policy%/*}" ] || return 0
	printf '%s\n' '#!/bin/sh' '# ro-root exec: no service starts inside the window.' 'exit 101' \
		>"$rr_deny" && chmod 0755 "$rr_deny" || return 1
	if [ ! -e "$rr_policy" ] && [ ! -L "$rr_policy" ]; then
		true >"$rr_policy" || return 1
		chmod 0644 "$rr_policy"
		RR_POLICY_PLACEHOLDER=$rr_policy
	fi
	mount --bind "$rr_deny" "$rr_policy" || return 1
	RR_BOUND="$rr_policy $RR_BOUND"
}

rr_unbind()
{
	rr_unbind_ok=0
	for rr_m in $RR_BOUND; do
		if ! umount -R "$rr_m" 2>/dev/null; then
			sleep 1
			if ! umount -R "$rr_m"; then
				rr_say "could not unmount $rr_m: detaching it lazily"
				umount -R -l "$rr_m" || rr_unbind_ok=1
			fi
		fi
	done
	RR_BOUND=
	if [ -n "${RR_POLICY_PLACEHOLDER-}" ]; then
		rm -f "$RR_POLICY_PLACEHOLDER"
		RR_POLICY_PLACEHOLDER=
	fi
	rm -f "$RR_RUNDIR/policy-rc.d"
	return "$rr_unbind_ok"
}

# rr_window_close: unbind, sync and remount /ro read-only, retrying while it
# is busy. Sets RR_CLOSE_FAILED=1 if the real root stays writable.
rr_window_close()
{
	RR_CLOSE_FAILED=
	rr_fs_failed=
	[ -n "$RR_WINDOW" ] || return 0
	rr_unbind
	sync
	rr_window_fs_close || rr_fs_failed=1
	rr_remount_ro "$RR_LOWER" "the real root" || RR_CLOSE_FAILED=1
	# Only once the file system is read-only: a device made read-only
	# under a writable mount would not stop its writes, only warn.
	if [ -n "$RR_DEVICE_SETRO" ] && [ -z "$RR_CLOSE_FAILED" ]; then
		if blockdev --setro "$RR_DEVICE_SETRO"; then
			RR_DEVICE_SETRO=
		else
			rr_alert "could not make the real root's device $RR_DEVICE_SETRO read-only again (blockdev --setro): /ro is read-only, but could be remounted writable until the next boot"
			RR_CLOSE_FAILED=1
		fi
	fi
	[ -z "$rr_fs_failed" ] || RR_CLOSE_FAILED=1
	RR_WINDOW=
	rr_unlock
	[ -z "$RR_CLOSE_FAILED" ]
}

# rr_run_copy: copy this script to RAM and run that copy, so that no file of
# the real root stays open (a removal or upgrade of ro-root itself would
# leave a deleted file open on /ro, and /ro could not become read-only).
rr_run_copy()
{
	[ -z "${RO_ROOT_COPY-}" ] || return 0
	[ -r "$0" ] || return 0
	rr_copy=$RR_RUNDIR/ro-root.$$
	cp "$0" "$rr_copy" 2>/dev/null || return 0
	RO_ROOT_COPY=$rr_copy
	export RO_ROOT_COPY
	exec sh "$rr_copy" "$@"
}

# rr_own_copy: when this is such a copy, remove it however the command ends
# (rr_on_exit). Only a file of the copies' own name pattern is ever removed.
rr_own_copy()
{
	case "${RO_ROOT_COPY-}" in
	"$RR_RUNDIR"/ro-root.[0-9]*) trap rr_on_exit EXIT ;;
	*) RO_ROOT_COPY= ;;
	esac
}

rr_on_exit()
{
	rr_exit=$?
	trap '' INT TERM HUP PIPE
	if [ -n "$RR_WINDOW" ]; then
		rr_window_close || rr_exit=$RR_FAIL_STATUS
	fi
	rr_unlock
	if [ -n "${RO_ROOT_COPY-}" ]; then
		rm -f "$RO_ROOT_COPY"
	fi
	exit "$rr_exit"
}

RR_FAIL_STATUS=1
RR_SIGNAL=
RR_POLICY_PLACEHOLDER=
RR_STAMP=
rr_traps()
{
	RR_FAIL_STATUS=$1
	trap rr_on_exit EXIT
	# A signal is remembered; the window closes once the command is gone.
	# SIGPIPE too: a reader that went away (ro-root exec ... | tee log,
	# then Ctrl-C) must not kill ro-root with the window open. Caught, not
	# ignored, so the command itself runs with the default action.
	trap 'RR_SIGNAL=INT' INT
	trap 'RR_SIGNAL=TERM' TERM
	trap 'RR_SIGNAL=HUP' HUP
	trap 'RR_SIGNAL=PIPE' PIPE
}

# --- initramfs inputs ---------------------------------------------------------------------

# What changed the inputs of an initrd during a window is told by ctimes,
# which no program can set back (dpkg keeps a file's mtime from the package;
# `cp -p` over a file keeps the old one): a stamp is made just before the
# command, and afterwards anything of the inputs whose inode changed since
# is strictly newer than it. One walk of the inputs, stopping at the first
# change, instead of listing them all before and after (seconds under TCG).

# rr_inputs_stamp: make RR_STAMP, wait until the clock (coarse, a tick of a
# few ms) has moved past its ctime, and note which inputs exist (RR_INPUTS_AT,
# RR_GENERATOR_AT). RR_STAMP is empty if it could not be made: every initrd
# is then taken as stale.
rr_inputs_stamp()
{
	RR_STAMP=$RR_RUNDIR/inputs.stamp
	RR_GENERATOR_AT=$(rr_initrd_generator "$RR_LOWER")
	RR_INPUTS_AT=$(rr_inputs_present "$RR_GENERATOR_AT")
	rm -f "$RR_STAMP" "$RR_STAMP.tick"
	if ! : >"$RR_STAMP"; then
		RR_STAMP=
		return 0
	fi
	rr_tick=0
	while [ "$rr_tick" -lt 1000 ]; do
		rm -f "$RR_STAMP.tick"
		: >"$RR_STAMP.tick" || break
		[ -z "$(find "$RR_STAMP.tick" -cnewer "$RR_STAMP" 2>/dev/null)" ] || break
		rr_tick=$((rr_tick + 1))
	done
	rm -f "$RR_STAMP.tick"
}

# rr_inputs_present GENERATOR: the input directories of GENERATOR's initrds
# that exist (relative to RR_LOWER), kernels' modules first: one line each.
# lib/modules is left out where it is usr/lib/modules (merged /usr).
rr_inputs_present()
{
	# shellcheck disable=SC2046 # a list of relative paths without blanks
	for rr_d in usr/lib/modules lib/modules $(rr_initrd_inputs "$1"); do
		[ -e "$RR_LOWER/$rr_d" ] || continue
		if [ "$rr_d" = lib/modules ] && [ "$RR_LOWER/lib/modules" -ef "$RR_LOWER/usr/lib/modules" ]; then
			continue
		fi
		printf '%s\n' "$rr_d"
	done
}

# rr_inputs_changed: true if the initrds' inputs changed since
# rr_inputs_stamp: a kernel or its config in /boot, a module, the
# generator's configuration, hooks or scripts, ro-root's core (initrd.sh's
# rr_initrd_inputs); a file, a directory or a whole input added or removed;
# or another generator. The initrds and the boot loader's files do not count.
rr_inputs_changed()
{
	[ -n "$RR_STAMP" ] || return 0
	[ "$(rr_initrd_generator "$RR_LOWER")" = "$RR_GENERATOR_AT" ] || return 0
	[ "$(rr_inputs_present "$RR_GENERATOR_AT")" = "$RR_INPUTS_AT" ] || return 0
	[ -z "$(find "$RR_LOWER/boot/" -maxdepth 1 \( -name 'vmlinu[xz]-*' -o -name 'config-*' \) \
		-cnewer "$RR_STAMP" -print 2>/dev/null)" ] || return 0
	for rr_d in $RR_INPUTS_AT; do
		[ -z "$(find -H "$RR_LOWER/$rr_d" -cnewer "$RR_STAMP" -print -quit 2>/dev/null)" ] ||
			return 0
	done
	return 1
}

# rr_update_initrds: after the inputs changed, rebuild the initrd of every
# kernel that the command did not already rebuild (the packaging triggers
# update the newest kernel only): those not newer than RR_STAMP.
rr_update_initrds()
{
	for rr_i in "$RR_LOWER"/boot/initrd.img-*; do
		[ -f "$rr_i" ] || continue
		rr_kver=${rr_i#"$RR_LOWER"/boot/initrd.img-}
		[ -e "$RR_LOWER/lib/modules/$rr_kver" ] || [ -e "$RR_LOWER/usr/lib/modules/$rr_kver" ] ||
			continue
		if [ -n "$RR_STAMP" ] && [ -n "$(find "$rr_i" -cnewer "$RR_STAMP" 2>/dev/null)" ]; then
			continue
		fi
		rr_say "kernels or initramfs inputs changed: rebuilding the initrd of $rr_kver"
		if ! RO_ROOT_EXEC=1 chroot "$RR_LOWER" update-initramfs -u -k "$rr_kver" 9>&-; then
			rr_say "could not rebuild the initrd of $rr_kver; run: ro-root exec update-initramfs -u -k $rr_kver"
			return 1
		fi
	done
	return 0
}

# --- commands -------------------------------------------------------------------------------

# rr_need_command NAME [ROOT]: exit 127, as a shell does, with one clean line
# if NAME is not a command (in the chroot ROOT, if given).
rr_need_command()
{
	if [ -n "${2-}" ]; then
		# shellcheck disable=SC2016 # $1 is expanded by the chrooted sh
		chroot "$2" /bin/sh -c 'command -v "$1"' sh "$1" >/dev/null 2>&1 && return 0
	else
		command -v "$1" >/dev/null 2>&1 && return 0
	fi
	rr_say "$1: command not found"
	exit 127
}

cmd_exec()
{
	[ "${1-}" = -- ] && shift
	[ "$#" -gt 0 ] || rr_usage_error "exec: no command given (usage: ro-root exec [--] COMMAND...)"
	rr_require_root exec "$RR_EXEC_FAILED"
	RO_ROOT_EXEC=1
	export RO_ROOT_EXEC
	if ! rr_overlay_active; then
		rr_need_command "$1"
		rr_say "the overlay is not active on this boot (state: $STATE): running the command directly on the root"
		"$@"
		return
	fi
	rr_traps "$RR_EXEC_FAILED"
	# Before the window opens: a command that is not there changes nothing.
	rr_need_command "$1" "$RR_LOWER"
	rr_window_open "$RR_EXEC_FAILED"
	if ! rr_bind; then
		rr_say "could not make /proc, /sys, /dev, /run and /tmp available in $RR_LOWER"
		exit "$RR_EXEC_FAILED"
	fi
	rr_inputs_stamp
	if [ -n "$RR_SIGNAL" ]; then
		rr_say "interrupted (SIG$RR_SIGNAL) before the command started"
		exit "$RR_EXEC_FAILED"
	fi
	rr_fs_list=
	for rr_mp in $RR_WINDOW_MOUNTED; do
		rr_fs_list="$RR_LOWER$rr_mp${rr_fs_list:+, $rr_fs_list}"
	done
	rr_say "the real root is writable on $RR_LOWER ($RR_LOWER_DEV)${rr_fs_list:+, with $rr_fs_list}; running: $*"
	chroot "$RR_LOWER" "$@" 9>&-
	rr_rc=$?
	trap '' INT TERM HUP PIPE
	if [ -n "$RR_SIGNAL" ]; then
		rr_alert "interrupted (SIG$RR_SIGNAL): closing the window on the real root"
	fi
	sync
	if rr_inputs_changed; then
		if ! rr_update_initrds; then
			rr_rc=$RR_EXEC_FAILED
		fi
	fi
	rm -f "$RR_STAMP"
	if rr_window_close; then
		rr_say "done (exit status $rr_rc); the real root is read-only again"
	else
		rr_rc=$RR_EXEC_FAILED
	fi
	exit "$rr_rc"
}

# rr_conf_set KEY VALUE: set KEY=VALUE in the real root's ro-root.conf with
# settings.sh's writer: every other line kept, a symlinked file updated
# where it points, its mode kept; made from the package's default if
# missing.
rr_conf_set()
{
	rr_conf=$(rr_conf_target "$(rr_real "$RR_CONF")") || return 1
	rr_src=$rr_conf
	[ -e "$rr_src" ] || rr_src=$(rr_real "$RR_SHARE/ro-root.conf")
	rr_new=$rr_conf.ro-root-new
	if ! rr_conf_rewrite "$rr_src" "$1" "$2" >"$rr_new"; then
		rm -f "$rr_new"
		return 1
	fi
	rr_conf_install "$rr_conf" "$rr_new"
}

# rr_on_real_root FUNCTION ARGS...: run FUNCTION with the real root writable.
rr_on_real_root()
{
	RR_IS_ACTIVE=0
	if rr_overlay_active; then
		RR_IS_ACTIVE=1
		rr_traps 1
		rr_window_open 1
	fi
	"$@"
	rr_rc=$?
	sync
	if [ -n "$RR_WINDOW" ]; then
		rr_window_close || rr_rc=1
	fi
	return "$rr_rc"
}

rr_do_enable()
{
	rr_conf_set enabled yes || return 1
	rm -f "$(rr_real "$RR_ONCE")" || return 1
	# A flag file on a boot partition asks for the same as disable --once.
	for rr_fd in $RR_FLAG_DIRS; do
		rm -f "$(rr_real "$rr_fd/$RR_FLAG")" || return 1
	done
}

rr_do_disable()
{
	rr_conf_set enabled no
}

rr_do_disable_once()
{
	printf '%s\n' "# Written by 'ro-root disable --once': the next boot is writable," \
		"# and the boot deletes this file." >"$(rr_real "$RR_ONCE")"
}

cmd_enable()
{
	[ "$#" = 0 ] || rr_usage_error "enable takes no argument: $1"
	rr_require_root enable
	rr_on_real_root rr_do_enable || rr_die 1 "could not set enabled=yes in $RR_CONF of the real root"
	rr_say "enabled: the next boots are read-only ($RR_CONF: enabled=yes)"
}

cmd_disable()
{
	rr_once=
	case "${1-}" in
	'') ;;
	--once) rr_once=1 ;;
	*) rr_usage_error "disable: unknown argument '$1' (usage: ro-root disable [--once])" ;;
	esac
	[ "$#" -le 1 ] || rr_usage_error "disable: too many arguments"
	rr_require_root disable
	if [ -n "$rr_once" ]; then
		rr_on_real_root rr_do_disable_once || rr_die 1 "could not create $RR_ONCE on the real root"
		rr_say "disabled for the next boot only: it will be writable, the boots after it read-only again"
	else
		rr_on_real_root rr_do_disable || rr_die 1 "could not set enabled=no in $RR_CONF of the real root"
		rr_say "disabled: from the next boot on the root is writable ($RR_CONF: enabled=no); this boot stays as it is"
	fi
}
