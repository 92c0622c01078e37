"""The on-device command sbin/ro-root, run by dash against a fake system.

The fake: a mount table file (RR_MOUNTS_FILE) in which / is an overlay and LOWER (the real
root) is mounted read-only, directories standing for the merged view, the lower and the
upper layer, and stub programs (mount, umount, chroot, sync, sleep, update-initramfs) that
record their calls and change the mount table the way the kernel would for a remount.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMAND = REPO / "sbin" / "ro-root"
# What sbin/ro-root sources from /usr/lib/ro-root, in its order.
COMMAND_LIBS = ("common", "settings", "record", "command", "initrd", "window", "changes", "status")

STUBS = {
    # mount: remounts flip ro/rw of the mount point in the table; FAKE_BUSY=N makes the
    # first N read-only remounts (of FAKE_BUSY_ON only, if set) fail as busy; FAKE_FAIL=WORD
    # fails calls containing WORD. `--bind SRC DST` of a mount in the table and
    # `-t TYPE -o OPTS DEV DST` add DST to the table as the kernel would (a bind keeps the
    # source's ro/rw), and umount removes it.
    "mount": r"""#!/bin/sh
echo "mount $*" >>"$FAKE_CALLS"
if [ -n "${FAKE_FAIL-}" ]; then
	case "$*" in *"$FAKE_FAIL"*) echo "mount: simulated failure" >&2; exit 32 ;; esac
fi
case "$1 $2" in
"-o remount,ro")
	n=$(cat "$FAKE_DIR/busy" 2>/dev/null || echo 0)
	if [ "$n" -lt "${FAKE_BUSY:-0}" ] && [ "${FAKE_BUSY_ON:-$3}" = "$3" ]; then
		echo $((n + 1)) >"$FAKE_DIR/busy"
		echo "mount: $3: mount point is busy." >&2
		exit 32
	fi
	sed -i "s| $3 \([^ ]*\) rw,| $3 \1 ro,|" "$FAKE_TABLE"
	;;
"-o remount,rw") sed -i "s| $3 \([^ ]*\) ro,| $3 \1 rw,|" "$FAKE_TABLE" ;;
"--bind "*)
	while read -r dev mnt type opts _; do
		[ "$mnt" = "$2" ] && line="$dev $3 $type $opts 0 0"
	done <"$FAKE_TABLE"
	[ -z "${line-}" ] || echo "$line" >>"$FAKE_TABLE"
	;;
-t*)
	type=$2
	shift 2
	opts=rw
	if [ "$1" = -o ]; then
		case ",$2," in *,ro,*) opts=ro ;; esac
		shift 2
	fi
	echo "$1 $2 $type $opts,relatime 0 0" >>"$FAKE_TABLE"
	;;
esac
exit 0
""",
    "umount": r"""#!/bin/sh
echo "umount $*" >>"$FAKE_CALLS"
if [ -n "${FAKE_FAIL-}" ]; then
	case "umount $*" in *"$FAKE_FAIL"*) echo "umount: simulated failure" >&2; exit 32 ;; esac
fi
for last; do :; done
grep -v " $last " "$FAKE_TABLE" >"$FAKE_TABLE.new" || true
mv "$FAKE_TABLE.new" "$FAKE_TABLE"
""",
    # blockdev --setro|--setrw DEV: flips the device's read-only flag in the fake sysfs.
    "blockdev": r"""#!/bin/sh
echo "blockdev $*" >>"$FAKE_CALLS"
if [ -n "${FAKE_FAIL-}" ]; then
	case "blockdev $*" in *"$FAKE_FAIL"*) echo "blockdev: simulated failure" >&2; exit 1 ;; esac
fi
name=$(basename "$2")
case "$1" in
--setro) echo 1 >"$FAKE_SYSBLOCK/$name/ro" ;;
--setrw) echo 0 >"$FAKE_SYSBLOCK/$name/ro" ;;
esac
""",
    # df: FAKE_DF / FAKE_DF_I are the numbers of df -P -k / df -P -i for /rw.
    "df": r"""#!/bin/sh
case "$*" in
*-i*) line=${FAKE_DF_I-} ;;
*) line=${FAKE_DF-} ;;
esac
if [ -n "$line" ]; then
	echo "Filesystem 1024-blocks Used Available Capacity Mounted on"
	echo "tmpfs $line"
	exit 0
fi
exec /bin/df "$@"
""",
    # lsinitramfs INITRD: the listing in $FAKE_DIR/initrd-listing.
    "lsinitramfs": r"""#!/bin/sh
echo "lsinitramfs $*" >>"$FAKE_CALLS"
cat "$FAKE_DIR/initrd-listing"
""",
    # lsinitrd INITRD (dracut): the same listing, as the `ls -l` lines lsinitrd prints.
    "lsinitrd": r"""#!/bin/sh
echo "lsinitrd $*" >>"$FAKE_CALLS"
echo "Image: $1: 40M"
while read -r name; do
	echo "-rwxr-xr-x   1 root     root         1254 Oct  5 22:27 $name"
done <"$FAKE_DIR/initrd-listing"
""",
    "sync": '#!/bin/sh\necho sync >>"$FAKE_CALLS"\n',
    "sleep": "#!/bin/sh\n",
    "update-initramfs": '#!/bin/sh\necho "update-initramfs $*" >>"$FAKE_CALLS"\n',
    # chroot DIR CMD...: run CMD here (not chrooted), in DIR, with ro-root's pid at hand.
    "chroot": r"""#!/bin/sh
