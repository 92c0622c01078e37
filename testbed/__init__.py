"""ro-root's test bed: Debian images to boot (`testbed.images`) and qemu to boot them
(`testbed.qemu`). Test and demo infrastructure; the builder (`ro_root`) does not import it,
except `build.py demo`, lazily."""
