# The settings of /etc/ro-root.conf that debconf manages (enabled, mode, size,
# data_mounts, failure_policy): checking values and falling back to the
# defaults. Shared by config and postinst. The rules are those
# of ro-root.conf(5); `build.py preseed` applies the same ones in Python
# (ro_root/preseed.py, kept in step by tests/test_preseed.py).

RO_ROOT_CONF=/etc/ro-root.conf
# The managed values as postinst last wrote them: a value in /etc/ro-root.conf
# that differs from this record was edited by the admin and wins over debconf.
RO_ROOT_WRITTEN=/var/lib/ro-root/debconf-written

ro_root_warn()
{
	echo "ro-root: warning: $*" >&2
}

# ro_root_strip LINE: LINE without leading blanks, in ro_root_line.
ro_root_strip()
{
	ro_root_line=$1
	while :; do
		case "$ro_root_line" in
		' '* | '	'*) ro_root_line=${ro_root_line#?} ;;
		*) break ;;
		esac
	done
}

# ro_root_valid_spec SPEC: LABEL=, UUID= or PARTUUID= and [A-Za-z0-9._-]+.
ro_root_valid_spec()
{
	case "$1" in
	LABEL=?* | UUID=?* | PARTUUID=?*) ;;
	*) return 1 ;;
	esac
	case "${1#*=}" in
	*[!A-Za-z0-9._-]*) return 1 ;;
	esac
	return 0
}

# ro_root_valid_mountpoint PATH: absolute, [A-Za-z0-9._/-], not / nor under
# /ro or /rw (ro-root's own mount points) or /proc, /sys, /dev, /run, no empty, "." or ".." component,
# no trailing slash.
ro_root_valid_mountpoint()
{
	case "$1" in
	/*) ;;
	*) return 1 ;;
	esac
	case "$1" in
	*[!A-Za-z0-9._/-]* | */ | *//* | /ro | /ro/* | /rw | /rw/*) return 1 ;;
	/proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/*) return 1 ;;
	*/. | */./* | */.. | */../*) return 1 ;;
	esac
	return 0
}

# ro_root_words VALUE: the blank-separated words of VALUE joined by single
# spaces, in ro_root_value.
ro_root_words()
{
	set -f
	# shellcheck disable=SC2086 # splitting into words is the point
	set -- $1
	set +f
	ro_root_value=$*
}

# ro_root_check KEY VALUE: 0 if VALUE is valid for KEY (as debconf stores it:
# enabled is true|false, mode is tmpfs|device, device is a SPEC); otherwise 1,
# with the reason in ro_root_reason.
ro_root_check()
{
	ro_root_reason=
	case "$1" in
	enabled)
		case "$2" in
		true | false) return 0 ;;
		esac
		ro_root_reason="it must be true or false"
		;;
	mode)
		case "$2" in
		tmpfs | device) return 0 ;;
		esac
		ro_root_reason="it must be tmpfs or device"
		;;
	device)
		ro_root_valid_spec "$2" && return 0
		ro_root_reason="it must be LABEL=name, UUID=uuid or PARTUUID=partuuid, with only letters, digits, '.', '_' and '-' after the '='"
		;;
	size)
		case "$2" in
		[1-9]% | [1-9][0-9]% | 100%) return 0 ;;
		*%) ;;
		[1-9]*)
			# At most 12 digits, as the boot code accepts.
			case "${2%[kmg]}" in
			*[!0-9]* | ?????????????*) ;;
			*) return 0 ;;
			esac
			;;
		esac
		ro_root_reason="it must be a percentage of RAM from 1% to 100%, or a size N, Nk, Nm or Ng (N a whole number from 1), such as 50% or 512m"
		;;
	data_mounts)
		set -f
		# shellcheck disable=SC2086 # one word per SPEC:MOUNTPOINT item
		set -- $2
		set +f
		for ro_root_item in "$@"; do
			if ! ro_root_valid_spec "${ro_root_item%%:*}"; then
				ro_root_reason="'$ro_root_item' does not start with LABEL=, UUID= or PARTUUID= and a name of letters, digits, '.', '_' and '-', followed by ':'"
				return 1
			fi
			case "$ro_root_item" in
			*:*) ;;
			*)
				ro_root_reason="'$ro_root_item' lacks ':MOUNTPOINT'"
				return 1
				;;
			esac
			if ! ro_root_valid_mountpoint "${ro_root_item#*:}"; then
				ro_root_reason="in '$ro_root_item', the mount point must be an absolute path of letters, digits, '.', '_', '-' and '/', other than / and outside /ro, /rw, /proc, /sys, /dev and /run"
				return 1
			fi
		done
		return 0
		;;
	failure_policy)
		case "$2" in
		rw | ro | panic) return 0 ;;
		esac
		ro_root_reason="it must be rw, ro or panic"
		;;
	*)
		ro_root_reason="unknown setting $1"
		;;
	esac
	return 1
}

# ro_root_default KEY: the default of KEY, as debconf stores it, in
# ro_root_value (the same as debian/templates and the shipped ro-root.conf).
ro_root_default()
{
	case "$1" in
	enabled) ro_root_value=true ;;
	mode) ro_root_value=tmpfs ;;
	size) ro_root_value=50% ;;
	failure_policy) ro_root_value=rw ;;
	*) ro_root_value= ;;
	esac
}

# ro_root_sanitize KEY: with RET the debconf answer of KEY, keep it if it is
# valid (data_mounts with single spaces), else replace it by the default,
# with a warning: a value nobody can correct here (noninteractive, preseeded)
# must not fail the installation. An unusable device means mode tmpfs.
ro_root_sanitize()
{
	if ro_root_check "$1" "$RET"; then
		if [ "$1" = data_mounts ]; then
			ro_root_words "$RET"
			[ "$ro_root_value" = "$RET" ] || db_set ro-root/data_mounts "$ro_root_value"
		fi
		return 0
	fi
	if [ "$1" = device ]; then
		ro_root_warn "ro-root/device '$RET' cannot be used ($ro_root_reason):" \
			"using mode tmpfs instead of device"
		db_set ro-root/mode tmpfs
		return 0
	fi
	ro_root_default "$1"
	ro_root_warn "ro-root/$1 '$RET' cannot be used ($ro_root_reason):" \
		"using the default '$ro_root_value'"
	db_set "ro-root/$1" "$ro_root_value"
}
