#!/bin/sh
# ro-root's package guard: run by APT before it calls dpkg (DPkg::Pre-Invoke
# in /etc/apt/apt.conf.d/20ro-root) and by dpkg before it changes packages
# (pre-invoke in /etc/dpkg/dpkg.cfg.d/ro-root).
#
# While ro-root's overlay is the root, package changes land in RAM and
# vanish at reboot: warn, or with apt_guard=refuse in the real root's
# /etc/ro-root.conf refuse (a non-zero exit stops APT and dpkg).
# Silent, and never in the way, everywhere else: a plain or writable boot,
# an image build or chroot (no record of a boot), inside `ro-root exec`
# (there / is the real root, not an overlay), and while ro-root's files are
# being removed.
#
# Usage: apt-guard apt|dpkg

RR_LIB=/usr/lib/ro-root
for lib in common settings record guard; do
	[ -r "$RR_LIB/$lib.sh" ] || exit 0
done
# shellcheck source=lib/common.sh
. "$RR_LIB/common.sh"
# shellcheck source=lib/settings.sh
. "$RR_LIB/settings.sh"
# shellcheck source=lib/record.sh
. "$RR_LIB/record.sh"

# shellcheck source=lib/guard.sh
. "$RR_LIB/guard.sh"

rr_apt_guard "$@"
