# ro-root: the two commands of the README, each doing its own set-up on a
# fresh Debian 12 machine (as root, or with sudo available).
#
#   make deb     build dist/ro-root_<version>_all.deb
#   make check   every test: unit, linters, lintian, piuparts and VM boots
#                (also writes docs/reliability.md from the fault tests' results)
#   make check-faults   only the fault-injection boots, and docs/reliability.md
#   make test    the quick loop: unit tests and linters, no VM boot and no chroot
#   make demo    boot a small Debian image with ro-root on this terminal
#   make bench   measure ro-root against overlayroot and a plain root in one run
#                (bytes written, initrd growth on klibc-only and busybox images, boot
#                time over 11 alternating boots each, setup time in the initrd, also
#                against dracut's rd.overlay on forky, ro-root exec true, build and hook
#                time) and write docs/benchmarks.md and docs/benchmarks.png. Under TCG on
#                2 cores: 48 min on a quiet host (2026-12-03), more with other VMs
#                running (a 1-boot trial took 19 min so). BENCH_ARGS passes
#                options, e.g. BENCH_ARGS="--boots 1 --forky-boots 1 --reps 1 --hook-reps 1".

# Debian's python3: the builder runs on it with python3-debian and python3-jinja2, and the
# venv of the test tools (pytest, mypy, ruff) is made from it and sees those packages.
PYTHON ?= /usr/bin/python3
VENV   := .venv
VPY    := $(VENV)/bin/python
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

# What `build.py repo` runs: apt-ftparchive and gpg.
REPO_DEBS  := apt-utils gnupg
# The arm64 Raspberry Pi image (tests/vm/test_boot_raspi_arm64.py): built through qemu-user
# (binfmt_misc, which the harness mounts and registers itself: testbed.images.ensure_foreign_arch),
# booted on qemu's arm virt machine from its FAT firmware partition (sfdisk, mkfs.vfat, mtools).
ARM_DEBS   := qemu-user-static arch-test qemu-system-arm fdisk dosfstools mtools zstd
# Debian packages the builder needs (every command the README shows after `make deb`,
# `build.py repo` included), and those the tests need on top.
BUILD_DEBS := dpkg-dev lintian gzip python3 python3-debian python3-jinja2 $(REPO_DEBS)
# ovmf, fdisk (sfdisk), dosfstools and mtools: the UEFI image (GPT, an EFI system partition).
VM_DEBS    := mmdebstrap qemu-system-x86 e2fsprogs initramfs-tools-core zstd ovmf fdisk dosfstools mtools
# The benchmark: images and boots, and a debhelper build to compare `make deb` with.
BENCH_DEBS := $(BUILD_DEBS) $(VM_DEBS) python3-venv debhelper build-essential util-linux
# make test (no boot, no chroot): what the unit tests and linters run, and nothing more.
QUICK_DEBS := $(BUILD_DEBS) python3-venv dash shellcheck faketime gpgv man-db groff-base \
	fdisk dosfstools mtools e2fsprogs
TEST_DEBS  := $(QUICK_DEBS) $(VM_DEBS) $(ARM_DEBS) piuparts util-linux
# make check runs the suite on this many pytest-xdist workers, each taking whole test modules
# (slowest first, tests/slowest_first.py) and booting one guest at a time with the host's
# CPUs shared out among them (docs/testing-times.md).
CHECK_JOBS ?= 2
XDIST      := -n $(CHECK_JOBS) --dist loadfile --no-loadscope-reorder

# apt-ensure PACKAGES: install whatever of PACKAGES is missing (one apt run).
define apt-ensure
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make: installing" $$missing; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

.PHONY: deb check check-faults test demo bench clean build-deps test-deps quick-deps demo-deps \
	bench-deps

deb: build-deps
	$(PYTHON) build.py deb

# The JUnit XML of the run is what docs/reliability.md is made from, pass or fail.
check: test-deps $(VENV)/.test-deps
	@mkdir -p build
	$(VPY) -m pytest -m "" $(XDIST) --junitxml=build/check.xml tests; status=$$?; \
	$(VPY) tests/report_faults.py build/check.xml && exit $$status

check-faults: test-deps $(VENV)/.test-deps
	@mkdir -p build
	$(VPY) -m pytest -m fault $(XDIST) --junitxml=build/faults.xml tests/vm; status=$$?; \
	$(VPY) tests/report_faults.py build/faults.xml && exit $$status

test: quick-deps $(VENV)/.test-deps
	$(VPY) -m pytest $(XDIST) tests

demo: demo-deps
	$(PYTHON) build.py demo

# Not part of `check`: benchmarks are measurements, not timed tests.
bench: bench-deps $(VENV)/.bench-deps
	$(VPY) -m bench $(BENCH_ARGS)

build-deps:
	$(call apt-ensure,$(BUILD_DEBS))

test-deps:
	$(call apt-ensure,$(TEST_DEBS))

quick-deps:
	$(call apt-ensure,$(QUICK_DEBS))

demo-deps:
	$(call apt-ensure,$(BUILD_DEBS) $(VM_DEBS))

bench-deps:
	$(call apt-ensure,$(BENCH_DEBS))

$(VENV)/bin/python:
	$(PYTHON) -m venv --system-site-packages $(VENV)

$(VENV)/.test-deps: requirements.txt requirements-test.txt | $(VENV)/bin/python
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

$(VENV)/.bench-deps: requirements.txt requirements-bench.txt | $(VENV)/bin/python
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	touch $@

clean:
	rm -rf dist build $(VENV) .pytest_cache .mypy_cache .ruff_cache
