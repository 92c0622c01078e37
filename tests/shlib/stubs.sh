# Stubs for sourcing lib/boot.sh (and the rest of the core) outside an initramfs.
# initramfs-tools' logging, honouring quiet as scripts/functions does.
log_success_msg() { [ "${quiet-}" = y ] || printf 'Success: %s\n' "$*"; }
log_warning_msg() { [ "${quiet-}" = y ] || printf 'Warning: %s\n' "$*"; }
log_failure_msg() { [ "${quiet-}" = y ] || printf 'Failure: %s\n' "$*"; }
panic() { printf 'PANIC: %s\n' "$*"; exit 99; }
# Programs: mount and umount act on a fake table; the rest are recorded and
# fail when $FAKE_FAIL matches, else do their real work in the test's tree.
mount() { "$FAKE_PYTHON" "$FAKE_DIR/fake_mount.py" mount "$@"; }
umount() { "$FAKE_PYTHON" "$FAKE_DIR/fake_mount.py" umount "$@"; }
fake_record() {
	printf '%s\n' "$*" >>"$FAKE_CALLS"
	case "$*" in
	*"${FAKE_FAIL:-@@never@@}"*) return 1 ;;
	esac
	return 0
}
modprobe() {
	fake_record modprobe "$@" || return 1
	if [ -n "${FAKE_MODPROBE_LOADS-}" ]; then
		printf 'nodev\toverlay\n' >>"$RR_FILESYSTEMS_FILE"
	fi
}
chmod() { fake_record chmod "$@" && command chmod "$@"; }
mkdir() { fake_record mkdir "$@" && command mkdir "$@"; }
sleep() { fake_record sleep "$@"; }
# get_fstype DEVICE: from initramfs-tools; $FAKE_FSTYPE or ext4.
get_fstype() { fake_record get_fstype "$@" && printf '%s\n' "${FAKE_FSTYPE-ext4}"; }
rm() { fake_record rm "$@" && command rm "$@"; }
# klibc's nuke (rm -rf) exits 0 whether or not it removed anything.
nuke() { fake_record nuke "$@" && command rm -rf "$@"; return 0; }
blockdev() { fake_record blockdev "$@"; }