echo "chroot $*" >>"$FAKE_CALLS"
echo "$PPID" >"$FAKE_DIR/ro-root.pid"
dir=$1
shift
cd "$dir" && "$@"
""",
}


class Fake:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run_dir = tmp / "run"
        self.merged = tmp / "merged"
        self.lower = tmp / "lower"
        self.rw = tmp / "rw"
        self.upper = self.rw / "upper"
        for d in (self.run_dir, self.merged, self.lower, self.upper, tmp / "bin"):
            d.mkdir(parents=True)
        for name, text in STUBS.items():
            (tmp / "bin" / name).write_text(text)
            (tmp / "bin" / name).chmod(0o755)
        (self.lower / "etc").mkdir()
        (self.merged / "etc").mkdir()
        self.share = self.lower / "usr/share/ro-root"
        self.share.mkdir(parents=True)
        (self.share / "ro-root.conf").write_text(
            (REPO / "debian/ro-root.conf").read_text(), encoding="utf-8"
        )
        self.table = tmp / "mounts"
        self.calls = tmp / "calls"
        self.set_state("active", "/ is a tmpfs overlay over /dev/vda")
        self.mounts(lower="ro")
        (tmp / "sys" / "vda").mkdir(parents=True)
        self.device_ro(False)
        (tmp / "boot").mkdir()

    def device_ro(self, flag: bool) -> None:
        """The read-only flag of the real root's device /dev/vda (blockdev --setro)."""
        (self.tmp / "sys" / "vda" / "ro").write_text("1\n" if flag else "0\n")

    def device_is_ro(self) -> bool:
        return (self.tmp / "sys" / "vda" / "ro").read_text().strip() == "1"

    def mounts(self, lower: str = "ro", root: str = "overlay") -> None:
        self.table.write_text(
            f"{root} / {root} rw,relatime 0 0\n"
            f"/dev/vda {self.lower} ext4 {lower},relatime 0 0\n"
            f"tmpfs {self.rw} tmpfs rw,relatime 0 0\n"
        )

    def set_state(self, state: str, reason: str, log: str = "") -> None:
        (self.run_dir / "state").write_text(state + "\n")
        (self.run_dir / "reason").write_text(reason + "\n")
        (self.run_dir / "log").write_text(log)

    def lower_mode(self) -> str:
        for line in self.table.read_text().splitlines():
            fields = line.split()
            if fields[1] == str(self.lower):
                return fields[3].split(",")[0]
        raise AssertionError("lower not mounted")

    def call_list(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def script(self, **seams: str) -> str:
        """The body dash runs: the command's libraries from the tree, sourced as sbin/ro-root
        sources them, the fake system's paths set after sourcing (production reads none of
        them from the environment), then the command."""
        values = {
            "PATH": f"{self.tmp / 'bin'}:/usr/bin:/bin",
            "RR_RUNDIR": str(self.run_dir),
            "RR_MOUNTS_FILE": str(self.table),
            "RR_ROOT": str(self.merged),
            "RR_LOWER": str(self.lower),
            "RR_RW": str(self.rw),
            "RR_SHARE": "/usr/share/ro-root",
            "RR_DROP_CACHES": str(self.tmp / "drop_caches"),
            "RR_EUID": "0",
            "RR_SYSBLOCK": str(self.tmp / "sys"),
            "RR_BOOTDIR": str(self.tmp / "boot"),
            "RR_KVER": "6.1.0-99-amd64",
            # A booted system: / (RR_ROOT) is the root of process 1.
            "RR_INIT_ROOT": str(self.merged),
            **seams,
        }
        sources = "".join(f". {REPO / 'lib' / name}.sh\n" for name in COMMAND_LIBS)
        assignments = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
        return f'{sources}{assignments}rr_command "$@"\n'

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `ro-root ARGS` against the fake system; RR_* of ENV are seams, the rest the
        environment."""
        self.calls.write_text("")
        seams = {k: v for k, v in env.items() if k.startswith("RR_") or k == "PATH"}
        return subprocess.run(
            ["dash", "-c", self.script(**seams), "ro-root", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.tmp,
            timeout=60,
            env={**self.env(), **{k: v for k, v in env.items() if k not in seams}},
        )

    def env(self) -> dict[str, str]:
        """The environment of the command and of the stubs it runs."""
        return {
            "PATH": "/usr/bin:/bin",
            "FAKE_DIR": str(self.tmp),
            "FAKE_TABLE": str(self.table),
            "FAKE_CALLS": str(self.calls),
            "FAKE_SYSBLOCK": str(self.tmp / "sys"),
        }


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


def one_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    line = proc.stderr.splitlines()[0]
    assert line.startswith("ro-root: "), proc.stderr
    for word in words:
        assert word in line, line


# --- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("frobnicate",),
        ("status", "--yaml"),
        ("exec",),
        ("exec", "--"),
        ("disable", "-x"),
        ("commit",),
        ("enable", "now"),
        ("diff", "x"),
        ("status", "--json", "x"),
    ],
)
def test_bad_usage_is_one_error_and_exit_2(fake: Fake, args: tuple[str, ...]) -> None:
    proc = fake.run(*args)
    assert proc.returncode == 2, proc.stderr
    one_error(proc)
    assert "ro-root --help" in proc.stderr
    assert fake.call_list() == []


def test_help_lists_every_command(fake: Fake) -> None:
    proc = fake.run("--help")
    assert proc.returncode == 0
    for word in ("status", "exec", "enable", "disable --once", "diff", "commit", "125"):
        assert word in proc.stdout


@pytest.mark.parametrize(
    ("args", "status"),
    [(("exec", "true"), 125), (("commit", "/etc/x"), 1), (("enable",), 1), (("disable",), 1)],
)
def test_commands_that_write_need_root(fake: Fake, args: tuple[str, ...], status: int) -> None:
    proc = fake.run(*args, RR_EUID="1000")
    assert proc.returncode == status
    one_error(proc, "needs root")
    assert fake.call_list() == []


# --- status -----------------------------------------------------------------------------------


def status_json(fake: Fake) -> tuple[int, dict[str, object]]:
    proc = fake.run("status", "--json")
    return proc.returncode, json.loads(proc.stdout)


def test_status_active_without_recorded_settings(fake: Fake) -> None:
    fake.set_state("active", 'over /dev/vda "quoted" \\ back', "warning something odd\ninfo x\n")
    proc = fake.run("status")
    assert proc.returncode == 0, proc.stderr
    assert "state: active" in proc.stdout
    assert "warning: something odd" in proc.stdout
    code, data = status_json(fake)
    assert code == 0
    assert list(data) == [
        "format", "state", "active", "as_configured", "reason", "mode", "lower",
        "lower_read_only", "upper", "upper_size_setting", "upper_used_kib", "upper_total_kib",
        "data_mounts", "failure_policy", "apt_guard", "settings_recorded", "next_boot",
        "warnings", "exit_status",
        # Added later, at the end, as ro-root(8) promises.
        "upper_used_percent", "upper_warn_percent", "upper_usage", "protect_device",
        "lower_device_read_only", "kernel", "initrd_payload", "initrd_check",
        "medium", "cmdline_overridden", "chroot", "setup_seconds",
    ]  # fmt: skip
    assert data["reason"] == 'over /dev/vda "quoted" \\ back'
    assert data["state"] == "active" and data["active"] is True
    assert data["lower"] == "/dev/vda" and data["lower_read_only"] is True
    assert data["mode"] == "tmpfs" and data["upper"] == "tmpfs"
    assert data["settings_recorded"] is False and data["apt_guard"] is None
    assert data["warnings"] == ["something odd"]
    assert data["next_boot"] == "read-only"


def test_status_reads_the_recorded_settings(fake: Fake) -> None:
    (fake.run_dir / "settings").write_text(
        "enabled=yes\nmode=tmpfs\nupper=tmpfs\nsize=25%\nlower=/dev/sda1\n"
        "data_mounts=LABEL=data:/srv LABEL=log:/var/log\nfailure_policy=ro\napt_guard=refuse\n"
    )
    code, data = status_json(fake)
    assert code == 0
    assert data["lower"] == "/dev/sda1" and data["upper_size_setting"] == "25%"
    assert data["data_mounts"] == ["LABEL=data:/srv", "LABEL=log:/var/log"]
    assert data["failure_policy"] == "ro" and data["apt_guard"] == "refuse"
    assert data["settings_recorded"] is True


@pytest.mark.parametrize(
    ("medium", "says"),
    [
        ("untouched", "medium: not written by this boot"),
        ("journal-replayed", "medium: written once when the root was mounted: the kernel replayed"),
        ("mounted-rw", "medium: written when the root was mounted: the initramfs mounted it"),
    ],
)
def test_status_says_what_the_boot_did_to_the_medium(fake: Fake, medium: str, says: str) -> None:
    (fake.run_dir / "settings").write_text(
        "enabled=yes\nmode=tmpfs\nupper=tmpfs\nlower=/dev/sda1\n"
        f"overridden=rw fsck\nmedium={medium}\n"
    )
    proc = fake.run("status")
    assert says in proc.stdout
    assert "kernel command line overridden: rw fsck" in proc.stdout
    code, data = status_json(fake)
    assert code == 0
    assert data["medium"] == medium and data["cmdline_overridden"] == ["rw", "fsck"]


def test_status_without_a_medium_record_never_claims_it_untouched(fake: Fake) -> None:
    # A boot of an older payload recorded no medium: unknown, not "not written".
    (fake.run_dir / "settings").write_text("enabled=yes\nmode=tmpfs\nupper=tmpfs\n")
    proc = fake.run("status")
    assert "medium: unknown" in proc.stdout
    assert status_json(fake)[1]["medium"] == "unknown"
    assert status_json(fake)[1]["cmdline_overridden"] == []


@pytest.mark.parametrize(("state", "code"), [("skipped", 3), ("failed", 4)])
def test_status_exit_codes_of_a_boot_without_overlay(fake: Fake, state: str, code: int) -> None:
    fake.set_state(state, "because")
    fake.mounts(root="ext4")
    proc = fake.run("status")
    assert proc.returncode == code
    assert f"state: {state}" in proc.stdout
    assert status_json(fake)[1]["active"] is False


def test_status_without_any_record_is_5(fake: Fake) -> None:
    for name in ("state", "reason", "log"):
        (fake.run_dir / name).unlink()
    code, data = status_json(fake)
    assert code == 5 and data["state"] == "none" and data["reason"] is None


PAYLOAD_LISTING = "scripts\nscripts/init-bottom\nscripts/init-bottom/ro-root\nscripts/functions\n"


def test_status_without_record_says_the_initrd_lacks_the_payload(fake: Fake) -> None:
    for name in ("state", "reason", "log"):
        (fake.run_dir / name).unlink()
    fake.mounts(root="ext4", lower="rw")
    (fake.tmp / "boot" / "initrd.img-6.1.0-99-amd64").write_text("")
    (fake.tmp / "initrd-listing").write_text("scripts\nscripts/init-bottom\nscripts/functions\n")
    proc = fake.run("status")
    assert proc.returncode == 5
    message = (
        "the initrd of kernel 6.1.0-99-amd64 lacks ro-root's payload; "
        "run: ro-root exec update-initramfs -u -k 6.1.0-99-amd64, then reboot"
    )
    assert f"initrd: {message}" in proc.stdout
    code, data = status_json(fake)
    assert code == 5 and data["state"] == "none"
    assert data["initrd_payload"] is False and data["initrd_check"] == message
    assert data["kernel"] == "6.1.0-99-amd64"
    assert message in str(data["warnings"])


def test_status_without_record_but_with_the_payload_says_it_did_not_run(fake: Fake) -> None:
    for name in ("state", "reason", "log"):
        (fake.run_dir / name).unlink()
    (fake.tmp / "boot" / "initrd.img-6.1.0-99-amd64").write_text("")
    (fake.tmp / "initrd-listing").write_text(PAYLOAD_LISTING)
    code, data = status_json(fake)
    assert code == 5 and data["initrd_payload"] is True
    assert "carries ro-root's payload, yet ro-root left no record" in str(data["initrd_check"])


@pytest.mark.parametrize("hook", [True, False])
def test_status_without_record_lists_a_dracut_initrd_with_lsinitrd(fake: Fake, hook: bool) -> None:
    """On a dracut system (Debian's update-initramfs wrapper runs dracut) the payload is the
    dracut module's pre-pivot hook, listed with lsinitrd."""
    for name in ("state", "reason", "log"):
        (fake.run_dir / name).unlink()
    for rel, text in (("usr/bin/dracut", "#!/bin/sh\n"), ("usr/sbin/update-initramfs", "dracut\n")):
        path = fake.merged / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    (fake.tmp / "boot" / "initrd.img-6.1.0-99-amd64").write_text("")
    listing = "var/lib/dracut/hooks/pre-pivot\n"
    if hook:
        listing += "var/lib/dracut/hooks/pre-pivot/50-ro-root-pre-pivot.sh\n"
    (fake.tmp / "initrd-listing").write_text(listing)
    code, data = status_json(fake)
    assert code == 5 and data["initrd_payload"] is hook, data
    calls = fake.call_list()
    assert [c for c in calls if c.startswith("lsinitrd ")], calls
    assert not [c for c in calls if c.startswith("lsinitramfs")], calls


def test_status_without_record_and_without_initrd_says_so(fake: Fake) -> None:
    (fake.run_dir / "state").unlink()
    code, data = status_json(fake)
    assert code == 5 and data["initrd_payload"] is None
    assert "kernel 6.1.0-99-amd64 has no initrd" in str(data["initrd_check"])


@pytest.mark.parametrize("how", ["init-root-differs", "nothing-mounted-on-root", "no-proc"])
def test_status_in_a_chroot_says_there_is_no_boot_to_report(fake: Fake, how: str) -> None:
    """In a chroot or image build the running kernel is the build host's: no advice about
    its initrd. A chroot is seen as: / is not process 1's root, or (where process 1's root
    cannot be read) nothing is mounted on / in this process's view, or there is no /proc."""
    for name in ("state", "reason", "log"):
        (fake.run_dir / name).unlink()
    (fake.tmp / "host").mkdir()
    (fake.tmp / "initrd-listing").write_text("scripts\n")
    env = {"RR_INIT_ROOT": str(fake.tmp / "host")}
    if how != "init-root-differs":
        env["RR_INIT_ROOT"] = str(fake.tmp / "unreadable")
        fake.table.write_text(f"proc {fake.merged}/proc proc rw 0 0\n")
    if how == "no-proc":
        fake.table.unlink()
    proc = fake.run("status", **env)
    assert proc.returncode == 5, proc.stderr
    assert "reason: no boot to report: this is a chroot or an image build" in proc.stdout
    assert "6.1.0-99-amd64" not in proc.stdout and "initrd" not in proc.stdout
    proc = fake.run("status", "--json", **env)
    data = json.loads(proc.stdout)
    assert proc.returncode == 5 and data["state"] == "none" and data["chroot"] is True
    assert data["initrd_payload"] is None and data["initrd_check"] is None
    assert data["warnings"] == []
    assert fake.call_list() == []


def test_status_with_a_record_does_not_open_the_initrd(fake: Fake) -> None:
    code, data = status_json(fake)
    assert code == 0 and data["initrd_payload"] is None and data["initrd_check"] is None
    assert not [c for c in fake.call_list() if c.startswith("lsinitramfs")]


@pytest.mark.parametrize(
    ("df", "df_i", "settings", "usage", "percent", "code"),
    [
        ("100000 1000 99000 1% /rw", "1000 10 990 1% /rw", "", "ok", 1, 0),
        ("100000 89000 11000 89% /rw", "1000 10 990 1% /rw", "", "ok", 89, 0),
        ("100000 90000 10000 90% /rw", "1000 10 990 1% /rw", "", "warning", 90, 0),
        ("100000 50000 50000 50% /rw", "1000 10 990 1% /rw", "upper_warn_percent=50\n",
         "warning", 50, 0),
        ("100000 99999 1 100% /rw", "1000 10 990 1% /rw", "", "warning", 99, 0),
        ("100000 100000 0 100% /rw", "1000 10 990 1% /rw", "", "full", 100, 0),
        ("100000 10 99990 1% /rw", "1000 1000 0 100% /rw", "", "full", 100, 0),
    ],
)  # fmt: skip
def test_status_reports_the_writable_layer_usage(
    fake: Fake, df: str, df_i: str, settings: str, usage: str, percent: int, code: int
) -> None:
    (fake.run_dir / "settings").write_text("mode=tmpfs\nupper=tmpfs\n" + settings)
    proc = fake.run("status", FAKE_DF=df, FAKE_DF_I=df_i)
    assert proc.returncode == code
    assert f"({percent}%, {usage}; warning at " in proc.stdout
    got = json.loads(fake.run("status", "--json", FAKE_DF=df, FAKE_DF_I=df_i).stdout)
    assert (got["upper_usage"], got["upper_used_percent"], got["exit_status"]) == (
        usage,
        percent,
        code,
    )
    warnings = [w for w in got["warnings"] if "writable layer" in w]
    if usage == "full":
        assert warnings and "is FULL" in warnings[0] and "No space left on device" in warnings[0]
        assert "warning: the writable layer" in proc.stdout
    elif usage == "warning":
        assert warnings and f"is {percent}% full (upper_warn_percent=" in warnings[0]
    else:
        assert not warnings


def test_status_reports_the_protected_device(fake: Fake) -> None:
    (fake.run_dir / "settings").write_text("lower=/dev/vda\nprotect_device=yes\n")
    fake.device_ro(True)
    proc = fake.run("status")
    assert "lower device read-only (protect_device=yes): yes" in proc.stdout
    data = json.loads(fake.run("status", "--json").stdout)
    assert data["protect_device"] == "yes" and data["lower_device_read_only"] is True
    fake.device_ro(False)
    data = json.loads(fake.run("status", "--json").stdout)
    assert data["lower_device_read_only"] is False
    assert any("protect_device=yes, but" in w for w in data["warnings"])


def test_status_fallback_from_device_mode_is_not_as_configured(fake: Fake) -> None:
    (fake.lower / "etc/ro-root.conf").write_text("mode=device:LABEL=upper\n")
    (fake.run_dir / "settings").write_text("mode=tmpfs\nupper=tmpfs\n")
    code, data = status_json(fake)
    assert code == 6 and data["as_configured"] is False


def test_status_warns_when_a_data_mount_of_this_boot_is_gone(fake: Fake) -> None:
    """Its device went away and systemd unmounted it: writes there now land in RAM."""
    (fake.run_dir / "settings").write_text(
        "data_mounts=LABEL=data:/srv/data LABEL=log:/srv/log\n"
        "data_mounts_active=LABEL=data:/srv/data LABEL=log:/srv/log\n"
    )
    (fake.tmp / "sys" / "vdb").mkdir()
    (fake.tmp / "sys" / "vdc").mkdir()
    with fake.table.open("a") as table:
        table.write("/dev/vdc /srv/log ext4 rw,relatime 0 0\n")
    proc = fake.run("status")
    assert proc.returncode == 6, proc.stdout
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: data mount LABEL=data is not mounted on /srv/data (device gone?): what is "
        "written there goes to RAM and vanishes at reboot"
    ]
    assert "note:" not in proc.stdout
    code, data = status_json(fake)
    assert code == 6 and data["as_configured"] is False
    assert isinstance(data["warnings"], list) and len(data["warnings"]) == 1
    with fake.table.open("a") as table:
        table.write("/dev/vdb /srv/data ext4 rw,relatime 0 0\n")
    assert fake.run("status").returncode == 0


def test_status_warns_when_a_data_mount_outlives_its_device(fake: Fake) -> None:
    """The device went away but systemd did not unmount the file system (seen once in CI on
    a PCI removal): writes there fail. Still mounted is not enough to be silent."""
    (fake.run_dir / "settings").write_text(
        "data_mounts=LABEL=data:/srv/data\ndata_mounts_active=LABEL=data:/srv/data\n"
    )
    with fake.table.open("a") as table:
        table.write("/dev/vdb /srv/data ext4 rw,relatime 0 0\n")
    proc = fake.run("status")
    assert proc.returncode == 6, proc.stdout
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: data mount LABEL=data on /srv/data: its device /dev/vdb is gone but the file "
        "system is still mounted: writes there fail; once it is unmounted (umount /srv/data) "
        "they go to RAM and vanish at reboot"
    ]
    (fake.tmp / "sys" / "vdb").mkdir()
    proc = fake.run("status")
    assert proc.returncode == 0, proc.stdout
    assert "warning:" not in proc.stdout


