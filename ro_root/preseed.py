"""Preseeding: the debian-installer and debconf-set-selections lines for ro-root's questions.

The questions, their types and defaults are read from debian/templates, so the lines cannot
drift from what the package asks. Values are checked with the rules of ro-root.conf(5), the
same as the maintainer scripts' (debian/snippets/settings.sh; tests/test_preseed.py runs both
on the same samples).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

from ro_root.errors import die

# Template types that are questions with an answer (not notes or error messages).
QUESTION_TYPES = ("boolean", "select", "multiselect", "string", "password")

_SPEC = re.compile(r"(?:LABEL|UUID|PARTUUID)=[A-Za-z0-9._-]+")
_PERCENT = re.compile(r"(?:[1-9]|[1-9][0-9]|100)%")
# At most 12 digits, as the boot code accepts.
_SIZE = re.compile(r"[1-9][0-9]{0,11}[kmg]?")
_MOUNTPOINT = re.compile(r"/[A-Za-z0-9._/-]*")
_SUITE = re.compile(r"[A-Za-z0-9._-]+")
_URL = re.compile(r"(?:https?|ftp|file)://\S+")
# Blanks as the shell splits words (IFS), not every Unicode space.
_BLANKS = re.compile(r"[ \t\n]+")


@dataclass(frozen=True)
class Question:
    name: str  # e.g. ro-root/size
    type: str
    default: str
    choices: tuple[str, ...]

    @property
    def key(self) -> str:
        """The name without the package: size, data_mounts, ..."""
        return self.name.partition("/")[2]


@dataclass(frozen=True)
class Repository:
    url: str
    suite: str
    key_url: str


def read_templates(path: Path) -> list[Question]:
    """The questions of a debconf templates file, in its order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    questions = []
    for paragraph in Deb822.iter_paragraphs(text.splitlines(keepends=True)):
        name = paragraph.get("Template", "")
        kind = paragraph.get("Type", "")
        if not name or not kind:
            die(f"{path}: a template without Template or Type field")
        if kind not in QUESTION_TYPES:
            continue
        choices = tuple(c.strip() for c in paragraph.get("Choices", "").split(",") if c.strip())
        questions.append(Question(name, kind, paragraph.get("Default", ""), choices))
    return questions


def words(value: str) -> list[str]:
    """VALUE split at blanks, as the maintainer scripts split data_mounts."""
    return [word for word in _BLANKS.split(value) if word]


# The boot's limits (lib/settings.sh): longer values are dropped at boot.
SPEC_MAX = 80
MOUNTPOINT_MAX = 200


def _spec_ok(spec: str) -> bool:
    """LABEL=, UUID= or PARTUUID= and a name of [A-Za-z0-9._-], not . or .., at most SPEC_MAX
    characters in all, as rr_valid_spec says."""
    name = spec.partition("=")[2]
    return bool(_SPEC.fullmatch(spec)) and name not in (".", "..") and len(spec) <= SPEC_MAX


def _mountpoint_ok(path: str) -> bool:
    if not _MOUNTPOINT.fullmatch(path) or path.endswith("/") or "//" in path:
        return False
    if len(path) > MOUNTPOINT_MAX:
        return False
    reserved = ("/ro", "/rw", "/proc", "/sys", "/dev", "/run")
    if path in reserved or path.startswith(tuple(f"{r}/" for r in reserved)):
        return False
    return all(part not in (".", "..") for part in path.split("/"))


def check(key: str, value: str) -> str | None:
    """Why VALUE (as debconf stores it) is not valid for KEY, or None if it is."""
    if key == "enabled":
        return None if value in ("true", "false") else "it must be true or false"
    if key == "mode":
        return None if value in ("tmpfs", "device") else "it must be tmpfs or device"
    if key == "device":
        if _spec_ok(value):
            return None
        return (
            "it must be LABEL=name, UUID=uuid or PARTUUID=partuuid, with only letters, "
            f"digits, '.', '_' and '-' after the '=' (not . or ..), at most {SPEC_MAX} characters"
        )
    if key == "size":
        if _PERCENT.fullmatch(value) or _SIZE.fullmatch(value):
            return None
        return (
            "it must be a percentage of RAM from 1% to 100%, or a size N, Nk, Nm or Ng "
            "(N a whole number from 1), such as 50% or 512m"
        )
    if key == "data_mounts":
        for item in words(value):
            spec, colon, mountpoint = item.partition(":")
            if not _spec_ok(spec):
                return (
                    f"'{item}' does not start with LABEL=, UUID= or PARTUUID= and a name of "
                    f"letters, digits, '.', '_' and '-' (at most {SPEC_MAX} characters), "
                    "followed by ':'"
                )
            if not colon:
                return f"'{item}' lacks ':MOUNTPOINT'"
            if not _mountpoint_ok(mountpoint):
                return (
                    f"in '{item}', the mount point must be an absolute path of letters, digits, "
                    f"'.', '_', '-' and '/' of at most {MOUNTPOINT_MAX} characters, other than / "
                    "and outside "
                    "/ro, /rw, /proc, /sys, /dev and /run"
                )
        return None
    if key == "failure_policy":
        return None if value in ("rw", "ro", "panic") else "it must be rw, ro or panic"
    return f"unknown setting {key}"


