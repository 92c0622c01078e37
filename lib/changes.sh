# ro-root's command: what changed in the RAM layer (diff) and copying it to
# the real root (commit). Sourced by sbin/ro-root after window.sh.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034,SC2153

# rr_is_whiteout UPPERPATH: an overlayfs whiteout (a 0:0 character device).
rr_is_whiteout()
{
	[ -c "$1" ] && [ ! -L "$1" ] && [ "$(stat -c '%t:%T' "$1")" = 0:0 ]
}

# rr_is_opaque REL: the upper directory REL hides the lower one's content:
# a lower entry is neither visible in the merged view nor whited out.
rr_is_opaque()
{
	[ -d "$RR_LOWER$1" ] && [ ! -L "$RR_LOWER$1" ] || return 1
	for rr_oe in "$RR_LOWER$1"/* "$RR_LOWER$1"/.[!.]* "$RR_LOWER$1"/..?*; do
		[ -e "$rr_oe" ] || [ -L "$rr_oe" ] || continue
		rr_n=${rr_oe##*/}
		if [ ! -e "$RR_ROOT$1/$rr_n" ] && [ ! -L "$RR_ROOT$1/$rr_n" ] &&
			! rr_is_whiteout "$RR_UPPER$1/$rr_n"; then
			return 0
		fi
	done
	return 1
}

rr_boot_written()
{
	for rr_b in $RR_BOOT_WRITTEN; do
		[ "$1" = "$rr_b" ] && return 0
	done
	case "$1" in
	/ro | /rw) return 0 ;;
	esac
	# The mount points of this boot's data mounts, made by the boot.
	if [ -z "${rr_data_active+set}" ]; then
		rr_data_active=$(rr_record_get data_mounts_active) ||
			rr_data_active=
	fi
	for rr_b in $rr_data_active; do
		[ "$1" = "${rr_b#*:}" ] && return 0
	done
	return 1
}

# rr_change REL: print "X REL" for one entry of the upper layer, X one of
# A (added), M (modified), D (deleted), O (directory replaced); print
# nothing for a directory that only holds changes.
rr_change()
{
	rr_u=$RR_UPPER$1
	rr_l=$RR_LOWER$1
	if rr_is_whiteout "$rr_u"; then
		printf 'D %s\n' "$1"
	elif [ ! -e "$rr_l" ] && [ ! -L "$rr_l" ]; then
		printf 'A %s\n' "$1"
	elif [ -d "$rr_u" ] && [ ! -L "$rr_u" ]; then
		if [ ! -d "$rr_l" ] || [ -L "$rr_l" ]; then
			printf 'M %s\n' "$1"
		elif rr_is_opaque "$1"; then
			printf 'O %s\n' "$1"
		elif [ "$(stat -c '%a %u %g' "$rr_u")" != "$(stat -c '%a %u %g' "$rr_l")" ]; then
			printf 'M %s\n' "$1"
		fi
	else
		printf 'M %s\n' "$1"
	fi
}

# rr_upper_entries [REL]: every path of the upper layer (below REL), one per
# line, relative with a leading /, parents first.
rr_upper_entries()
{
	[ -d "$RR_UPPER${1-}" ] || [ -e "$RR_UPPER${1-}" ] || return 0
	# NUL-separated, so that a line break inside a name stays inside it:
	# it becomes \001 here, which callers refuse to work on.
	if [ -n "${1-}" ]; then
		# find lists parents before their content.
		find "$RR_UPPER$1" -printf '%p\0' | tr '\n\0' '\001\n' | while IFS= read -r rr_f; do
			printf '%s\n' "${rr_f#"$RR_UPPER"}"
		done
	else
		find "$RR_UPPER" -mindepth 1 -printf '/%P\0' | tr '\n\0' '\001\n' | LC_ALL=C sort
	fi
}

RR_SOH=$(printf '\001')
RR_NL='
'

cmd_diff()
{
	[ "$#" = 0 ] || rr_usage_error "diff takes no argument: $1"
	rr_require_active "nothing to compare (the root is the real one)"
	[ -r "$RR_UPPER" ] || rr_die 1 "cannot read the RAM layer $RR_UPPER (not root?)"
	rr_upper_entries | while IFS= read -r rr_rel; do
		case "$rr_rel" in
		*"$RR_SOH"*)
			# Shown with ? for the line break; not examined further.
			printf '? %s\n' "$(printf '%s' "$rr_rel" | tr '\001' '?')"
			continue
			;;
		esac
		rr_boot_written "$rr_rel" && continue
		rr_change "$rr_rel"
	done
}

