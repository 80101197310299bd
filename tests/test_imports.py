"""The local commands stay light: status and add never load the network or UI libraries.

A user notices this as start-up time: ``requests``, ``oras``, ``fsspec`` and ``rich`` cost tens of
milliseconds each to import, more than ``mops status`` needs for a whole small project.  Each
command runs in a fresh interpreter, which then reports the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import write

NETWORK_AND_UI = ("requests", "oras", "fsspec", "rich", "urllib3", "boto3", "s3fs")

PROBE = """
import json, sys
from mops.cli import main
rc = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(m.split(".")[0] for m in sys.modules)) + "\\n")
sys.exit(rc)
"""


def loaded_by(*args: str) -> set[str]:
    p = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


@pytest.mark.parametrize("args", [("status",), ("status", "--porcelain"), ("add", "."), ("--version",)])
def test_local_commands_import_no_network_or_ui_library(project, args):
    write("models/sir.py", "print('sir')\n")
    write("data/big.bin", b"\0" * 4096)
    mods = loaded_by(*args)
    assert "mops" in mods or args == ("--version",)
    assert not mods & set(NETWORK_AND_UI), f"mops {' '.join(args)} imported {sorted(mods & set(NETWORK_AND_UI))}"


def test_status_does_not_read_config_yaml(project):
    """status of a project that was never pushed has no setting to read: no YAML parser."""
    write("a.txt", "a\n")
    assert loaded_by("add", "a.txt")  # staged, so status has an index to compare
    mods = loaded_by("status")
    assert "yaml" not in mods


def test_version_imports_no_command_framework(project):
    mods = loaded_by("--version")
    assert "click" not in mods and "pathspec" not in mods


@pytest.mark.parametrize("args", [("status",), ("status", "--porcelain", "-z"), ("status", "--json", "-u")])
def test_plain_status_runs_without_the_command_framework(project, args):
    """status is run more than any other command; with only flags it skips click's ~20 ms."""
    write("a.txt", "a\n")
    write("b.txt", "b\n")
    assert loaded_by("add", "a.txt")
    mods = loaded_by(*args)
    assert "click" not in mods


def test_status_flags_mean_the_same_without_the_framework(project, run_sub):
    """The fast path and click's parser give identical answers (``-C`` forces the parser)."""
    write("a.txt", "a\n")
    write("d/b.txt", "b\n")
    run_sub("add", "a.txt")
    for flags in ([], ["--porcelain"], ["--porcelain", "-z"], ["-u"], ["--json"], ["--ignored"]):
        fast = run_sub("status", *flags)
        parsed = run_sub("-C", ".", "status", *flags)
        assert (fast.code, fast.out) == (parsed.code, parsed.out), flags
