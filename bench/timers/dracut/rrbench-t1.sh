#!/bin/sh
# make bench: sourced by dracut after 70overlayfs's hooks of this hook point
# (see module-setup.sh): "rd.overlay START END" into /run/ro-root-bench/times,
# which the booted system keeps and the probe reports.
read -r rrbench_t1 _ </proc/uptime
echo "rd.overlay ${rrbench_t0-} $rrbench_t1" >>/run/ro-root-bench/times
