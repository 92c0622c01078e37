"""A signed apt repository of ro-root, written with apt-ftparchive and gpg.

Layout of the repository directory (any static web server can serve it):

    pool/main/r/ro-root/ro-root_VERSION_all.deb   every version ever published, never changed
    dists -> .dists-HASH                          a symlink, replaced atomically
    .dists-HASH/SUITE/Release, InRelease, Release.gpg
    .dists-HASH/SUITE/main/binary-all/Packages, Packages.gz
    ro-root-archive-keyring.gpg                   the public key, binary (for Signed-By)
    ro-root-archive-keyring.asc                   the same, armored (debian-installer)
    ro-root-SUITE.sources                         a deb822 source of each suite, for
                                                  /etc/apt/sources.list.d
    ro-root.sources                               the same for the first suite published
                                                  (never switched to a later one)

A new state is assembled and signed in a staging directory inside DIR; only then are the new
pool files renamed into place and the `dists` symlink swapped with one rename(2). Until that
moment any error leaves the published repository exactly as it was, and a client never sees
a Release without its signatures or an index that its Release does not describe.
A run that adds nothing (every package already there, the suite's indexes listing them, the
client files as they would be written) changes nothing, not even the signatures. Writers are
serialised by a lock (flock) on the directory itself: no lock file is served.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from debian.debfile import DebError, DebFile

from ro_root.changelog import PACKAGE, UNRELEASED, deb_file_name
from ro_root.errors import die
from ro_root.paths import make_out_dir
from ro_root.proc import require, run

log = logging.getLogger("ro-root")

COMPONENT = "main"
# Only Architecture: all packages: apt finds them in binary-all on every architecture when
# the Release file lists "all" (see ARCHITECTURES).
ARCHITECTURES = ("all",)
KEY_UID = "ro-root repository signing key"
KEYRING = "ro-root-archive-keyring.gpg"
KEYRING_ASC = "ro-root-archive-keyring.asc"
SOURCES = "ro-root.sources"
# Where the README tells devices to put the keyring (admin-managed keys, apt >= 2.4).
CLIENT_KEYRING = f"/etc/apt/keyrings/{KEYRING}"
_SUITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX = re.compile(r"(?:0x)?([0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})")


@dataclass(frozen=True)
class Published:
    """What one `build.py repo` run did."""

    directory: Path
    fingerprint: str
    created_key: bool
    added: tuple[str, ...]  # pool paths of the packages new in this run
    versions: tuple[str, ...]  # every version in the repository, as apt-ftparchive listed them
    changed: bool  # False: nothing was new, the directory is byte for byte as it was
    default_suite: str  # the suite that SOURCES names


@dataclass(frozen=True)
class _Deb:
    path: Path
    version: str
    pool: str  # relative to the repository directory


def default_gnupghome() -> Path:
    """$XDG_DATA_HOME/ro-root/gnupg, else ~/.local/share/ro-root/gnupg."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(data) / "ro-root" / "gnupg"


def check_url(url: str) -> str:
    """URL without a trailing slash, if it is an http://, https:// or file:/// URL."""
    parts = urlsplit(url)
    ok = parts.scheme in ("http", "https") and bool(parts.netloc)
    ok = ok or (parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc)
    if not ok or any(c.isspace() for c in url):
        die(f"--url {url!r}: not an http://, https:// or file:/// URL")
    return url.rstrip("/")


def check_suite(suite: str) -> str:
    if not _SUITE.fullmatch(suite):
        die(f"--suite {suite!r}: letters, digits, '.', '_' and '-' only")
    return suite


