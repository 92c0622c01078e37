# ro-root's command: status. Sourced by sbin/ro-root after changes.sh.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034,SC2153

# rr_json_str VALUE: VALUE as a JSON string, or null if empty.
rr_json_str()
{
	if [ -z "$1" ]; then
		printf 'null'
		return
	fi
	# Valid UTF-8 only (a path may hold any bytes): iconv (libc-bin) drops
	# the rest; without it, every byte outside ASCII becomes '?'.
	printf '"%s"' "$(printf '%s' "$1" | rr_utf8 | tr -d '\000-\010\013-\037' |
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | tr '\n' ' ')"
}

# rr_utf8: standard input to standard output with invalid UTF-8 left out.
rr_utf8()
{
	if command -v iconv >/dev/null 2>&1; then
		iconv -f UTF-8 -t UTF-8 -c 2>/dev/null
	else
		LC_ALL=C tr '\200-\377' '?'
	fi
}

# rr_json_list VALUES...: a JSON array of strings.
rr_json_list()
{
	printf '['
	rr_sep=
	for rr_item in "$@"; do
		printf '%s%s' "$rr_sep" "$(rr_json_str "$rr_item")"
		rr_sep=', '
	done
	printf ']'
}

rr_json_num()
{
	case "$1" in
	'' | *[!0-9]*) printf 'null' ;;
	*) printf '%s' "$1" ;;
	esac
}

# rr_upper_usage WARN_PERCENT: the writable layer's usage, from df on /rw:
# rr_used, rr_total, rr_avail (KiB), rr_pct (used / (used + available), as
# df computes it; 100 only when full) and RR_USAGE: "ok", "warning" (at or
# above WARN_PERCENT) or "full" (no block or no inode left: writes fail with
# ENOSPC); all empty if df cannot tell.
rr_upper_usage()
{
	rr_warn_at=$1
	rr_used=
	rr_total=
	rr_avail=
	rr_pct=
	RR_USAGE=
	# df -P: "FS 1024-blocks Used Available Capacity Mounted-on"
	rr_df=$(df -P -k "$RR_RW" 2>/dev/null | tail -n 1)
	set -f
	# shellcheck disable=SC2086 # split df's line into fields
	set -- $rr_df
	set +f
	case "${2-}:${3-}:${4-}" in
	*[!0-9:]* | :* | *::*) return 1 ;;
	esac
	rr_total=$2
	rr_used=$3
	rr_avail=$4
	rr_ifree=$(df -P -i "$RR_RW" 2>/dev/null | tail -n 1)
	set -f
	# shellcheck disable=SC2086 # split df's line into fields
	set -- $rr_ifree
	set +f
	rr_itotal=${2-}
	rr_ifree=${4-}
	# btrfs (and others) count no inodes: 0 of 0 is no limit, not FULL.
	[ "$rr_itotal" != 0 ] || rr_ifree=
	if [ "$rr_avail" = 0 ] || [ "$rr_ifree" = 0 ]; then
		RR_USAGE=full
		rr_pct=100
		return 0
	fi
	rr_den=$((rr_used + rr_avail))
	rr_pct=$(((rr_used * 100 + rr_den - 1) / rr_den))
	[ "$rr_pct" -le 99 ] || rr_pct=99
	if [ "$rr_pct" -ge "$rr_warn_at" ]; then
		RR_USAGE=warning
	else
		RR_USAGE=ok
	fi
}

# rr_in_chroot: true if this is not a booted system's root but a chroot or an
# image build: nothing is mounted on / as this process sees the mount table
# (a chroot into a directory, or no /proc at all), or / is not the root of
# process 1 (what ischroot(1) compares; not readable everywhere, even as root).
rr_in_chroot()
{
	rr_mount_field / 1 >/dev/null 2>&1 || return 0
	rr_init_id=$(stat -L -c '%d:%i' "$RR_INIT_ROOT/" 2>/dev/null) || return 1
	[ "$(stat -L -c '%d:%i' "$RR_ROOT/")" != "$rr_init_id" ]
}

