"""Stand-in for mount and umount in the shell-library tests.

Keeps a mount table in $FAKE_TABLE in /proc/mounts format and changes it the
way the kernel would for the calls the library makes (mount -t, move,
remount, umount). Every call is appended to $FAKE_CALLS. A call whose
command line contains $FAKE_FAIL fails without changing anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    table = Path(os.environ["FAKE_TABLE"])
    command = " ".join(argv)
    with Path(os.environ["FAKE_CALLS"]).open("a") as calls:
        calls.write(command + "\n")
    fail = os.environ.get("FAKE_FAIL")
    if fail and fail in command:
        print(f"{argv[0]}: simulated failure", file=sys.stderr)
        return 1
    rows = [line.split() for line in table.read_text().splitlines() if line.strip()]
    name, args = argv[0], argv[1:]
    if name == "umount":
        target = args[-1]
        matches = [i for i, row in enumerate(rows) if row[1] == target]
        if not matches:
            print(f"umount: {target}: not mounted", file=sys.stderr)
            return 1
        del rows[matches[-1]]
    else:
        options: list[str] = []
        fstype = "none"
        positional = []
        i = 0
        while i < len(args):
            if args[i] == "-o":
                options = args[i + 1].split(",")
                i += 2
            elif args[i] == "-t":
                fstype = args[i + 1]
                i += 2
            elif args[i] == "-n":
                i += 1
            else:
                positional.append(args[i])
                i += 1
        if len(positional) != 2:
            print("Usage: mount [-o options] [-t type] [-n] device directory", file=sys.stderr)
            return 1
        source, target = positional
        if "move" in options:
            matches = [i for i, row in enumerate(rows) if row[1] == source]
            if not matches:
                return 1
            rows[matches[-1]][1] = target
        elif "remount" in options:
            matches = [i for i, row in enumerate(rows) if row[1] == target]
            if not matches:
                return 1
            row = rows[matches[-1]]
            rest = [o for o in row[3].split(",") if o not in ("ro", "rw")]
            mode = "ro" if "ro" in options else "rw"
            row[3] = ",".join([mode, *rest])
        else:
            mode = "ro" if "ro" in options else "rw"
            extra = [o for o in options if o not in ("ro", "rw")]
            rows.append([source, target, fstype, ",".join([mode, *extra]), "0", "0"])
    table.write_text("".join(" ".join(row) + "\n" for row in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
