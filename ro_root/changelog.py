"""The package's identity and time stamp, read from debian/changelog (the one place they live)."""

from __future__ import annotations

import datetime
import email.utils
from dataclasses import dataclass
from pathlib import Path

from debian.changelog import Changelog, ChangelogParseError

from ro_root.errors import die

# The package this tree builds; a changelog naming another one is someone else's.
PACKAGE = "ro-root"
# The distribution of an entry not yet released (dch's default while editing).
UNRELEASED = "UNRELEASED"


@dataclass(frozen=True)
class ChangelogInfo:
    package: str
    version: str
    maintainer: str
    # Seconds since the epoch of the newest entry: SOURCE_DATE_EPOCH for the build.
    epoch: int
    distribution: str = "unstable"

    @property
    def released(self) -> bool:
        return self.distribution != UNRELEASED

    @property
    def date(self) -> str:
        """The newest entry's date as YYYY-MM-DD (UTC), for the man pages."""
        return datetime.datetime.fromtimestamp(self.epoch, datetime.UTC).strftime("%Y-%m-%d")


def deb_file_name(package: str, version: str, arch: str = "all") -> str:
    """PACKAGE_VERSION_ARCH.deb as Debian names it: the epoch is not part of the name."""
    return f"{package}_{version.split(':', 1)[-1]}_{arch}.deb"


def read_changelog(path: Path) -> ChangelogInfo:
    """Read the newest entry of PATH; stop with one clear line if it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        changelog = Changelog(text, strict=True)
        # Parsed when read (python-debian >= 0.1.50) or when the text is (0.1.49).
        version = changelog.version if len(changelog) else None
    except ChangelogParseError as exc:
        die(f"malformed changelog {path}: {exc}")
    except ValueError as exc:  # python-debian's Version: "Invalid version string '0.1.0_x'"
        die(f"malformed changelog {path}: {exc}")
    if version is None or not changelog.package:
        die(f"malformed changelog {path}: no entry with a package name and version")
    if changelog.package != PACKAGE:
        die(f"{path} is the changelog of {changelog.package}, not of {PACKAGE}")
    if not changelog.author or not changelog.date:
        die(f"malformed changelog {path}: the newest entry lacks its ' -- name <mail>  date' line")
    try:
        when = email.utils.parsedate_to_datetime(changelog.date)
    except (TypeError, ValueError):
        die(f"malformed changelog {path}: unreadable date {changelog.date!r}")
    if when.tzinfo is None:
        die(f"malformed changelog {path}: date {changelog.date!r} has no time zone")
    return ChangelogInfo(
        package=changelog.package,
        version=str(version),
        maintainer=changelog.author,
        epoch=int(when.timestamp()),
        distribution=str(changelog.distributions),
    )