# rr_payload_check: no record of this boot: does the running kernel's initrd
# carry ro-root's boot payload? RR_PAYLOAD is true, false or null (could not
# tell) and RR_PAYLOAD_MSG says what that means and what to do. The
# generator and its lister come from initrd.sh.
rr_payload_check()
{
	RR_PAYLOAD=null
	RR_KVER=${RR_KVER:-$(uname -r)}
	rr_initrd=$RR_BOOTDIR/initrd.img-$RR_KVER
	if [ ! -e "$rr_initrd" ]; then
		RR_PAYLOAD_MSG="kernel $RR_KVER has no initrd ($rr_initrd), so ro-root cannot run at boot; run: ro-root exec update-initramfs -c -k $RR_KVER, then reboot"
		return 0
	fi
	rr_gen=$(rr_initrd_generator "$RR_ROOT")
	rr_rc=0
	rr_initrd_payload "$rr_gen" "$rr_initrd" || rr_rc=$?
	case "$rr_rc" in
	0)
		RR_PAYLOAD=true
		RR_PAYLOAD_MSG="the initrd of kernel $RR_KVER carries ro-root's payload, yet ro-root left no record at this boot: booted with another initrd, or /run/ro-root was removed?"
		;;
	1)
		RR_PAYLOAD=false
		RR_PAYLOAD_MSG="the initrd of kernel $RR_KVER lacks ro-root's payload; run: ro-root exec update-initramfs -u -k $RR_KVER, then reboot"
		;;
	*)
		RR_PAYLOAD_MSG="cannot check whether the initrd of kernel $RR_KVER carries ro-root: $RR_INITRD_ERR"
		;;
	esac
}

# rr_loader_copy_check: where the boot loader reads a copy of the running
# kernel's initrd on the firmware partition (Debian's raspi-firmware copies
# /boot/initrd.img-VERSION to /boot/firmware/ after every update-initramfs),
# print a warning if that copy differs from the initrd update-initramfs built:
# the next boot would run the copy.
rr_loader_copy_check()
{
	rr_copy_i=$RR_ROOT/boot/firmware/initrd.img-$RR_KVER
	rr_built_i=$RR_BOOTDIR/initrd.img-$RR_KVER
	[ -e "$rr_copy_i" ] && [ -e "$rr_built_i" ] || return 0
	cmp -s "$rr_built_i" "$rr_copy_i" 2>/dev/null && return 0
	printf '%s\n' "the boot loader reads $rr_copy_i, which differs from $rr_built_i (what update-initramfs built): run: ro-root exec update-initramfs -u -k $RR_KVER, whose post-update hook copies it, then reboot"
}

