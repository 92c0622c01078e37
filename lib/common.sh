# ro-root's shared shell library: helpers every consumer needs. Sourced
# first, then settings.sh and record.sh, by the boot (in the initramfs, from
# /usr/lib/ro-root, where the hook copies them), the ro-root command, the APT
# guard, the checkroot wrapper and the login banner; the maintainer scripts
# inline it (debian/*.j2). Written for dash and for a klibc-only initramfs:
# builtins, and klibc's programs (mount, readlink, dd, dmesg...); no sed,
# grep or awk. Nothing here reads the environment: tests set the paths below
# after sourcing.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

# The mount table (/proc/mounts format).
RR_MOUNTS_FILE=/proc/mounts
RR_CR=$(printf '\r')
# Set while messages must not be shown (a second reading of the same input).
RR_QUIET=

# rr_warn MESSAGE: a warning, counted in RR_WARNINGS (the parsers stop after
# too many) and, unless RR_QUIET, shown with rr_show_warning.
rr_warn()
{
	RR_WARNINGS=$((${RR_WARNINGS:-0} + 1))
	[ -z "$RR_QUIET" ] || return 0
	rr_show_warning "$1"
}

# rr_show_warning MESSAGE: on standard error. The boot shows it on the
# console and keeps it in /run/ro-root/log instead (boot.sh).
rr_show_warning()
{
	printf 'ro-root: warning: %s\n' "$1" >&2
}

# rr_record_info MESSAGE: a detail only the boot's log keeps.
rr_record_info()
{
	:
}

# rr_remove FILE: remove the file or symbolic link FILE; true if it is gone.
# klibc has no rm but its nuke (rm -rf), which exits 0 even when it could not
# remove: whether FILE is gone is what tells.
rr_remove()
{
	rm -f "$1" 2>/dev/null || nuke "$1" 2>/dev/null
	[ ! -e "$1" ] && [ ! -L "$1" ]
}

# rr_printable TEXT: print TEXT for a message: at most 80 characters, each
# unprintable one (control characters, binary junk) shown as '?'. Linear in
# TEXT's length: only its head is looked at.
rr_printable()
{
	rr_in=$(printf '%.81s' "$1")
	rr_out=
	rr_n=0
	while [ -n "$rr_in" ] && [ "$rr_n" -lt 80 ]; do
		rr_rest=${rr_in#?}
		rr_c=${rr_in%"$rr_rest"}
		case "$rr_c" in
		[[:print:]]) rr_out=$rr_out$rr_c ;;
		*) rr_out="$rr_out?" ;;
		esac
		rr_in=$rr_rest
		rr_n=$((rr_n + 1))
	done
	[ -z "$rr_in" ] || rr_out="$rr_out..."
	printf '%s' "$rr_out"
}

# rr_kv_get FILE KEY: the value of the last KEY= line of FILE (a record
# ro-root itself wrote, such as /run/ro-root/settings), unquoted; fails if
# there is none. Read as data.
rr_kv_get()
{
	rr_got=1
	rr_val=
	[ -r "$1" ] || return 1
	while IFS= read -r rr_line || [ -n "$rr_line" ]; do
		case "$rr_line" in
		"$2"=*)
			rr_val=${rr_line#"$2"=}
			rr_got=0
			;;
		esac
	done <"$1"
	[ "$rr_got" = 0 ] || return 1
	case "$rr_val" in
	\"*\") rr_val=${rr_val#\"} rr_val=${rr_val%\"} ;;
	\'*\') rr_val=${rr_val#\'} rr_val=${rr_val%\'} ;;
	esac
	printf '%s\n' "$rr_val"
}

# rr_mount_field MOUNTPOINT FIELD: print field FIELD (1 device, 3 type,
# 4 options) of the last mount on MOUNTPOINT; fail if nothing is mounted.
rr_mount_field()
{
	rr_found=1
	rr_value=
	while read -r rr_dev rr_mnt rr_type rr_opts _; do
		if [ "$rr_mnt" = "$1" ]; then
			case "$2" in
			1) rr_value=$rr_dev ;;
			3) rr_value=$rr_type ;;
			*) rr_value=$rr_opts ;;
			esac
			rr_found=0
		fi
	done <"$RR_MOUNTS_FILE"
	[ "$rr_found" = 0 ] || return 1
	printf '%s\n' "$rr_value"
}

# The flag file that asks for one writable boot with no shell and no
# keyboard: anyone can create it on a boot partition from another computer.
# The boot looks for it at the top of each of RR_FLAG_DIRS that the real
# fstab mounts from a partition of its own, and removes it (boot.sh).
RR_FLAG=ro-root.disable-once
RR_FLAG_DIRS="/boot/firmware /boot/efi /boot"