def read_deb(path: Path) -> _Deb:
    """PATH as a package of ro-root for the pool, or a clear error."""
    try:
        deb = DebFile(str(path))
        control = deb.debcontrol()
    except (OSError, DebError, EOFError, ValueError, KeyError) as exc:
        die(f"{path}: not a Debian package ({exc})")
    except Exception as exc:  # python-debian raises tarfile and lzma errors of all kinds
        die(f"{path}: not a Debian package ({type(exc).__name__}: {exc})")
    name, version, arch = (control.get(k, "") for k in ("Package", "Version", "Architecture"))
    if name != PACKAGE:
        die(f"{path}: a package of {name or 'nothing'}, not of {PACKAGE}")
    if arch != "all" or not re.fullmatch(r"[0-9A-Za-z.+~:-]+", version):
        die(f"{path}: Architecture {arch!r}, Version {version!r}: not an {PACKAGE} build")
    try:
        changelog = deb.changelog()
    except Exception as exc:  # the same variety of errors, from the data member
        die(f"{path}: cannot read its changelog ({type(exc).__name__}: {exc})")
    if changelog is not None and changelog.distributions == UNRELEASED:
        die(
            f"{path}: built from an {UNRELEASED} debian/changelog entry: not for publication",
            hint="name the distribution in debian/changelog (dch -r) and build again",
        )
    return _Deb(path, version, f"pool/{COMPONENT}/r/{PACKAGE}/{deb_file_name(PACKAGE, version)}")


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


# --- gpg -----------------------------------------------------------------------------------


class _Gpg:
    """gpg on one home directory, always --batch: the user's default keyring is never used."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.gpg = require("gpg", "gnupg")

    def __call__(self, *args: str, capture: bool = True) -> str:
        argv = [self.gpg, "--batch", "--no-tty", "--homedir", str(self.home), *args]
        return run(argv, capture=capture).stdout or ""

    def secret_keys(self) -> list[tuple[str, str]]:
        """(fingerprint, first uid) of each key with a usable secret part."""
        if not self.home.is_dir():
            return []
        listing = self("--with-colons", "--list-secret-keys")
        keys: list[tuple[str, str]] = []
        primary = False
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                primary = fields[1] not in ("r", "e", "d")  # revoked, expired, disabled
                keys.append(("", ""))
            elif fields[0] == "ssb":
                primary = False
            elif fields[0] == "fpr" and primary and keys and not keys[-1][0]:
                keys[-1] = (fields[9].upper(), "")
            elif fields[0] == "uid" and keys and keys[-1][0] and not keys[-1][1]:
                keys[-1] = (keys[-1][0], fields[9])
        return [key for key in keys if key[0]]

    def make_home(self) -> None:
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            die(f"cannot create the gnupg home {self.home}: {exc.strerror}")
        if not os.access(self.home, os.W_OK | os.X_OK):
            die(f"the gnupg home {self.home} is not writable")

    def create_key(self) -> str:
        self.make_home()
        self("--passphrase", "", "--quick-generate-key", KEY_UID, "ed25519", "sign", "never")
        keys = [fpr for fpr, uid in self.secret_keys() if uid == KEY_UID]
        if len(keys) != 1:
            die(f"gpg made no single '{KEY_UID}' key in {self.home}")
        return keys[0]

    def stop_agent(self) -> None:
        """Stop the agent gpg started for this home, unless it is the user's own keyring's."""
        own = Path(os.environ.get("GNUPGHOME") or Path.home() / ".gnupg")
        gpgconf = shutil.which("gpgconf")
        if gpgconf and self.home.is_dir() and self.home.resolve() != own.resolve():
            run([gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"], check=False)


def choose_key(gpg: _Gpg, wanted: str | None) -> tuple[str, bool]:
    """The fingerprint to sign with, and whether it was just created."""
    keys = gpg.secret_keys()
    if wanted is not None:
        match = _HEX.fullmatch(wanted.replace(" ", ""))
        found = [fpr for fpr, _ in keys if match and fpr.endswith(match.group(1).upper())]
        if len(found) != 1:
            die(
                f"--key {wanted}: no secret key with that fingerprint in {gpg.home}",
                hint=f"list them with: gpg --homedir {gpg.home} --list-secret-keys",
            )
        return found[0], False
    own = [fpr for fpr, uid in keys if uid == KEY_UID]
    if len(own) > 1:
        die(
            f"{gpg.home} has {len(own)} '{KEY_UID}' keys: choose one with --key FPR",
            hint=", ".join(own),
        )
    if own:
        return own[0], False
    log.info("creating the signing key '%s' in %s", KEY_UID, gpg.home)
    return gpg.create_key(), True


# --- the repository ------------------------------------------------------------------------


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time: an flock on the directory itself, so no lock file is served."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        die(f"{directory}: cannot open it ({exc.strerror})")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            die(f"{directory}: another build.py repo is writing to it")
        yield
    finally:
        os.close(fd)


def _prepare_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        die(f"--out {directory}: not a directory")
    make_out_dir(directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        die(f"--out {directory}: not writable")
    dists = directory / "dists"
    if dists.exists() and not dists.is_symlink():
        die(
            f"{dists} is a real directory, not the symlink build.py repo keeps there",
            hint="point --out at a new directory or one build.py repo made",
        )


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        partial.chmod(0o644)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def suite_sources(suite: str) -> str:
    """The name of SUITE's own deb822 source file in the repository."""
    return f"{PACKAGE}-{suite}.sources"