cmd_status()
{
	rr_json=
	case "${1-}" in
	'') ;;
	--json) rr_json=1 ;;
	*) rr_usage_error "status: unknown argument '$1' (usage: ro-root status [--json])" ;;
	esac
	[ "$#" -le 1 ] || rr_usage_error "status: too many arguments"

	RR_IS_ACTIVE=0
	rr_overlay_active && RR_IS_ACTIVE=1
	rr_settings=$RR_RUNDIR/settings
	rr_have_settings=false
	[ -r "$rr_settings" ] && rr_have_settings=true
	s_mode=$(rr_kv_get "$rr_settings" mode) || s_mode=
	s_upper=$(rr_kv_get "$rr_settings" upper) || s_upper=
	s_size=$(rr_kv_get "$rr_settings" size) || s_size=
	s_lower=$(rr_kv_get "$rr_settings" lower) || s_lower=
	s_data=$(rr_kv_get "$rr_settings" data_mounts) || s_data=
	s_policy=$(rr_kv_get "$rr_settings" failure_policy) || s_policy=
	s_guard=$(rr_kv_get "$rr_settings" apt_guard) || s_guard=
	s_protect=$(rr_kv_get "$rr_settings" protect_device) || s_protect=
	s_warn=$(rr_kv_get "$rr_settings" upper_warn_percent) || s_warn=
	s_setup=$(rr_kv_get "$rr_settings" setup_seconds) || s_setup=
	case "$s_setup" in
	[0-9]*.[0-9][0-9]) ;;
	*) s_setup= ;;
	esac
	s_medium=$(rr_kv_get "$rr_settings" medium) || s_medium=
	s_overridden=$(rr_kv_get "$rr_settings" overridden) || s_overridden=
	# What the boot did to the real root's medium (rr_medium at boot).
	case "$s_medium" in
	untouched) rr_medium_msg="not written by this boot: the real root was mounted read-only from the start" ;;
	journal-replayed) rr_medium_msg="written once when the root was mounted: the kernel replayed its journal (an interrupted writable session); not written since" ;;
	mounted-rw) rr_medium_msg="written when the root was mounted: the initramfs mounted it read-write before ro-root ran; not written since" ;;
	writable) rr_medium_msg="writable: this boot runs on the real root" ;;
	*)
		s_medium=unknown
		rr_medium_msg="unknown: no record of it for this boot"
		;;
	esac
	case "$s_warn" in
	[1-9] | [1-9][0-9] | 100) ;;
	*) s_warn=90 ;;
	esac
	if [ "$RR_IS_ACTIVE" = 1 ]; then
		[ -n "$s_lower" ] || s_lower=$(rr_mount_field "$RR_LOWER" 1)
		if [ -z "$s_upper" ]; then
			s_upper=$(rr_mount_field "$RR_RW" 1 2>/dev/null) || s_upper=
		fi
		[ -n "$s_mode" ] || s_mode=tmpfs
		rr_lower_ro=false
		rr_mounted_ro "$RR_LOWER" && rr_lower_ro=true
		rr_upper_usage "$s_warn"
		rr_dev_ro=$(rr_device_ro "$s_lower")
	else
		rr_lower_ro=null
		rr_used=
		rr_total=
		rr_pct=
		RR_USAGE=
		rr_dev_ro=null
	fi
	RR_PAYLOAD=null
	RR_PAYLOAD_MSG=
	RR_KVER=${RR_KVER:-$(uname -r)}
	rr_chroot=false
	if [ "$STATE" = none ]; then
		if rr_in_chroot; then
			# The running kernel is the build host's: nothing to check.
			rr_chroot=true
			REASON="no boot to report: this is a chroot or an image build, not a booted system"
		else
			rr_payload_check
		fi
	fi

	# The real root's configuration, for the next boot.
	rr_conf=$(rr_real "$RR_CONF")
	# Read as the next boot will read it (settings.sh).
	{
		read -r c_enabled
		read -r c_mode
	} <<EOF
