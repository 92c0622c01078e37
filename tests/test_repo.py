"""`python3 build.py repo`: the signed apt repository, as files (apt itself: test_repo_chroot).

Each test publishes with its own gnupg home in a temporary directory: the user's keyring and
~/.local/share/ro-root are never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import Packages, Release
from support import REPO, add_changelog_entry, build_deb, copy_source, publish, run_build

URL = "http://apt.example.org/ro-root"
KEY_UID = "ro-root repository signing key"


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The package as it is (0.1.x) and a newer build of it."""
    first = build_deb(tmp_path_factory.mktemp("dist"))
    tree = copy_source(tmp_path_factory.mktemp("newer") / "src")
    add_changelog_entry(tree, "99.0.0")
    return first, build_deb(tmp_path_factory.mktemp("dist-newer"), tree)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    # Short: gpg-agent's socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="rrg-"))
    yield path / "gnupg"
    shutil.rmtree(path, ignore_errors=True)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr, proc.stderr
    return proc.stdout


def fingerprint(stdout: str) -> str:
    line = next(x for x in stdout.splitlines() if x.startswith("signing key: "))
    return line.split()[2]


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under DIRECTORY: a symlink's target, a file's sha256, or "dir"."""
    state = {}
    for path in sorted(directory.rglob("*")):
        rel = str(path.relative_to(directory))
        if path.is_symlink():
            state[rel] = "-> " + str(path.readlink())
        elif path.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def gpgv(keyring: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rrv-") as tmp:
        return subprocess.run(
            ["gpgv", "--homedir", tmp, "--keyring", str(keyring), *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
        )


def packages(repo: Path, suite: str = "bookworm") -> list[Packages]:
    index = repo / "dists" / suite / "main/binary-all"
    plain = (index / "Packages").read_text()
    assert gzip.decompress((index / "Packages.gz").read_bytes()).decode() == plain
    return list(Packages.iter_paragraphs(plain, use_apt_pkg=False))


def test_repo_layout_release_fields_and_client_files(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    out = ok(publish(repo, home, URL + "/", debs[0]))
    fpr = fingerprint(out)
    assert "(new key)" in out and len(fpr) == 40
    suite = repo / "dists/bookworm"
    for name in ("Release", "InRelease", "Release.gpg", "main/binary-all/Packages.gz"):
        assert (suite / name).is_file(), name
    release = Release((suite / "Release").read_text())
    assert {k: release[k] for k in ("Origin", "Label", "Suite", "Codename")} == dict.fromkeys(
        ("Origin", "Label", "Suite", "Codename"), "ro-root"
    ) | {"Suite": "bookworm", "Codename": "bookworm"}
    assert release["Components"] == "main" and release["Architectures"] == "all"
    # Release describes the indexes as they are.
    listed = {entry["name"]: entry["sha256"] for entry in release["SHA256"]}
    for name in ("main/binary-all/Packages", "main/binary-all/Packages.gz"):
        assert listed[name] == hashlib.sha256((suite / name).read_bytes()).hexdigest()
    [entry] = packages(repo)
    assert entry["Package"] == "ro-root" and entry["Architecture"] == "all"
    assert (repo / entry["Filename"]).read_bytes() == debs[0].read_bytes()
    assert entry["Filename"].startswith("pool/main/r/ro-root/ro-root_")
    # The client files: the binary keyring holds exactly the signing key; the source is deb822.
    keyring = repo / "ro-root-archive-keyring.gpg"
    assert keyring.read_bytes()[:1] != b"-"  # binary, not armored
    armored = (repo / "ro-root-archive-keyring.asc").read_text()
    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert (repo / "ro-root.sources").read_text().splitlines()[2:] == [
        "Types: deb",
        f"URIs: {URL}",
        "Suites: bookworm",
        "Components: main",
        "Signed-By: /etc/apt/keyrings/ro-root-archive-keyring.gpg",
    ]
    # The key has the documented uid and no passphrase (the run above signed unattended).
    listing = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), "--with-colons", "--list-keys", fpr],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f":{KEY_UID}:" in listing


def test_signatures_verify_with_the_exported_keyring_only(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    ok(publish(repo, home, URL, debs[0]))
    suite = repo / "dists/bookworm"
    keyring = repo / "ro-root-archive-keyring.gpg"
    good = gpgv(keyring, suite / "InRelease")
    assert good.returncode == 0, good.stderr
    assert f'"{KEY_UID}"' in good.stderr
    detached = gpgv(keyring, suite / "Release.gpg", suite / "Release")
    assert detached.returncode == 0, detached.stderr
    # InRelease is the Release file, signed.
    assert (suite / "Release").read_text() in (suite / "InRelease").read_text()
    # Another key does not verify it.
    other = tmp_path / "other"
    ok(publish(other, home.parent / "other-gnupg", URL, debs[0]))
    wrong = gpgv(other / "ro-root-archive-keyring.gpg", suite / "InRelease")
    assert wrong.returncode != 0


def test_key_is_created_once_and_earlier_versions_are_kept(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    first = ok(publish(repo, home, URL, debs[0]))
    second = ok(publish(repo, home, URL, debs[1]))
    assert "(new key)" in first and "(new key)" not in second
    assert fingerprint(first) == fingerprint(second)
    versions = sorted(p["Version"] for p in packages(repo))
    assert len(versions) == 2 and "99.0.0" in versions
    for entry in packages(repo):
        assert (repo / entry["Filename"]).is_file()
    # Publishing the same build again changes nothing at all: no new signature either.
    before = snapshot(repo)
    time.sleep(1.1)  # a new signature would carry another time stamp
    again = ok(publish(repo, home, URL, debs[1]))
    assert "added: nothing new" in again
    assert snapshot(repo) == before
    assert len(packages(repo)) == 2
    # Only the current dists state is left behind, and no staging directory.
    hidden = sorted(p.name for p in repo.iterdir() if p.name.startswith("."))
    assert [n for n in hidden if n.startswith(".dists-")] == [str((repo / "dists").readlink())]
    assert not [n for n in hidden if n.startswith((".staging", ".dists."))]


def test_given_key_is_used_and_unknown_key_is_one_clear_error(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    fpr = fingerprint(ok(publish(repo, home, URL, debs[0])))
    again = ok(publish(repo, home, URL, debs[1], extra=("--key", fpr.lower())))
    assert fingerprint(again) == fpr
    before = snapshot(repo)
    unknown = "0123456789ABCDEF0123456789ABCDEF01234567"
    proc = publish(repo, home, URL, debs[0], extra=("--key", unknown))
    assert "no secret key with that fingerprint" in _error_line(proc)
    assert snapshot(repo) == before


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("build.py: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


@pytest.fixture
def published(tmp_path: Path, home: Path, debs: tuple[Path, Path]) -> Path:
    repo = tmp_path / "repo"
    ok(publish(repo, home, URL, debs[0]))
    return repo


def test_bad_packages_are_refused_and_the_repo_is_unchanged(
    tmp_path: Path, home: Path, published: Path, debs: tuple[Path, Path]
) -> None:
    before = snapshot(published)
    junk = tmp_path / "ro-root_9_all.deb"
    junk.write_text("not an archive\n")
    assert "not a Debian package" in _error_line(publish(published, home, URL, junk))
    # A real .deb, of another package.
    pkg = tmp_path / "other"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        "Package: other\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\n"
        "Description: other\n other\n"
    )
    other = tmp_path / "other_1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(other)], check=True, capture_output=True)
    assert "a package of other, not of ro-root" in _error_line(publish(published, home, URL, other))
    # The same version rebuilt with other contents: a new build needs a new version.
    tree = copy_source(tmp_path / "src")
    (tree / "sbin/ro-root").write_text((tree / "sbin/ro-root").read_text() + "# changed\n")
    changed = build_deb(tmp_path / "dist", tree)
    assert changed.name == debs[0].name
    assert "already published with other contents" in _error_line(
        publish(published, home, URL, debs[1], changed)
    )
    assert snapshot(published) == before


def test_a_build_of_an_unreleased_changelog_is_not_published(
    tmp_path: Path, home: Path, published: Path
) -> None:
    before = snapshot(published)
    tree = copy_source(tmp_path / "src")
    changelog = tree / "debian/changelog"
    text = changelog.read_text()
    changelog.write_text(text.replace(") unstable;", ") UNRELEASED;", 1))
    unreleased = build_deb(tmp_path / "dist", tree)
    error = _error_line(publish(published, home, URL, unreleased))
    assert "UNRELEASED" in error and "not for publication" in error
    assert snapshot(published) == before


@pytest.mark.parametrize("url", ["ftp://example.org/x", "example.org/x", "http://", "file:rel"])
def test_bad_url_is_one_clear_error(tmp_path: Path, home: Path, url: str) -> None:
    # Checked before anything is built or written.
    proc = run_build(REPO, "repo", "--out", str(tmp_path / "r"), "--url", url,
                     "--gnupghome", str(home))  # fmt: skip
    assert "not an http://, https:// or file:/// URL" in _error_line(proc)
    assert not (tmp_path / "r").exists() and not home.exists()


def test_missing_gpg_is_one_clear_error_and_the_repo_is_unchanged(
    tmp_path: Path, home: Path, published: Path, debs: tuple[Path, Path]
) -> None:
    before = snapshot(published)
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in ("apt-ftparchive", "gzip"):
        (tools / program).symlink_to(shutil.which(program) or program)
    proc = run_build(REPO, "repo", "--out", str(published), "--url", URL,
                     "--gnupghome", str(home), str(debs[1]), env={"PATH": str(tools)})  # fmt: skip
    assert "gpg not found" in _error_line(proc) and "apt-get install gnupg" in proc.stderr
    assert snapshot(published) == before


def test_failure_while_signing_leaves_the_repo_unchanged(
    tmp_path: Path, home: Path, published: Path, debs: tuple[Path, Path]
) -> None:
    """A failure after the new state is half built (here: apt-ftparchive release fails)."""
    before = snapshot(published)
    tools = tmp_path / "bin"
    tools.mkdir()
    real = shutil.which("apt-ftparchive")
    (tools / "apt-ftparchive").write_text(
        f'#!/bin/sh\nfor a; do [ "$a" = release ] && {{ echo broken >&2; exit 3; }}; done\n'
        f'exec {real} "$@"\n'
    )
    (tools / "apt-ftparchive").chmod(0o755)
    env = {"PATH": f"{tools}:{os.environ['PATH']}"}
    proc = run_build(REPO, "repo", "--out", str(published), "--url", URL,
                     "--gnupghome", str(home), str(debs[1]), env=env)  # fmt: skip
    assert "apt-ftparchive" in _error_line(proc)
    assert snapshot(published) == before


def test_unwritable_directory_is_one_clear_error_and_the_repo_is_unchanged(
    published: Path, debs: tuple[Path, Path]
) -> None:
    """As an unprivileged user (root may write anywhere), in a directory others can read."""
    before = snapshot(published)
    with tempfile.TemporaryDirectory(prefix="rru-") as tmp:
        shared = Path(tmp)
        shared.chmod(0o755)
        deb = shared / debs[1].name
        shutil.copyfile(debs[1], deb)
        deb.chmod(0o644)
        home = shared / "gnupg"
        home.mkdir(mode=0o700)
        repo = shared / "repo"
        shutil.copytree(published, repo, symlinks=True)
        if os.geteuid() == 0:
            shutil.chown(home, "nobody", "nogroup")
            prefix: tuple[str, ...] = ("setpriv", "--reuid=nobody", "--regid=nogroup",
                                       "--clear-groups", "--")  # fmt: skip
        else:
            repo.chmod(0o555)
            prefix = ()
        proc = run_build(REPO, "repo", "--out", str(repo), "--url", URL, "--gnupghome",
                         str(home), str(deb), prefix=prefix, env={"HOME": str(shared)})  # fmt: skip
        repo.chmod(0o755)
        assert "not writable" in _error_line(proc)
        assert snapshot(repo) == before
    assert snapshot(published) == before


def test_out_that_is_a_file_or_a_foreign_dists_is_refused(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "not a directory" in _error_line(publish(afile, home, URL, debs[0]))
    foreign = tmp_path / "foreign"
    (foreign / "dists/stable").mkdir(parents=True)
    assert "not the symlink build.py repo keeps" in _error_line(
        publish(foreign, home, URL, debs[0])
    )
    assert sorted(p.name for p in foreign.iterdir()) == ["dists"]


def test_no_lock_file_is_served(tmp_path: Path, home: Path, debs: tuple[Path, Path]) -> None:
    repo = tmp_path / "repo"
    ok(publish(repo, home, URL, debs[0]))
    assert not [p for p in repo.rglob("*") if "lock" in p.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_a_second_suite_gets_its_own_source_and_the_default_stays(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    ok(publish(repo, home, URL, debs[0]))
    out = ok(publish(repo, home, URL, debs[0], extra=("--suite", "trixie")))
    assert "added: nothing new" in out  # the pool had it; the suite is new all the same
    assert [p["Version"] for p in packages(repo, "trixie")] == [
        p["Version"] for p in packages(repo)
    ]

    def suites(name: str) -> list[str]:
        return [x for x in (repo / name).read_text().splitlines() if x.startswith("Suites:")]

    # Devices that fetched ro-root.sources stay on the first suite.
    assert suites("ro-root.sources") == ["Suites: bookworm"]
    assert suites("ro-root-bookworm.sources") == ["Suites: bookworm"]
    assert suites("ro-root-trixie.sources") == ["Suites: trixie"]
    assert (repo / "ro-root.sources").read_text() == (repo / "ro-root-bookworm.sources").read_text()


def test_publish_says_what_must_be_reachable_at_the_url(
    tmp_path: Path, home: Path, debs: tuple[Path, Path]
) -> None:
    repo = tmp_path / "repo"
    out = ok(publish(repo, home, URL + "/", debs[0]))
    for name in (
        "ro-root-archive-keyring.gpg",
        "ro-root.sources (suite bookworm)",
        "ro-root-bookworm.sources",
        "dists/bookworm/InRelease",
    ):
        assert f"  {URL}/{name}\n" in out, out
        assert (repo / name.split()[0]).is_file()
