# ro-root's settings: the one table of /etc/ro-root.conf's keys (variable,
# default, rule), their validators, the one parser of the file's syntax and
# the one writer. Sourced after common.sh by the boot (initramfs), the
# ro-root command, the APT guard, and inlined into the maintainer scripts
# (debian/*.j2), so that the file means the same to all of them; the rules
# are those written in ro-root.conf(5), and tests/test_settings.py holds
# ro_root/preseed.py to them.
#
# Messages go through rr_warn (common.sh, or the boot's own): a bad value is
# reported and the previous value (the default unless set before) is kept.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

# The keys, in the order of the shipped /usr/share/ro-root/ro-root.conf.
RR_KEYS="enabled mode size device_timeout data_mounts failure_policy allow_cmdline other_filesystems swap journal_size apt_guard protect_device upper_warn_percent"
# The longest line the parser reads; longer ones are reported and skipped.
RR_CONF_MAX_LINE=1024
# What of a configuration file is read at all: a corrupted file (erased flash
# reads as 0xff bytes) must cost the boot a bounded time.
RR_CONF_MAX_BYTES=65536
RR_CONF_MAX_LINES=1000
RR_CONF_MAX_ERRORS=10

# rr_key KEY: the table. RR_KEY_VAR is the shell variable that holds KEY's
# value, RR_KEY_DEFAULT its default, RR_KEY_EXPECT its rule in words (for
# messages). Fails for an unknown key.
rr_key()
{
	case "$1" in
	enabled) set -- RR_ENABLED yes "yes or no" ;;
	mode) set -- RR_MODE tmpfs "tmpfs or device:LABEL=x, device:UUID=x, device:PARTUUID=x" ;;
	size) set -- RR_SIZE 50% "N% of RAM from 1 to 100, or N, Nk, Nm, Ng" ;;
	device_timeout) set -- RR_TIMEOUT 10 "seconds from 0 to 300" ;;
	data_mounts) set -- RR_DATA "" "SPEC:MOUNTPOINT items separated by blanks, e.g. LABEL=data:/var/local/data" ;;
	failure_policy) set -- RR_POLICY rw "rw, ro or panic" ;;
	allow_cmdline) set -- RR_ALLOW_CMDLINE yes "yes or no" ;;
	other_filesystems) set -- RR_OTHER ro "ro or keep" ;;
	swap) set -- RR_SWAP off "off or keep" ;;
	journal_size) set -- RR_JOURNAL 16m "keep, or N, Nk, Nm, Ng" ;;
	apt_guard) set -- RR_APT_GUARD warn "warn or refuse" ;;
	protect_device) set -- RR_PROTECT yes "yes or no" ;;
	upper_warn_percent) set -- RR_UPPER_WARN 90 "a percentage from 1 to 100" ;;
	*) return 1 ;;
	esac
	RR_KEY_VAR=$1
	RR_KEY_DEFAULT=$2
	RR_KEY_EXPECT=$3
}

# rr_put KEY VALUE: set KEY's variable to VALUE, unchecked (a default or a
# checked value). KEY must be one of the table's.
rr_put()
{
	rr_key "$1" || return 1
	# The variable name comes from the table, never from the input.
	eval "$RR_KEY_VAR=\$2"
}

# rr_value KEY: print KEY's current value.
rr_value()
{
	rr_key "$1" || return 1
	eval "printf '%s\\n' \"\${$RR_KEY_VAR-}\""
}

# rr_defaults: every setting at its default; no skip reason, no warning yet.
rr_defaults()
{
	for rr_k in $RR_KEYS; do
		rr_key "$rr_k"
		rr_put "$rr_k" "$RR_KEY_DEFAULT"
	done
	RR_SKIP=
	RR_WARNINGS=0
}

# rr_valid_size SIZE: N% (1 to 100) or N, Nk, Nm, Ng (N > 0, at most 12 digits,
# suffixes in lower case as ro-root.conf(5) says).
rr_valid_size()
{
	case "$1" in
	'' | *[!0-9kmg%]*) return 1 ;;
	esac
	rr_num=${1%[%kmg]}
	case "$rr_num" in
	'' | *[!0-9]* | 0*) return 1 ;;
	esac
	[ "${#rr_num}" -le 12 ] || return 1
	case "$1" in
	*%) [ "$rr_num" -le 100 ] ;;
	esac
}

# rr_valid_spec SPEC: LABEL=x, UUID=x or PARTUUID=x with x of [A-Za-z0-9._-],
# not . or .. (x names a link in /dev/disk/by-*), at most 80 characters.
rr_valid_spec()
{
	case "$1" in
	LABEL=?* | UUID=?* | PARTUUID=?*) ;;
	*) return 1 ;;
	esac
	case "${1#*=}" in
	*[!A-Za-z0-9._-]* | . | ..) return 1 ;;
	esac
	[ "${#1}" -le 80 ]
}