def answers(
    questions: Sequence[Question],
    *,
    enabled: bool = True,
    mode: str | None = None,
    device: str | None = None,
    size: str | None = None,
    data_mounts: str | None = None,
    failure_policy: str | None = None,
) -> dict[str, str]:
    """The answer to every question (its default unless given), checked; keyed by KEY."""
    result = {q.key: q.default for q in questions}
    given = {
        "enabled": "true" if enabled else "false",
        "mode": mode,
        "device": device,
        "size": size,
        "data_mounts": " ".join(words(data_mounts)) if data_mounts is not None else None,
        "failure_policy": failure_policy,
    }
    options = {
        "mode": "--mode",
        "device": "--device",
        "size": "--size",
        "data_mounts": "--data-mounts",
        "failure_policy": "--failure-policy",
    }
    for key, value in given.items():
        if value is None:
            continue
        if key not in result:
            die(f"debian/templates has no question ro-root/{key}")
        reason = check(key, value)
        if reason is not None:
            die(f"{options.get(key, key)} {value!r}: {reason}")
        result[key] = value
    if result.get("mode") == "device" and device is None:
        die("--mode device needs --device SPEC (LABEL=name, UUID=uuid or PARTUUID=partuuid)")
    if device is not None and result.get("mode") != "device":
        die("--device is only used with --mode device")
    return result


def repository(url: str | None, suite: str, key_url: str | None) -> Repository | None:
    """The apt repository d-i should install ro-root from, checked; None without --repo-url."""
    if url is None:
        if key_url is not None:
            die("--key-url needs --repo-url")
        return None
    if key_url is None:
        die("--repo-url needs --key-url (the repository's signing key, for apt-setup)")
    for option, value in (("--repo-url", url), ("--key-url", key_url)):
        if not _URL.fullmatch(value):
            die(f"{option} {value!r}: not an http://, https://, ftp:// or file:// URL")
    if not _SUITE.fullmatch(suite):
        die(f"--suite {suite!r}: letters, digits, '.', '_' and '-' only")
    return Repository(url.rstrip("/"), suite, key_url)


def selection_lines(
    package: str, questions: Sequence[Question], values: Mapping[str, str]
) -> list[str]:
    """debconf-set-selections lines: OWNER QUESTION TYPE VALUE."""
    lines = []
    for question in questions:
        value = values[question.key]
        lines.append(f"{package} {question.name} {question.type} {value}".rstrip())
    return lines


def preseed_text(
    package: str,
    version: str,
    questions: Sequence[Question],
    values: Mapping[str, str],
    repo: Repository | None,
) -> str:
    """What `build.py preseed` prints: the d-i lines, then the answers."""
    lines = [
        f"# Preseeding {package} {version} (python3 build.py preseed).",
        "#",
        "# debian-installer (preseed.cfg): install the package. Merge pkgsel/include",
        "# with your own if your preseed file has one.",
    ]
    if repo is None:
        lines.append("# The package must come from a repository d-i uses: see --repo-url.")
    else:
        lines += [
            f"d-i apt-setup/local0/repository string {repo.url} {repo.suite} main",
            f"d-i apt-setup/local0/key string {repo.key_url}",
        ]
    lines += [
        f"d-i pkgsel/include string {package}",
        "#",
        "# The answers to its debconf questions: in preseed.cfg as they are, or on an",
        f"# installed system before `apt-get install {package}` (or dpkg-reconfigure):",
        "#   python3 build.py preseed --selections [OPTIONS] | debconf-set-selections",
        *selection_lines(package, questions, values),
    ]
    return "\n".join(lines) + "\n"