def _sources_suite(path: Path) -> str | None:
    """The suite a SOURCES file written by this module names, or None without one."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    suites = [line.partition(":")[2].strip() for line in lines if line.startswith("Suites:")]
    return suites[0] if suites else None


def sources_text(url: str, suite: str) -> str:
    return (
        f"# {PACKAGE}'s apt repository (written by python3 build.py repo).\n"
        f"# Put this file in /etc/apt/sources.list.d/ and the key in {CLIENT_KEYRING}.\n"
        "Types: deb\n"
        f"URIs: {url}\n"
        f"Suites: {suite}\n"
        f"Components: {COMPONENT}\n"
        f"Signed-By: {CLIENT_KEYRING}\n"
    )


def _release_options(suite: str) -> list[str]:
    fields = {
        "Origin": PACKAGE,
        "Label": PACKAGE,
        "Suite": suite,
        "Codename": suite,
        "Components": COMPONENT,
        "Architectures": " ".join(ARCHITECTURES),
        "Description": f"{PACKAGE}: read-only root under a RAM overlay",
    }
    options = []
    for name, value in fields.items():
        options += ["-o", f"APT::FTPArchive::Release::{name}={value}"]
    return options


def _build_dists(
    staging: Path, old_dists: Path | None, suite: str, gpg: _Gpg, fingerprint: str
) -> Path:
    """STAGING/dists-new: the other suites as they were, SUITE regenerated and signed."""
    new = staging / "dists"
    if old_dists is not None:
        shutil.copytree(old_dists, new, symlinks=True)
        shutil.rmtree(new / suite, ignore_errors=True)
    binary = new / suite / COMPONENT / "binary-all"
    binary.mkdir(parents=True)
    ftparchive = require("apt-ftparchive", "apt-utils")
    # Run in STAGING, where pool/ holds every published .deb and the new ones (hard links),
    # so that the Filename fields are pool/... paths.
    packages = run([ftparchive, "packages", "pool"], capture=True, cwd=staging).stdout
    (binary / "Packages").write_text(packages)
    run(["gzip", "-9n", "-k", binary / "Packages"])
    release = run(
        [ftparchive, *_release_options(suite), "release", "."], capture=True, cwd=new / suite
    ).stdout
    (new / suite / "Release").write_text(release)
    user = f"{fingerprint}!"  # exactly this key, not a subkey gpg might prefer
    gpg("--local-user", user, "--digest-algo", "SHA512", "--clearsign",
        "--output", str(new / suite / "InRelease"), str(new / suite / "Release"))  # fmt: skip
    gpg("--local-user", user, "--digest-algo", "SHA512", "--armor", "--detach-sign",
        "--output", str(new / suite / "Release.gpg"), str(new / suite / "Release"))  # fmt: skip
    return new


def _versions(packages: str) -> tuple[str, ...]:
    return tuple(
        line.partition(":")[2].strip()
        for line in packages.splitlines()
        if line.startswith("Version:")
    )


def publish(
    directory: Path,
    debs: Sequence[Path],
    *,
    url: str,
    suite: str,
    gnupghome: Path,
    key: str | None,
) -> Published:
    """Add DEBS to the signed repository in DIRECTORY (created if need be)."""
    url, suite = check_url(url), check_suite(suite)
    gpg = _Gpg(gnupghome)
    require("apt-ftparchive", "apt-utils")
    require("gzip", "gzip")
    wanted = [read_deb(Path(d)) for d in debs]
    if not wanted:
        die("no package to publish")
    try:
        fingerprint, created = choose_key(gpg, key)
        _prepare_directory(directory)
        with _locked(directory):
            for deb in wanted:
                published = directory / deb.pool
                if published.exists() and _sha256(published) != _sha256(deb.path):
                    die(
                        f"{deb.pool} is already published with other contents",
                        hint="a new build needs a new version in debian/changelog",
                    )
            default = _sources_suite(directory / SOURCES) or suite
            clients = _client_files(gpg, fingerprint, url, suite, default)
            unchanged = _unchanged(directory, wanted, suite, clients)
            if unchanged is not None:
                return Published(directory, fingerprint, created, (), unchanged, False, default)
            return _commit(directory, wanted, suite, gpg, fingerprint, created, clients, default)
    finally:
        gpg.stop_agent()


def _client_files(
    gpg: _Gpg, fingerprint: str, url: str, suite: str, default: str
) -> dict[str, bytes]:
    """What devices fetch, by name: the keyring, SUITE's source and, for the suite the
    repository was first published with, ro-root.sources."""
    files = {
        KEYRING: gpg_export(gpg, fingerprint, armor=False),
        KEYRING_ASC: gpg_export(gpg, fingerprint, armor=True),
        suite_sources(suite): sources_text(url, suite).encode(),
    }
    if default == suite:
        files[SOURCES] = files[suite_sources(suite)]
    return files


def _unchanged(
    directory: Path, wanted: Sequence[_Deb], suite: str, clients: dict[str, bytes]
) -> tuple[str, ...] | None:
    """The versions of SUITE if publishing WANTED there would change nothing: every package
    in the pool and in the suite's index, every client file as it would be written."""
    index = directory / "dists" / suite / COMPONENT / "binary-all/Packages"
    try:
        packages = index.read_text()
        same = all((directory / name).read_bytes() == data for name, data in clients.items())
    except OSError:
        return None
    listed = {
        line.partition(":")[2].strip()
        for line in packages.splitlines()
        if line.startswith("Filename:")
    }
    if not same or any(deb.pool not in listed for deb in wanted):
        return None
    return _versions(packages)


