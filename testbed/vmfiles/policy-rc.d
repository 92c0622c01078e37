#!/bin/sh
# Installed only while ro_root/vm.py installs packages into an image tree:
# no service may start in the chroot.
exit 101
