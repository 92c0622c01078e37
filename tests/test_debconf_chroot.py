"""debconf in a real Debian 12 root (chroot): preseeded installs, reconfigure, purge, warnings.

What a user does: feed `build.py preseed --selections` to debconf-set-selections, install
the package without a terminal, edit /etc/ro-root.conf, change an answer and reconfigure,
purge. One kernel, initrds built with MODULES=list (seconds): the boots are the VM tests'.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, build_deb, chroot_sh, run_build, unpack_test_root

from testbed import images

pytestmark = pytest.mark.chroot

CONF = "/etc/ro-root.conf"
MANAGED = ("enabled", "mode", "size", "data_mounts", "failure_policy")


class Root:
    def __init__(self, path: Path) -> None:
        self.path = path

    def sh(
        self, script: str, check: bool = True, frontend: str = "noninteractive"
    ) -> subprocess.CompletedProcess[str]:
        return chroot_sh(self.path, script, check=check, frontend=frontend, timeout=600)

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def preseed(self, lines: str) -> None:
        self.file("/tmp/answers").write_text(lines)
        self.sh("debconf-set-selections /tmp/answers")

    def install(self, deb: Path, frontend: str = "noninteractive") -> str:
        shutil.copyfile(deb, self.file(f"/tmp/{deb.name}"))
        proc = self.sh(
            f"apt-get install -y --no-install-recommends /tmp/{deb.name}", frontend=frontend
        )
        return proc.stdout + proc.stderr

    def conf(self) -> dict[str, str]:
        """KEY=VALUE lines of /etc/ro-root.conf, quotes removed (as ro-root.conf(5) reads)."""
        values = {}
        for line in self.file(CONF).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.strip().partition("=")
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                values[key] = value
        return values

    def debconf(self) -> dict[str, str]:
        """ro-root's answers as debconf-show prints them (QUESTION: VALUE)."""
        answers = {}
        for line in self.sh("debconf-show ro-root").stdout.splitlines():
            name, _, value = line.lstrip(" *").partition(":")
            answers[name] = value.strip()
        return answers


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    tree = tmp_path / "root"
    tree.mkdir()
    # A system that has been booted once has its machine ID.
    unpack_test_root(tree, machine_id=True)
    with images.chroot_mounts(tree):
        yield Root(tree)
    shutil.rmtree(tree)