def _commit(
    directory: Path,
    wanted: Sequence[_Deb],
    suite: str,
    gpg: _Gpg,
    fingerprint: str,
    created: bool,
    clients: dict[str, bytes],
    default: str,
) -> Published:
    try:
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    except OSError as exc:
        die(f"--out {directory}: not writable ({exc.strerror})")
    try:
        # The pool as it will be: hard links to what is published, copies of the new ones.
        pool = directory / "pool"
        if pool.is_dir():
            shutil.copytree(pool, staging / "pool", copy_function=os.link)
        added = []
        for deb in wanted:
            target = staging / deb.pool
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(deb.path, target)
                target.chmod(0o644)
                added.append(deb.pool)
        old = directory / "dists"
        old_target = old.resolve() if old.is_symlink() else None
        new = _build_dists(staging, old_target, suite, gpg, fingerprint)
        versions = _versions((new / suite / COMPONENT / "binary-all/Packages").read_text())
        digest = _sha256(new / suite / "InRelease")[:16]
        state = directory / f".dists-{digest}"
        if state.exists():
            shutil.rmtree(state)
        # --- from here on, only renames: the repository changes state in one step ----------
        for pool_path in added:
            (directory / pool_path).parent.mkdir(parents=True, exist_ok=True)
            (staging / pool_path).replace(directory / pool_path)
        new.replace(state)
        link = directory / f".dists.{os.getpid()}.partial"
        link.unlink(missing_ok=True)
        link.symlink_to(state.name)
        link.replace(old)
        for name, data in clients.items():
            _write_atomic(directory / name, data)
        for stale in directory.glob(".dists-*"):
            if stale != state and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Published(directory, fingerprint, created, tuple(added), versions, True, default)


def gpg_export(gpg: _Gpg, fingerprint: str, *, armor: bool) -> bytes:
    """The public key, binary or armored, read back through a file (binary-safe)."""
    with tempfile.TemporaryDirectory(prefix="ro-root-key-") as tmp:
        out = Path(tmp) / "key"
        gpg("--yes", "--export-options", "export-minimal", *(["--armor"] if armor else []),
            "--output", str(out), "--export", fingerprint)  # fmt: skip
        data = out.read_bytes()
    if not data:
        die(f"gpg exported nothing for {fingerprint}")
    return data