@pytest.mark.parametrize(
    ("conf", "once", "next_boot"),
    [("enabled=no\n", False, "writable"), ("enabled=yes\n", True, "writable-once")],
)
def test_status_tells_the_next_boot(fake: Fake, conf: str, once: bool, next_boot: str) -> None:
    (fake.lower / "etc/ro-root.conf").write_text(conf)
    if once:
        (fake.lower / "etc/ro-root.disable-once").write_text("")
    assert status_json(fake)[1]["next_boot"] == next_boot


# --- exec -------------------------------------------------------------------------------------


def test_exec_runs_chrooted_in_a_writable_window_and_ends_read_only(fake: Fake) -> None:
    proc = fake.run("exec", "--", "sh", "-c", "echo $RO_ROOT_EXEC >made; exit 7")
    assert proc.returncode == 7, proc.stderr
    assert (fake.lower / "made").read_text() == "1\n"
    calls = fake.call_list()
    lower = str(fake.lower)
    # The command is looked up in the real root before the window opens.
    assert calls.pop(0) == f'chroot {lower} /bin/sh -c command -v "$1" sh sh'
    assert calls[0] == f"mount -o remount,rw {lower}"
    assert f"mount -t proc proc {lower}/proc" in calls
    assert f"mount --rbind /dev {lower}/dev" in calls
    assert f"mount --make-rslave {lower}/run" in calls
    chroot = calls.index(f"chroot {lower} sh -c echo $RO_ROOT_EXEC >made; exit 7")
    assert {f"umount -R {lower}/{d}" for d in ("proc", "sys", "dev", "run", "tmp")} <= set(
        calls[chroot:]
    )
    assert calls[-1] == f"mount -o remount,ro {lower}"
    assert fake.lower_mode() == "ro"
    assert lock_is_free(fake)
    assert not list(fake.run_dir.glob("ro-root.*")), "the RAM copy of the command is left"