def selections(*args: str) -> str:
    proc = run_build(REPO, "preseed", "--selections", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def shipped_default() -> list[str]:
    return (REPO / "debian/ro-root.conf").read_text().splitlines()


def test_preseeded_noninteractive_install_writes_exactly_the_answers(root: Root, deb: Path) -> None:
    root.preseed(
        selections(
            "--mode",
            "device",
            "--device",
            "LABEL=ro-upper",
            "--size",
            "1g",
            "--data-mounts",
            "LABEL=data:/var/local/data UUID=0a1b-2c3d:/srv/db",
            "--failure-policy",
            "ro",
        )
    )
    out = root.install(deb)
    assert "ro-root: warning" not in out
    conf = root.conf()
    assert {key: conf[key] for key in MANAGED} == {
        "enabled": "yes",
        "mode": "device:LABEL=ro-upper",
        "size": "1g",
        "data_mounts": "LABEL=data:/var/local/data UUID=0a1b-2c3d:/srv/db",
        "failure_policy": "ro",
    }
    # Everything else is the shipped default, line for line.
    lines = root.file(CONF).read_text().splitlines()
    assert len(lines) == len(shipped_default())
    for mine, default in zip(lines, shipped_default(), strict=True):
        if not default.startswith(tuple(f"{key}=" for key in MANAGED)):
            assert mine == default
    stat = root.file(CONF).stat()
    assert (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) == (0o644, 0, 0)
    # Not a conffile: dpkg does not track it.
    assert CONF not in root.sh("dpkg-query -W -f='${Conffiles}' ro-root").stdout
    assert not list(root.file("/etc").glob("ro-root.conf.*"))


def test_preseeded_answers_leave_no_question_even_at_priority_low(root: Root, deb: Path) -> None:
    # An interactive frontend that would print any question asked; every question is
    # preseeded (and so seen), so none may appear.
    root.preseed(selections("--size", "30%"))
    shutil.copyfile(deb, root.file(f"/tmp/{deb.name}"))
    proc = root.sh(
        f"DEBIAN_PRIORITY=low apt-get install -y --no-install-recommends /tmp/{deb.name}",
        frontend="teletype",
    )
    out = proc.stdout + proc.stderr
    for prompt in (
        "Boot with a read-only root",
        "Where changes to the root",
        "Size limit of the writable layer",
        "Persistent data file systems",
        "Behavior of a boot",
    ):
        assert prompt not in out
    assert root.conf()["size"] == "30%"


def test_admin_edits_survive_reconfigure_and_a_changed_answer_is_applied(
    root: Root, deb: Path
) -> None:
    root.install(deb)
    assert root.conf()["failure_policy"] == "rw"
    text = root.file(CONF).read_text()
    text = text.replace("device_timeout=10\n", "# kiosk 7: slow USB stick\ndevice_timeout=45\n")
    text = text.replace("size=50%\n", "size='2g'\n")  # an edit of a managed key
    text += "swap=keep\n"
    root.file(CONF).write_text(text)

    root.preseed("ro-root ro-root/failure_policy select panic\n")
    root.sh("dpkg-reconfigure -fnoninteractive ro-root")

    after = root.file(CONF).read_text()
    assert "# kiosk 7: slow USB stick\ndevice_timeout=45\n" in after
    assert after.endswith("swap=keep\n")
    conf = root.conf()
    assert conf["failure_policy"] == "panic"  # the changed answer
    assert conf["size"] == "2g"  # the admin's edit, now also the answer
    assert root.debconf()["ro-root/size"] == "2g"
    assert root.debconf()["ro-root/failure_policy"] == "panic"

    # And once more with nothing changed: the file stays as it is.
    before = root.file(CONF).read_bytes()
    root.sh("dpkg-reconfigure -fnoninteractive ro-root")
    assert root.file(CONF).read_bytes() == before


def test_disabling_by_reconfigure_writes_enabled_no(root: Root, deb: Path) -> None:
    root.install(deb)
    root.preseed("ro-root ro-root/enabled boolean false\n")
    root.sh("dpkg-reconfigure -fnoninteractive ro-root")
    assert root.conf()["enabled"] == "no"


def test_invalid_preseeded_size_installs_with_the_default_and_a_warning(
    root: Root, deb: Path
) -> None:
    root.preseed(
        "ro-root ro-root/size string lots\n"
        "ro-root ro-root/mode select device\n"
        "ro-root ro-root/device string /dev/sdb1\n"
        "ro-root ro-root/data_mounts string LABEL=data:/ro/x\n"
    )
    out = root.install(deb)
    assert "ro-root: warning: ro-root/size 'lots' cannot be used" in out
    assert "using the default '50%'" in out
    assert "ro-root: warning: ro-root/device '/dev/sdb1' cannot be used" in out
    assert "ro-root: warning: ro-root/data_mounts 'LABEL=data:/ro/x' cannot be used" in out
    conf = root.conf()
    assert (conf["size"], conf["mode"], conf["data_mounts"]) == ("50%", "tmpfs", "")
    assert root.debconf()["ro-root/size"] == "50%"
    assert root.sh("dpkg-query -W -f='${Status}' ro-root").stdout == "install ok installed"


def test_garbage_in_the_conf_file_is_not_executed_nor_taken(root: Root, deb: Path) -> None:
    root.install(deb)
    text = root.file(CONF).read_text().replace("size=50%\n", "size=$(touch /tmp/pwned)\n")
    root.file(CONF).write_text(text + "mode=`touch /tmp/pwned2`\n")
    out = root.sh("dpkg-reconfigure -fnoninteractive ro-root")
    assert not root.file("/tmp/pwned").exists() and not root.file("/tmp/pwned2").exists()
    assert "ignoring size=$(touch /tmp/pwned)" in out.stderr
    conf = root.conf()
    assert (conf["size"], conf["mode"]) == ("50%", "tmpfs")


def test_purge_removes_the_conf_file_and_the_debconf_answers(root: Root, deb: Path) -> None:
    root.preseed(selections("--size", "1g"))
    root.install(deb)
    assert root.file(CONF).is_file()
    assert root.debconf()
    root.sh("apt-get remove -y ro-root")
    # Removal keeps the configuration, as for a conffile.
    assert root.conf()["size"] == "1g"
    root.sh("apt-get purge -y ro-root")
    assert not root.file(CONF).exists()
    assert not list(root.file("/etc").glob("ro-root.conf*"))
    assert not root.file("/var/lib/ro-root").exists()
    assert root.sh("debconf-show ro-root").stdout == ""
    for db in ("config.dat", "templates.dat"):
        assert "ro-root/" not in root.file(f"/var/cache/debconf/{db}").read_text(), db


def test_missing_machine_id_and_ssh_host_keys_are_warned_at_install(root: Root, deb: Path) -> None:
    root.file("/etc/machine-id").write_text("")
    root.file("/etc/ssh").mkdir(exist_ok=True)
    root.file("/etc/ssh/sshd_config").write_text("# openssh-server without host keys\n")
    out = root.install(deb)
    assert "ro-root: warning: /etc/machine-id is missing, empty or uninitialized" in out
    assert "systemd-machine-id-setup" in out
    assert "ro-root: warning: openssh-server has no host keys" in out
    assert "ssh-keygen -A" in out

    root.file("/etc/machine-id").write_text("uninitialized\n")
    out = root.sh("dpkg-reconfigure -fnoninteractive ro-root").stderr
    assert "/etc/machine-id is missing, empty or uninitialized" in out
    root.file("/etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    root.file("/etc/ssh/ssh_host_ed25519_key").write_text("")
    out = root.sh("dpkg-reconfigure -fnoninteractive ro-root").stderr
    assert "warning" not in out


@pytest.mark.parametrize(
    "edits",
    [
        'enabled = no\ndata_mounts = "LABEL=data:/var/lib/app"\n',
        "enabled=no \ndata_mounts='LABEL=data:/var/lib/app'  \n",
        'enabled\t=\tno\r\ndata_mounts="LABEL=data:/var/lib/app"\r\n',
    ],
)
def test_admin_edits_in_any_form_the_boot_accepts_survive_reconfigure(
    root: Root, deb: Path, edits: str
) -> None:
    # Issue 12, defect 1: postinst did not recognise these lines and appended enabled=yes and
    # data_mounts="", turning the overlay back on and dropping the data mount at the next boot.
    root.install(deb)
    text = "".join(
        line
        for line in root.file(CONF).read_text().splitlines(keepends=True)
        if not line.startswith(("enabled=", "data_mounts="))
    )
    root.file(CONF).write_text(text + edits)
    root.sh("dpkg-reconfigure -fnoninteractive ro-root")
    lines = root.file(CONF).read_text().splitlines()
    assert [line for line in lines if line.startswith("enabled")] == ["enabled=no"]
    assert [line for line in lines if line.startswith("data_mounts")] == [
        'data_mounts="LABEL=data:/var/lib/app"'
    ]
    assert root.debconf()["ro-root/enabled"] == "false"
    assert root.debconf()["ro-root/data_mounts"] == "LABEL=data:/var/lib/app"


def test_reconfigure_writes_a_symlinked_config_where_it_points_and_keeps_its_mode(
    root: Root, deb: Path
) -> None:
    root.install(deb)
    root.sh("mkdir -p /srv/conf && mv /etc/ro-root.conf /srv/conf/ro-root.conf")
    root.sh("chmod 0600 /srv/conf/ro-root.conf && ln -s /srv/conf/ro-root.conf /etc/ro-root.conf")
    root.preseed("ro-root ro-root/size string 25%\n")
    root.sh("dpkg-reconfigure -fnoninteractive ro-root")
    assert root.file(CONF).is_symlink()
    target = root.file("/srv/conf/ro-root.conf")
    assert "size=25%" in target.read_text().splitlines()
    assert target.stat().st_mode & 0o777 == 0o600
