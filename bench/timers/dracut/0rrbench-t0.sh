#!/bin/sh
# make bench: sourced by dracut before 70overlayfs's hooks of this hook
# point (see module-setup.sh): the start, from /proc/uptime with builtins.
mkdir -p /run/ro-root-bench
# shellcheck disable=SC2034 # read by rrbench-t1.sh, sourced later by the same shell
read -r rrbench_t0 _ </proc/uptime