$(rr_config_value "$rr_conf" enabled mode)
EOF
	if [ -e "$(rr_real "$RR_ONCE")" ] || rr_flag_pending; then
		rr_next=writable-once
	elif [ "$c_enabled" = no ]; then
		rr_next=writable
	else
		rr_next=read-only
	fi

	rr_warnings=
	if [ -r "$RR_RUNDIR/log" ]; then
		rr_warnings=$(sed -n 's/^warning //p' "$RR_RUNDIR/log")
	fi
	# Warnings of now, after the boot's.
	rr_now=
	case "$RR_USAGE" in
	full) rr_now="the writable layer $RR_RW is FULL ($rr_used KiB used, $rr_avail KiB available): writes fail with \"No space left on device\"; delete files there or reboot" ;;
	warning) rr_now="the writable layer $RR_RW is $rr_pct% full (upper_warn_percent=$s_warn): at 100% writes fail with \"No space left on device\"" ;;
	esac
	if [ "$RR_IS_ACTIVE" = 1 ] && [ "$s_protect" = yes ] && [ "$rr_dev_ro" = false ]; then
		rr_now="${rr_now:+$rr_now
}protect_device=yes, but the real root's device $s_lower is writable: /ro could be remounted writable"
	fi
	if [ "$RR_PAYLOAD" = false ]; then
		rr_now="${rr_now:+$rr_now
}$RR_PAYLOAD_MSG"
	fi
	rr_copy_msg=$(rr_loader_copy_check)
	if [ -n "$rr_copy_msg" ]; then
		rr_now="${rr_now:+$rr_now
}$rr_copy_msg"
	fi
	if [ -n "$rr_now" ]; then
		rr_warnings="${rr_warnings:+$rr_warnings
}$rr_now"
	fi
	# This boot's data mounts whose device went away. systemd usually
	# unmounts them, and then what programs write there goes to the RAM
	# layer, silently, and vanishes at reboot. Sometimes it does not: the
	# file system stays mounted on a device that is gone, and every write
	# there fails. Both are reported.
	rr_data_lost=
	if [ "$RR_IS_ACTIVE" = 1 ]; then
		s_data_active=$(rr_kv_get "$rr_settings" data_mounts_active) || s_data_active=
		set -f
		for rr_d in $s_data_active; do
			if rr_dsrc=$(rr_mount_field "${rr_d#*:}" 1); then
				case "$rr_dsrc" in
				/dev/*) [ -e "$RR_SYSBLOCK/$(rr_devname "$rr_dsrc")" ] && continue ;;
				*) continue ;;
				esac
				rr_w="data mount ${rr_d%%:*} on ${rr_d#*:}: its device $rr_dsrc is gone but the file system is still mounted: writes there fail; once it is unmounted (umount ${rr_d#*:}) they go to RAM and vanish at reboot"
			else
				rr_w="data mount ${rr_d%%:*} is not mounted on ${rr_d#*:} (device gone?): what is written there goes to RAM and vanishes at reboot"
			fi
			rr_data_lost=1
			rr_warnings=${rr_warnings:+$rr_warnings
}$rr_w
		done
		set +f
	fi

	case "$STATE" in
	active)
		rr_exit=0
		case "$c_mode" in
		device:*) [ "$s_upper" = tmpfs ] && rr_exit=6 ;;
		esac
		[ "$RR_IS_ACTIVE" = 1 ] || rr_exit=6
		rr_mode_note=$rr_exit
		[ -z "$rr_data_lost" ] || rr_exit=6
		;;
	skipped) rr_exit=3 ;;
	failed) rr_exit=4 ;;
	*) rr_exit=5 ;;
	esac

	if [ -n "$rr_json" ]; then
		printf '{\n'
		printf '  "format": 1,\n'
		printf '  "state": %s,\n' "$(rr_json_str "$STATE")"
		printf '  "active": %s,\n' "$([ "$RR_IS_ACTIVE" = 1 ] && echo true || echo false)"
		printf '  "as_configured": %s,\n' "$([ "$rr_exit" = 0 ] && echo true || echo false)"
		printf '  "reason": %s,\n' "$(rr_json_str "$REASON")"
		printf '  "mode": %s,\n' "$(rr_json_str "$s_mode")"
		printf '  "lower": %s,\n' "$(rr_json_str "$s_lower")"
		printf '  "lower_read_only": %s,\n' "$rr_lower_ro"
		printf '  "upper": %s,\n' "$(rr_json_str "$s_upper")"
		printf '  "upper_size_setting": %s,\n' "$(rr_json_str "$s_size")"
		printf '  "upper_used_kib": %s,\n' "$(rr_json_num "$rr_used")"
		printf '  "upper_total_kib": %s,\n' "$(rr_json_num "$rr_total")"
		set -f
		# shellcheck disable=SC2086 # data_mounts is a space-separated list
		printf '  "data_mounts": %s,\n' "$(rr_json_list $s_data)"
		set +f
		printf '  "failure_policy": %s,\n' "$(rr_json_str "$s_policy")"
		printf '  "apt_guard": %s,\n' "$(rr_json_str "$s_guard")"
		printf '  "settings_recorded": %s,\n' "$rr_have_settings"
		printf '  "next_boot": %s,\n' "$(rr_json_str "$rr_next")"
		printf '  "warnings": ['
		rr_sep=
		if [ -n "$rr_warnings" ]; then
			printf '%s\n' "$rr_warnings" | while IFS= read -r rr_w; do
				printf '%s%s' "$rr_sep" "$(rr_json_str "$rr_w")"
				rr_sep=', '
			done
		fi
		printf '],\n'
		printf '  "exit_status": %s,\n' "$rr_exit"
		printf '  "upper_used_percent": %s,\n' "$(rr_json_num "$rr_pct")"
		printf '  "upper_warn_percent": %s,\n' "$(rr_json_num "$s_warn")"
		printf '  "upper_usage": %s,\n' "$(rr_json_str "$RR_USAGE")"
		printf '  "protect_device": %s,\n' "$(rr_json_str "$s_protect")"
		printf '  "lower_device_read_only": %s,\n' "$rr_dev_ro"
		printf '  "kernel": %s,\n' "$(rr_json_str "$RR_KVER")"
		printf '  "initrd_payload": %s,\n' "$RR_PAYLOAD"
		printf '  "initrd_check": %s,\n' "$(rr_json_str "$RR_PAYLOAD_MSG")"
		printf '  "medium": %s,\n' "$(rr_json_str "$s_medium")"
		set -f
		# shellcheck disable=SC2086 # a space-separated list of words
		printf '  "cmdline_overridden": %s,\n' "$(rr_json_list $s_overridden)"
		set +f
		printf '  "chroot": %s,\n' "$rr_chroot"
		printf '  "setup_seconds": %s\n' "${s_setup:-null}"
		printf '}\n'
	else
		printf 'state: %s\n' "$STATE"
		printf 'reason: %s\n' "${REASON:-(no record of this boot in $RR_RUNDIR: ro-root did not run at boot)}"
		if [ "$RR_IS_ACTIVE" = 1 ]; then
			printf 'mode: %s\n' "$s_mode"
			printf 'lower: %s, read-only on %s: %s\n' "$s_lower" "$RR_LOWER" "$([ "$rr_lower_ro" = true ] && echo yes || echo 'NO (writable)')"
			printf 'upper: %s on %s, %s KiB used of %s KiB (%s%%, %s; warning at %s%%)\n' "${s_upper:-tmpfs}" "$RR_RW" "${rr_used:-?}" "${rr_total:-?}" "${rr_pct:-?}" "${RR_USAGE:-unknown}" "$s_warn"
			case "$rr_dev_ro" in
			true) rr_dev_word=yes ;;
			false) rr_dev_word=no ;;
			*) rr_dev_word=unknown ;;
			esac
			printf 'lower device read-only (protect_device=%s): %s\n' "${s_protect:-?}" "$rr_dev_word"
		fi
		if [ -n "$RR_PAYLOAD_MSG" ]; then
			printf 'initrd: %s\n' "$RR_PAYLOAD_MSG"
		fi
		printf 'data mounts: %s\n' "${s_data:-none}"
		printf 'medium: %s\n' "$rr_medium_msg"
		if [ -n "$s_setup" ]; then
			printf 'setup time at boot: %s s\n' "$s_setup"
		fi
		if [ -n "$s_overridden" ]; then
			printf 'kernel command line overridden: %s\n' "$s_overridden"
		fi
		printf 'next boot: %s\n' "$rr_next"
		if [ -n "$rr_warnings" ]; then
			printf '%s\n' "$rr_warnings" | sed 's/^/warning: /'
		fi
		if [ "${rr_mode_note-}" = 6 ]; then
			printf 'note: active, but not as %s asks (mode=%s)\n' "$RR_CONF" "$c_mode"
		fi
	fi
	return "$rr_exit"
}
