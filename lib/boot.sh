# ro-root's boot: the overlay over the real root, set up in the initramfs.
# Generator-neutral: the initramfs-tools adapter (scripts/local-premount/ro-root
# and scripts/init-bottom/ro-root) sources common.sh, settings.sh, record.sh
# and this file from /usr/lib/ro-root, where the hook copies them, and calls
# rr_premount before the root is mounted and rr_main after; the dracut
# adapter (dracut/90ro-root) calls rr_premount_systemd from a systemd
# generator and rr_main from a pre-pivot hook; the unit tests
# source them with stub log_* functions, stub programs and a fake root, and
# set the paths below after sourcing (nothing here reads the environment but
# the boot variables of init: rootmnt, init, readonly, fastboot, ...).
#
# Written for dash and for a klibc-only initramfs: builtins, klibc's
# mount/umount/mkdir/mv/ln/readlink/sleep/dd/dmesg/nuke (rr_remove) and
# kmod's modprobe; util-linux's blockdev (protect_device, which the hook
# copies unless busybox provides it); no sed, grep, awk, chmod or rm.
#
# Expects from the generator: log_success_msg, log_warning_msg,
# log_failure_msg, panic and get_fstype (initramfs-tools' /scripts/functions);
# and $rootmnt, where the real root is mounted.
#
# Settings come from the real root's /etc/ro-root.conf (settings.sh) and the
# kernel command line, both read as data (see ro-root.conf(5)). The outcome
# of every boot is kept in $RR_RUNDIR (see record.sh) and, for systemd, in
# run-time units and drop-ins under /run/systemd.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

RR_CMDLINE_FILE=/proc/cmdline
RR_FILESYSTEMS_FILE=/proc/filesystems
RR_KMSG=/dev/kmsg
RR_DISKDIR=/dev/disk
# Where a boot partition is mounted for a moment to look for the flag file.
RR_FLAG_MNT=/run/ro-root/flag
RR_SYSTEMD_RUN=/run/systemd
# initramfs-tools' boot variables, sourced by init after every boot script.
RR_PARAM_CONF=/conf/param.conf
RR_UPTIME_FILE=/proc/uptime

# rr_record LEVEL MESSAGE: keep MESSAGE in the run-time log and the kernel
# log (at debug level, so the console does not show it twice).
rr_record()
{
	printf '%s %s\n' "$1" "$2" >>"$RR_RUNDIR/log" 2>/dev/null
	if [ -w "$RR_KMSG" ]; then
		printf '<15>ro-root: %s\n' "$2" >"$RR_KMSG" 2>/dev/null
	fi
	return 0
}

# rr_info MESSAGE: progress; shown on the console unless `quiet`.
rr_info()
{
	rr_record info "$1"
	log_success_msg "ro-root: $1"
}

# rr_show_warning MESSAGE: always on the console, `quiet` or not, and in the
# log (common.sh's rr_warn counts it and calls this).
rr_show_warning()
{
	rr_record warning "$1"
	printf 'ro-root: warning: %s\n' "$1"
}

# rr_record_info MESSAGE: a detail for the log only.
rr_record_info()
{
	rr_record info "$1"
}

# rr_outcome STATE REASON: the single result of this boot. Always shown.
rr_outcome()
{
	RR_STATE=$1
	printf '%s\n' "$1" >"$RR_RUNDIR/state"
	printf '%s\n' "$2" >"$RR_RUNDIR/reason"
	rr_record "$1" "$2"
	case "$1" in
	active)
		printf 'ro-root: active: %s\n' "$2"
		;;
	skipped)
		printf 'ro-root: skipped: %s\n' "$2"
		;;
	*)
		printf 'ro-root: FAILED: %s\n' "$2"
		;;
	esac
}

# --- settings: /etc/ro-root.conf and the kernel command line ------------------
#
# Both are read as data: values are compared with patterns, never evaluated.
# A bad value is reported (console, log) and the previous value (the
# default unless an earlier line set it) is kept; the boot goes on.

# rr_recovery_word WORD: true if WORD on the kernel command line asks for a
# single-user or recovery boot (sysvinit's and systemd's words).
rr_recovery_word()
{
	case "$1" in
	single | S | s | 1 | -s | -b | rescue | emergency | \
		systemd.unit=rescue.target | systemd.unit=emergency.target | \
		systemd.unit=rescue.service | systemd.unit=emergency.service)
		return 0
		;;
	esac
	return 1
}

# rr_parse_cmdline CMDLINE: apply the kernel command line's ro-root
# settings on top of the configuration and decide whether this boot wants
# the overlay: RR_SKIP says why not (empty if it does). The last ro-root=
# wins; a recovery request wins over everything; allow_cmdline=no ignores
# all of them.
rr_parse_cmdline()
{
	rr_recovery=
	rr_cmd_mode=
	rr_ignored=
	# Split on white space only, never expand globs.
	set -f
	# shellcheck disable=SC2086 # word splitting is the point here
	set -- $1
	set +f
	rr_cmd_warned=$RR_WARNINGS
	for rr_arg in "$@"; do
		# The kernel and systemd take "word" and key="value" unquoted.
		case "$rr_arg" in
		\"*)
			rr_arg=${rr_arg#\"}
			rr_arg=${rr_arg%\"}
			;;
		*=\"*)
			rr_qv=${rr_arg#*=}
			rr_qv=${rr_qv#\"}
			rr_arg=${rr_arg%%=*}=${rr_qv%\"}
			;;
		esac
		# A hostile command line (about 2,000 characters on x86) could
		# otherwise fill the console with warnings.
		if [ "$((RR_WARNINGS - rr_cmd_warned))" -ge 10 ]; then
			rr_warn "too many bad ro-root kernel parameters; the rest of the command line is ignored"
			break
		fi
		case "$rr_arg" in
		ro-root | ro-root[!=.]* | ro-root=* | ro-root.*) rr_ours=yes ;;
		*)
			rr_ours=
			if rr_recovery_word "$rr_arg"; then
				rr_ours=yes
			fi
			;;
		esac
		if [ -n "$rr_ours" ] && [ "$RR_ALLOW_CMDLINE" = no ]; then
			rr_ignored="${rr_ignored:+$rr_ignored }$(rr_printable "$rr_arg")"
			continue
		fi
		if [ -z "$rr_ours" ]; then
			continue
		fi
		case "$rr_arg" in
		ro-root=disabled)
			rr_cmd_mode=disabled
			;;
		ro-root=tmpfs)
			rr_cmd_mode=on
			RR_MODE=tmpfs
			;;
		ro-root=device:*)
			if rr_valid_spec "${rr_arg#ro-root=device:}"; then
				rr_cmd_mode=on
				RR_MODE=${rr_arg#ro-root=}
			else
				rr_warn "ignoring bad device in kernel parameter '$(rr_printable "$rr_arg")' (expected ro-root=device:LABEL=x, UUID=x or PARTUUID=x)"
			fi
			;;
		ro-root=*)
			rr_warn "ignoring unknown value in kernel parameter '$(rr_printable "$rr_arg")' (expected ro-root=tmpfs, ro-root=disabled or ro-root=device:SPEC)"
			;;
		ro-root.size=*)
			rr_set size "${rr_arg#ro-root.size=}" "kernel parameter ro-root.size"
			;;
		ro-root.policy=*)
			rr_set failure_policy "${rr_arg#ro-root.policy=}" "kernel parameter ro-root.policy"
			;;
		ro-root.* | ro-root | ro-root[!=.]*)
			rr_warn "ignoring unknown kernel parameter '$(rr_printable "$rr_arg")' (known: ro-root=, ro-root.size=, ro-root.policy=)"
			;;
		*)
			rr_recovery=$rr_arg
			;;
		esac
	done
	if [ -n "$rr_ignored" ]; then
		rr_warn "allow_cmdline=no in /etc/ro-root.conf: ignoring kernel parameters: $rr_ignored"
	fi
	if [ -n "$rr_recovery" ]; then
		RR_SKIP="single-user/recovery boot requested ('$rr_recovery' on the kernel command line): root left writable"
	elif [ "$rr_cmd_mode" = disabled ]; then
		RR_SKIP="disabled by ro-root=disabled on the kernel command line"
	elif [ -z "$rr_cmd_mode" ] && [ "$RR_ENABLED" = no ]; then
		RR_SKIP="disabled by enabled=no in /etc/ro-root.conf"
	fi
}

