#!/bin/sh
# mmdebstrap --essential-hook of ro-root's arm64 (Raspberry Pi firmware
# partition) test images: before the kernel is installed, make its initrds
# small. Under qemu-user a generic (MODULES=most) initrd takes minutes to
# build, and the test proves the firmware-partition path, not the generic
# initrd. Usage: sh initramfs.sh ROOTDIR
set -eu

root=$1
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
cat >"$root/etc/initramfs-tools/conf.d/ro-root-test" <<'CONF'
# ro-root arm64 test image: only the modules the hook below names
# (testbed/vmfiles/raspi/initramfs.sh).
MODULES=list
CONF
# /etc/initramfs-tools/modules is a conffile of initramfs-tools, written
# before the package is unpacked it would stop dpkg at a conffile prompt:
# a local hook loads the modules of qemu's virt machine instead.
cat >"$root/etc/initramfs-tools/hooks/ro-root-test-modules" <<'HOOK'
#!/bin/sh
# ro-root arm64 test image: the modules qemu's virt machine needs to mount
# its root, loaded at boot (testbed/vmfiles/raspi/initramfs.sh).
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for module in virtio_mmio virtio_pci virtio_blk ext4 vfat nls_cp437 nls_ascii overlay; do
	force_load "$module"
done
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/ro-root-test-modules"