def test_exec_of_a_killed_command_still_ends_read_only(fake: Fake) -> None:
    proc = fake.run("exec", "sh", "-c", "kill -KILL $$")
    assert proc.returncode == 128 + 9
    assert fake.lower_mode() == "ro"


def test_exec_interrupted_waits_for_the_command_then_ends_read_only(fake: Fake) -> None:
    script = 'kill -TERM "$(cat "$FAKE_DIR/ro-root.pid")"; echo finished >after'
    proc = fake.run("exec", "sh", "-c", script)
    assert (fake.lower / "after").read_text() == "finished\n"
    assert "interrupted (SIGTERM)" in proc.stderr
    assert fake.lower_mode() == "ro"


def test_exec_retries_a_busy_remount(fake: Fake) -> None:
    proc = fake.run("exec", "true", FAKE_BUSY="3")
    assert proc.returncode == 0, proc.stderr
    assert fake.call_list().count(f"mount -o remount,ro {fake.lower}") == 4
    assert (fake.tmp / "drop_caches").read_text() == "2\n"
    assert fake.lower_mode() == "ro"


def test_exec_says_loudly_when_the_real_root_stays_writable(fake: Fake) -> None:
    proc = fake.run("exec", "true", FAKE_BUSY="100")
    assert proc.returncode == 125
    assert "still WRITABLE" in proc.stderr
    assert fake.lower_mode() == "rw"
    assert lock_is_free(fake)


def test_exec_that_cannot_open_the_window_runs_nothing(fake: Fake) -> None:
    proc = fake.run("exec", "touch", "made", FAKE_FAIL="remount,rw")
    assert proc.returncode == 125
    assert "ro-root: could not remount the real root" in proc.stderr
    assert not (fake.lower / "made").exists()
    # Only the command's look-up ran (before the window), never the command.
    assert not [c for c in fake.call_list() if c.startswith("chroot") and "command -v" not in c]


def test_exec_lifts_the_device_protection_for_its_window_only(fake: Fake) -> None:
    fake.device_ro(True)
    proc = fake.run("exec", "touch", "made")
    assert proc.returncode == 0, proc.stderr
    calls = fake.call_list()
    lower = str(fake.lower)
    setrw = calls.index("blockdev --setrw /dev/vda")
    setro = calls.index("blockdev --setro /dev/vda")
    assert setrw < calls.index(f"mount -o remount,rw {lower}")
    assert calls.index(f"mount -o remount,ro {lower}") < setro == len(calls) - 1
    assert fake.device_is_ro() and fake.lower_mode() == "ro"


def test_exec_of_a_killed_command_protects_the_device_again(fake: Fake) -> None:
    fake.device_ro(True)
    proc = fake.run("exec", "sh", "-c", "kill -KILL $$")
    assert proc.returncode == 128 + 9
    assert fake.device_is_ro() and fake.lower_mode() == "ro"


