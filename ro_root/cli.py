"""Command line of the builder: python3 build.py [deb] [options]."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ro_root import preseed
from ro_root import repo as repo_mod
from ro_root.changelog import UNRELEASED, read_changelog
from ro_root.errors import UserError, die
from ro_root.package import build_deb

SOURCE = Path(__file__).resolve().parent.parent


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="build.py",
        description="Build the ro-root Debian package.",
        epilog="Without a command, `deb` runs with its defaults.",
    )
    parser.add_argument("--debug", action="store_true", help="log commands; tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    deb = commands.add_parser("deb", help="build dist/ro-root_VERSION_all.deb (the default)")
    deb.add_argument(
        "--out",
        type=Path,
        default=SOURCE / "dist",
        help="output directory, created if its parent exists (default: dist/)",
    )
    deb.add_argument(
        "--no-lintian", dest="lintian", action="store_false", help="do not run lintian"
    )
    demo = commands.add_parser(
        "demo",
        help="build the package and boot a small Debian image with it on this terminal",
        description="Build dist/*.deb, install it into a cached Debian minbase image and boot "
        "it in qemu with the serial console here. Log in as root, password root; quit with "
        "Ctrl-A X. Needs root, mmdebstrap and qemu-system-x86.",
    )
    demo.add_argument("--suite", default="bookworm", help="Debian suite (default: bookworm)")
    demo.add_argument(
        "--init", choices=("systemd", "sysvinit"), default="systemd", help="init system"
    )
    demo.add_argument("--busybox", action="store_true", help="include busybox in the image")
    demo.add_argument(
        "--append",
        action="append",
        default=[],
        metavar="PARAM",
        help="extra kernel parameter, e.g. ro-root=disabled (repeatable)",
    )
    pre = commands.add_parser(
        "preseed",
        help="print the debian-installer and debconf-set-selections lines for ro-root",
        description="Print the preseed lines that install ro-root unattended: for "
        "debian-installer's preseed.cfg, and the answers to its debconf questions (read from "
        "debian/templates), which also feed debconf-set-selections on an installed system. "
        "Every answer is its default unless given here; values are checked with the rules "
        "of ro-root.conf(5).",
    )
    pre.add_argument(
        "--selections",
        action="store_true",
        help="print only the answers, for: ... | debconf-set-selections",
    )
    pre.add_argument("--disabled", action="store_true", help="answer enabled=false")
    pre.add_argument("--mode", metavar="tmpfs|device", help="where changes are kept")
    pre.add_argument(
        "--device", metavar="SPEC", help="LABEL=x, UUID=x or PARTUUID=x (with --mode device)"
    )
    pre.add_argument("--size", metavar="SIZE", help="RAM layer limit: N%%, N, Nk, Nm or Ng")
    pre.add_argument(
        "--data-mounts",
        metavar="'SPEC:MOUNTPOINT ...'",
        help="persistent file systems, e.g. 'LABEL=data:/var/local/data'",
    )
    pre.add_argument("--failure-policy", metavar="rw|ro|panic", help="when the overlay fails")
    pre.add_argument("--repo-url", metavar="URL", help="apt repository d-i installs ro-root from")
    pre.add_argument(
        "--suite", default="bookworm", help="the repository's suite (default: bookworm)"
    )
    pre.add_argument("--key-url", metavar="URL", help="the repository's signing key (needed)")
    repo = commands.add_parser(
        "repo",
        help="add the package to a signed apt repository (apt-ftparchive and gpg)",
        description="Add ro-root to the signed apt repository in DIR, keeping the versions "
        "already there: pool/, dists/SUITE/ (Packages, Release, InRelease, Release.gpg), the "
        f"public key ({repo_mod.KEYRING}, and .asc for debian-installer) and the apt sources "
        f"for devices ({repo_mod.suite_sources('SUITE')} for each suite, and {repo_mod.SOURCES} "
        "for the first suite published). Without DEB, the package is built first (as "
        "`deb` does). Any static web server can serve DIR at URL. The new state is signed "
        "before it replaces the old one in a single rename, so an error leaves DIR as it was.",
    )
    repo.add_argument("--out", type=Path, required=True, metavar="DIR", help="repository directory")
    repo.add_argument(
        "--url", required=True, help="where devices will find DIR (http://, https://, file:///)"
    )
    repo.add_argument("--suite", default="bookworm", help="suite and codename (default: bookworm)")
    repo.add_argument(
        "--gnupghome",
        type=Path,
        metavar="DIR",
        help="gnupg home of the signing key (default: $XDG_DATA_HOME/ro-root/gnupg, "
        "i.e. ~/.local/share/ro-root/gnupg)",
    )
    repo.add_argument(
        "--key",
        metavar="FPR",
        help="sign with this key of the gnupg home (default: its own "
        f"'{repo_mod.KEY_UID}', created on first use)",
    )
    repo.add_argument("debs", nargs="*", type=Path, metavar="DEB", help="packages to add")
    return parser


def _repo(args: argparse.Namespace) -> str:
    debs = list(args.debs)
    if not debs:
        # Check what can be checked before a build that takes seconds.
        repo_mod.check_url(args.url)
        repo_mod.check_suite(args.suite)
        info = read_changelog(SOURCE / "debian/changelog")
        if not info.released:
            die(
                f"the newest debian/changelog entry is {UNRELEASED}: not for publication",
                hint="name the distribution (dch -r) first",
            )
        debs = [build_deb(SOURCE, SOURCE / "dist")]
    home = args.gnupghome or repo_mod.default_gnupghome()
    done = repo_mod.publish(
        args.out, debs, url=args.url, suite=args.suite, gnupghome=home, key=args.key
    )
    made = " (new key)" if done.created_key else ""
    url = repo_mod.check_url(args.url)
    lines = [
        f"repository: {done.directory}",
        f"suite: {args.suite}",
        f"versions: {' '.join(done.versions)}",
        f"added: {' '.join(done.added) or 'nothing new (repository left as it was)'}",
        f"signing key: {done.fingerprint}{made} in {home}",
        f"devices fetch these, so they must be reachable at {url}:",
        f"  {url}/{repo_mod.KEYRING}",
        f"  {url}/{repo_mod.SOURCES} (suite {done.default_suite})",
        f"  {url}/{repo_mod.suite_sources(args.suite)}",
        f"  {url}/dists/{args.suite}/InRelease",
    ]
    return "\n".join(lines) + "\n"


def _preseed(args: argparse.Namespace) -> str:
    info = read_changelog(SOURCE / "debian/changelog")
    questions = preseed.read_templates(SOURCE / "debian/templates")
    values = preseed.answers(
        questions,
        enabled=not args.disabled,
        mode=args.mode,
        device=args.device,
        size=args.size,
        data_mounts=args.data_mounts,
        failure_policy=args.failure_policy,
    )
    repo = preseed.repository(args.repo_url, args.suite, args.key_url)
    if args.selections:
        if repo is not None:
            die("--selections prints only the answers: --repo-url has no place there")
        return "\n".join(preseed.selection_lines(info.package, questions, values)) + "\n"
    return preseed.preseed_text(info.package, info.version, questions, values, repo)


def _demo(args: argparse.Namespace) -> int:
    # Only the demo needs the test bed, which is not part of the builder.
    from testbed import qemu
    from testbed.images import ImageSpec

    deb = build_deb(SOURCE, SOURCE / "dist")
    spec = ImageSpec(suite=args.suite, init=args.init, busybox=args.busybox, probe=False)
    return qemu.demo([deb], spec, append=args.append)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "deb"])
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="build.py: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "deb":
            print(build_deb(SOURCE, args.out, check_lintian=args.lintian))
        elif args.command == "preseed":
            sys.stdout.write(_preseed(args))
        elif args.command == "repo":
            sys.stdout.write(_repo(args))
        elif args.command == "demo":
            return _demo(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build.py: interrupted; nothing written", file=sys.stderr)
        return 130
    return 0
