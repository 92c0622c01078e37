# The settings of /etc/ro-root.conf that debconf manages (enabled, mode, size,
# data_mounts, failure_policy), as debconf stores them: checking answers and
# falling back to the defaults. Shared by config and postinst, on top of
# ro-root's shared core (lib/common.sh and lib/settings.sh, inlined before
# this): the same validators and defaults as the boot, so that an answer the
# boot would drop is never accepted here. `build.py preseed` is held to the
# same rules by tests/test_preseed.py.

RO_ROOT_CONF=/etc/ro-root.conf
# The managed values as postinst last wrote them: a value in /etc/ro-root.conf
# that differs from this record was edited by the admin and wins over debconf.
RO_ROOT_WRITTEN=/var/lib/ro-root/debconf-written
RO_ROOT_MANAGED="enabled mode size data_mounts failure_policy"

ro_root_warn()
{
	echo "ro-root: warning: $*" >&2
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
		rr_valid_spec "$2" && return 0
		ro_root_reason="it must be LABEL=name, UUID=uuid or PARTUUID=partuuid, with only letters, digits, '.', '_' and '-' after the '=' (not . or ..), at most 80 characters"
		;;
	size)
		rr_valid_size "$2" && return 0
		ro_root_reason="it must be a percentage of RAM from 1% to 100%, or a size N, Nk, Nm or Ng (N a whole number from 1, at most 12 digits), such as 50% or 512m"
		;;
	data_mounts)
		set -f
		# shellcheck disable=SC2086 # one word per SPEC:MOUNTPOINT item
		set -- $2
		set +f
		for ro_root_item in "$@"; do
			case "$ro_root_item" in
			*:*) ;;
			*)
				ro_root_reason="'$ro_root_item' lacks ':MOUNTPOINT' (a mount point cannot contain blanks)"
				return 1
				;;
			esac
			if ! rr_valid_spec "${ro_root_item%%:*}"; then
				ro_root_reason="'$ro_root_item' does not start with LABEL=, UUID= or PARTUUID= and a name of letters, digits, '.', '_' and '-' (at most 80 characters), followed by ':'"
				return 1
			fi
			if ! rr_valid_mountpoint "${ro_root_item#*:}"; then
				ro_root_reason="in '$ro_root_item', the mount point must be an absolute path of letters, digits, '.', '_', '-' and '/' of at most 200 characters, other than / and outside /ro, /rw, /proc, /sys, /dev and /run"
				return 1
			fi
		done
		return 0
		;;
	failure_policy)
		rr_valid failure_policy "$2" && return 0
		ro_root_reason="it must be rw, ro or panic"
		;;
	*)
		ro_root_reason="unknown setting $1"
		;;
	esac
	return 1
}

# ro_root_default KEY: the default of KEY, as debconf stores it, in
# ro_root_value (settings.sh's table; debian/templates has the same).
ro_root_default()
{
	case "$1" in
	enabled)
		rr_key enabled
		ro_root_value=false
		[ "$RR_KEY_DEFAULT" = no ] || ro_root_value=true
		;;
	mode) ro_root_value=tmpfs ;;
	size | data_mounts | failure_policy)
		rr_key "$1"
		ro_root_value=$RR_KEY_DEFAULT
		;;
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
