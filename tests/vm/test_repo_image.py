"""A preseeded, unattended image build from the signed repository, and its first boot.

`python3 build.py repo` publishes the package; a real HTTP server serves the repository on
127.0.0.1. One mmdebstrap run builds a Debian 12 image with `--include=ro-root`, as an
unattended build would:

- a setup hook puts the repository's keyring into the image's /etc/apt/keyrings and its
  source into /etc/apt/sources.list.d before apt's first update (for that run, Signed-By
  names a copy of the keyring on the host, readable by _apt: mmdebstrap's apt runs outside
  the chroot and does not prefix Signed-By paths with the chroot);
- an essential hook feeds `build.py preseed --selections --size 48m --failure-policy ro` to
  debconf-set-selections before ro-root is installed;
- a customize hook leaves the source as the repository wrote it for devices.

The image then boots read-only with the preseeded settings in effect.
"""

from __future__ import annotations

import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import vmtest
from support import REPO, publish, run_build, serve

from ro_root.errors import UserError
from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd", extra_packages=("ro-root",))
CLIENT_KEYRING = "/etc/apt/keyrings/ro-root-archive-keyring.gpg"
SOURCES = "etc/apt/sources.list.d/ro-root.sources"


def _hooks(repo: Path, shared: Path, selections: Path) -> list[str]:
    """SHARED: a directory others may read (apt reads the keyring as the _apt user)."""
    keyring = shared / "ro-root-archive-keyring.gpg"
    shutil.copyfile(repo / keyring.name, keyring)
    keyring.chmod(0o644)
    device_sources = repo / "ro-root.sources"
    build_sources = shared / "build.sources"
    build_sources.write_text(
        device_sources.read_text().replace(f"Signed-By: {CLIENT_KEYRING}", f"Signed-By: {keyring}")
    )
    q = shlex.quote
    return [
        f'--setup-hook=mkdir -p "$1/etc/apt/keyrings" "$1/etc/apt/sources.list.d"'
        f' && install -m 0644 {q(str(keyring))} "$1{CLIENT_KEYRING}"'
        f' && install -m 0644 {q(str(build_sources))} "$1/{SOURCES}"',
        f'--essential-hook=chroot "$1" debconf-set-selections < {q(str(selections))}',
        f'--customize-hook=install -m 0644 {q(str(device_sources))} "$1/{SOURCES}"',
    ]


def _member(tarball: Path, name: str) -> str:
    with tarfile.open(tarball) as archive:
        for member in archive:
            if member.name.lstrip("./") == name:
                stream = archive.extractfile(member)
                if stream is not None:
                    return stream.read().decode()
    return ""


@pytest.fixture(scope="module")
def built(
    ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, str]]:
    """The repository, the image tarball built from it, and the URL it was served at."""
    work = tmp_path_factory.mktemp("repo-image")
    web = work / "web"
    web.mkdir()
    # Short, for gpg-agent's socket path (108 bytes at most), and readable by apt's _apt user.
    shared = Path(tempfile.mkdtemp(prefix="rri-"))
    shared.chmod(0o755)
    home = shared / "gnupg"
    preseed = run_build(REPO, "preseed", "--selections", "--size", "48m", "--failure-policy", "ro")
    assert preseed.returncode == 0, preseed.stderr
    selections = work / "selections"
    selections.write_text(preseed.stdout)
    try:
        with serve(web) as url:
            proc = publish(web / "ro-root", home, f"{url}/ro-root", ro_root_deb)
            if proc.returncode != 0:
                pytest.fail(f"build.py repo failed: {proc.stderr}", pytrace=False)
            try:
                tarball = images.build_tarball(
                    SPEC, work / "image.tar", _hooks(web / "ro-root", shared, selections)
                )
            except UserError as exc:
                pytest.fail(str(exc), pytrace=False)
            yield web / "ro-root", tarball, url
    finally:
        shutil.rmtree(shared, ignore_errors=True)  # the signing key


@pytest.fixture(scope="module")
def image(built: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    _, tarball, _ = built
    try:
        return images.prepare_image(SPEC, [], tmp_path_factory.mktemp("disk"), tarball=tarball)
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_unattended_build_installs_ro_root_from_the_repository(
    built: tuple[Path, Path, str], image: images.Image
) -> None:
    repo, tarball, url = built
    status = _member(tarball, "var/lib/dpkg/status")
    assert "Package: ro-root\nStatus: install ok installed" in status
    # apt's lists in the image hold the repository's signed index.
    lists = f"{url.removeprefix('http://')}_ro-root_dists_bookworm"
    with tarfile.open(tarball) as archive:
        names = [m.name.lstrip("./") for m in archive.getmembers()]
    assert any(n.startswith(f"var/lib/apt/lists/{lists}_InRelease") for n in names), lists
    # The image is left configured for later updates, as the README tells devices.
    assert _member(tarball, SOURCES) == (repo / "ro-root.sources").read_text()
    assert CLIENT_KEYRING.lstrip("/") in names
    assert image.newest.has_payload


def test_preseeded_image_boots_read_only_with_its_answers(image: images.Image) -> None:
    boot = qemu.boot(image, expect="active")
    conf = boot.numbered("conf")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(
        boot, **{"setting.size": "48m", "setting.failure_policy": "ro", "setting.warnings": "0"}
    )
    problems += [
        f"/etc/ro-root.conf lacks {line!r} (it has {conf})"
        for line in ("size=48m", "failure_policy=ro")
        if line not in conf
    ]
    size_kb = int(boot.facts.get("rw_size_kb") or 0)
    if size_kb != 48 * 1024:
        problems.append(f"/rw is {size_kb} KiB, expected the preseeded 48m")
    vmtest.expect(boot, problems, "the image built from the repository")
