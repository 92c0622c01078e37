#!/bin/sh
# ro-root's login banner (run by pam_motd through /etc/update-motd.d): say
# that the root is read-only and that changes vanish at reboot, while
# ro-root's overlay is the root. Silent otherwise, and once ro-root is removed.
RR_LIB=/usr/lib/ro-root
[ -x /usr/sbin/ro-root ] && [ -r "$RR_LIB/common.sh" ] && [ -r "$RR_LIB/record.sh" ] || exit 0
# shellcheck source=lib/common.sh
. "$RR_LIB/common.sh"
# shellcheck source=lib/record.sh
. "$RR_LIB/record.sh"
rr_overlay_active || exit 0
cat <<'BANNER'

  ro-root: the root file system is READ-ONLY under a RAM overlay.
  Every change made here vanishes at reboot. To make one last:
    ro-root exec COMMAND        e.g. ro-root exec apt-get upgrade
    ro-root diff; ro-root commit PATH...
  See 'ro-root status' and ro-root(8).

BANNER
