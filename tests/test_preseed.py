"""`python3 build.py preseed`: lines that match debian/templates, values checked like postinst.

The value rules exist twice, in Python (ro_root/preseed.py) for build.py and in shell
(debian/snippets/settings.sh) for the maintainer scripts: one table of samples runs through
both here, so that they cannot disagree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from debian.deb822 import Deb822
from support import REPO, assert_one_error_line, run_build

from ro_root import preseed

SNIPPET = REPO / "debian/snippets/settings.sh"


def template_paragraphs() -> list[Deb822]:
    with (REPO / "debian/templates").open(encoding="utf-8") as stream:
        return list(Deb822.iter_paragraphs(stream))


def answer_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("ro-root ")]


def assert_error_exit(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert_one_error_line(proc, *words)
    assert proc.returncode == 1


# --- the lines ----------------------------------------------------------------------------


def test_default_lines_are_every_question_of_the_templates_with_its_default() -> None:
    proc = run_build(REPO, "preseed")
    assert proc.returncode == 0, proc.stderr
    expected = [
        f"ro-root {p['Template']} {p['Type']} {p.get('Default', '')}".rstrip()
        for p in template_paragraphs()
        if p["Type"] not in ("error", "note", "text", "title")
    ]
    assert answer_lines(proc.stdout) == expected
    assert [line.split()[1] for line in expected] == [
        "ro-root/enabled",
        "ro-root/mode",
        "ro-root/device",
        "ro-root/size",
        "ro-root/data_mounts",
        "ro-root/failure_policy",
    ]
    assert "d-i pkgsel/include string ro-root" in proc.stdout.splitlines()
    assert "apt-setup" not in proc.stdout
    for line in proc.stdout.splitlines():
        assert line.startswith(("#", "d-i ", "ro-root ")), line


def test_every_template_default_is_valid_by_the_rules() -> None:
    for paragraph in template_paragraphs():
        key = paragraph["Template"].partition("/")[2]
        if key in ("invalid", "device"):
            continue  # an error note; device has no default (asked in device mode)
        assert preseed.check(key, paragraph.get("Default", "")) is None, key


def test_options_set_each_answer() -> None:
    proc = run_build(
        REPO,
        "preseed",
        "--selections",
        "--disabled",
        "--mode",
        "device",
        "--device",
        "PARTUUID=0a1b-02",
        "--size",
        "768m",
        "--data-mounts",
        "  LABEL=data:/var/local/data\tUUID=f00d:/srv/db ",
        "--failure-policy",
        "panic",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "ro-root ro-root/enabled boolean false",
        "ro-root ro-root/mode select device",
        "ro-root ro-root/device string PARTUUID=0a1b-02",
        "ro-root ro-root/size string 768m",
        "ro-root ro-root/data_mounts string LABEL=data:/var/local/data UUID=f00d:/srv/db",
        "ro-root ro-root/failure_policy select panic",
    ]


def test_repository_lines_for_debian_installer() -> None:
    proc = run_build(
        REPO,
        "preseed",
        "--repo-url",
        "https://apt.example.org/ro-root/",
        "--suite",
        "stable",
        "--key-url",
        "https://apt.example.org/ro-root/key.asc",
        "--size",
        "2g",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "d-i apt-setup/local0/repository string https://apt.example.org/ro-root stable main" in (
        lines
    )
    assert "d-i apt-setup/local0/key string https://apt.example.org/ro-root/key.asc" in lines
    assert "d-i pkgsel/include string ro-root" in lines
    assert "ro-root ro-root/size string 2g" in lines


def test_selections_feed_debconf_set_selections_checker() -> None:
    program = shutil.which("debconf-set-selections")
    assert program, "debconf-set-selections is needed (apt-get install debconf)"
    proc = run_build(REPO, "preseed", "--data-mounts", "LABEL=a:/srv/a LABEL=b:/srv/b")
    assert proc.returncode == 0, proc.stderr
    # -c: only check the syntax, change nothing on this machine.
    check = subprocess.run(
        [program, "-c"], input=proc.stdout, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    assert check.stderr == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--size", "0%"], ["--size '0%'", "1% to 100%"]),
        (["--size", "101%"], ["--size"]),
        (["--size", "5G"], ["--size '5G'"]),
        (["--size", "$(reboot)"], ["--size"]),
        (["--mode", "zram"], ["--mode 'zram'", "tmpfs or device"]),
        (["--mode", "device"], ["--mode device needs --device"]),
        (["--device", "LABEL=x"], ["--device is only used with --mode device"]),
        (["--mode", "device", "--device", "/dev/sda2"], ["--device '/dev/sda2'", "LABEL="]),
        (["--mode", "device", "--device", "LABEL=a b"], ["--device"]),
        (["--data-mounts", "LABEL=d:/"], ["'LABEL=d:/'", "other than /"]),
        (["--data-mounts", "LABEL=d:/rw/x"], ["outside /ro, /rw, /proc, /sys, /dev and /run"]),
        (["--data-mounts", "LABEL=d:/run/x"], ["outside /ro, /rw"]),
        (["--size", "9999999999999"], ["--size"]),
        (["--data-mounts", "LABEL=d:relative"], ["absolute"]),
        (["--data-mounts", "LABEL=d"], ["lacks ':MOUNTPOINT'"]),
        (["--data-mounts", "/dev/sdb1:/srv"], ["does not start with LABEL="]),
        (["--failure-policy", "reboot"], ["--failure-policy 'reboot'", "rw, ro or panic"]),
        (["--repo-url", "https://x.example/d"], ["--repo-url needs --key-url"]),
        (["--key-url", "https://x.example/k"], ["--key-url needs --repo-url"]),
        (["--repo-url", "x.example", "--key-url", "https://x/k"], ["--repo-url 'x.example'"]),
        (
            ["--repo-url", "https://x/d", "--key-url", "https://x/k", "--suite", "a b"],
            ["--suite"],
        ),
        (["--selections", "--repo-url", "https://x/d", "--key-url", "https://x/k"], ["only"]),
    ],
)
def test_bad_value_is_one_error_line_and_exit_1(args: list[str], words: list[str]) -> None:
    assert_one_error_line(run_build(REPO, "preseed", *args), *words)


# --- the same rules in Python and in the maintainer scripts -------------------------------

SAMPLES = {
    "enabled": ["true", "false", "yes", "", "TRUE"],
    "mode": ["tmpfs", "device", "device:LABEL=x", "", "Tmpfs"],
    "device": [
        "LABEL=up",
        "UUID=0a1b2c3d-aaaa-bbbb",
        "PARTUUID=1234abcd-02",
        "LABEL=a.b_c-d",
        "LABEL=",
        "label=x",
        "LABEL=a b",
        "LABEL=a/b",
        "LABEL=$(x)",
        "/dev/sdb1",
        "",
        "LABEL=..",
        "LABEL=" + "a" * 74,
        "LABEL=" + "a" * 75,
    ],
    "size": [
        "1%",
        "9%",
        "10%",
        "50%",
        "99%",
        "100%",
        "0%",
        "101%",
        "05%",
        "%",
        "1",
        "4096",
        "1k",
        "512m",
        "2g",
        "0",
        "0m",
        "01m",
        "1K",
        "1t",
        "1mm",
        "m",
        "-1",
        "1.5g",
        "",
        " 1g",
    ],
    "data_mounts": [
        "",
        "LABEL=data:/var/local/data",
        "LABEL=a:/a UUID=b-1:/b/c PARTUUID=c.2:/srv/x_y",
        "  LABEL=a:/a\t\tLABEL=b:/b  ",
        "LABEL=a:/",
        "LABEL=a:/ro",
        "LABEL=a:/ro/x",
        "LABEL=a:/rw",
        "LABEL=a:/rwx",
        "LABEL=a:/rox/y",
        "LABEL=a:/x/",
        "LABEL=a:/x//y",
        "LABEL=a:/x/../y",
        "LABEL=a:/x/./y",
        "LABEL=a:/..",
        "LABEL=a:/x/..",
        "LABEL=a:/.hidden",
        "LABEL=a:/x..y",
        "LABEL=a",
        "LABEL=a:",
        "LABEL=a:x",
        "LABEL=a:/x:y",
        "LABEL=a:/x y",
        "LABEL=a:/x*",
        "/dev/sdb1:/srv",
        ":/srv",
        "LABEL=a:/x LABEL=b",
        # The boot's limits (issue 12, defect 2): 80 characters for a SPEC, 200 for a path.
        "LABEL=" + "a" * 74 + ":/srv",
        "LABEL=" + "a" * 75 + ":/srv",
        "LABEL=a:/" + "b" * 199,
        "LABEL=a:/" + "b" * 200,
        "LABEL=..:/srv",
        "LABEL=.:/srv",
    ],
    "failure_policy": ["rw", "ro", "panic", "", "RW", "reboot"],
}


def shell_verdicts() -> dict[tuple[str, str], bool]:
    """ro_root_check of debian/snippets/settings.sh, in dash, over SAMPLES."""
    assert shutil.which("dash"), "dash is needed (make check installs it)"
    cases = [(key, value) for key, values in SAMPLES.items() for value in values]
    # As config and postinst inline them: the shared core first, then the debconf rules.
    script = [
        f". {REPO / 'lib' / 'common.sh'}",
        f". {REPO / 'lib' / 'settings.sh'}",
        f". {SNIPPET}",
    ]
    for number, (key, value) in enumerate(cases):
        quoted = "'" + value.replace("'", "'\\''") + "'"
        script.append(
            f"if ro_root_check {key} {quoted}; then echo '{number} ok'; "
            f"else echo '{number} bad'; fi"
        )
    proc = subprocess.run(
        ["dash", "-eu", "-c", "\n".join(script)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = {}
    for line in proc.stdout.splitlines():
        index, verdict = line.split()
        verdicts[cases[int(index)]] = verdict == "ok"
    assert len(verdicts) == len(cases), proc.stdout
    return verdicts


def test_python_and_shell_rules_agree_on_every_sample() -> None:
    shell = shell_verdicts()
    python = {(key, value): preseed.check(key, value) is None for key, value in shell}
    disagree = {case: (python[case], shell[case]) for case in shell if python[case] != shell[case]}
    assert disagree == {}


def test_the_samples_cover_both_outcomes_for_every_key() -> None:
    for key, values in SAMPLES.items():
        verdicts = {preseed.check(key, value) is None for value in values}
        assert verdicts == {True, False}, key


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("size", "100%", True),
        ("size", "101%", False),
        ("size", "1g", True),
        ("size", "0", False),
        ("data_mounts", "LABEL=a:/rwx", True),
        ("data_mounts", "LABEL=a:/rw/x", False),
        ("data_mounts", "", True),
        ("device", "UUID=0a1b", True),
        ("device", "/dev/sda1", False),
    ],
)
def test_rules_of_ro_root_conf_5(key: str, value: str, valid: bool) -> None:
    assert (preseed.check(key, value) is None) is valid


def test_templates_without_a_type_are_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "templates"
    bad.write_text("Template: ro-root/x\nDescription: x\n")
    from ro_root.errors import UserError

    with pytest.raises(UserError, match="without Template or Type"):
        preseed.read_templates(bad)


def test_preseed_defaults_are_the_settings_table_defaults() -> None:
    # One table (lib/settings.sh's rr_key): the defaults preseed writes are the boot's.
    keys = ("size", "data_mounts", "failure_policy", "enabled")
    script = f". {REPO / 'lib' / 'common.sh'}\n. {REPO / 'lib' / 'settings.sh'}\n" + "".join(
        f'rr_key {key}; echo "{key}=$RR_KEY_DEFAULT"\n' for key in keys
    )
    proc = subprocess.run(["dash", "-c", script], capture_output=True, text=True, check=True)
    table = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    questions = {q.key: q.default for q in preseed.read_templates(REPO / "debian/templates")}
    assert questions["size"] == table["size"]
    assert questions["data_mounts"] == table["data_mounts"]
    assert questions["failure_policy"] == table["failure_policy"]
    assert questions["enabled"] == {"yes": "true", "no": "false"}[table["enabled"]]
