"""Command line of the builder: python3 build.py [deb] [options]."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ro_root.errors import UserError
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
        "--out", type=Path, default=SOURCE / "dist", help="output directory (default: dist/)"
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
    return parser


def _demo(args: argparse.Namespace) -> int:
    from ro_root import vm  # only the demo needs the VM harness

    deb = build_deb(SOURCE, SOURCE / "dist")
    spec = vm.ImageSpec(suite=args.suite, init=args.init, busybox=args.busybox, probe=False)
    return vm.demo([deb], spec, append=args.append)


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
