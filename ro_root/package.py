"""Assemble the binary package from the tree, reproducibly, and write it atomically."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jinja2

from ro_root.changelog import UNRELEASED, ChangelogInfo, deb_file_name, read_changelog
from ro_root.errors import die
from ro_root.lint import lintian
from ro_root.paths import check_out_dir, make_out_dir
from ro_root.proc import require, run

log = logging.getLogger("ro-root")

# initscripts' checkroot.sh and where preinst moves it. insserv ignores the
# ".ro-root.orig" name (it would not ignore dpkg-divert's default ".distrib").
DIVERTED = "/etc/init.d/checkroot.sh"
DIVERT_TO = "/etc/init.d/checkroot.sh.ro-root.orig"

# DEBIAN/ members rendered from debian/NAME.j2 (mode 0755), and those copied
# from debian/NAME (mode 0644).
MAINTAINER_SCRIPTS = ("config", "preinst", "postinst", "prerm", "postrm")
CONTROL_FILES = ("templates", "triggers")


@dataclass(frozen=True)
class InstallEntry:
    source: PurePosixPath  # relative to the source tree
    dest: PurePosixPath  # relative to the package root
    mode: int


@dataclass(frozen=True)
class Link:
    path: PurePosixPath  # relative to the package root
    target: str  # as written in the link


def _data_lines(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment lines of a manifest, split into fields, with line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        die(f"cannot read {path}: {exc.strerror}")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append((number, line.split()))
    return rows


def _relative(path: Path, number: int, value: str) -> PurePosixPath:
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts:
        die(f"{path}:{number}: path must be relative and stay inside the tree: {value}")
    return pure


def read_install(path: Path) -> list[InstallEntry]:
    """Parse debian/install: SOURCE DESTINATION MODE per line."""
    entries = []
    for number, fields in _data_lines(path):
        if len(fields) != 3:
            die(f"{path}:{number}: expected SOURCE DESTINATION MODE")
        try:
            mode = int(fields[2], 8)
        except ValueError:
            die(f"{path}:{number}: mode is not an octal number: {fields[2]}")
        if mode not in (0o644, 0o755):
            die(f"{path}:{number}: mode must be 0644 or 0755, not {fields[2]}")
        entries.append(
            InstallEntry(
                _relative(path, number, fields[0]), _relative(path, number, fields[1]), mode
            )
        )
    return entries


def read_links(path: Path) -> list[Link]:
    """Parse debian/links: LINK TARGET per line."""
    links = []
    for number, fields in _data_lines(path):
        if len(fields) != 2:
            die(f"{path}:{number}: expected LINK TARGET")
        links.append(Link(_relative(path, number, fields[0]), fields[1]))
    return links


def _mkdirs(root: Path, rel: PurePosixPath) -> None:
    """Create the parents of ROOT/REL with mode 0755, whatever the umask."""
    current = root
    for part in rel.parent.parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
            current.chmod(0o755)


def _write(root: Path, rel: PurePosixPath, data: bytes, mode: int) -> None:
    _mkdirs(root, rel)
    target = root / rel
    target.write_bytes(data)
    target.chmod(mode)


def _installed_size(root: Path) -> int:
    """Installed-Size in KiB, counted as dpkg-gencontrol does: files rounded up, 1 per other."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                total += (path.stat().st_size + 1023) // 1024
            else:
                total += 1
    return total


def _md5sums(root: Path) -> bytes:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("DEBIAN/"):
            continue
        lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel}\n")
    return "".join(lines).encode()


