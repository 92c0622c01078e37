#!/bin/sh
# make bench (bench/timers.py): a dracut module of the bench's timer package
# for the forky image with dracut's own rd.overlay (modules.d/70overlayfs).
# It brackets 70overlayfs's hooks with two of its own, at each hook point
# where 70overlayfs has some: rrbench-t0.sh sorts just before them (00-0…
# before 00-prepare-overlayfs.sh, 01-prepare-overlayfs.sh), rrbench-t1.sh
# just after (02-… in pre-mount, 11-… in pre-pivot, after
# 10-mount-overlayfs.sh). dracut sources the hooks of one point in one shell,
# in name order. The mount hook point is not run by a systemd initrd.

# dracut provides moddir and inst_hook.
# shellcheck disable=SC2154

# Only when asked for (dracut.conf.d/90-ro-root-bench.conf).
check()
{
	return 255
}

depends()
{
	echo overlayfs
}

install()
{
	inst_hook pre-mount 00 "$moddir/0rrbench-t0.sh"
	inst_hook pre-mount 02 "$moddir/rrbench-t1.sh"
	inst_hook pre-pivot 00 "$moddir/0rrbench-t0.sh"
	inst_hook pre-pivot 11 "$moddir/rrbench-t1.sh"
}