# rr_have_overlay: true if the running kernel knows the overlay file system.
rr_have_overlay()
{
	while read -r rr_a rr_b; do
		if [ "$rr_a" = overlay ] || [ "$rr_b" = overlay ]; then
			return 0
		fi
	done <"$RR_FILESYSTEMS_FILE"
	return 1
}

# --- devices ----------------------------------------------------------------

# rr_device_path SPEC: the udev link that names SPEC's device.
rr_device_path()
{
	case "$1" in
	LABEL=*) printf '%s/by-label/%s\n' "$RR_DISKDIR" "${1#LABEL=}" ;;
	UUID=*) printf '%s/by-uuid/%s\n' "$RR_DISKDIR" "${1#UUID=}" ;;
	PARTUUID=*) printf '%s/by-partuuid/%s\n' "$RR_DISKDIR" "${1#PARTUUID=}" ;;
	*) return 1 ;;
	esac
}

# rr_wait_device SPEC: set RR_FOUND to SPEC's device once it exists. All
# waits of a boot share one budget of device_timeout seconds (RR_WAITED
# counts it), so it must not run in a subshell.
rr_wait_device()
{
	RR_FOUND=
	rr_path=$(rr_device_path "$1") || return 1
	while [ ! -e "$rr_path" ]; do
		[ "$RR_WAITED" -lt "$RR_TIMEOUT" ] || return 1
		if [ "$RR_WAITED" = 0 ]; then
			rr_info "waiting up to ${RR_TIMEOUT} s for $1"
		fi
		sleep 1
		RR_WAITED=$((RR_WAITED + 1))
	done
	RR_FOUND=$rr_path
}

# --- the overlay's fstab ------------------------------------------------------

# rr_is_data_mountpoint DIR: true if DIR is the mount point of a data mount
# of this boot, or of one whose file system the kernel refused (its real
# fstab entry must not mount it either).
rr_is_data_mountpoint()
{
	for rr_d in $RR_DATA_OK ${RR_DATA_REFUSED-}; do
		[ "${rr_d#*:}" != "$1" ] || return 0
	done
	return 1
}

