"""The package's identity and time stamp, read from debian/changelog (the one place they live)."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from pathlib import Path

from debian.changelog import Changelog, ChangelogParseError

from ro_root.errors import die


@dataclass(frozen=True)
class ChangelogInfo:
    package: str
    version: str
    maintainer: str
    # Seconds since the epoch of the newest entry: SOURCE_DATE_EPOCH for the build.
    epoch: int


def read_changelog(path: Path) -> ChangelogInfo:
    """Read the newest entry of PATH; stop with one clear line if it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        changelog = Changelog(text, strict=True)
    except ChangelogParseError as exc:
        die(f"malformed changelog {path}: {exc}")
    if len(changelog) == 0 or changelog.version is None or not changelog.package:
        die(f"malformed changelog {path}: no entry with a package name and version")
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
        version=str(changelog.version),
        maintainer=changelog.author,
        epoch=int(when.timestamp()),
    )