# rr_valid_mountpoint PATH: an absolute path of [A-Za-z0-9._/-], no . or ..
# component, not / and not inside /ro, /rw, /proc, /sys, /dev or /run, at most
# 200 characters.
rr_valid_mountpoint()
{
	case "$1" in
	/?*) ;;
	*) return 1 ;;
	esac
	case "$1" in
	*[!A-Za-z0-9._/-]* | *//* | */ | */. | */./* | */.. | */../*) return 1 ;;
	/ro | /ro/* | /rw | /rw/* | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/*)
		return 1
		;;
	esac
	[ "${#1}" -le 200 ]
}

# rr_valid_data_item ITEM: SPEC:MOUNTPOINT, both valid.
rr_valid_data_item()
{
	case "$1" in
	*:*) ;;
	*) return 1 ;;
	esac
	rr_valid_spec "${1%%:*}" && rr_valid_mountpoint "${1#*:}"
}

# rr_valid KEY VALUE: true if VALUE is valid for KEY (data_mounts: every item).
rr_valid()
{
	case "$1" in
	enabled | allow_cmdline | protect_device)
		case "$2" in
		yes | no) return 0 ;;
		esac
		;;
	mode)
		case "$2" in
		tmpfs) return 0 ;;
		device:*) rr_valid_spec "${2#device:}" && return 0 ;;
		esac
		;;
	size) rr_valid_size "$2" && return 0 ;;
	device_timeout)
		case "$2" in
		[0-9] | [1-9][0-9] | [1-2][0-9][0-9] | 300) return 0 ;;
		esac
		;;
	data_mounts)
		set -f
		# shellcheck disable=SC2086 # the items are separated by blanks
		set -- $2
		set +f
		for rr_vitem in "$@"; do
			rr_valid_data_item "$rr_vitem" || return 1
		done
		return 0
		;;
	failure_policy)
		case "$2" in
		rw | ro | panic) return 0 ;;
		esac
		;;
	other_filesystems)
		case "$2" in
		ro | keep) return 0 ;;
		esac
		;;
	swap)
		case "$2" in
		off | keep) return 0 ;;
		esac
		;;
	journal_size)
		case "$2" in
		keep) return 0 ;;
		*%) ;;
		*) rr_valid_size "$2" && return 0 ;;
		esac
		;;
	apt_guard)
		case "$2" in
		warn | refuse) return 0 ;;
		esac
		;;
	upper_warn_percent)
		case "$2" in
		[1-9] | [1-9][0-9] | 100) return 0 ;;
		esac
		;;
	esac
	return 1
}

# rr_bad WHERE KEY VALUE EXPECTED CURRENT: report a rejected value.
rr_bad()
{
	rr_warn "$1: bad value '$(rr_printable "$3")' for $2 (expected $4); using $2=$5"
}

# rr_set_data LIST WHERE: set RR_DATA from "SPEC:MOUNTPOINT ..."; bad items
# are reported and left out, the good ones kept. A word that is no item at
# all right after a good one is the rest of a mount point with a blank in it
# ("LABEL=a:/srv/my app"): that item is left out too, rather than mounting
# the prefix of the path that was meant.
rr_set_data()
{
	RR_DATA=
	rr_data_where=$2
	rr_prev=
	set -f
	# shellcheck disable=SC2086 # split the list on blanks
	set -- $1
	set +f
	for rr_item in "$@"; do
		if rr_valid_data_item "$rr_item"; then
			RR_DATA="${RR_DATA:+$RR_DATA }$rr_item"
			rr_prev=$rr_item
			continue
		fi
		case "$rr_item" in
		*:* | LABEL=* | UUID=* | PARTUUID=*) rr_prev= ;;
		esac
		if [ -n "$rr_prev" ]; then
			if [ "$RR_DATA" = "$rr_prev" ]; then
				RR_DATA=
			else
				RR_DATA=${RR_DATA% "$rr_prev"}
			fi
			rr_warn "$rr_data_where: bad item '$(rr_printable "$rr_prev $rr_item")' in data_mounts (a mount point cannot contain blanks); left out"
		else
			rr_warn "$rr_data_where: bad item '$(rr_printable "$rr_item")' in data_mounts (expected SPEC:MOUNTPOINT, e.g. LABEL=data:/var/local/data); left out"
		fi
		rr_prev=
	done
}

# rr_set KEY VALUE WHERE: set one setting if VALUE is valid for KEY.
rr_set()
{
	if ! rr_key "$1"; then
		rr_warn "$3: unknown setting '$(rr_printable "$1")' ignored"
		return 0
	fi
	if [ "$1" = data_mounts ]; then
		rr_set_data "$2" "$3"
	elif rr_valid "$1" "$2"; then
		rr_put "$1" "$2"
	else
		rr_bad "$3" "$1" "$2" "$RR_KEY_EXPECT" "$(rr_value "$1")"
	fi
}

# rr_conf_line LINE: parse one line of ro-root.conf, as ro-root.conf(5)
# says: a carriage return at its end and blanks (spaces, tabs) at both ends
# are ignored; an empty line or one starting with # is a comment; otherwise
# KEY=VALUE, KEY of a-z and _, blanks around = allowed, VALUE optionally in
# double or single quotes (taken as is, never expanded). Sets RR_LINE_KEY and
# RR_LINE_VALUE and returns 0; returns 1 for a comment, 2 for anything else
# (RR_LINE_ERROR says what).
rr_conf_line()
{
	RR_LINE_KEY=
	RR_LINE_VALUE=
	RR_LINE_ERROR=
	# Checked before any pattern works on it: a huge line costs no more.
	if [ "${#1}" -gt "$RR_CONF_MAX_LINE" ]; then
		RR_LINE_ERROR="longer than $RR_CONF_MAX_LINE characters, ignored"
		return 2
	fi
	rr_cl=${1%"$RR_CR"}
	rr_cl=${rr_cl#"${rr_cl%%[! 	]*}"}
	rr_cl=${rr_cl%"${rr_cl##*[! 	]}"}
	case "$rr_cl" in
	'' | '#'*) return 1 ;;
	*=*) ;;
	*)
		RR_LINE_ERROR="not KEY=VALUE, ignored: '$(rr_printable "$rr_cl")'"
		return 2
		;;
	esac
	RR_LINE_KEY=${rr_cl%%=*}
	RR_LINE_KEY=${RR_LINE_KEY%"${RR_LINE_KEY##*[! 	]}"}
	case "$RR_LINE_KEY" in
	'' | *[!a-z_]*)
		RR_LINE_KEY=
		RR_LINE_ERROR="not KEY=VALUE, ignored: '$(rr_printable "$rr_cl")'"
		return 2
		;;
	esac
	RR_LINE_VALUE=${rr_cl#*=}
	RR_LINE_VALUE=${RR_LINE_VALUE#"${RR_LINE_VALUE%%[! 	]*}"}
	case "$RR_LINE_VALUE" in
	\"*\" | \'*\')
		RR_LINE_VALUE=${RR_LINE_VALUE#?}
		RR_LINE_VALUE=${RR_LINE_VALUE%?}
		;;
	esac
	return 0
}

# rr_read_config FILE [NAME]: apply the settings of FILE (NAME in messages,
# default /etc/ro-root.conf) on top of the current ones. A missing file
# means no change. Only the first RR_CONF_MAX_BYTES bytes and
# RR_CONF_MAX_LINES lines are read, and the rest is dropped after
# RR_CONF_MAX_ERRORS bad lines, each reported.
rr_read_config()
{
	rr_name=${2:-/etc/ro-root.conf}
	if [ ! -e "$1" ]; then
		rr_record_info "no $rr_name: using the defaults"
		return 0
	fi
	if [ ! -f "$1" ] || [ ! -r "$1" ]; then
		rr_warn "$rr_name is not a readable file: using the defaults"
		return 0
	fi
	# dd (klibc has one) reads a bounded head; the x keeps trailing newlines.
	rr_text=$(dd if="$1" bs="$RR_CONF_MAX_BYTES" count=1 2>/dev/null && echo x) || {
		rr_warn "could not read $rr_name: using the defaults"
		return 0
	}
	rr_text=${rr_text%x}
	if [ "${#rr_text}" -ge "$RR_CONF_MAX_BYTES" ]; then
		rr_warn "$rr_name has $RR_CONF_MAX_BYTES bytes or more: only the first $RR_CONF_MAX_BYTES are read"
	fi
	rr_lineno=0
	rr_errors=0
	while IFS= read -r rr_line || [ -n "$rr_line" ]; do
		rr_lineno=$((rr_lineno + 1))
		if [ "$rr_lineno" -gt "$RR_CONF_MAX_LINES" ] || [ "$rr_errors" -ge "$RR_CONF_MAX_ERRORS" ]; then
			rr_warn "$rr_name: too many lines or errors; the rest of the file is ignored"
			break
		fi
		rr_where="$rr_name line $rr_lineno"
		rr_lrc=0
		rr_conf_line "$rr_line" || rr_lrc=$?
		case "$rr_lrc" in
		1) continue ;;
		2)
			rr_warn "$rr_where: $RR_LINE_ERROR"
			rr_errors=$((rr_errors + 1))
			continue
			;;
		esac
		rr_before=$RR_WARNINGS
		rr_set "$RR_LINE_KEY" "$RR_LINE_VALUE" "$rr_where"
		[ "$RR_WARNINGS" = "$rr_before" ] || rr_errors=$((rr_errors + 1))
	done <<EOF
$rr_text
EOF
	return 0
}

# rr_config_value FILE KEY...: the value of each KEY, one line each, in the
# configuration FILE as the boot reads it (the same syntax, validation and
# defaults); FILE is parsed once.
rr_config_value()
{
	(
		rr_cfile=$1
		shift
		RR_QUIET=yes
		rr_defaults
		rr_read_config "$rr_cfile"
		for rr_ckey in "$@"; do
			rr_value "$rr_ckey"
		done
	)
}

# rr_conf_raw FILE KEY: KEY's value in FILE as written (the parser's syntax,
# not checked: the maintainer scripts judge it themselves); fails if FILE
# has no assignment of KEY. The last one wins, as at boot.
rr_conf_raw()
{
	rr_rawfound=1
	rr_rawvalue=
	[ -r "$1" ] || return 1
	while IFS= read -r rr_rawline || [ -n "$rr_rawline" ]; do
		if rr_conf_line "$rr_rawline" && [ "$RR_LINE_KEY" = "$2" ]; then
			rr_rawvalue=$RR_LINE_VALUE
			rr_rawfound=0
		fi
	done <"$1"
	[ "$rr_rawfound" = 0 ] || return 1
	printf '%s\n' "$rr_rawvalue"
}

# rr_conf_format KEY VALUE: the line the writer writes for KEY.
rr_conf_format()
{
	case "$1" in
	data_mounts) printf '%s="%s"\n' "$1" "$2" ;;
	*) printf '%s=%s\n' "$1" "$2" ;;
	esac
}

# rr_conf_rewrite SOURCE KEY VALUE [KEY VALUE]...: print SOURCE (a
# ro-root.conf; nothing if it does not exist) with the assignments of each
# KEY, in any form the parser accepts, replaced by one KEY=VALUE line where
# the first one was (the later ones dropped: they would win at boot); a KEY
# that SOURCE lacks is appended. Every other line stays byte for byte.
rr_conf_rewrite()
{
	rr_src=$1
	shift
	rr_pending=" $(rr_conf_keys "$@")"
	if [ -r "$rr_src" ]; then
		while IFS= read -r rr_raw || [ -n "$rr_raw" ]; do
			if rr_conf_line "$rr_raw" && rr_conf_pair "$RR_LINE_KEY" "$@"; then
				case "$rr_pending" in
				*" $RR_LINE_KEY "*)
					rr_conf_format "$RR_LINE_KEY" "$RR_PAIR_VALUE"
					rr_pending="${rr_pending%% "$RR_LINE_KEY" *} ${rr_pending#* "$RR_LINE_KEY" }"
					;;
				esac
				continue
			fi
			printf '%s\n' "$rr_raw"
		done <"$rr_src"
	fi
	for rr_k in $rr_pending; do
		rr_conf_pair "$rr_k" "$@"
		rr_conf_format "$rr_k" "$RR_PAIR_VALUE"
	done
}

# rr_conf_keys KEY1 VALUE1 KEY2 VALUE2 ...: print "KEY1 KEY2 ... ".
rr_conf_keys()
{
	while [ "$#" -ge 2 ]; do
		printf '%s ' "$1"
		shift 2
	done
}

# rr_conf_pair KEY KEY1 VALUE1 ...: true if KEY is one of the KEYn; its
# VALUEn in RR_PAIR_VALUE.
rr_conf_pair()
{
	rr_want=$1
	shift
	while [ "$#" -ge 2 ]; do
		if [ "$1" = "$rr_want" ]; then
			RR_PAIR_VALUE=$2
			return 0
		fi
		shift 2
	done
	return 1
}

# rr_conf_target FILE: where FILE's content is: FILE, or the file a symlink
# FILE points to (an admin may keep the configuration elsewhere).
rr_conf_target()
{
	if [ -L "$1" ]; then
		readlink -f "$1"
	else
		printf '%s\n' "$1"
	fi
}

# rr_conf_install TARGET NEW: make NEW, written in TARGET's directory, the
# content of TARGET: atomically (rename), keeping TARGET's mode (0644 for a
# new file); TARGET is left as it was if NEW holds the same.
rr_conf_install()
{
	if [ -e "$1" ] && cmp -s "$2" "$1"; then
		rm -f "$2"
		return 0
	fi
	if [ -e "$1" ]; then
		chmod --reference="$1" "$2" || return 1
	else
		chmod 0644 "$2" || return 1
	fi
	mv -f "$2" "$1"
}