# rr_fstab_line LINE: print LINE of the real fstab as it belongs in the
# overlay's fstab. The root entry is commented out (#ro-root#), and so are
# swap (swap=off) and entries replaced by data_mounts; other file systems on
# block devices become read-only and unchecked (other_filesystems=ro), the
# original kept above as a comment. Everything else is kept byte for byte.
rr_fstab_line()
{
	rr_entry=$1
	set -f
	# shellcheck disable=SC2086 # split the entry into its fields
	set -- $1
	set +f
	case "${1-}" in
	'' | '#'*)
		printf '%s\n' "$rr_entry"
		return 0
		;;
	esac
	if [ "${2-}" = / ] || rr_is_data_mountpoint "${2-}" ||
		{ [ "${3-}" = swap ] && [ "$RR_SWAP" = off ]; }; then
		printf '#ro-root# %s\n' "$rr_entry"
		return 0
	fi
	if [ "$RR_OTHER" = ro ] && [ "$#" -ge 3 ]; then
		case "$1" in
		/dev/* | UUID=* | LABEL=* | PARTUUID=* | PARTLABEL=* | ID=*)
			case "$3" in
			swap | tmpfs | proc | sysfs | devpts | none | nfs | nfs4 | cifs) ;;
			*)
				rr_opts=
				rr_ifs=$IFS
				IFS=,
				for rr_o in ${4:-defaults}; do
					case "$rr_o" in
					rw | ro | '') ;;
					*) rr_opts="${rr_opts:+$rr_opts,}$rr_o" ;;
					esac
				done
				IFS=$rr_ifs
				case ",$rr_opts," in
				*,bind,*) ;;
				*)
					printf '#ro-root# %s\n' "$rr_entry"
					printf '%s\t%s\t%s\t%s\t%s\t0\n' "$1" "$2" "$3" \
						"${rr_opts:+$rr_opts,}ro" "${5:-0}"
					return 0
					;;
				esac
				;;
			esac
			;;
		esac
	fi
	printf '%s\n' "$rr_entry"
}

# rr_fstab_entry FSTAB MOUNTPOINT: the type and options of FSTAB's last
# entry for MOUNTPOINT, as "TYPE OPTIONS"; fails if it has none.
rr_fstab_entry()
{
	rr_fstab_find "$1" "$2" || return 1
	printf '%s %s\n' "$RR_FSTAB_TYPE" "$RR_FSTAB_OPTS"
}

# rr_data_fstab_line REAL ITEM: the overlay's fstab line of data mount ITEM
# (SPEC:MOUNTPOINT): the real fstab's type and options for that mount point
# if it has an entry (an admin's nodev,nosuid,noexec stay), else auto and
# defaults; always nofail, never checked (pass 0).
rr_data_fstab_line()
{
	rr_dtype=auto
	rr_dopts=defaults
	if rr_de=$(rr_fstab_entry "$1" "${2#*:}"); then
		rr_dtype=${rr_de%% *}
		rr_dopts=${rr_de#* }
	fi
	case ",$rr_dopts," in
	*,nofail,*) ;;
	*) rr_dopts=$rr_dopts,nofail ;;
	esac
	printf '%s\t%s\t%s\t%s\t0\t0\n' "${2%%:*}" "${2#*:}" "$rr_dtype" "$rr_dopts"
}

# rr_write_fstab REAL NEW: write NEW (in the upper layer) from REAL (the
# read-only real fstab) with a header naming where the real one is, and the
# data mounts that were found at the end. Written beside NEW and renamed
# once complete: a write error (a full persistent upper layer) leaves no
# truncated fstab, and fails.
rr_write_fstab()
{
	rr_new=$2.ro-root-new
	rr_fstab_ok=0
	{
		printf '%s\n' \
			"# Written at boot by ro-root: the root file system is an overlay over" \
			"# the read-only real root, which is mounted on /ro. The real fstab is" \
			"# /ro/etc/fstab; lines changed here keep the original above them as a" \
			"# #ro-root# comment: the root entry is disabled so that nothing remounts" \
			"# or checks the real root. Changes to this copy do not reach the real" \
			"# file. See ro-root.conf(5)." \
			"" || rr_fstab_ok=1
		if [ -r "$1" ]; then
			while IFS= read -r rr_line || [ -n "$rr_line" ]; do
				rr_fstab_line "$rr_line" || rr_fstab_ok=1
			done <"$1"
		fi
		if [ -n "$RR_DATA_OK" ]; then
			printf '\n# ro-root data_mounts: writable and persistent\n' || rr_fstab_ok=1
			for rr_d in $RR_DATA_OK; do
				rr_data_fstab_line "$1" "$rr_d" || rr_fstab_ok=1
			done
		fi
	} >"$rr_new" || rr_fstab_ok=1
	if [ "$rr_fstab_ok" != 0 ]; then
		rr_remove "$rr_new"
		return 1
	fi
	mv -f "$rr_new" "$2"
}

# rr_fs_usable DEV: true if DEV holds a file system of a kind ro-root uses
# (ext2/3/4, xfs, btrfs, f2fs) that the kernel accepts in a read-only trial
# mount which writes nothing: no journal or log replay (ext3/4 noload, xfs
# norecovery, btrfs nologreplay, f2fs norecovery). A corrupted file system
# that the kernel refuses is thus never mounted writable, and nothing runs
# fsck or formats it. RR_FSTYPE is its type; RR_FS_PROBLEM says why not.
rr_fs_usable()
{
	RR_FS_PROBLEM=
	RR_FSTYPE=$(get_fstype "$1" 2>/dev/null) || RR_FSTYPE=
	case "$RR_FSTYPE" in
	ext2) rr_trial=ro ;;
	ext3 | ext4) rr_trial=ro,noload ;;
	xfs) rr_trial=ro,norecovery ;;
	btrfs) rr_trial=ro,nologreplay ;;
	f2fs) rr_trial=ro,norecovery ;;
	*)
		RR_FS_PROBLEM="holds '$(rr_printable "${RR_FSTYPE:-no file system}")', not ext2/3/4, xfs, btrfs or f2fs"
		return 1
		;;
	esac
	rr_check=${rootmnt}.check
	if ! mkdir -p "$rr_check"; then
		RR_FS_PROBLEM="could not create $rr_check for a trial mount"
		return 1
	fi
	if ! mount -t "$RR_FSTYPE" -o "$rr_trial" "$1" "$rr_check"; then
		RR_FS_PROBLEM="holds a file system ($RR_FSTYPE) that the kernel refuses to mount even read-only (corrupted?); check it with fsck from another system"
		return 1
	fi
	if ! umount "$rr_check"; then
		RR_FS_PROBLEM="could not unmount its read-only trial mount on $rr_check"
		return 1
	fi
	return 0
}

# rr_find_data: RR_DATA_OK becomes the data mounts whose device is present
# (waiting for them within device_timeout); each missing one is reported.
rr_find_data()
{
	RR_DATA_OK=
	RR_DATA_REFUSED=
	for rr_d in $RR_DATA; do
		rr_spec=${rr_d%%:*}
		if ! rr_wait_device "$rr_spec"; then
			rr_warn "data mount $rr_spec (for ${rr_d#*:}) not found within ${RR_TIMEOUT} s: skipped, ${rr_d#*:} is not persistent on this boot"
			continue
		fi
		if rr_same_device "$RR_FOUND" "$rr_lowerdev"; then
			rr_warn "data mount $rr_spec is the real root's own device: skipped"
			continue
		fi
		if ! rr_fs_usable "$RR_FOUND"; then
			RR_DATA_REFUSED="${RR_DATA_REFUSED:+$RR_DATA_REFUSED }$rr_d"
			rr_warn "data mount $rr_spec (/dev/$(rr_devname "$RR_FOUND"), for ${rr_d#*:}) $RR_FS_PROBLEM: skipped, not mounted and not written; ${rr_d#*:} is not persistent on this boot"
			continue
		fi
		RR_DATA_OK="${RR_DATA_OK:+$RR_DATA_OK }$rr_d"
	done
}

# --- the failure policy -------------------------------------------------------

# rr_detect_systemd: RR_SYSTEMD=yes if the real root's init (init= or
# /sbin/init) is systemd. Files for systemd go to /run/systemd only then:
# /run/systemd/system is how programs tell that systemd runs (sd_booted), so
# creating it under sysvinit would mislead them.
rr_detect_systemd()
{
	RR_SYSTEMD=no
	rr_initpath=$rootmnt${init:-/sbin/init}
	if [ -L "$rr_initpath" ] && rr_target=$(readlink "$rr_initpath"); then
		case "$rr_target" in
		*systemd*) RR_SYSTEMD=yes ;;
		esac
	fi
	case "${init-}" in
	*systemd*) RR_SYSTEMD=yes ;;
	esac
}

# rr_systemd_failed_unit: make systemd show the failure: a unit that prints
# the reason and fails, started early from the run-time unit directory
# (/run survives into the system). Harmless without systemd.
rr_systemd_failed_unit()
{
	[ "$RR_SYSTEMD" = yes ] || return 0
	mkdir -p "$RR_SYSTEMD_RUN/system/sysinit.target.wants" || return 1
	printf '%s\n' \
		"# Written at boot by ro-root's initramfs script: the overlay failed." \
		"[Unit]" \
		"Description=ro-root read-only root (FAILED, see /run/ro-root/reason)" \
		"DefaultDependencies=no" \
		"Before=sysinit.target" \
		"" \
		"[Service]" \
		"Type=oneshot" \
		"RemainAfterExit=yes" \
		"StandardOutput=journal+console" \
		"ExecStart=/bin/cat /run/ro-root/reason" \
		"ExecStart=/bin/false" \
		>"$RR_SYSTEMD_RUN/system/ro-root-failed.service" || return 1
	ln -s ../ro-root-failed.service \
		"$RR_SYSTEMD_RUN/system/sysinit.target.wants/ro-root-failed.service"
}

# rr_keep_read_only: failure_policy=ro: the real root stays read-only. Mask
# what would remount it writable or check it: systemd's units (run-time
# masks) and, under sysvinit, ro-root's checkroot.sh wrapper, which reads
# /run/ro-root/keep-read-only.
rr_keep_read_only()
{
	if ! rr_mounted_ro "$rootmnt"; then
		mount -n -o remount,ro "$rr_lowerdev" "$rootmnt" || return 1
		rr_mounted_ro "$rootmnt" || return 1
	fi
	true >"$RR_RUNDIR/keep-read-only" || return 1
	[ "$RR_SYSTEMD" = yes ] || return 0
	mkdir -p "$RR_SYSTEMD_RUN/system" || return 1
	for rr_unit in systemd-remount-fs.service systemd-fsck-root.service; do
		ln -s /dev/null "$RR_SYSTEMD_RUN/system/$rr_unit" || return 1
	done
}

# rr_apply_policy REASON: after the real root was put back on $rootmnt,
# boot the way failure_policy says, loudly.
rr_apply_policy()
{
	case "$RR_POLICY" in
	panic)
		rr_outcome failed "$1; stopping the boot (failure_policy=panic)"
		panic "ro-root: $1; stopping the boot as failure_policy=panic asks"
		return 1
		;;
	ro)
		if rr_keep_read_only; then
			rr_outcome failed "$1; booting the normal root read-only, without the overlay (failure_policy=ro)"
		else
			rr_outcome failed "$1; failure_policy=ro, but the normal root could not be kept read-only: it is writable"
		fi
		;;
	*)
		rr_outcome failed "$1; booting with the normal root, which stays writable (failure_policy=rw)"
		;;
	esac
	rr_systemd_failed_unit || rr_warn "could not write the systemd unit that reports the failure"
	return 1
}

# --- the overlay --------------------------------------------------------------

# rr_undo: take back the steps recorded in RR_DONE_* in reverse order, so
# that the real root is mounted on $rootmnt again as init expects.
rr_undo()
{
	rr_undo_ok=0
	if [ -n "$RR_DONE_UPPER_IN" ]; then
		mount -n -o move "$rootmnt/rw" "$RR_UPPER" || rr_undo_ok=1
	fi
	if [ -n "$RR_DONE_LOWER_IN" ]; then
		mount -n -o move "$rootmnt/ro" "$RR_LOWER" || rr_undo_ok=1
	fi
	if [ -n "$RR_DONE_OVERLAY" ]; then
		umount "$rootmnt" || rr_undo_ok=1
	fi
	if [ -n "$RR_DONE_REMOUNT" ]; then
		mount -n -o remount,rw "$rr_lowerdev" "$RR_LOWER" || rr_warn "could not make the real root writable again"
	fi
	if [ -n "$RR_DONE_MOVE" ]; then
		if ! mount -n -o move "$RR_LOWER" "$rootmnt"; then
			rr_outcome failed "could not put the real root back on $rootmnt after a failure"
			panic "ro-root: the real root is stranded on $RR_LOWER and cannot be put back"
			return 1
		fi
	fi
	if [ -n "$RR_DONE_UPPERMNT" ]; then
		umount "$RR_UPPER" || rr_undo_ok=1
	fi
	return "$rr_undo_ok"
}

# rr_fail REASON: report a failure, undo what was done, then boot as the
# failure policy says.
rr_fail()
{
	if rr_undo; then
		rr_apply_policy "$1"
	else
		rr_apply_policy "$1 (and clean-up was incomplete)"
	fi
	return 1
}

# rr_upper_device: mode=device:SPEC: mount SPEC's file system on $RR_UPPER
# with ro-root/upper and ro-root/work on it. On any problem, report it and
# return 1 with nothing mounted: the caller falls back to tmpfs.
rr_upper_device()
{
	rr_spec=${RR_MODE#device:}
	if ! rr_wait_device "$rr_spec"; then
		rr_warn "persistent upper device $rr_spec not found within ${RR_TIMEOUT} s: falling back to tmpfs, changes will NOT persist on this boot"
		return 1
	fi
	rr_dev=$RR_FOUND
	if rr_same_device "$rr_dev" "$rr_lowerdev"; then
		rr_warn "persistent upper device $rr_spec is the real root's own device: falling back to tmpfs"
		return 1
	fi
	if ! rr_fs_usable "$rr_dev"; then
		rr_warn "persistent upper device $rr_spec ($rr_dev) $RR_FS_PROBLEM: falling back to tmpfs, changes will NOT persist on this boot (the device is not written)"
		return 1
	fi
	rr_fstype=$RR_FSTYPE
	if ! mount -t "$rr_fstype" -o rw,noatime "$rr_dev" "$RR_UPPER"; then
		rr_warn "could not mount the persistent upper device $rr_spec ($rr_dev, $rr_fstype): falling back to tmpfs"
		return 1
	fi
	# The upper directory is the root directory of the overlay: 0755 as a
	# root must be. One that exists keeps its mode (a persistent change).
	# shellcheck disable=SC2174 # -m for upper and work, not ro-root/
	if ! mkdir -p -m 0755 "$RR_UPPER/ro-root/upper" "$RR_UPPER/ro-root/work"; then
		umount "$RR_UPPER"
		rr_warn "could not create ro-root/upper and ro-root/work on $rr_spec: falling back to tmpfs"
		return 1
	fi
	RR_UPPERDIR=$RR_UPPER/ro-root/upper
	RR_WORKDIR=$RR_UPPER/ro-root/work
	RR_UPPER_DEV="/dev/$(rr_devname "$rr_dev") ($rr_spec)"
	return 0
}

# rr_journald: with the tmpfs layer, journald keeps a volatile journal of at
# most journal_size (a run-time drop-in: /run survives into the system).
rr_journald()
{
	[ "$RR_JOURNAL" != keep ] && [ "$RR_SYSTEMD" = yes ] || return 0
	rr_jsize=$RR_JOURNAL
	case "$rr_jsize" in
	*k) rr_jsize=${rr_jsize%k}K ;;
	*m) rr_jsize=${rr_jsize%m}M ;;
	*g) rr_jsize=${rr_jsize%g}G ;;
	esac
	if mkdir -p "$RR_SYSTEMD_RUN/journald.conf.d" &&
		printf '%s\n' "# Written at boot by ro-root: the root is a tmpfs overlay." \
			"[Journal]" "Storage=volatile" "RuntimeMaxUse=$rr_jsize" \
			>"$RR_SYSTEMD_RUN/journald.conf.d/ro-root.conf"; then
		return 0
	fi
	rr_warn "could not write the journald drop-in (volatile journal of $rr_jsize)"
}

# rr_protect_lower: protect_device=yes: make the real root's block device
# read-only (blockdev --setro, which the hook copies), so that not even
# `mount -o remount,rw /ro` can make it writable; `ro-root exec` lifts it
# for its writable window. The device is the one the root is mounted from:
# for a root on a partition, that partition only, so the disk's other
# partitions stay writable. A failure is reported; the overlay stays.
rr_protect_lower()
{
	RR_LOWER_SETRO=no
	[ "$RR_PROTECT" = yes ] || return 0
	rr_pdev=$rr_lowerdev
	case "$rr_pdev" in
	/dev/*) ;;
	*)
		rr_warn "protect_device: the real root's device '$(rr_printable "$rr_pdev")' is not a block device: not made read-only"
		return 0
		;;
	esac
	if ! command -v blockdev >/dev/null 2>&1; then
		rr_warn "protect_device: no blockdev in this initramfs (rebuild it: update-initramfs -u): $rr_pdev is not made read-only; /ro can still be remounted writable"
		return 0
	fi
	if ! blockdev --setro "$rr_pdev"; then
		rr_warn "protect_device: blockdev --setro $rr_pdev failed: the device is not read-only; /ro can still be remounted writable"
		return 0
	fi
	RR_LOWER_SETRO=yes
	rr_info "the real root's device $rr_pdev is read-only (protect_device=yes)"
}

# rr_setup: the overlay itself. Until the root is moved, any error leaves
# the root untouched; after that, rr_fail puts it back.
rr_setup()
{
	RR_LOWER=${rootmnt}.ro
	RR_UPPER=${rootmnt}.rw
	RR_UPPER_DEV=
	RR_DATA_OK=
	RR_DONE_UPPERMNT=
	RR_DONE_MOVE=
	RR_DONE_REMOUNT=
	RR_DONE_OVERLAY=
	RR_DONE_LOWER_IN=
	RR_DONE_UPPER_IN=

	if ! rr_lowerdev=$(rr_mount_field "$rootmnt" 1); then
		rr_fail "no root file system is mounted on $rootmnt"
		return 1
	fi
	if [ "$(rr_mount_field "$rootmnt" 3)" = overlay ]; then
		rr_fail "the root on $rootmnt is already an overlay"
		return 1
	fi
	# A file system mounted below the root by the initramfs (a separate /usr)
	# would move along with the root but stay outside the overlay, which
	# would then show an empty directory in its place.
	rr_below=$(rr_mounts_below "$rootmnt")
	if [ -n "$rr_below" ]; then
		rr_fail "file systems are mounted below the root ($rr_below), which ro-root does not support yet"
		return 1
	fi
	if ! rr_have_overlay; then
		modprobe -b overlay
		if ! rr_have_overlay; then
			rr_fail "the kernel has no overlay file system (module overlay missing or blacklisted)"
			return 1
		fi
	fi
	if ! mkdir -p "$RR_LOWER" "$RR_UPPER"; then
		rr_fail "could not create $RR_LOWER and $RR_UPPER in the initramfs"
		return 1
	fi
	case "$RR_MODE" in
	device:*)
		if rr_upper_device; then
			RR_DONE_UPPERMNT=1
		fi
		;;
	esac
	if [ -z "$RR_DONE_UPPERMNT" ]; then
		if ! mount -t tmpfs -o "mode=0755,size=$RR_SIZE" tmpfs "$RR_UPPER"; then
			rr_fail "could not mount a tmpfs (size=$RR_SIZE) on $RR_UPPER"
			return 1
		fi
		RR_DONE_UPPERMNT=1
		if ! mkdir -m 0755 "$RR_UPPER/upper" "$RR_UPPER/work"; then
			rr_fail "could not create the upper and work directories"
			return 1
		fi
		RR_UPPERDIR=$RR_UPPER/upper
		RR_WORKDIR=$RR_UPPER/work
	fi
	rr_find_data

	# From here on the real root moves; every failure puts it back.
	if ! mount -n -o move "$rootmnt" "$RR_LOWER"; then
		rr_fail "could not move the root from $rootmnt to $RR_LOWER"
		return 1
	fi
	RR_DONE_MOVE=1
	if ! rr_mounted_ro "$RR_LOWER"; then
		# klibc's mount wants the device even for a remount.
		if ! mount -n -o remount,ro "$rr_lowerdev" "$RR_LOWER"; then
			rr_fail "could not remount the real root read-only"
			return 1
		fi
		RR_DONE_REMOUNT=1
		if ! rr_mounted_ro "$RR_LOWER"; then
			rr_fail "the real root is still writable after remounting it read-only"
			return 1
		fi
	fi
	if ! mount -t overlay -o "lowerdir=$RR_LOWER,upperdir=$RR_UPPERDIR,workdir=$RR_WORKDIR" \
		overlay "$rootmnt"; then
		rr_fail "could not mount the overlay on $rootmnt"
		return 1
	fi
	RR_DONE_OVERLAY=1
	if ! mkdir -p "$rootmnt/ro" "$rootmnt/rw"; then
		rr_fail "could not prepare /ro and /rw in the overlay"
		return 1
	fi
	if ! mount -n -o move "$RR_LOWER" "$rootmnt/ro"; then
		rr_fail "could not move the real root to /ro in the overlay"
		return 1
	fi
	RR_DONE_LOWER_IN=1
	if ! mount -n -o move "$RR_UPPER" "$rootmnt/rw"; then
		rr_fail "could not move the upper layer to /rw in the overlay"
		return 1
	fi
	RR_DONE_UPPER_IN=1
	if ! rr_write_fstab "$rootmnt/ro/etc/fstab" "$rootmnt/etc/fstab"; then
		rr_fail "could not write /etc/fstab in the upper layer"
		return 1
	fi
	for rr_d in $RR_DATA_OK; do
		mkdir -p "$rootmnt${rr_d#*:}" ||
			rr_warn "could not create the mount point ${rr_d#*:} of data mount ${rr_d%%:*}"
	done
	rr_protect_lower
	if [ -n "$RR_UPPER_DEV" ]; then
		rr_outcome active "/ is an overlay over $rr_lowerdev (read-only on /ro); changes persist on $RR_UPPER_DEV (on /rw)"
	else
		rr_journald
		rr_outcome active "/ is a tmpfs overlay over $rr_lowerdev (read-only on /ro, changes in RAM on /rw, size=$RR_SIZE); writes vanish at reboot"
	fi
	return 0
}

# rr_once FILE: `ro-root disable --once` asked for one writable boot by
# creating FILE on the real root. Consume it (this boot is writable anyway)
# and skip the overlay.
rr_once()
{
	[ -e "$1" ] || return 0
	[ -z "$RR_SKIP" ] && RR_SKIP="disabled for this boot only by 'ro-root disable --once'"
	rr_dev=$(rr_mount_field "$rootmnt" 1) || rr_dev=
	rr_was_ro=
	if rr_mounted_ro "$rootmnt"; then
		rr_was_ro=1
		mount -n -o remount,rw "$rr_dev" "$rootmnt" || rr_was_ro=
	fi
	if ! rr_remove "$1"; then
		rr_warn "could not remove /etc/ro-root.disable-once: the next boot will be writable too"
	fi
	if [ -n "$rr_was_ro" ]; then
		mount -n -o remount,ro "$rr_dev" "$rootmnt" ||
			rr_warn "could not remount the root read-only again after removing /etc/ro-root.disable-once"
	fi
	return 0
}

# rr_flag_file: the flag file RR_FLAG on a boot partition (the ones of
# RR_FLAG_DIRS that the real fstab mounts from a partition of their own)
# asks for one writable boot. Each such partition is mounted read-only on
# RR_FLAG_MNT to look; where the flag is, the partition is mounted writable
# just to remove it (the one write to it outside a window) and the boot is
# skipped. A flag that cannot be removed would make every boot writable
# without anyone asking again: then this boot stays read-only, with a
# warning that says how to remove it.
rr_flag_file()
{
	for rr_fd in $RR_FLAG_DIRS; do
		rr_fstab_separate "$rootmnt/etc/fstab" "$rr_fd" || continue
		rr_flag_partition "$rr_fd"
	done
	return 0
}

# rr_flag_partition DIR: look for the flag on the partition the real fstab
# mounts on DIR (RR_FSTAB_SPEC, RR_FSTAB_TYPE), and consume it.
rr_flag_partition()
{
	rr_fdev=$RR_FSTAB_SPEC
	case "$rr_fdev" in
	/dev/*) ;;
	*)
		if ! rr_wait_device "$RR_FSTAB_SPEC"; then
			rr_warn "could not look for $1/$RR_FLAG: the device of $RR_FSTAB_SPEC ($1) did not appear"
			return 0
		fi
		rr_fdev=$RR_FOUND
		;;
	esac
	rr_ftype=$RR_FSTAB_TYPE
	if [ "$rr_ftype" = auto ]; then
		rr_ftype=$(get_fstype "$rr_fdev" 2>/dev/null) || rr_ftype=
	fi
	# A look that writes nothing: no journal or log replay.
	case "$rr_ftype" in
	ext3 | ext4) rr_fopts=ro,noload ;;
	xfs | f2fs) rr_fopts=ro,norecovery ;;
	*) rr_fopts=ro ;;
	esac
	[ -z "$rr_ftype" ] || modprobe -q -b "$rr_ftype" 2>/dev/null
	mkdir -p "$RR_FLAG_MNT" 2>/dev/null
	if ! mount -t "${rr_ftype:-auto}" -o "$rr_fopts" "$rr_fdev" "$RR_FLAG_MNT"; then
		rr_warn "could not mount $1 ($rr_fdev, ${rr_ftype:-unknown type}) read-only to look for $RR_FLAG; not looked for there"
		return 0
	fi
	rr_found=
	[ -e "$RR_FLAG_MNT/$RR_FLAG" ] && rr_found=1
	if ! umount "$RR_FLAG_MNT"; then
		rr_warn "could not unmount $1 ($rr_fdev) from $RR_FLAG_MNT after looking for $RR_FLAG"
		[ -z "$rr_found" ] || rr_warn "found $1/$RR_FLAG but could not remove it: this boot stays read-only"
		return 0
	fi
	[ -n "$rr_found" ] || return 0
	rr_gone=
	if mount -t "${rr_ftype:-auto}" -o rw "$rr_fdev" "$RR_FLAG_MNT"; then
		rr_remove "$RR_FLAG_MNT/$RR_FLAG" && rr_gone=1
		# Unmounting writes back what the removal changed.
		if ! umount "$RR_FLAG_MNT"; then
			rr_warn "could not unmount $1 ($rr_fdev) from $RR_FLAG_MNT after removing $RR_FLAG"
		fi
	fi
	if [ -z "$rr_gone" ]; then
		rr_warn "found $1/$RR_FLAG on $rr_fdev but could not remove it: this boot stays read-only, as a flag that stays would make every boot writable; delete the file from another computer, or run: ro-root exec rm $1/$RR_FLAG"
		return 0
	fi
	rr_info "found and removed $1/$RR_FLAG on $rr_fdev: this boot is writable, the next one read-only again"
	[ -n "$RR_SKIP" ] || RR_SKIP="disabled for this boot only by the flag file $1/$RR_FLAG (on $rr_fdev), which the boot removed"
	return 0
}

# rr_write_settings: what this boot used, for `ro-root status` (key=value).
rr_write_settings()
{
	rr_upper=none
	rr_upperdir=
	if [ -n "${RR_DONE_UPPER_IN-}" ]; then
		rr_upper=${RR_UPPER_DEV:-tmpfs}
		rr_upper=${rr_upper%% *}
		# As the system sees it: the upper layer is on /rw.
		rr_upperdir=/rw${RR_UPPERDIR#"$RR_UPPER"}
	fi
	printf '%s\n' \
		"enabled=$RR_ENABLED" \
		"mode=$RR_MODE" \
		"upper=$rr_upper" \
		"upperdir=$rr_upperdir" \
		"size=$RR_SIZE" \
		"lower=${rr_lowerdev-}" \
		"data_mounts=$RR_DATA" \
		"data_mounts_active=${RR_DATA_OK-}" \
		"failure_policy=$RR_POLICY" \
		"allow_cmdline=$RR_ALLOW_CMDLINE" \
		"other_filesystems=$RR_OTHER" \
		"swap=$RR_SWAP" \
		"journal_size=$RR_JOURNAL" \
		"apt_guard=$RR_APT_GUARD" \
		"warnings=$RR_WARNINGS" \
		"protect_device=$RR_PROTECT" \
		"lower_device_read_only=$RR_LOWER_SETRO" \
		"upper_warn_percent=$RR_UPPER_WARN" \
		"overridden=${RR_OVERRIDDEN-}" \
		"medium=$(rr_medium)" \
		"setup_seconds=$(rr_setup_time)" \
		>"$RR_RUNDIR/settings" 2>/dev/null
	return 0
}

# --- before the root is mounted (local-premount, dracut's generator) ---------

# rr_premount_wanted: true unless the kernel command line turns ro-root off
# for this boot (ro-root=disabled, a recovery word): the step before the
# root is mounted must then keep it from being written. Reads the command
# line into rr_cmdline; says nothing (the boot's later step warns, once).
rr_premount_wanted()
{
	mkdir -p "$RR_RUNDIR"
	rr_defaults
	rr_cmdline=
	read -r rr_cmdline 2>/dev/null <"$RR_CMDLINE_FILE" || [ -n "$rr_cmdline" ] || return 1
	RR_QUIET=yes
	rr_parse_cmdline "$rr_cmdline"
	RR_QUIET=
	[ -z "$RR_SKIP" ]
}

# rr_premount: entry point of scripts/local-premount/ro-root, which
# initramfs-tools runs after it found the root device and before it checks
# and mounts it. Two things there would write the medium before init-bottom
# can protect it: a read-write mount (`rw` on the kernel command line, as
# Raspberry Pi command lines have) and the root fsck (repairs, journal
# replay, and e2fsck's own superblock updates). The configuration is on the
# root and cannot be read yet, so only the command line decides: unless it
# turns ro-root off for this boot (ro-root=disabled, a recovery word), set
# initramfs-tools' readonly=y and fastboot=y in /conf/param.conf, which init
# sources after each script. A boot that init-bottom then skips (enabled=no,
# `ro-root disable --once`) finds the root read-only, as Debian's default
# `ro` leaves it: the init system checks it and remounts it as /etc/fstab
# says. What was overridden is logged and kept in $RR_RUNDIR/premount.
rr_premount()
{
	rr_premount_wanted || return 0
	rr_over=
	if [ "${readonly-y}" != y ]; then
		rr_over=rw
		rr_info "the kernel command line says 'rw': mounting the root read-only instead, so that the medium is not written"
	fi
	# rootflags=...,rw would clear mount -r: the last option wins. Expanded
	# when init sources the file, so no command-line text is written into it.
	# shellcheck disable=SC2016
	if ! printf '%s\n' readonly=y 'ROOTFLAGS="${ROOTFLAGS:+$ROOTFLAGS,ro}"' >>"$RR_PARAM_CONF"; then
		rr_warn "could not write $RR_PARAM_CONF: the root may be mounted as the kernel command line says"
		return 0
	fi
	if [ "${fastboot-n}" != y ] && command -v fsck >/dev/null 2>&1; then
		rr_asked=
		[ "${forcefsck-n}" != y ] || rr_asked=" (forced on the kernel command line)"
		[ "${fsckfix-}" != y ] || rr_asked="$rr_asked (fsck.repair=yes on the kernel command line)"
		if printf '%s\n' fastboot=y >>"$RR_PARAM_CONF"; then
			rr_over="${rr_over:+$rr_over }fsck"
			rr_info "skipping the initramfs's check of the root file system$rr_asked: fsck writes the medium; check it on a writable boot (ro-root disable --once)"
		else
			rr_warn "could not write $RR_PARAM_CONF: the initramfs may check (and write) the root file system"
		fi
	fi
	printf 'overridden=%s\n' "$rr_over" >"$RR_RUNDIR/premount" 2>/dev/null
	return 0
}

# rr_unit_value TEXT: TEXT as a value in a systemd unit file: each % doubled
# (a specifier otherwise); fails for a backslash or a control character.
rr_unit_value()
{
	rr_in=$1
	rr_out=
	while [ -n "$rr_in" ]; do
		rr_rest=${rr_in#?}
		rr_c=${rr_in%"$rr_rest"}
		case "$rr_c" in
		%) rr_out="$rr_out%%" ;;
		\\ | [![:print:]]) return 1 ;;
		*) rr_out=$rr_out$rr_c ;;
		esac
		rr_in=$rr_rest
	done
	printf '%s\n' "$rr_out"
}

# rr_premount_systemd DIR: rr_premount for a systemd-based initrd (dracut's
# default on Debian), run as a systemd generator with DIR its output
# directory, before any unit starts. The same guarantee, the same record:
# unless the command line turns ro-root off for this boot, a drop-in makes
# sysroot.mount mount the root read-only whatever `rw` or rootflags= say
# (the options systemd-fstab-generator would use, rootflags= joined as it
# joins them, then ro: the last of ro and rw wins), and drop-ins keep the
# initrd's root checks (systemd-fsck-root.service, systemd-fsck@.service,
# which dracut orders after its pre-mount hook) from running: their
# condition on $RR_RUNDIR/premount, written here, fails, so they are
# skipped and what requires them still starts. Generator output lives in
# /run/systemd/generator*, which the real system's systemd replaces after
# the switch to the root: nothing reaches it.
rr_premount_systemd()
{
	rr_gendir=$1
	rr_premount_wanted || return 0
	rr_over=
	rr_flags=
	rr_asked=
	set -f
	# shellcheck disable=SC2086 # split the command line into words
	set -- $rr_cmdline
	set +f
	for rr_arg in "$@"; do
		case "$rr_arg" in
		rw) rr_over=rw ;;
		ro) rr_over= ;;
		rootflags=*) rr_flags="${rr_flags:+$rr_flags,}${rr_arg#rootflags=}" ;;
		fsck.mode=force) rr_asked="$rr_asked (forced on the kernel command line)" ;;
		fsck.repair=yes) rr_asked="$rr_asked (fsck.repair=yes on the kernel command line)" ;;
		esac
	done
	if [ -n "$rr_over" ]; then
		rr_info "the kernel command line says 'rw': mounting the root read-only instead, so that the medium is not written"
	fi
	if ! rr_opts=$(rr_unit_value "${rr_flags:+$rr_flags,}ro"); then
		rr_warn "rootflags= on the kernel command line holds a backslash or a control character: mounting the root with 'ro' only, without them"
		rr_opts=ro
	fi
	if ! mkdir -p "$rr_gendir/sysroot.mount.d" ||
		! printf '%s\n' "# Written at boot by ro-root's generator: the medium is not written." \
			"[Mount]" "Options=$rr_opts" >"$rr_gendir/sysroot.mount.d/50-ro-root.conf"; then
		rr_warn "could not write the drop-in for sysroot.mount: the root may be mounted as the kernel command line says"
		return 0
	fi
	printf 'overridden=%s\n' "${rr_over:+$rr_over }fsck" >"$RR_RUNDIR/premount" 2>/dev/null
	for rr_unit in systemd-fsck-root.service systemd-fsck@.service; do
		if ! mkdir -p "$rr_gendir/$rr_unit.d" ||
			! printf '%s\n' "# Written at boot by ro-root's generator: fsck writes the medium." \
				"[Unit]" "ConditionPathExists=!$RR_RUNDIR/premount" \
				>"$rr_gendir/$rr_unit.d/50-ro-root.conf"; then
			rr_warn "could not write the drop-in for $rr_unit: the initramfs may check (and write) the root file system"
			printf 'overridden=%s\n' "$rr_over" >"$RR_RUNDIR/premount" 2>/dev/null
			return 0
		fi
	done
	rr_info "skipping the initramfs's check of the root file system$rr_asked: fsck writes the medium; check it on a writable boot (ro-root disable --once)"
	return 0
}

# rr_journal_replayed DEVICE: true if the kernel log says that mounting
# DEVICE (a path under /dev) replayed its journal or cleaned up orphans,
# which writes the medium even on a read-only mount.
rr_journal_replayed()
{
	rr_jname=$(rr_devname "$1")
	rr_jname=${rr_jname##*/}
	command -v dmesg >/dev/null 2>&1 || return 1
	rr_jlog=$(dmesg 2>/dev/null) || return 1
	case "$rr_jlog" in
	*"EXT4-fs ($rr_jname): recovery complete"* | \
		*"EXT4-fs ($rr_jname): orphan cleanup on readonly fs"* | \
		*"XFS ($rr_jname): Ending recovery"*)
		return 0
		;;
	esac
	return 1
}