def test_exec_leaves_an_unprotected_device_as_it_was(fake: Fake) -> None:
    assert fake.run("exec", "true").returncode == 0
    assert not [c for c in fake.call_list() if c.startswith("blockdev")]
    assert not fake.device_is_ro()


def test_exec_that_cannot_lift_the_protection_runs_nothing(fake: Fake) -> None:
    fake.device_ro(True)
    proc = fake.run("exec", "touch", "made", FAKE_FAIL="--setrw")
    assert proc.returncode == 125
    assert "ro-root: could not make the real root's device /dev/vda writable" in proc.stderr
    assert not (fake.lower / "made").exists()
    assert fake.device_is_ro() and fake.lower_mode() == "ro"


def test_exec_that_cannot_protect_the_device_again_says_so(fake: Fake) -> None:
    fake.device_ro(True)
    proc = fake.run("exec", "true", FAKE_FAIL="--setro")
    assert proc.returncode == 125
    assert "could not make the real root's device /dev/vda read-only again" in proc.stderr
    assert fake.lower_mode() == "ro"


def test_exec_does_not_protect_a_device_that_stays_mounted_writable(fake: Fake) -> None:
    fake.device_ro(True)
    proc = fake.run("exec", "true", FAKE_BUSY="100")
    assert proc.returncode == 125 and "still WRITABLE" in proc.stderr
    assert "blockdev --setro /dev/vda" not in fake.call_list()


def lock_is_free(fake: Fake) -> bool:
    """No process holds the window's lock (flock(1) on /run/ro-root/exec.flock)."""
    lock = fake.run_dir / "exec.flock"
    proc = subprocess.run(["flock", "-n", str(lock), "true"], check=False)
    return proc.returncode == 0


def test_exec_waits_while_another_one_has_the_window(fake: Fake) -> None:
    lock = fake.run_dir / "exec.flock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "2"])
    try:
        time.sleep(0.5)
        started = time.monotonic()
        proc = fake.run("exec", "true")
        waited = time.monotonic() - started
    finally:
        holder.wait()
    assert proc.returncode == 0, proc.stderr
    assert "another ro-root command has the real root writable; waiting" in proc.stderr
    assert waited >= 1
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_two_execs_started_together_take_turns(fake: Fake) -> None:
    # Issue 12, defect 5: a mkdir lock let 2 in 100 pairs into the window at once.
    log = fake.lower / "turns"
    script = f"echo start >>{log}; sleep 0.3; echo end >>{log}"
    for _ in range(5):
        procs = [
            subprocess.Popen(
                ["dash", "-c", fake.script(), "ro-root", "exec", "sh", "-c", script],
                cwd=fake.tmp,
                env=fake.env(),
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert log.read_text().split() == ["start", "end"] * 10
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_exec_takes_over_a_lock_left_without_its_pid_quietly(fake: Fake) -> None:
    (fake.run_dir / "exec.lock").mkdir()  # killed between mkdir and writing its pid
    (fake.tmp / "sys" / "vda" / "ro").unlink()  # a kernel without the read-only flag
    proc = fake.run("exec", "true")
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if not line.startswith("ro-root: ")] == []
    assert fake.lower_mode() == "ro"


@pytest.mark.parametrize("active", [True, False])
def test_exec_of_a_missing_command_is_one_line_and_127(fake: Fake, active: bool) -> None:
    if not active:
        fake.set_state("skipped", "disabled")
        fake.mounts(root="ext4", lower="rw")
    proc = fake.run("exec", "no-such-command", "--now")
    assert proc.returncode == 127
    assert proc.stderr == "ro-root: no-such-command: command not found\n"
    # Checked before the window opens: nothing was remounted.
    assert not [call for call in fake.call_list() if call.startswith(("mount", "umount"))]
    assert fake.lower_mode() == ("ro" if active else "rw")
    assert not list(fake.run_dir.glob("ro-root.*")), "the RAM copy of the command is left"


def test_exec_without_overlay_runs_the_command_directly(fake: Fake) -> None:
    fake.set_state("skipped", "disabled")
    fake.mounts(root="ext4", lower="rw")
    proc = fake.run("exec", "sh", "-c", "echo here >direct; exit 3")
    assert proc.returncode == 3
    assert "not active" in proc.stderr and "directly" in proc.stderr
    assert (fake.tmp / "direct").exists()
    assert fake.call_list() == []


def kernel(fake: Fake, version: str) -> None:
    (fake.lower / "boot").mkdir(exist_ok=True)
    (fake.lower / "boot" / f"vmlinuz-{version}").write_text("k")
    (fake.lower / "boot" / f"initrd.img-{version}").write_text("i")
    (fake.lower / "lib/modules" / version).mkdir(parents=True)


def test_exec_rebuilds_initrds_the_command_left_stale(fake: Fake) -> None:
    kernel(fake, "6.1.0-1")
    kernel(fake, "6.1.0-2")
    (fake.lower / "etc/initramfs-tools").mkdir()
    # The command changes an input and rebuilds the newest initrd itself, as a trigger does.
    script = "echo MODULES=dep >etc/initramfs-tools/x; echo new >boot/initrd.img-6.1.0-2"
    proc = fake.run("exec", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    rebuilds = [c for c in fake.call_list() if c.startswith("update-initramfs")]
    assert rebuilds == ["update-initramfs -u -k 6.1.0-1"]
    assert "rebuilding the initrd of 6.1.0-1" in proc.stderr


@pytest.mark.parametrize(
    "script",
    [
        # Rewritten in place with its old mtime put back, as `cp -p` and dpkg do: the
        # ctime still tells (issue 17: one walk of the inputs instead of two listings).
        "touch -r etc/initramfs-tools/keep ref && echo MODULES=list >etc/initramfs-tools/keep"
        " && touch -r ref etc/initramfs-tools/keep && rm ref",
        "rm etc/initramfs-tools/keep",
        "rm -r etc/initramfs-tools",
        "mkdir -p usr/lib/modules/6.1.0-1/extra && echo m >usr/lib/modules/6.1.0-1/extra/m.ko",
        "echo k >boot/vmlinuz-6.1.0-1",
    ],
)
def test_exec_rebuilds_when_an_input_changed(fake: Fake, script: str) -> None:
    kernel(fake, "6.1.0-1")
    (fake.lower / "etc/initramfs-tools").mkdir()
    (fake.lower / "etc/initramfs-tools/keep").write_text("MODULES=most\n")
    proc = fake.run("exec", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    rebuilds = [c for c in fake.call_list() if c.startswith("update-initramfs")]
    assert rebuilds == ["update-initramfs -u -k 6.1.0-1"], proc.stderr
    assert not list(fake.run_dir.glob("inputs.stamp*"))


@pytest.mark.parametrize(
    "script",
    [
        "echo x >etc/hostname",
        # update-grub: the boot loader's files shape no initrd (issue 12, 14).
        "mkdir -p boot/grub && echo menu >boot/grub/grub.cfg",
    ],
)
def test_exec_rebuilds_nothing_when_no_input_changed(fake: Fake, script: str) -> None:
    kernel(fake, "6.1.0-1")
    proc = fake.run("exec", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in fake.call_list() if c.startswith("update-initramfs")]


# --- enable, disable --------------------------------------------------------------------------


def conf(fake: Fake) -> str:
    return (fake.lower / "etc/ro-root.conf").read_text()


def test_disable_creates_the_configuration_from_the_default(fake: Fake) -> None:
    proc = fake.run("disable")
    assert proc.returncode == 0, proc.stderr
    text = conf(fake)
    default = (REPO / "debian/ro-root.conf").read_text()
    assert text == default.replace("\nenabled=yes\n", "\nenabled=no\n")
    assert fake.lower_mode() == "ro"
    assert fake.call_list()[0] == f"mount -o remount,rw {fake.lower}"


def test_enable_keeps_other_lines_and_cancels_a_pending_once(fake: Fake) -> None:
    (fake.lower / "etc/ro-root.conf").write_text("# mine\nenabled=no\napt_guard=refuse\n")
    (fake.lower / "etc/ro-root.disable-once").write_text("")
    proc = fake.run("enable")
    assert proc.returncode == 0, proc.stderr
    assert conf(fake) == "# mine\nenabled=yes\napt_guard=refuse\n"
    assert not (fake.lower / "etc/ro-root.disable-once").exists()


def test_disable_once_creates_the_request_on_the_real_root(fake: Fake) -> None:
    proc = fake.run("disable", "--once")
    assert proc.returncode == 0, proc.stderr
    assert (fake.lower / "etc/ro-root.disable-once").is_file()
    assert not (fake.lower / "etc/ro-root.conf").exists()
    assert fake.lower_mode() == "ro"


# --- diff, commit -----------------------------------------------------------------------------


def layers(fake: Fake) -> None:
    """lower: etc/keep, etc/gone, etc/old/{a,b}, etc/same/; upper: etc/new, etc/keep changed,
    etc/gone whited out, etc/old opaque (only c), etc/fstab (the boot's)."""
    for root in (fake.lower, fake.merged):
        (root / "etc/old").mkdir(parents=True, exist_ok=True)
        (root / "etc/same").mkdir(exist_ok=True)
    (fake.lower / "etc/keep").write_text("old\n")
    (fake.lower / "etc/gone").write_text("x\n")
    (fake.lower / "etc/old/a").write_text("a\n")
    (fake.lower / "etc/old/b").write_text("b\n")
    (fake.upper / "etc/old").mkdir(parents=True)
    (fake.upper / "etc/same").mkdir()
    (fake.upper / "etc/old/c").write_text("c\n")
    (fake.upper / "etc/new").write_text("new\n")
    (fake.upper / "etc/keep").write_text("changed\n")
    (fake.upper / "etc/fstab").write_text("# written at boot\n")
    os.mknod(fake.upper / "etc/gone", 0o600 | 0o020000, os.makedev(0, 0))
    # The merged view, as overlayfs would show it.
    (fake.merged / "etc/old/c").write_text("c\n")
    (fake.merged / "etc/new").write_text("new\n")
    (fake.merged / "etc/keep").write_text("changed\n")
    (fake.merged / "etc/fstab").write_text("# written at boot\n")
    (fake.upper / "ro").mkdir()


def test_diff_lists_added_modified_deleted_and_replaced(fake: Fake) -> None:
    layers(fake)
    proc = fake.run("diff")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "D /etc/gone",
        "M /etc/keep",
        "A /etc/new",
        "O /etc/old",
        "A /etc/old/c",
    ]


def test_diff_needs_the_overlay(fake: Fake) -> None:
    fake.set_state("skipped", "x")
    proc = fake.run("diff")
    assert proc.returncode == 1
    one_error(proc, "not active")


def test_commit_copies_the_named_paths_only(fake: Fake) -> None:
    layers(fake)
    (fake.upper / "etc/deep/er").mkdir(parents=True)
    (fake.merged / "etc/deep/er").mkdir(parents=True)
    (fake.merged / "etc/deep").chmod(0o700)
    (fake.upper / "etc/deep/er/file").write_text("deep\n")
    (fake.merged / "etc/deep/er/file").write_text("deep\n")
    proc = fake.run("commit", "/etc/keep", "/etc/gone", "/etc/deep/er/file")
    assert proc.returncode == 0, proc.stderr
    assert (fake.lower / "etc/keep").read_text() == "changed\n"
    assert not (fake.lower / "etc/gone").exists()
    assert (fake.lower / "etc/deep/er/file").read_text() == "deep\n"
    assert (fake.lower / "etc/deep").stat().st_mode & 0o777 == 0o700
    assert not (fake.lower / "etc/new").exists()
    assert (fake.lower / "etc/old/a").exists()
    assert fake.lower_mode() == "ro"
    assert not list((fake.lower / "etc").glob(".ro-root-commit*"))


def test_commit_of_a_replaced_directory_replaces_it(fake: Fake) -> None:
    layers(fake)
    proc = fake.run("commit", "/etc/old")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (fake.lower / "etc/old").iterdir()) == ["c"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/etc/never", ("has not changed",)),
        ("/etc/fstab", ("written by ro-root at every boot",)),
        ("/proc/cmdline", ("not part of the overlay",)),
        ("/", ("whole root",)),
        ("/etc/with space", ("white space",)),
    ],
)
def test_commit_refuses_bad_paths_before_touching_anything(
    fake: Fake, path: str, words: tuple[str, ...]
) -> None:
    layers(fake)
    proc = fake.run("commit", "/etc/keep", path)
    assert proc.returncode == 1
    one_error(proc, *words)
    assert fake.call_list() == []
    assert (fake.lower / "etc/keep").read_text() == "old\n"