# rr_flag_pending: true if the flag file is on one of RR_FLAG_DIRS as the
# running system (under RR_ROOT) has them mounted.
rr_flag_pending()
{
	for rr_fd in $RR_FLAG_DIRS; do
		[ ! -e "$RR_ROOT$rr_fd/$RR_FLAG" ] || return 0
	done
	return 1
}

# rr_fstab_find FSTAB MOUNTPOINT: FSTAB's last entry for MOUNTPOINT, read as
# data: sets RR_FSTAB_SPEC, RR_FSTAB_TYPE (auto if none) and RR_FSTAB_OPTS (defaults
# if none); fails if FSTAB has no such entry. Not in a subshell.
rr_fstab_find()
{
	RR_FSTAB_SPEC=
	RR_FSTAB_TYPE=
	RR_FSTAB_OPTS=
	[ -r "$1" ] || return 1
	while read -r rr_f1 rr_f2 rr_f3 rr_f4 _; do
		case "$rr_f1" in
		'' | '#'*) continue ;;
		esac
		if [ "$rr_f2" = "$2" ]; then
			RR_FSTAB_SPEC=$rr_f1
			RR_FSTAB_TYPE=${rr_f3:-auto}
			RR_FSTAB_OPTS=${rr_f4:-defaults}
		fi
	done <"$1"
	[ -n "$RR_FSTAB_SPEC" ]
}

# rr_fstab_separate FSTAB MOUNTPOINT: true if FSTAB mounts a file system of
# its own on MOUNTPOINT at boot: an entry on a block device (a path under
# /dev, or UUID=, LABEL=, PARTUUID=, PARTLABEL=), not noauto, not a bind
# mount. Sets RR_FS_* as rr_fstab_find does.
rr_fstab_separate()
{
	rr_fstab_find "$1" "$2" || return 1
	case "$RR_FSTAB_SPEC" in
	/dev/* | UUID=* | LABEL=* | PARTUUID=* | PARTLABEL=*) ;;
	*) return 1 ;;
	esac
	case "$RR_FSTAB_TYPE" in
	swap | tmpfs | proc | sysfs | devpts | none | nfs | nfs4 | cifs | autofs) return 1 ;;
	esac
	case ",$RR_FSTAB_OPTS," in
	*,noauto,* | *,bind,* | *,rbind,*) return 1 ;;
	esac
	return 0
}

# rr_flag_modules FSTAB: the kernel modules an initrd needs to look for the
# flag file on the partitions FSTAB mounts on RR_FLAG_DIRS, space-separated
# (nothing if FSTAB has none): FAT's with its code pages, or the fstab's own
# type. An initrd carries them only where there is such a partition; a
# partition added to the fstab later needs an initrd rebuild to be looked at
# (the boot says so: "could not mount ... to look for ...").
rr_flag_modules()
{
	rr_fm=
	for rr_fd in $RR_FLAG_DIRS; do
		rr_fstab_separate "$1" "$rr_fd" || continue
		case "$RR_FSTAB_TYPE" in
		vfat | msdos | fat | auto) rr_fm_add="vfat nls_cp437 nls_ascii nls_utf8" ;;
		*) rr_fm_add=$RR_FSTAB_TYPE ;;
		esac
		for rr_fm_mod in $rr_fm_add; do
			case " $rr_fm " in
			*" $rr_fm_mod "*) ;;
			*) rr_fm="${rr_fm:+$rr_fm }$rr_fm_mod" ;;
			esac
		done
	done
	printf '%s' "$rr_fm"
}

# rr_mounts_below DIR: print the mount points below DIR (not DIR itself),
# space-separated; print nothing if there are none.
rr_mounts_below()
{
	rr_below=
	while read -r _ rr_mnt _; do
		case "$rr_mnt" in
		"$1"/*) rr_below="${rr_below:+$rr_below }$rr_mnt" ;;
		esac
	done <"$RR_MOUNTS_FILE"
	printf '%s' "$rr_below"
}

# rr_mounted_ro MOUNTPOINT: true if MOUNTPOINT is mounted read-only.
rr_mounted_ro()
{
	rr_o=$(rr_mount_field "$1" 4) || return 1
	case ",$rr_o," in
	*,ro,*) return 0 ;;
	esac
	return 1
}

# rr_devname PATH: the kernel name of a device path (vdb for /dev/vdb or for
# a udev link ../../vdb).
rr_devname()
{
	rr_dn=$1
	if [ -L "$rr_dn" ] && rr_target=$(readlink "$rr_dn"); then
		rr_dn=$rr_target
	fi
	printf '%s\n' "${rr_dn##*/}"
}

# rr_same_device A B: true if paths A and B name the same device.
rr_same_device()
{
	[ "$(rr_devname "$1")" = "$(rr_devname "$2")" ]
}