# rr_medium: one word for what this boot did to the real root's medium, for
# `ro-root status`: untouched; journal-replayed (the kernel replayed the
# journal when it mounted the root); mounted-rw (the initramfs had mounted the
# root read-write before init-bottom); writable (this boot runs on the real
# root, writable); unknown (no outcome yet).
rr_medium()
{
	case "${RR_STATE-}" in
	active) ;;
	failed)
		if [ ! -e "$RR_RUNDIR/keep-read-only" ]; then
			echo writable
			return 0
		fi
		;;
	skipped)
		echo writable
		return 0
		;;
	*)
		echo unknown
		return 0
		;;
	esac
	if [ "${RR_MOUNTED_RW-}" = yes ]; then
		echo mounted-rw
	elif [ "${RR_REPLAYED-}" = yes ]; then
		echo journal-replayed
	else
		echo untouched
	fi
}

# rr_check_medium: how the initramfs left the root on $rootmnt, before
# ro-root changes anything: RR_MOUNTED_RW and RR_REPLAYED, each reported.
rr_check_medium()
{
	RR_MOUNTED_RW=no
	RR_REPLAYED=no
	rr_mdev=$(rr_mount_field "$rootmnt" 1) || return 0
	if ! rr_mounted_ro "$rootmnt"; then
		RR_MOUNTED_RW=yes
		rr_warn "the initramfs mounted the root read-write before ro-root could prevent it (the kernel command line said 'rw' or turned ro-root off, and ro-root's local-premount step did not run or was overruled by allow_cmdline=no): that mount wrote to the medium; from now on nothing does"
	fi
	if rr_journal_replayed "$rr_mdev"; then
		RR_REPLAYED=yes
		rr_warn "the kernel replayed the root file system's journal when it mounted it (the last writable session was interrupted): the medium was written once, to make it consistent; from now on nothing writes it"
	fi
	return 0
}