# rr_copy_parents REL: create the missing parent directories of REL on the
# real root, with the merged view's mode and owner.
rr_copy_parents()
{
	rr_parent=${1%/*}
	[ -n "$rr_parent" ] || return 0
	[ -d "$RR_LOWER$rr_parent" ] && return 0
	rr_copy_parents "$rr_parent" || return 1
	# Set again: the call above changed it (sh has no local variables).
	rr_parent=${1%/*}
	mkdir "$RR_LOWER$rr_parent" &&
		chmod "$(stat -c %a "$RR_ROOT$rr_parent")" "$RR_LOWER$rr_parent" &&
		chown "$(stat -c %u:%g "$RR_ROOT$rr_parent")" "$RR_LOWER$rr_parent"
}

# rr_commit_one REL: make the real root's REL what the merged view shows.
rr_commit_one()
{
	rr_m=$RR_ROOT$1
	rr_l=$RR_LOWER$1
	if rr_is_whiteout "$RR_UPPER$1"; then
		rm -rf "$rr_l" || return 1
		printf 'deleted %s\n' "$1"
		return 0
	fi
	rr_copy_parents "$1" || return 1
	if [ -d "$rr_m" ] && [ ! -L "$rr_m" ]; then
		if [ -e "$rr_l" ] && { [ ! -d "$rr_l" ] || [ -L "$rr_l" ]; }; then
			rm -f "$rr_l" || return 1
		fi
		if rr_is_opaque "$1"; then
			# Its lower content was hidden: it goes on the real root too.
			rm -rf "$rr_l" || return 1
		fi
		if [ ! -d "$rr_l" ]; then
			mkdir "$rr_l" || return 1
		fi
		chmod "$(stat -c %a "$rr_m")" "$rr_l" &&
			chown "$(stat -c %u:%g "$rr_m")" "$rr_l" &&
			touch -r "$rr_m" "$rr_l" || return 1
	else
		# Copy next to it and rename: the real file is never half-written.
		rr_tmp=${rr_l%/*}/.ro-root-commit.$$
		rm -rf "$rr_tmp"
		cp -a "$rr_m" "$rr_tmp" || {
			rm -f "$rr_tmp"
			return 1
		}
		if [ -d "$rr_l" ] && [ ! -L "$rr_l" ]; then
			rm -rf "$rr_l" || return 1
		fi
		mv -f "$rr_tmp" "$rr_l" || return 1
	fi
	printf 'copied %s\n' "$1"
}

# rr_normalize PATH: absolute, without ., .. or repeated slashes; fails on
# a path outside the tree.
rr_normalize()
{
	case "$1" in
	/*) rr_p=$1 ;;
	*) rr_p=$PWD/$1 ;;
	esac
	rr_out=
	rr_ifs=$IFS
	IFS=/
	set -f
	# shellcheck disable=SC2086 # split the path on /
	set -- $rr_p
	set +f
	IFS=$rr_ifs
	for rr_part in "$@"; do
		case "$rr_part" in
		'' | .) ;;
		..) rr_out=${rr_out%/*} ;;
		*) rr_out=$rr_out/$rr_part ;;
		esac
	done
	printf '%s\n' "${rr_out:-/}"
}

rr_do_commit()
{
	set -f
	# shellcheck disable=SC2086 # the paths have no white space (checked)
	set -- $RR_COMMIT_PATHS
	set +f
	for rr_rel in "$@"; do
		rr_upper_entries "$rr_rel" | while IFS= read -r rr_e; do
			rr_boot_written "$rr_e" && continue
			rr_commit_one "$rr_e" || {
				rr_say "could not copy $rr_e to the real root"
				exit 1
			}
		done || return 1
	done
}

cmd_commit()
{
	[ "$#" -gt 0 ] || rr_usage_error "commit: no path given (usage: ro-root commit PATH...)"
	rr_require_root commit
	rr_require_active "nothing to commit: changes are already written to the real root"
	RR_COMMIT_PATHS=
	for rr_arg in "$@"; do
		rr_rel=$(rr_normalize "$rr_arg")
		case "$rr_rel" in
		*[[:space:]]*) rr_die 1 "commit: paths with white space are not supported: $rr_arg" ;;
		/) rr_die 1 "commit: refusing to commit the whole root; name the paths" ;;
		"$RR_LOWER" | "$RR_LOWER"/* | "$RR_RW" | "$RR_RW"/* | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/*)
			rr_die 1 "commit: $rr_arg is not part of the overlay"
			;;
		esac
		if rr_boot_written "$rr_rel"; then
			rr_die 1 "commit: $rr_rel is written by ro-root at every boot; edit the real one with: ro-root exec editor $rr_rel"
		fi
		if [ ! -e "$RR_UPPER$rr_rel" ] && [ ! -L "$RR_UPPER$rr_rel" ]; then
			rr_die 1 "commit: $rr_arg has not changed since boot (not in the RAM layer); see ro-root diff"
		fi
		if [ -n "$(find "$RR_UPPER$rr_rel" -name "*$RR_NL*" -print -quit 2>/dev/null)" ]; then
			rr_die 1 "commit: $rr_arg holds a file name with a line break, which ro-root cannot copy safely; copy it with ro-root exec cp -a"
		fi
		RR_COMMIT_PATHS="$RR_COMMIT_PATHS $rr_rel"
	done
	rr_on_real_root rr_do_commit || rr_die 1 "commit failed; what was copied before the failure stays"
}
