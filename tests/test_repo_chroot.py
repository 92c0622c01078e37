"""The repository of `build.py repo` with a real apt client: Debian 12 in a chroot.

The repository is served by a real HTTP server on 127.0.0.1 (the chroot shares the host's
network). The client does what the README's "Hosting" section tells a device to do: the
keyring into /etc/apt/keyrings, the .sources file into /etc/apt/sources.list.d, apt-get
update, apt-get install ro-root. Copies of the repository with a changed Packages or Release
(signatures kept), and a client holding another key, must get nothing installed. apt-get
update exits 0 on some of these: the tests look at what apt said and at what is installable.

One chroot for the module; the refusals run first, while ro-root is not installed.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import (
    add_changelog_entry,
    build_deb,
    chroot_sh,
    copy_source,
    publish,
    serve,
    unpack_test_root,
)

from testbed import images

pytestmark = pytest.mark.chroot

KEYRING = "/etc/apt/keyrings/ro-root-archive-keyring.gpg"
SOURCES = "/etc/apt/sources.list.d/ro-root.sources"


class Client:
    """A Debian 12 root with apt, used through chroot."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return chroot_sh(self.path, script, check=check, timeout=600)

    def use(self, keyring: Path, sources: str) -> str:
        """Configure the repository as a device does, then apt-get update; apt's output."""
        self.sh("rm -f /var/lib/apt/lists/127.0.0.1_*")
        target = self.path / KEYRING.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(keyring, target)
        target.chmod(0o644)
        (self.path / SOURCES.lstrip("/")).write_text(sources)
        proc = self.sh("apt-get update", check=False)
        return proc.stdout + proc.stderr

    def candidate(self) -> str:
        for line in self.sh("apt-cache policy ro-root").stdout.splitlines():
            if line.strip().startswith("Candidate:"):
                return line.split(":", 1)[1].strip()
        return "(none)"

    def installed(self) -> str:
        proc = self.sh("dpkg-query -W -f '${Status} ${Version}' ro-root", check=False)
        if proc.returncode != 0 or not proc.stdout.startswith("install ok installed"):
            return ""
        return proc.stdout.split()[-1]

    def refuses(self, output: str, *said: str) -> list[str]:
        """Problems, if apt accepted the repository or ro-root is installable from it."""
        problems = [f"apt-get update did not say {text!r}:\n{output}" for text in said
                    if text not in output]  # fmt: skip
        if self.candidate() != "(none)":
            problems.append(f"ro-root is installable (candidate {self.candidate()})")
        install = self.sh("apt-get install -y --no-install-recommends ro-root", check=False)
        if install.returncode == 0:
            problems.append("apt-get install ro-root succeeded")
        if self.installed():
            problems.append(f"ro-root {self.installed()} is installed")
        return problems


@dataclass(frozen=True)
class Site:
    web: Path  # served at url
    url: str
    home: Path  # the signing key
    debs: tuple[Path, Path]  # the package and a newer build of it

    def repo(self, name: str) -> Path:
        return self.web / name

    def sources(self, name: str) -> str:
        text = (self.repo("good") / "ro-root.sources").read_text()
        return text.replace(f"{self.url}/good", f"{self.url}/{name}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    first = build_deb(tmp_path_factory.mktemp("dist"))
    tree = copy_source(tmp_path_factory.mktemp("newer") / "src")
    add_changelog_entry(tree, "99.0.0")
    newer = build_deb(tmp_path_factory.mktemp("dist-newer"), tree)
    web = tmp_path_factory.mktemp("web")
    keys = Path(tempfile.mkdtemp(prefix="rrc-"))  # short: gpg-agent's socket path
    try:
        with serve(web) as url:
            proc = publish(web / "good", keys / "gnupg", f"{url}/good", first)
            assert proc.returncode == 0, proc.stderr
            # Another signing key, for the client that trusts the wrong one.
            proc = publish(web / "other", keys / "other", f"{url}/other", first)
            assert proc.returncode == 0, proc.stderr
            tamper(web, "good", "tampered-packages", packages=True)
            tamper(web, "good", "tampered-release", packages=False)
            yield Site(web, url, keys / "gnupg", (first, newer))
    finally:
        shutil.rmtree(keys, ignore_errors=True)


def tamper(web: Path, source: str, name: str, *, packages: bool) -> None:
    """A copy of WEB/SOURCE with one index changed after signing."""
    shutil.copytree(web / source, web / name, symlinks=True)
    suite = web / name / "dists/bookworm"
    if packages:
        index = suite / "main/binary-all/Packages"
        text = index.read_text()
        assert "\nVersion: " in text
        index.write_text(text.replace("\nVersion: ", "\nVersion: 1", 1))
        (suite / "main/binary-all/Packages.gz").write_bytes(gzip.compress(index.read_bytes()))
    else:
        for release in ("Release", "InRelease"):
            text = (suite / release).read_text()
            assert "Label: ro-root\n" in text
            (suite / release).write_text(text.replace("Label: ro-root\n", "Label: ro-roox\n"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    tree = tmp_path_factory.mktemp("client") / "root"
    tree.mkdir()
    unpack_test_root(tree, machine_id=True)
    with images.chroot_mounts(tree):
        yield Client(tree)
    shutil.rmtree(tree)


def test_tampered_packages_index_is_refused(site: Site, client: Client) -> None:
    out = client.use(site.repo("good") / "ro-root-archive-keyring.gpg",
                     site.sources("tampered-packages"))  # fmt: skip
    # "Hash Sum mismatch", or "File has unexpected size" when the size differs too.
    problems = client.refuses(out, "E: Failed to fetch", "binary-all/Packages")
    assert not problems, "\n".join(problems)


def test_tampered_release_is_refused(site: Site, client: Client) -> None:
    out = client.use(site.repo("good") / "ro-root-archive-keyring.gpg",
                     site.sources("tampered-release"))  # fmt: skip
    problems = client.refuses(out, "BADSIG", "is not signed")
    assert not problems, "\n".join(problems)


def test_client_with_another_key_cannot_install(site: Site, client: Client) -> None:
    out = client.use(site.repo("other") / "ro-root-archive-keyring.gpg", site.sources("good"))
    problems = client.refuses(out, "NO_PUBKEY", "is not signed")
    assert not problems, "\n".join(problems)


def test_apt_installs_ro_root_from_the_signed_repository(site: Site, client: Client) -> None:
    out = client.use(site.repo("good") / "ro-root-archive-keyring.gpg", site.sources("good"))
    assert "W:" not in out and "E:" not in out and "N:" not in out, out
    client.sh("apt-get install -y --no-install-recommends ro-root")
    version = client.installed()
    assert version and version != "99.0.0"
    # apt checked the .deb against the signed index: it is the published file.
    assert client.sh("apt-cache show ro-root").stdout.count("Package: ro-root") == 1


def test_newer_version_arrives_with_apt_get_upgrade(site: Site, client: Client) -> None:
    before = client.installed()
    assert before, "ro-root is not installed (the install test must run first)"
    proc = publish(site.repo("good"), site.home, f"{site.url}/good", site.debs[1])
    assert proc.returncode == 0 and "(new key)" not in proc.stdout, proc.stderr
    client.sh("apt-get update")
    upgrade = client.sh("apt-get upgrade -y")
    assert client.installed() == "99.0.0", upgrade.stdout
    # The earlier version is still published, and installable by version.
    madison = client.sh("apt-cache madison ro-root").stdout
    versions = {line.split("|")[1].strip() for line in madison.splitlines() if "|" in line}
    assert versions == {before, "99.0.0"}, madison
