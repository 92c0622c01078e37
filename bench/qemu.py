"""One benchmark boot: qemu_argv plus a QMP socket, so that the root disk's block
statistics can be read after the guest has powered off and before qemu exits.

qemu runs with -no-shutdown: the guest's poweroff stops the machine instead of ending qemu.
The bench waits for QMP's SHUTDOWN event, asks for query-blockstats, then quits qemu.
qemu.boot(), which the test suites use, is not involved and keeps its behaviour.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import root_wr_bytes
from ro_root.errors import UserError, die
from ro_root.proc import run
from testbed import images
from testbed.qemu import BASE_CMDLINE, parse_probe, qemu_argv

log = logging.getLogger("ro-root")

# The root disk is the first -drive if=virtio of qemu_argv.
ROOT_DEVICE = "virtio0"


class Qmp:
    """A minimal QMP client on a unix socket: commands and the events that come between."""

    def __init__(self, path: Path, timeout: float) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    die(f"qemu's QMP socket {path} did not appear")
                time.sleep(0.2)
        self.sock.settimeout(timeout)
        self.stream = self.sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        greeting = self._read()
        if "QMP" not in greeting:
            die(f"not a QMP greeting: {greeting!r}")
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.stream.readline()
        if not line:
            die("qemu closed its QMP socket")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str) -> dict[str, Any]:
        self.stream.write(json.dumps({"execute": command}).encode() + b"\n")
        self.stream.flush()
        while True:
            message = self._read()
            if "event" in message:
                self.events.append(message)
            elif "return" in message:
                return message
            else:
                die(f"QMP {command} failed: {message!r}")

    def wait_event(self, name: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event["event"] == name:
                    return event
            message = self._read()
            if "event" in message:
                self.events.append(message)

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@dataclass(frozen=True)
class BenchBoot:
    """A benchmark boot: the probe's facts, and what the guest wrote to its root disk."""

    log_path: Path
    facts: dict[str, str]
    wr_bytes: int
    seconds: float


def boot(image: images.Image, append: tuple[str, ...], name: str, timeout: float) -> BenchBoot:
    """Boot IMAGE once; stop with the log's tail if the probe did not report."""
    cmdline = " ".join((*BASE_CMDLINE, *append))
    log_path = image.directory / f"{name}.log"
    qmp_path = image.directory / f"{name}.qmp"
    log_path.unlink(missing_ok=True)
    qmp_path.unlink(missing_ok=True)
    argv = [
        *qemu_argv(image, cmdline, log_path),
        "-no-shutdown",
        "-qmp",
        f"unix:{qmp_path},server=on,wait=off",
    ]
    outcome: list[str] = []

    def qemu() -> None:
        try:
            proc = run(argv, check=False, capture=True, input="", timeout=timeout + 60)
            outcome.append(f"qemu exited with status {proc.returncode}: {proc.stderr.strip()}")
        except UserError as exc:
            outcome.append(f"qemu did not finish: {exc}")

    started = time.monotonic()
    thread = threading.Thread(target=qemu, name=f"qemu-{name}")
    thread.start()
    wr_bytes: int | None = None
    problem = ""
    try:
        qmp = Qmp(qmp_path, timeout)
        try:
            qmp.wait_event("SHUTDOWN")
            wr_bytes = root_wr_bytes(qmp.execute("query-blockstats"), ROOT_DEVICE)
            qmp.execute("quit")
        finally:
            qmp.close()
    except (OSError, UserError, ValueError) as exc:  # socket.timeout is an OSError
        problem = f"QMP: {exc}"
    thread.join()
    seconds = time.monotonic() - started
    qmp_path.unlink(missing_ok=True)
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    parsed = parse_probe(text)
    if wr_bytes is None or parsed is None:
        tail = "\n".join(text.replace("\r", "").splitlines()[-30:])
        die(
            f"bench boot {name} of {image.disk} with '{cmdline}' failed after {seconds:.0f} s: "
            f"{problem or 'no probe report'}; {' '.join(outcome)}\n"
            f"serial log: {log_path}\n--- tail ---\n{tail}"
        )
    log.info("bench: boot %s took %.0f s, wrote %d bytes", name, seconds, wr_bytes)
    return BenchBoot(log_path=log_path, facts=parsed[0], wr_bytes=wr_bytes, seconds=seconds)
