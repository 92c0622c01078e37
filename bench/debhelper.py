"""The comparison build: the same payload as a conventional debhelper source package.

`source_package()` lays out, in a directory of its own, a native debhelper (compat 13)
source package holding what debian/install and debian/links list, with the maintainer
scripts, templates and triggers taken from the .deb that `make deb` built (so both packages
carry the same files and scripts). `dpkg-buildpackage -us -uc -b` builds it.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from ro_root.changelog import read_changelog
from ro_root.errors import die
from ro_root.package import read_install, read_links, source_bytes
from ro_root.proc import run

CONTROL_MEMBERS = ("config", "preinst", "postinst", "prerm", "postrm", "templates", "triggers")

RULES = """#!/usr/bin/make -f
%:
\tdh $@
"""


def source_package(repo: Path, deb: Path, directory: Path) -> Path:
    """Write the debhelper source package of REPO's payload into DIRECTORY/ro-root."""
    info = read_changelog(repo / "debian/changelog")
    src = directory / info.package
    if src.exists():
        shutil.rmtree(src)
    debian = src / "debian"
    (debian / "source").mkdir(parents=True)
    fields = {
        name: run(["dpkg-deb", "-f", deb, name], capture=True).stdout.strip()
        for name in ("Depends", "Pre-Depends", "Section", "Priority", "Description")
    }
    control = [
        f"Source: {info.package}",
        f"Section: {fields['Section'] or 'admin'}",
        f"Priority: {fields['Priority'] or 'optional'}",
        f"Maintainer: {info.maintainer}",
        "Build-Depends: debhelper-compat (= 13)",
        "Standards-Version: 4.6.2",
        "Rules-Requires-Root: no",
        "",
        f"Package: {info.package}",
        "Architecture: all",
        f"Depends: {fields['Depends']}, ${{misc:Depends}}",
        *([f"Pre-Depends: {fields['Pre-Depends']}"] if fields["Pre-Depends"] else []),
        f"Description: {fields['Description']}",
    ]
    (debian / "control").write_text("\n".join(control) + "\n")
    shutil.copyfile(repo / "debian/changelog", debian / "changelog")
    shutil.copyfile(repo / "debian/copyright", debian / "copyright")
    (debian / "source/format").write_text("3.0 (native)\n")
    rules = debian / "rules"
    rules.write_text(RULES)
    rules.chmod(0o755)
    # The payload, each file under its installed name (dh_install cannot rename).
    install, manpages = [], []
    for entry in read_install(repo / "debian/install"):
        dest = entry.dest
        if dest.parts[:2] == ("usr", "share") and dest.parts[2] in ("doc", "lintian"):
            # dh_installdocs and dh_lintian put these in place; dh_installdocs installs
            # README.Debian from debian/.
            if dest.name == "README.Debian":
                (debian / "README.Debian").write_bytes(source_bytes(repo, entry.source, info))
            continue
        if dest.parts[:3] == ("usr", "share", "man"):
            page = debian / PurePosixPath(dest.name).stem  # ro-root.8.gz -> ro-root.8
            page.write_bytes(source_bytes(repo, entry.source, info))
            manpages.append(f"debian/{page.name}")
            continue
        staged = src / "payload" / dest
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / entry.source, staged)
        staged.chmod(entry.mode)
        install.append(f"payload/{dest} {dest.parent}/")
    (debian / f"{info.package}.install").write_text("\n".join(install) + "\n")
    (debian / f"{info.package}.manpages").write_text("\n".join(manpages) + "\n")
    shutil.copyfile(repo / "debian/lintian-overrides", debian / f"{info.package}.lintian-overrides")
    # debian/links says LINK TARGET; dh_link wants TARGET LINK.
    links = [f"{link.target.lstrip('/')} {link.path}" for link in read_links(repo / "debian/links")]
    (debian / f"{info.package}.links").write_text("\n".join(links) + "\n")
    control_dir = directory / "control-of-make-deb"
    if control_dir.exists():
        shutil.rmtree(control_dir)
    run(["dpkg-deb", "-e", deb, control_dir])
    for member in CONTROL_MEMBERS:
        if (control_dir / member).is_file():
            target = debian / f"{info.package}.{member}"
            shutil.copyfile(control_dir / member, target)
    if not install:
        die("debian/install lists no payload")
    return src


def payload_paths(deb: Path) -> set[str]:
    """What a .deb installs, files and links, as paths without './' (directories left out)."""
    listing = run(["dpkg-deb", "-c", deb], capture=True).stdout
    paths = set()
    for line in listing.splitlines():
        if line.startswith("d"):
            continue
        name = line.split(None, 5)[5].split(" -> ")[0]
        paths.add(name.removeprefix("./"))
    return paths
