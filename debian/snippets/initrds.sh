# ro_root_update_other_initrds fatal|warn: rebuild the initrd of every
# installed kernel except the newest one. `update-initramfs -u`, which the
# dpkg trigger runs, updates only the newest (the highest version with an
# initrd in /boot); older kernels would keep, or lack, the payload. Either
# generator (lib/initrd.sh): initramfs-tools' update-initramfs, or Debian
# dracut's wrapper of that name, which takes the same options and reads the
# same update-initramfs.conf.
ro_root_update_other_initrds()
{
	if [ "$(rr_initrd_generator "")" = none ] ||
		! command -v linux-version >/dev/null 2>&1; then
		return 0
	fi
	update_initramfs=yes
	if [ -r /etc/initramfs-tools/update-initramfs.conf ]; then
		# The admin's setting, read as data: the last assignment wins,
		# as when update-initramfs sources the file.
		while IFS= read -r ro_root_line || [ -n "$ro_root_line" ]; do
			case "$ro_root_line" in
			update_initramfs=*) update_initramfs=${ro_root_line#update_initramfs=} ;;
			esac
		done </etc/initramfs-tools/update-initramfs.conf
	fi
	case "$update_initramfs" in
	no | \"no\" | \'no\')
		echo "ro-root: update_initramfs=no in /etc/initramfs-tools/update-initramfs.conf:" \
			"initrds left as they are; run 'update-initramfs -u -k all' to apply ro-root" >&2
		return 0
		;;
	all | \"all\" | \'all\')
		# The trigger's update-initramfs -u already updates every kernel.
		return 0
		;;
	esac
	ro_root_newest=
	for ro_root_kver in $(linux-version list | linux-version sort --reverse); do
		[ -e "/boot/initrd.img-$ro_root_kver" ] || continue
		if [ -z "$ro_root_newest" ]; then
			ro_root_newest=$ro_root_kver
			continue
		fi
		if ! update-initramfs -u -k "$ro_root_kver"; then
			echo "ro-root: could not update the initrd of kernel $ro_root_kver;" \
				"run 'update-initramfs -u -k $ro_root_kver'" >&2
			[ "$1" = warn ] || return 1
		fi
	done
	return 0
}