def test_diff_reads_the_upper_layer_of_a_persistent_device(fake: Fake) -> None:
    # mode=device:SPEC: the device is on /rw, its upper directory is ro-root/upper.
    fake.upper.rmdir()
    device_upper = fake.rw / "ro-root" / "upper"
    (device_upper / "etc").mkdir(parents=True)
    (device_upper / "etc" / "kept").write_text("persistent\n")
    (fake.merged / "etc" / "kept").write_text("persistent\n")
    proc = fake.run("diff")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["A /etc/kept"]


def test_diff_hides_the_mount_points_the_boot_made_for_data_mounts(fake: Fake) -> None:
    (fake.run_dir / "settings").write_text("data_mounts_active=LABEL=data:/srv/data\n")
    (fake.upper / "srv" / "data").mkdir(parents=True)
    (fake.merged / "srv" / "data").mkdir(parents=True)
    (fake.lower / "srv").mkdir()
    (fake.upper / "etc").mkdir()
    (fake.upper / "etc" / "fstab").write_text("x\n")
    proc = fake.run("diff")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


# --- issue 12: the defects the copies of the shell logic caused ------------------------------


def test_exec_of_a_new_kernel_rebuilds_the_initrd(fake: Fake) -> None:
    kernel(fake, "6.1.0-1")
    proc = fake.run("exec", "sh", "-c", "echo k2 >boot/vmlinuz-6.1.0-1")
    assert proc.returncode == 0, proc.stderr
    assert "update-initramfs -u -k 6.1.0-1" in fake.call_list()