# rr_config_path: RR_CONF_PATH becomes the real root's /etc/ro-root.conf
# under $rootmnt. A symlink (to a file on a data partition, say) is followed
# within the real root: an absolute target is under $rootmnt, not the
# initramfs. A target that is not there (a file system mounted only later)
# is reported loudly: the boot then uses the defaults.
rr_config_path()
{
	RR_CONF_PATH=$rootmnt/etc/ro-root.conf
	rr_hops=0
	while [ -L "$RR_CONF_PATH" ]; do
		rr_hops=$((rr_hops + 1))
		if [ "$rr_hops" -gt 8 ] || ! rr_t=$(readlink "$RR_CONF_PATH"); then
			rr_warn "/etc/ro-root.conf is a symlink that cannot be followed: using the defaults"
			RR_CONF_PATH=
			return 0
		fi
		case "$rr_t" in
		/*) RR_CONF_PATH=$rootmnt$rr_t ;;
		*) RR_CONF_PATH=${RR_CONF_PATH%/*}/$rr_t ;;
		esac
	done
	if [ "$rr_hops" -gt 0 ] && [ ! -e "$RR_CONF_PATH" ]; then
		rr_warn "/etc/ro-root.conf is a symlink to ${RR_CONF_PATH#"$rootmnt"}, which is not on the root file system at boot (a file system mounted later?): using the defaults"
	fi
	return 0
}

# rr_uptime: the seconds since the kernel started, in hundredths, from
# /proc/uptime with builtins only; empty if it cannot be read.
rr_uptime()
{
	RR_NOW=
	rr_up=
	{ read -r rr_up _ <"$RR_UPTIME_FILE"; } 2>/dev/null || return 0
	case "$rr_up" in
	*[!0-9.]* | *.*.* | .*) return 0 ;;
	*.[0-9][0-9]) rr_up=${rr_up%.*}${rr_up#*.} ;;
	*) return 0 ;;
	esac
	while :; do
		case "$rr_up" in
		0?*) rr_up=${rr_up#0} ;;
		*) break ;;
		esac
	done
	RR_NOW=$rr_up
}

# rr_setup_time: the seconds from the start of rr_main to now ("0.42"), what
# the protection costs this boot (settings: setup_seconds); empty if unknown.
rr_setup_time()
{
	rr_uptime
	[ -n "${RR_T0-}" ] && [ -n "$RR_NOW" ] || return 0
	rr_cs=$((RR_NOW - RR_T0))
	printf '%d.%02d\n' "$((rr_cs / 100))" "$((rr_cs % 100))"
}

# rr_main: entry point of scripts/init-bottom/ro-root and of the dracut
# module's pre-pivot hook.
rr_main()
{
	rr_boot_step ''
}

# rr_main_unsupported REASON: the entry point of an initrd that cannot set
# up the overlay, REASON saying why: a boot that wants it fails on that
# reason, as failure_policy says; one that does not is skipped as usual.
rr_main_unsupported()
{
	rr_boot_step "$1"
}

# rr_boot_step UNSUPPORTED: rr_main's and rr_main_unsupported's work.
rr_boot_step()
{
	rr_uptime
	RR_T0=$RR_NOW
	rootmnt=${rootmnt:-/root}
	mkdir -p "$RR_RUNDIR"
	# The log may hold rr_premount's lines of this boot (/run is new at
	# every boot): append.
	true >>"$RR_RUNDIR/log"
	rr_defaults
	# The boot's state starts empty: in an initramfs the environment is the
	# kernel command line, and RR_DONE_UPPER_IN=1 there must not reach the
	# record of a boot that never set up the overlay.
	RR_STATE=
	RR_DONE_UPPER_IN=
	RR_UPPER_DEV=
	RR_UPPERDIR=
	RR_DATA_OK=
	RR_DATA_REFUSED=
	RR_MOUNTED_RW=
	RR_REPLAYED=
	RR_LOWER_SETRO=no
	RR_OVERRIDDEN=
	if [ -r "$RR_RUNDIR/premount" ]; then
		read -r RR_OVERRIDDEN 2>/dev/null <"$RR_RUNDIR/premount"
		RR_OVERRIDDEN=${RR_OVERRIDDEN#overridden=}
	fi
	rr_detect_systemd
	RR_WAITED=0
	rr_lowerdev=
	rr_config_path
	rr_read_config "$RR_CONF_PATH"
	rr_cmdline=
	read -r rr_cmdline <"$RR_CMDLINE_FILE" || [ -n "$rr_cmdline" ] ||
		rr_warn "could not read the kernel command line from $RR_CMDLINE_FILE"
	rr_parse_cmdline "$rr_cmdline"
	rr_once "$rootmnt/etc/ro-root.disable-once"
	rr_flag_file
	if [ -n "$RR_SKIP" ]; then
		rr_outcome skipped "$RR_SKIP"
		rr_write_settings
		return 0
	fi
	rr_check_medium
	rr_info "mounting the root read-only under an overlay"
	rr_write_settings
	if [ -n "$1" ]; then
		rr_lowerdev=$(rr_mount_field "$rootmnt" 1) || rr_lowerdev=
		rr_apply_policy "$1"
	else
		rr_setup
	fi
	rr_rc=$?
	rr_write_settings
	return "$rr_rc"
}
