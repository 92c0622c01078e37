# ro-root's record of a boot, and the one answer to "is ro-root's overlay the
# root now". Sourced after common.sh. The boot (lib/boot.sh) writes the
# record into $RR_RUNDIR, which the initramfs hands to the system as /run:
#   state     one word: active, skipped or failed
#   reason    one line saying why
#   log       every message of this boot, one per line, "LEVEL message"
#   settings  KEY=VALUE lines: the settings this boot used, and what it did
#             (upper, upperdir, lower, data_mounts_active, medium, ...)
#   premount  "overridden=WORDS", from the step before the root was mounted
#   keep-read-only  present when failure_policy=ro kept the real root read-only
# Everything else reads it through the functions below.
# Sourced, never run: what it sets is for the scripts that source it.
# shellcheck shell=dash disable=SC2034

RR_RUNDIR=/run/ro-root
# Where the layers are while the overlay is the root.
RR_LOWER=/ro
RR_RW=/rw

# rr_read_state: STATE (active, skipped, failed or none) and REASON.
rr_read_state()
{
	STATE=none
	REASON=
	{ read -r STATE <"$RR_RUNDIR/state"; } 2>/dev/null || true
	[ -n "$STATE" ] || STATE=none
	{ read -r REASON <"$RR_RUNDIR/reason"; } 2>/dev/null || true
}

# rr_overlay_active: true if ro-root's overlay is the root of this process
# now: the boot said active, / is an overlay and the real root is on
# $RR_LOWER. False in the chroot of `ro-root exec`, where / is the real root,
# in a chroot or image build, and on a boot without the overlay.
rr_overlay_active()
{
	rr_read_state
	[ "$STATE" = active ] || return 1
	[ "$(rr_mount_field / 3 2>/dev/null)" = overlay ] || return 1
	rr_mount_field "$RR_LOWER" 1 >/dev/null 2>&1
}

# rr_record_get KEY: what this boot recorded for KEY in its settings.
rr_record_get()
{
	rr_kv_get "$RR_RUNDIR/settings" "$1"
}

# rr_upper_dir: the overlay's upper directory, as the boot recorded it
# (upper/ on the tmpfs, or ro-root/upper on a persistent device, both on
# $RR_RW); for a record without it, the one that exists.
rr_upper_dir()
{
	if rr_ud=$(rr_record_get upperdir) && [ -n "$rr_ud" ]; then
		printf '%s\n' "$rr_ud"
	elif [ -d "$RR_RW/ro-root/upper" ] && [ ! -d "$RR_RW/upper" ]; then
		printf '%s\n' "$RR_RW/ro-root/upper"
	else
		printf '%s\n' "$RR_RW/upper"
	fi
}