def run_with_dead_pipe(fake: Fake, *args: str) -> subprocess.CompletedProcess[str]:
    """`ro-root ARGS` writing to a pipe whose reader is gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            ["dash", "-c", fake.script(), "ro-root", *args],
            cwd=fake.tmp,
            env=fake.env(),
            stdout=write_end,
            stderr=write_end,
            check=False,
            timeout=60,
            text=True,
        )
    finally:
        os.close(write_end)


def test_exec_with_a_dead_pipe_still_closes_the_window(fake: Fake) -> None:
    # `ro-root exec CMD 2>&1 | tee log` and Ctrl-C: tee is gone, and every message ro-root
    # writes afterwards gets SIGPIPE. The window must close all the same (defect 4).
    fake.device_ro(True)
    proc = run_with_dead_pipe(fake, "exec", "sh", "-c", "echo x >made")
    assert (fake.lower / "made").read_text() == "x\n"
    assert fake.lower_mode() == "ro"
    assert fake.device_is_ro()
    assert lock_is_free(fake)
    # The command's own status: its work is done and kept.
    assert proc.returncode == 0


def test_an_early_exit_of_the_ram_copy_removes_it(fake: Fake) -> None:
    copy = fake.run_dir / "ro-root.4242"
    copy.write_text("# a copy\n")
    proc = fake.run("frobnicate", RO_ROOT_COPY=str(copy))
    assert proc.returncode == 2
    assert not copy.exists()


def test_a_file_that_is_no_ram_copy_is_never_removed(fake: Fake) -> None:
    other = fake.tmp / "precious"
    other.write_text("keep\n")
    fake.run("frobnicate", RO_ROOT_COPY=str(other))
    assert other.exists()


def test_a_failed_make_rslave_leaves_no_bind_mount(fake: Fake) -> None:
    proc = fake.run("exec", "true", FAKE_FAIL="--make-rslave")
    assert proc.returncode == 125
    binds = [c.split()[-1] for c in fake.call_list() if c.startswith("mount --rbind")]
    unmounted = [c.split()[-1] for c in fake.call_list() if c.startswith("umount -R")]
    assert binds and set(binds) <= set(unmounted)
    assert fake.lower_mode() == "ro"


def test_exec_forbids_service_starts_in_the_window(fake: Fake) -> None:
    (fake.lower / "usr/sbin").mkdir(parents=True)
    proc = fake.run("exec", "true")
    assert proc.returncode == 0, proc.stderr
    policy = fake.lower / "usr/sbin/policy-rc.d"
    assert f"mount --bind {fake.run_dir}/policy-rc.d {policy}" in fake.call_list()
    # The placeholder it bound over is gone again, and so is the script.
    assert not policy.exists() and not (fake.run_dir / "policy-rc.d").exists()


def test_an_admins_policy_rc_d_is_left_as_it_was(fake: Fake) -> None:
    (fake.lower / "usr/sbin").mkdir(parents=True)
    policy = fake.lower / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    assert fake.run("exec", "true").returncode == 0
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_diff_shows_a_name_with_a_line_break_and_commit_refuses_it(fake: Fake) -> None:
    layers(fake)
    (fake.upper / "etc/odd\nname").write_text("x\n")
    (fake.merged / "etc/odd\nname").write_text("x\n")
    proc = fake.run("diff")
    assert proc.returncode == 0, proc.stderr
    assert "? /etc/odd?name" in proc.stdout.splitlines()
    assert "A /etc/new" in proc.stdout.splitlines()
    proc = fake.run("commit", "/etc")
    assert proc.returncode == 1
    one_error(proc, "line break")
    assert fake.call_list() == []


def test_diff_reads_the_upper_directory_the_boot_recorded(fake: Fake) -> None:
    elsewhere = fake.rw / "ro-root" / "upper"
    (elsewhere / "etc").mkdir(parents=True)
    (elsewhere / "etc" / "kept").write_text("x\n")
    (fake.merged / "etc" / "kept").write_text("x\n")
    (fake.upper / "etc").mkdir()
    (fake.upper / "etc" / "decoy").write_text("x\n")
    (fake.run_dir / "settings").write_text(f"upperdir={elsewhere}\n")
    proc = fake.run("diff")
    assert proc.stdout.splitlines() == ["A /etc/kept"]


def test_status_json_stays_valid_with_invalid_utf8(fake: Fake) -> None:
    (fake.run_dir / "reason").write_bytes(b"over /dev/\xff\xfe odd\n")
    proc = subprocess.run(
        ["dash", "-c", fake.script(), "ro-root", "status", "--json"],
        cwd=fake.tmp,
        env=fake.env(),
        capture_output=True,
        check=False,
    )
    data = json.loads(proc.stdout.decode("utf-8"))
    assert data["reason"].startswith("over /dev/")


def test_status_of_a_btrfs_upper_without_inode_counts_is_not_full(fake: Fake) -> None:
    (fake.run_dir / "settings").write_text("mode=device:LABEL=up\nupper=/dev/vdb\n")
    got = json.loads(
        fake.run(
            "status", "--json", FAKE_DF="100000 1000 99000 1% /rw", FAKE_DF_I="0 0 0 - /rw"
        ).stdout
    )
    assert got["upper_usage"] == "ok"


@pytest.mark.parametrize(
    "conf",
    ["enabled = no\n", "enabled=no \n", "enabled='no'\r\n", "  enabled\t=\tno\n"],
)
def test_status_reads_the_next_boot_as_the_boot_does(fake: Fake, conf: str) -> None:
    (fake.lower / "etc" / "ro-root.conf").write_text(conf)
    assert json.loads(fake.run("status", "--json").stdout)["next_boot"] == "writable"


def test_disable_keeps_a_symlinked_config_and_its_mode(fake: Fake) -> None:
    real = fake.lower / "srv" / "ro-root.conf"
    real.parent.mkdir()
    real.write_text("# mine\nenabled = yes\nsize=64m\n")
    real.chmod(0o600)
    (fake.lower / "etc" / "ro-root.conf").symlink_to(real)
    proc = fake.run("disable")
    assert proc.returncode == 0, proc.stderr
    assert (fake.lower / "etc" / "ro-root.conf").is_symlink()
    assert real.read_text() == "# mine\nenabled=no\nsize=64m\n"
    assert real.stat().st_mode & 0o777 == 0o600


# --- the window's other file systems: /boot, /boot/efi, /boot/firmware, /var (issue 13) -------


def boot_partitions(fake: Fake, *extra: str) -> None:
    """The running system has the real /boot and /boot/efi mounted read-only (the boot's
    fstab, other_filesystems=ro), as on a Debian UEFI install with a separate /boot."""
    with fake.table.open("a") as table:
        table.write(f"/dev/vda2 {fake.merged}/boot ext4 ro,relatime 0 0\n")
        table.write(f"/dev/vda1 {fake.merged}/boot/efi vfat ro,relatime 0 0\n")
        for line in extra:
            table.write(line + "\n")
    for name in ("vda1", "vda2"):
        (fake.tmp / "sys" / name).mkdir(exist_ok=True)
        (fake.tmp / "sys" / name / "ro").write_text("0\n")


def table_line(fake: Fake, mountpoint: Path) -> list[str]:
    lines = [ln.split() for ln in fake.table.read_text().splitlines()]
    return [ln for ln in lines if ln[1] == str(mountpoint)][-1] if lines else []


def mounted(fake: Fake, mountpoint: Path) -> bool:
    return any(ln.split()[1] == str(mountpoint) for ln in fake.table.read_text().splitlines())


# What the chrooted command saw of the table: the window's mounts and their modes.
SEE_TABLE = 'cat "$FAKE_TABLE" >seen'


def seen(fake: Fake) -> dict[str, str]:
    lines = (fake.lower / "seen").read_text().splitlines()
    return {ln.split()[1]: ln.split()[3].split(",")[0] for ln in lines}


def test_exec_mounts_boot_and_efi_writable_at_the_same_paths_and_restores_them(
    fake: Fake,
) -> None:
    boot_partitions(fake)
    proc = fake.run("exec", "sh", "-c", SEE_TABLE)
    assert proc.returncode == 0, proc.stderr
    lower, merged = fake.lower, fake.merged
    # In the window the command sees both writable, below the real root, /boot first.
    assert seen(fake)[f"{lower}/boot"] == "rw"
    assert seen(fake)[f"{lower}/boot/efi"] == "rw"
    # The running system's own mounts stayed read-only all along.
    assert seen(fake)[f"{merged}/boot"] == "ro" and seen(fake)[f"{merged}/boot/efi"] == "ro"
    calls = fake.call_list()
    assert calls.index(f"mount --bind {merged}/boot {lower}/boot") < calls.index(
        f"mount --bind {merged}/boot/efi {lower}/boot/efi"
    )
    # Closed deepest first: read-only again, then unmounted, then the root read-only.
    close = [
        f"mount -o remount,ro {lower}/boot/efi",
        f"umount {lower}/boot/efi",
        f"mount -o remount,ro {lower}/boot",
        f"umount {lower}/boot",
        f"mount -o remount,ro {lower}",
    ]
    positions = [calls.index(c) for c in close]
    assert positions == sorted(positions)
    assert not mounted(fake, lower / "boot") and not mounted(fake, lower / "boot/efi")
    assert table_line(fake, merged / "boot")[3].startswith("ro,")
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_exec_mounts_a_boot_partition_the_running_system_lacks_from_the_real_fstab(
    fake: Fake,
) -> None:
    (fake.lower / "etc/fstab").write_text(
        "# <file system> <mount point> <type> <options> <dump> <pass>\n"
        "UUID=1111 / ext4 errors=remount-ro 0 1\n"
        "UUID=AB-CD /boot/firmware vfat umask=0077 0 2\n"
        "UUID=2222 /boot/efi vfat noauto 0 2\n"
        "UUID=3333 /srv ext4 defaults 0 2\n"
    )
    proc = fake.run("exec", "sh", "-c", SEE_TABLE)
    assert proc.returncode == 0, proc.stderr
    lower = fake.lower
    calls = fake.call_list()
    # Read-only first, as a writable second mount of a read-only file system is refused.
    assert f"mount -t vfat -o umask=0077,ro UUID=AB-CD {lower}/boot/firmware" in calls
    assert f"mount -o remount,rw {lower}/boot/firmware" in calls
    assert seen(fake)[f"{lower}/boot/firmware"] == "rw"
    # noauto (a writable boot would not mount it) and /srv (no package writes it): left alone.
    assert not [c for c in calls if "/boot/efi" in c or "/srv" in c]
    assert not mounted(fake, lower / "boot/firmware")
    assert fake.lower_mode() == "ro"


def test_exec_refuses_to_run_when_a_boot_partition_cannot_be_mounted(fake: Fake) -> None:
    boot_partitions(fake)
    proc = fake.run("exec", "touch", "made", FAKE_FAIL=f"{fake.merged}/boot/efi")
    assert proc.returncode == 125
    said = [ln for ln in proc.stderr.splitlines() if ln.startswith("ro-root: ")]
    assert said[0].startswith("ro-root: could not make the real system's /boot/efi writable")
    assert "nothing was run" in said[0]
    assert not (fake.lower / "made").exists()
    assert not mounted(fake, fake.lower / "boot")
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


@pytest.mark.parametrize(
    "script",
    [
        "kill -KILL $$",
        # Ctrl-C or a dead terminal: ro-root waits for the command, then closes.
        'kill -INT "$(cat "$FAKE_DIR/ro-root.pid")"; kill -HUP "$(cat "$FAKE_DIR/ro-root.pid")"',
        "exit 3",
    ],
)
def test_exec_makes_the_boot_partitions_read_only_again_however_it_ends(
    fake: Fake, script: str
) -> None:
    boot_partitions(fake)
    fake.run("exec", "sh", "-c", script)
    assert not mounted(fake, fake.lower / "boot") and not mounted(fake, fake.lower / "boot/efi")
    assert f"mount -o remount,ro {fake.lower}/boot" in fake.call_list()
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_exec_with_a_dead_pipe_makes_the_boot_partitions_read_only_again(fake: Fake) -> None:
    boot_partitions(fake)
    run_with_dead_pipe(fake, "exec", "sh", "-c", "echo x >made")
    assert f"mount -o remount,ro {fake.lower}/boot/efi" in fake.call_list()
    assert not mounted(fake, fake.lower / "boot")
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_exec_says_loudly_when_a_boot_partition_stays_writable(fake: Fake) -> None:
    boot_partitions(fake)
    busy = f"{fake.lower}/boot/efi"
    proc = fake.run("exec", "true", FAKE_BUSY="100", FAKE_BUSY_ON=busy)
    assert proc.returncode == 125
    assert "the real system's /boot/efi is still WRITABLE" in proc.stderr
    assert f"mount -o remount,ro {busy}" in proc.stderr
    # Left mounted where the message says; the rest is closed as usual.
    assert table_line(fake, Path(busy))[3].startswith("rw,")
    assert not mounted(fake, fake.lower / "boot") or table_line(fake, fake.lower / "boot")[
        3
    ].startswith("ro,")
    assert fake.lower_mode() == "ro" and lock_is_free(fake)


def test_exec_leaves_a_writable_var_writable(fake: Fake) -> None:
    # A data mount (or other_filesystems=keep): writable before, writable after.
    with fake.table.open("a") as table:
        table.write(f"/dev/vdb {fake.merged}/var ext4 rw,relatime 0 0\n")
    proc = fake.run("exec", "sh", "-c", SEE_TABLE)
    assert proc.returncode == 0, proc.stderr
    assert seen(fake)[f"{fake.lower}/var"] == "rw"
    calls = fake.call_list()
    assert f"mount --bind {fake.merged}/var {fake.lower}/var" in calls
    assert f"mount -o remount,ro {fake.lower}/var" not in calls
    assert f"umount {fake.lower}/var" in calls


def test_exec_lifts_a_boot_partitions_device_protection_for_its_window_only(fake: Fake) -> None:
    boot_partitions(fake)
    (fake.tmp / "sys/vda2/ro").write_text("1\n")
    proc = fake.run("exec", "true")
    assert proc.returncode == 0, proc.stderr
    calls = fake.call_list()
    assert calls.index("blockdev --setrw /dev/vda2") < calls.index(
        f"mount -o remount,rw {fake.lower}/boot"
    )
    assert calls.index(f"mount -o remount,ro {fake.lower}/boot") < calls.index(
        "blockdev --setro /dev/vda2"
    )
    assert (fake.tmp / "sys/vda2/ro").read_text() == "1\n"


@pytest.mark.parametrize("args", [("enable",), ("disable",), ("disable", "--once")])
def test_enable_and_disable_open_the_same_window(fake: Fake, args: tuple[str, ...]) -> None:
    boot_partitions(fake)
    proc = fake.run(*args)
    assert proc.returncode == 0, proc.stderr
    assert f"mount --bind {fake.merged}/boot/efi {fake.lower}/boot/efi" in fake.call_list()
    assert not mounted(fake, fake.lower / "boot")
    assert fake.lower_mode() == "ro"


# --- the flag file on a boot partition (issue 13) ---------------------------------------------


def test_status_counts_a_flag_file_on_the_esp_as_writable_once(fake: Fake) -> None:
    (fake.merged / "boot/efi").mkdir(parents=True)
    (fake.merged / "boot/efi/ro-root.disable-once").write_text("")
    assert status_json(fake)[1]["next_boot"] == "writable-once"


def test_enable_cancels_a_flag_file_on_a_boot_partition(fake: Fake) -> None:
    boot_partitions(fake)
    # In the window the real ESP is the real root's /boot/efi (the fake binds nothing).
    (fake.lower / "boot/firmware").mkdir(parents=True)
    flag = fake.lower / "boot/firmware/ro-root.disable-once"
    flag.write_text("")
    proc = fake.run("enable")
    assert proc.returncode == 0, proc.stderr
    assert not flag.exists()


def test_status_warns_when_the_loaders_copy_of_the_initrd_differs(fake: Fake) -> None:
    # Debian's raspi-firmware: the firmware reads /boot/firmware/initrd.img-VERSION, a copy.
    firmware = fake.merged / "boot/firmware"
    firmware.mkdir(parents=True)
    (fake.tmp / "boot/initrd.img-6.1.0-99-amd64").write_text("new\n")
    (firmware / "initrd.img-6.1.0-99-amd64").write_text("old\n")
    proc = fake.run("status")
    assert f"the boot loader reads {firmware}/initrd.img-6.1.0-99-amd64, which differs" in (
        proc.stdout + proc.stderr
    )
    (firmware / "initrd.img-6.1.0-99-amd64").write_text("new\n")
    proc = fake.run("status")
    assert "the boot loader reads" not in proc.stdout + proc.stderr
