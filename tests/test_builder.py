"""The builder: what `python3 build.py` writes, and how it refuses bad input."""

from __future__ import annotations

import datetime
import email.utils
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from debian.changelog import Changelog
from debian.deb822 import Deb822
from support import (
    REPO,
    add_changelog_entry,
    assert_one_error_line,
    build_deb,
    copy_source,
    run_build,
)


def changelog_version() -> str:
    return str(Changelog((REPO / "debian/changelog").read_text()).version)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    path = build_deb(out)
    assert path.parent == out
    return path


def control_of(deb: Path) -> Deb822:
    out = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, check=True).stdout
    return Deb822(out.decode())


def data_members(deb: Path) -> dict[str, tarfile.TarInfo]:
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers()}


def data_file(deb: Path, name: str) -> bytes:
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tar:
        member = tar.extractfile(f"./{name}")
        assert member is not None
        return member.read()


def control_file(deb: Path, name: str, tmp_path: Path) -> str:
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "DEBIAN")], check=True)
    return (tmp_path / "DEBIAN" / name).read_text()


# --- what is built -------------------------------------------------------------------------


def test_default_command_builds_into_dist_and_prints_the_path(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    proc = run_build(tree)
    assert proc.returncode == 0, proc.stderr
    expected = tree / "dist" / f"ro-root_{changelog_version()}_all.deb"
    assert proc.stdout.strip().splitlines()[-1] == str(expected)
    assert expected.is_file()
    assert sorted(p.name for p in (tree / "dist").iterdir()) == [expected.name]
    # lintian's warning about root is for packages from elsewhere, not for this build.
    assert "root privileges" not in proc.stderr


def test_version_comes_from_the_changelog(deb: Path) -> None:
    version = changelog_version()
    assert deb.name == f"ro-root_{version}_all.deb"
    assert control_of(deb)["Version"] == version


def test_version_change_in_changelog_changes_the_package(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    add_changelog_entry(tree, "9.8.7", author="Tester <tester@example.org>")
    proc = run_build(tree, "deb", "--out", str(tmp_path / "out"), "--no-lintian")
    assert proc.returncode == 0, proc.stderr
    deb = tmp_path / "out" / "ro-root_9.8.7_all.deb"
    assert control_of(deb)["Version"] == "9.8.7"
    assert control_of(deb)["Maintainer"] == "Tester <tester@example.org>"


def test_control_fields(deb: Path) -> None:
    control = control_of(deb)
    assert control["Package"] == "ro-root"
    assert control["Architecture"] == "all"
    assert control["Section"] == "admin"
    assert control["Priority"] == "optional"
    assert "initramfs-tools" in control["Depends"]
    assert "linux-base" in control["Depends"]  # linux-version, used by postinst and postrm
    assert "debconf (>= 0.5) | debconf-2.0" in control["Depends"]  # config, postinst, postrm
    # ro-root and the checkroot wrapper run mount and umount; mount is not Essential.
    assert "mount" in [d.strip().split()[0] for d in control["Depends"].split(",")]
    assert control["Maintainer"] == Changelog((REPO / "debian/changelog").read_text()).author
    assert control["Description"].startswith("read-only root file system")
    members = data_members(deb)
    sizes = sum((m.size + 1023) // 1024 for m in members.values() if m.isfile())
    others = sum(1 for name, m in members.items() if name and not m.isfile())
    # dpkg-gencontrol's count, with the DEBIAN/ files it also includes (control itself is
    # written after the count).
    raw = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tar:
        control_members = [m for m in tar.getmembers() if m.isfile()]
    sizes += sum((m.size + 1023) // 1024 for m in control_members if m.name != "./control")
    # "others" counts the data tree's "." where dpkg-gencontrol counts DEBIAN/.
    assert int(control["Installed-Size"]) == sizes + others


def test_payload_files_modes_and_owners(deb: Path) -> None:
    members = data_members(deb)
    expected = {
        "usr/share/initramfs-tools/hooks/ro-root": 0o755,
        "usr/share/initramfs-tools/scripts/init-bottom/ro-root": 0o755,
        "usr/share/initramfs-tools/scripts/local-premount/ro-root": 0o755,
        "usr/lib/ro-root/common.sh": 0o644,
        "usr/lib/ro-root/settings.sh": 0o644,
        "usr/lib/ro-root/record.sh": 0o644,
        "usr/lib/ro-root/boot.sh": 0o644,
        "usr/lib/ro-root/command.sh": 0o644,
        "usr/lib/ro-root/window.sh": 0o644,
        "usr/lib/ro-root/changes.sh": 0o644,
        "usr/lib/ro-root/status.sh": 0o644,
        "usr/lib/ro-root/guard.sh": 0o644,
        "usr/lib/ro-root/initrd.sh": 0o644,
        "usr/lib/dracut/modules.d/90ro-root/module-setup.sh": 0o755,
        "usr/lib/dracut/modules.d/90ro-root/ro-root-generator.sh": 0o755,
        "usr/lib/dracut/modules.d/90ro-root/ro-root-pre-pivot.sh": 0o755,
        "usr/libexec/ro-root/checkroot.sh": 0o755,
        "usr/share/doc/ro-root/copyright": 0o644,
        "usr/share/doc/ro-root/changelog.gz": 0o644,
        "usr/share/ro-root/ro-root.conf": 0o644,
        "usr/share/lintian/overrides/ro-root": 0o644,
        "usr/share/doc/ro-root/README.Debian": 0o644,
        "usr/share/man/man5/ro-root.conf.5.gz": 0o644,
        "usr/sbin/ro-root": 0o755,
        "usr/share/man/man8/ro-root.8.gz": 0o644,
        "usr/libexec/ro-root/apt-guard": 0o755,
        "etc/apt/apt.conf.d/20ro-root": 0o644,
        "etc/dpkg/dpkg.cfg.d/ro-root": 0o644,
        "etc/update-motd.d/50-ro-root": 0o755,
    }
    for name, mode in expected.items():
        assert members[name].isfile(), name
        assert members[name].mode == mode, (name, oct(members[name].mode))
    files = {name for name, m in members.items() if m.isfile()}
    assert files == set(expected)
    for name, member in members.items():
        assert (member.uname, member.gname, member.uid, member.gid) == ("root", "root", 0, 0)
        if member.isdir():
            assert member.mode == 0o755, name
    for name in (
        "hooks/ro-root",
        "scripts/init-bottom/ro-root",
        "scripts/local-premount/ro-root",
    ):
        assert data_file(deb, f"usr/share/initramfs-tools/{name}") == (REPO / name).read_bytes()
    for lib in (
        "common",
        "settings",
        "record",
        "boot",
        "command",
        "window",
        "changes",
        "status",
        "guard",
    ):
        path = f"lib/{lib}.sh"
        assert data_file(deb, f"usr/lib/ro-root/{lib}.sh") == (REPO / path).read_bytes()


def test_checkroot_is_a_symlink_to_the_wrapper(deb: Path) -> None:
    link = data_members(deb)["etc/init.d/checkroot.sh"]
    assert link.issym()
    assert link.linkname == "/usr/libexec/ro-root/checkroot.sh"


def test_changelog_is_compressed_without_name_or_time(deb: Path) -> None:
    data = data_file(deb, "usr/share/doc/ro-root/changelog.gz")
    assert data[:2] == b"\x1f\x8b"
    flags, mtime, xfl = data[3], int.from_bytes(data[4:8], "little"), data[8]
    assert flags & 0x08 == 0  # no original file name
    assert mtime == 0
    assert xfl == 2  # maximum compression


def test_mtimes_are_the_changelog_date(deb: Path) -> None:
    changelog = Changelog((REPO / "debian/changelog").read_text())
    from email.utils import parsedate_to_datetime

    epoch = int(parsedate_to_datetime(changelog.date).timestamp())
    assert {m.mtime for m in data_members(deb).values()} == {epoch}


def test_md5sums_cover_every_file(deb: Path, tmp_path: Path) -> None:
    md5sums = control_file(deb, "md5sums", tmp_path)
    listed = {}
    for line in md5sums.splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    members = data_members(deb)
    files = sorted(name for name, m in members.items() if m.isfile())
    assert sorted(listed) == files
    for name in files:
        assert listed[name] == hashlib.md5(data_file(deb, name)).hexdigest(), name


def test_every_file_in_etc_is_a_conffile(deb: Path, tmp_path: Path) -> None:
    conffiles = control_file(deb, "conffiles", tmp_path).splitlines()
    assert conffiles == [
        "/etc/apt/apt.conf.d/20ro-root",
        "/etc/dpkg/dpkg.cfg.d/ro-root",
        "/etc/update-motd.d/50-ro-root",
    ]


def test_prerm_refuses_removal_only_while_the_overlay_is_active(deb: Path, tmp_path: Path) -> None:
    prerm = control_file(deb, "prerm", tmp_path)
    # The shared core's predicate, inlined: false inside `ro-root exec`, where / is the real root.
    assert "remove)\n\tif rr_overlay_active; then" in prerm
    assert "\nrr_overlay_active()\n{" in prerm
    assert "ro-root exec apt-get remove ro-root" in prerm


def test_triggers_activate_update_initramfs(deb: Path, tmp_path: Path) -> None:
    lines = [
        line
        for line in control_file(deb, "triggers", tmp_path).splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == ["activate-noawait update-initramfs"]


def test_maintainer_scripts_divert_and_restore_checkroot_with_one_name(
    deb: Path, tmp_path: Path
) -> None:
    divert = (
        "dpkg-divert --package ro-root --{action} --rename \\\n"
        "\t\t--divert /etc/init.d/checkroot.sh.ro-root.orig /etc/init.d/checkroot.sh"
    )
    assert divert.format(action="add") in control_file(deb, "preinst", tmp_path)
    postrm = (tmp_path / "DEBIAN" / "postrm").read_text()
    assert divert.format(action="remove") in postrm
    assert "remove | abort-install | disappear)" in postrm
    wrapper = (REPO / "libexec/checkroot.sh").read_text()
    assert "ORIGINAL=/etc/init.d/checkroot.sh.ro-root.orig\n" in wrapper
    assert "# Provides:          checkroot mtab\n" in wrapper
    for name in ("config", "preinst", "postinst", "prerm", "postrm"):
        mode = (tmp_path / "DEBIAN" / name).stat().st_mode & 0o777
        assert mode == 0o755, name
        assert "{{" not in (tmp_path / "DEBIAN" / name).read_text()


def test_debconf_templates_and_config_are_in_the_control_area(deb: Path, tmp_path: Path) -> None:
    templates = control_file(deb, "templates", tmp_path)
    assert templates == (REPO / "debian/templates").read_text()
    control = tmp_path / "DEBIAN"
    assert (control / "templates").stat().st_mode & 0o777 == 0o644
    assert (control / "config").stat().st_mode & 0o777 == 0o755
    config = (control / "config").read_text()
    assert config.startswith("#!/bin/sh\n")
    assert "\n. /usr/share/debconf/confmodule\n" in config
    postinst = (control / "postinst").read_text()
    assert "\n. /usr/share/debconf/confmodule\n" in postinst
    # The debconf conversation ends before the initrd rebuilds.
    assert postinst.index("\tdb_stop\n") < postinst.index("\tro_root_update_other_initrds fatal")
    postrm = (control / "postrm").read_text()
    assert "db_purge" in postrm
    assert "rm -f /etc/ro-root.conf " in postrm
    # Written by postinst, so not a conffile (Policy 10.7.3).
    conffiles = (control / "conffiles").read_text().splitlines()
    assert "/etc/ro-root.conf" not in conffiles
    for name in ("config", "postinst", "postrm"):
        assert "{{" not in (control / name).read_text() and "{%" not in (control / name).read_text()


def render_man(deb: Path, name: str, tmp_path: Path) -> str:
    """The installed man page NAME (e.g. man5/ro-root.conf.5) as man shows it, at 80
    columns; fails on any warning of man or groff."""
    data = data_file(deb, f"usr/share/man/{name}.gz")
    assert data[:2] == b"\x1f\x8b"
    page = tmp_path / Path(name).name
    page.write_bytes(gzip.decompress(data))
    assert shutil.which("man"), "man is needed (apt-get install man-db)"
    proc = subprocess.run(
        ["man", "--warnings", "-l", str(page)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MANPAGER": "cat"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    groff = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(page)], capture_output=True, text=True, check=False
    )
    assert (groff.returncode, groff.stderr) == (0, "")
    lexgrog = subprocess.run(["lexgrog", str(page)], capture_output=True, text=True, check=False)
    assert lexgrog.returncode == 0 and f'{page}: "ro-root' in lexgrog.stdout, lexgrog.stdout
    return proc.stdout


def test_man_page_of_ro_root_conf_is_compressed_and_renders(deb: Path, tmp_path: Path) -> None:
    text = render_man(deb, "man5/ro-root.conf.5", tmp_path)
    for key in (REPO / "debian/ro-root.conf").read_text().splitlines():
        if key and not key.startswith("#"):
            assert key.split("=")[0] + "=" in text, key
    for word in ("ro-root.size=SIZE", "ro-root.policy=", "allow_cmdline=no", "/run/ro-root/state"):
        assert word in text, word
    # How to change the real file while the overlay is active: through ro-root(8).
    for word in ("ro-root disable", "ro-root enable", "ro-root disable --once", "ro-root exec"):
        assert word in text, word


@pytest.mark.parametrize(
    ("name", "other"),
    [("man8/ro-root.8", "ro-root.conf(5)"), ("man5/ro-root.conf.5", "ro-root(8)")],
)
def test_man_pages_name_each_other_and_the_changelog_version_and_date(
    deb: Path, tmp_path: Path, name: str, other: str
) -> None:
    text = render_man(deb, name, tmp_path)
    see_also = text[text.index("SEE ALSO") :]
    assert other in see_also.split("\n", 2)[1], see_also
    changelog = Changelog((REPO / "debian/changelog").read_text())
    date = email.utils.parsedate_to_datetime(changelog.date).astimezone(datetime.UTC)
    footer = text.rstrip().splitlines()[-1]
    assert f"ro-root {changelog.version}" in footer and date.strftime("%Y-%m-%d") in footer
    assert "{{" not in text and "}}" not in text


def test_exit_codes_of_ro_root_8_are_one_list(deb: Path, tmp_path: Path) -> None:
    text = render_man(deb, "man8/ro-root.8", tmp_path)
    section = text[text.index("EXIT STATUS") : text.index("FILES")]
    # man sets each tag at 7 columns, its text beside it or on the next line.
    tags = [(m.start(), m.group(1)) for m in re.finditer(r"^ {7}(\d+)\b", section, re.M)]
    assert [code for _, code in tags] == ["0", "1", "2", "3", "4", "5", "6", "125"]
    # No paragraph between two codes: the text of 5 is about 5 only.
    five = section[tags[5][0] : tags[6][0]]
    assert "upper_usage" not in five and "nearly full" not in five


# --- reproducibility -----------------------------------------------------------------------


def test_two_builds_are_byte_identical_whatever_clock_tz_umask_and_directory(
    tmp_path: Path,
) -> None:
    assert shutil.which("faketime"), "faketime is needed (make check installs it)"
    old = os.umask(0o002)
    try:
        tree_a = copy_source(tmp_path / "a" / "src")
    finally:
        os.umask(old)
    old = os.umask(0o077)
    try:
        tree_b = copy_source(tmp_path / "b-elsewhere" / "deeper" / "src")
    finally:
        os.umask(old)
    a = run_build(tree_a, "deb", "--no-lintian", env={"TZ": "UTC"})
    b = run_build(
        tree_b,
        "deb",
        "--no-lintian",
        env={"TZ": "Pacific/Kiritimati", "SOURCE_DATE_EPOCH": "1"},
        prefix=("faketime", "2031-05-05 10:00:00", "sh", "-c", 'umask 077; exec "$@"', "sh"),
    )
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    deb_a = Path(a.stdout.strip().splitlines()[-1])
    deb_b = Path(b.stdout.strip().splitlines()[-1])
    assert deb_a.read_bytes() == deb_b.read_bytes()


# --- bad input: one clear line, non-zero exit, nothing in dist/ -----------------------------


def test_unknown_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    proc = run_build(tree, "--frobnicate")
    assert proc.returncode == 2
    assert_one_error_line(proc, "--frobnicate")
    proc = run_build(tree, "deb", "--frobnicate")
    assert proc.returncode == 2
    assert_one_error_line(proc, "--frobnicate")
    proc = run_build(tree, "nonsense")
    assert proc.returncode == 2
    assert_one_error_line(proc, "nonsense")
    assert not (tree / "dist").exists()


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("this is not a changelog\n", "malformed changelog"),
        ("", "malformed changelog"),
        ("ro-root (1.0) unstable; urgency=medium\n\n  * no trailer\n", "malformed changelog"),
        (
            "ro-root (1.0) unstable; urgency=medium\n\n  * x\n\n"
            " -- A <a@example.org>  not a date\n",
            "malformed changelog",
        ),
        (b"\xff\xfe\x00garbage".decode("latin-1"), "changelog"),
    ],
)
def test_malformed_changelog_is_one_line_and_nothing_written(
    tmp_path: Path, text: str, word: str
) -> None:
    tree = copy_source(tmp_path / "src")
    (tree / "debian/changelog").write_text(text, encoding="latin-1")
    proc = run_build(tree)
    assert proc.returncode == 1
    assert_one_error_line(proc, word)
    assert not (tree / "dist").exists() or not list((tree / "dist").iterdir())


def test_unreadable_changelog_is_one_line(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    (tree / "debian/changelog").unlink()
    (tree / "debian/changelog").mkdir()  # unreadable even for root
    proc = run_build(tree)
    assert proc.returncode == 1
    assert_one_error_line(proc, "cannot read", "changelog")


def test_missing_dpkg_deb_is_one_line_naming_the_package(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = run_build(tree, env={"PATH": str(bin_dir)})
    assert proc.returncode == 1
    assert_one_error_line(proc, "dpkg-deb not found", "apt-get install dpkg")
    assert not (tree / "dist").exists()


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(blocker / "dist"))
    assert proc.returncode == 1
    assert_one_error_line(proc, "cannot create")


def test_lintian_failure_leaves_nothing_in_dist(tmp_path: Path) -> None:
    assert shutil.which("lintian"), "lintian is needed (make check installs it)"
    tree = copy_source(tmp_path / "src")
    install = tree / "debian/install"
    install.write_text(
        "".join(line for line in install.read_text().splitlines(True) if "copyright" not in line)
    )
    proc = run_build(tree)
    assert proc.returncode == 1
    assert "no-copyright-file" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("build.py: error: lintian found")
    assert not (tree / "dist").exists() or not list((tree / "dist").iterdir())


def test_install_manifest_errors_name_file_and_line(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    install = tree / "debian/install"
    install.write_text(install.read_text() + "hooks/ro-root /usr/bin/x 0777\n")
    proc = run_build(tree, "deb", "--no-lintian")
    assert proc.returncode == 1
    assert_one_error_line(proc, "debian/install:")


def _entry(package: str = "ro-root", version: str = "0.2", dist: str = "unstable") -> str:
    return (
        f"{package} ({version}) {dist}; urgency=medium\n\n  * Test entry.\n\n"
        " -- ro-root developers <ro-root@lists.example.org>  Wed, 25 Nov 2026 10:00:00 +0000\n\n"
    )


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (_entry(version="0.1.0_x"), ("malformed changelog", "0.1.0_x")),
        (_entry(package="other-thing"), ("other-thing", "not of ro-root")),
    ],
)
def test_bad_newest_changelog_entry_is_one_line(
    tmp_path: Path, entry: str, words: tuple[str, ...]
) -> None:
    tree = copy_source(tmp_path / "src")
    changelog = tree / "debian/changelog"
    changelog.write_text(entry + changelog.read_text())
    proc = run_build(tree, "deb", "--no-lintian")
    assert proc.returncode == 1
    assert_one_error_line(proc, *words)
    assert not (tree / "dist").exists()


def test_epoch_is_in_the_version_but_not_in_the_file_name(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    add_changelog_entry(tree, "1:0.2")
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    deb = tmp_path / "out" / "ro-root_0.2_all.deb"
    assert proc.stdout.strip().splitlines()[-1] == str(deb)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [deb.name]
    assert control_of(deb)["Version"] == "1:0.2"


def test_unreleased_changelog_builds_with_a_warning(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    changelog = tree / "debian/changelog"
    changelog.write_text(_entry(dist="UNRELEASED") + changelog.read_text())
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "UNRELEASED" in proc.stderr and "not one to publish" in proc.stderr
    assert (tmp_path / "out" / "ro-root_0.2_all.deb").is_file()


def test_unreleased_changelog_is_not_published(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    changelog = tree / "debian/changelog"
    changelog.write_text(_entry(dist="UNRELEASED") + changelog.read_text())
    repo = tmp_path / "repo"
    proc = run_build(
        tree, "repo", "--out", str(repo), "--url", "http://apt.example.org/ro-root",
        "--gnupghome", str(tmp_path / "gnupg"),
    )  # fmt: skip
    assert proc.returncode == 1
    assert_one_error_line(proc, "UNRELEASED", "not for publication")
    assert not repo.exists() and not (tree / "dist").exists()


def test_out_with_a_missing_parent_is_refused(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    out = tmp_path / "typo" / "deeper" / "dist"
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(out))
    assert proc.returncode == 1
    assert_one_error_line(proc, "cannot create", f"{out.parent} does not exist")
    assert not (tmp_path / "typo").exists()


def test_out_itself_is_created_when_its_parent_exists(tmp_path: Path) -> None:
    tree = copy_source(tmp_path / "src")
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "new").glob("ro-root_*_all.deb"))) == 1


# --- the interpreter: Debian's python3 with python3-debian and python3-jinja2 ----------------


def test_builder_without_its_modules_runs_on_the_system_python(tmp_path: Path) -> None:
    """An interpreter that cannot import python-debian and jinja2 (here: -S, no site
    packages; on a fresh machine: pyenv's python3) hands over to /usr/bin/python3."""
    assert Path("/usr/bin/python3").exists(), "Debian's python3 is needed"
    proc = subprocess.run(
        [sys.executable, "-S", str(REPO / "build.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: build.py") and proc.stderr == ""


def test_builder_without_its_modules_anywhere_is_one_line_naming_the_packages() -> None:
    # /usr/bin/python3 itself without its site packages: nothing to hand over to.
    proc = subprocess.run(
        ["/usr/bin/python3", "-S", str(REPO / "build.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert_one_error_line(proc, "apt-get install python3-debian python3-jinja2")


def test_readme_debian_points_to_the_command_and_the_man_pages(deb: Path) -> None:
    text = data_file(deb, "usr/share/doc/ro-root/README.Debian").decode()
    for word in ("ro-root status", "ro-root exec", "disable --once", "/run/ro-root/",
                 "ro-root(8)", "ro-root.conf(5)"):  # fmt: skip
        assert word in text, word
    assert len(text.encode()) < 4096  # Policy 12.3: larger files in /usr/share/doc are compressed