def _conffiles(root: Path) -> bytes:
    """Every regular file under /etc is a conffile (Policy 10.7), symlinks are not."""
    etc = root / "etc"
    if not etc.is_dir():
        return b""
    names = sorted(
        "/" + p.relative_to(root).as_posix()
        for p in etc.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    return "".join(f"{name}\n" for name in names).encode()


def _clamp_mtimes(root: Path, epoch: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def _templates(source: Path) -> jinja2.Environment:
    """Templates by name in debian/ (control.j2) or by path in the tree (debian/x.8.j2).

    inline("lib/settings.sh") gives a file of the tree as it is, not rendered: the maintainer
    scripts inline ro-root's shell core with it (shell's ${#var} would open a Jinja comment).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([source / "debian", source]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )

    def inline(path: str) -> str:
        target = (source / path).resolve()
        if source.resolve() not in target.parents or not target.is_file():
            raise jinja2.TemplateNotFound(path)
        return target.read_text(encoding="utf-8")

    env.globals["inline"] = inline
    return env


def _context(info: ChangelogInfo) -> dict[str, str]:
    """What every template may use: all of it from the newest debian/changelog entry."""
    return {
        "package": info.package,
        "version": info.version,
        "maintainer": info.maintainer,
        "date": info.date,
        "diverted": DIVERTED,
        "divert_to": DIVERT_TO,
    }


def source_bytes(source: Path, rel: PurePosixPath, info: ChangelogInfo) -> bytes:
    """SOURCE/REL as installed: its bytes, or rendered if its name ends in .j2."""
    src = source / rel
    try:
        if rel.suffix == ".j2":
            return _templates(source).get_template(rel.as_posix()).render(_context(info)).encode()
        return src.read_bytes()
    except jinja2.TemplateNotFound:
        die(f"cannot read {src} (listed in debian/install): no such file")
    except jinja2.TemplateError as exc:
        die(f"cannot render {src}: {exc}")
    except OSError as exc:
        die(f"cannot read {src} (listed in debian/install): {exc.strerror}")


def stage(source: Path, root: Path, info: ChangelogInfo) -> None:
    """Lay out the package tree (data and DEBIAN/) from SOURCE under ROOT."""
    root.mkdir()
    root.chmod(0o755)
    for entry in read_install(source / "debian/install"):
        data = source_bytes(source, entry.source, info)
        if entry.dest.suffix == ".gz" and entry.source.suffix != ".gz":
            # Man pages and the like: compressed as Debian wants, gzip -9n.
            plain = entry.dest.with_suffix("")
            _write(root, plain, data, entry.mode)
            run([require("gzip", "gzip"), "-9n", root / plain])
        else:
            _write(root, entry.dest, data, entry.mode)
    for link in read_links(source / "debian/links"):
        _mkdirs(root, link.path)
        (root / link.path).symlink_to(link.target)

    # changelog.gz as Debian wants it: gzip -9, no name, no time stamp.
    doc = PurePosixPath("usr/share/doc") / info.package
    changelog = root / doc / "changelog"
    _write(root, doc / "changelog", (source / "debian/changelog").read_bytes(), 0o644)
    run([require("gzip", "gzip"), "-9n", changelog])

    env = _templates(source)
    context = _context(info)
    control = PurePosixPath("DEBIAN")
    for name in MAINTAINER_SCRIPTS:
        text = env.get_template(f"{name}.j2").render(context)
        _write(root, control / name, text.encode(), 0o755)
    for name in CONTROL_FILES:
        _write(root, control / name, (source / "debian" / name).read_bytes(), 0o644)
    _write(root, control / "md5sums", _md5sums(root), 0o644)
    conffiles = _conffiles(root)
    if conffiles:
        _write(root, control / "conffiles", conffiles, 0o644)
    context["installed_size"] = str(_installed_size(root))
    text = env.get_template("control.j2").render(context)
    _write(root, control / "control", text.encode(), 0o644)
    _clamp_mtimes(root, info.epoch)


def build_deb(source: Path, out_dir: Path, *, check_lintian: bool = True) -> Path:
    """Build OUT_DIR/PACKAGE_VERSION_all.deb from SOURCE; return its path.

    Nothing appears in OUT_DIR unless the whole build (and lintian) succeeded.
    """
    info = read_changelog(source / "debian/changelog")
    if not info.released:
        log.warning(
            "the newest debian/changelog entry is %s: a local test build, not one to publish",
            UNRELEASED,
        )
    check_out_dir(out_dir)
    dpkg_deb = require("dpkg-deb", "dpkg")
    name = deb_file_name(info.package, info.version)
    with tempfile.TemporaryDirectory(prefix="ro-root-build-") as tmp:
        root = Path(tmp) / "root"
        stage(source, root, info)
        built = Path(tmp) / name
        run(
            [dpkg_deb, "--root-owner-group", "-Zxz", "--build", root, built],
            capture=True,
            env={"SOURCE_DATE_EPOCH": str(info.epoch)},
        )
        if check_lintian:
            lintian(built)
        make_out_dir(out_dir)
        final = out_dir / name
        partial = out_dir / f".{name}.partial"
        try:
            shutil.copyfile(built, partial)
            partial.chmod(0o644)
            partial.replace(final)
        except OSError as exc:
            die(f"cannot write {final}: {exc.strerror}")
        finally:
            partial.unlink(missing_ok=True)
    return final
