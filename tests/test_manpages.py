"""Every command has a man page, and its OPTIONS section lists exactly the options --help shows.

Only commands whose module exists are checked (``available_commands``), so a command being
written is not blocked; once its module lands, its page must land too.  docs/MANPAGES.md gives
the conventions checked here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from mops.cli import COMMANDS, _build_root, available_commands

MAN = Path(__file__).resolve().parent.parent / "man"
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS", "SEE ALSO"]
HELP = {"--help", "-h"}
_OPT_RE = re.compile(r"\\fB(\\-[^\\]*(?:\\-[^\\]*)*)\\fR")


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r'^\.SH\s+"?([^"]+?)"?\s*$', line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def man_options(text: str) -> list[tuple[tuple[str, ...], bool]]:
    """(option names in order, takes an argument) for each ``.TP`` item of OPTIONS."""
    lines = sections(text).get("OPTIONS", [])
    found = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith(".TP"):
            tag = lines[i + 1]
            names = tuple(n.replace("\\-", "-") for n in _OPT_RE.findall(tag))
            if names and not set(names) <= HELP:  # -h/--help may be listed or not
                found.append((names, "\\fI" in tag))
    return found


def _help_order(opts: list[str]) -> list[str]:
    # click's --help lists the short forms before the long ones (join_options sorts by prefix length)
    return sorted(opts, key=lambda o: len(o) - len(o.lstrip("-/")))


def click_options(cmd: click.Command) -> list[tuple[tuple[str, ...], bool]]:
    """The same, as click reports them, including the options of a group's subcommands."""
    found = []
    cmds = [cmd]
    if isinstance(cmd, click.Group):
        cmds += [cmd.commands[n] for n in sorted(cmd.commands)]
    for c in cmds:
        for p in c.params:
            if not isinstance(p, click.Option):
                continue
            names = [o for o in _help_order(p.opts) if o not in HELP] + _help_order(p.secondary_opts)
            if names:
                takes_value = not (p.is_flag or p.count)
                found.append((tuple(names), takes_value))
    return found


def load(name: str) -> click.Command:
    root = _build_root()
    with click.Context(root) as ctx:
        return root.get_command(ctx, name)


COMMAND_NAMES = sorted(available_commands())
def page_for(name: str) -> Path:
    page = MAN / f"mops-{name}.1"
    if not page.is_file():
        pytest.fail(f"{name} has no man page: write man/mops-{name}.1 (see docs/MANPAGES.md)")
    return page


def test_every_available_command_is_checked():
    assert {"init", "add", "status", "hash-object", "fsck"} <= set(COMMAND_NAMES)


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_command_has_a_man_page(name):
    text = page_for(name).read_text(encoding="utf-8")
    found = [s for s in sections(text) if s in SECTIONS]
    assert found == SECTIONS, f"mops-{name}.1: sections {found}, expected {SECTIONS} in this order"
    th = next((line for line in text.splitlines() if line.startswith(".TH ")), "")
    assert th.replace("\\-", "-").upper().startswith(f".TH MOPS-{name.upper()} 1"), f"mops-{name}.1: {th!r} is not .TH MOPS-NAME 1"
    name_line = "\n".join(sections(text)["NAME"]).strip()
    assert name_line.startswith("mops\\-" + name.replace("-", "\\-") + " \\- "), name_line


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_man_options_equal_help_options(name):
    documented = man_options(page_for(name).read_text(encoding="utf-8"))
    actual = click_options(load(name))
    doc_names = sorted(n for n, _ in documented)
    act_names = sorted(set(n for n, _ in actual))
    assert doc_names == act_names, f"mops-{name}.1 OPTIONS lists {doc_names}; --help has {act_names}"
    takes = dict(actual)
    for names, has_arg in documented:
        assert has_arg == takes[names], f"mops-{name}.1: {', '.join(names)} {'takes' if takes[names] else 'takes no'} argument"


def test_no_page_for_a_command_that_does_not_exist():
    pages = {p.name for p in MAN.glob("mops-*.1")}
    assert pages <= {f"mops-{n}.1" for n in COMMANDS}, pages - {f"mops-{n}.1" for n in COMMANDS}


def test_mops_1_lists_global_options_and_every_command():
    text = (MAN / "mops.1").read_text(encoding="utf-8")
    assert [s for s in sections(text) if s in SECTIONS] == SECTIONS
    documented = sorted(n for n, _ in man_options(text))
    actual = sorted(n for n, _ in click_options(_build_root()))
    assert documented == actual
    for name in COMMANDS:
        assert "mops\\-" + name.replace("-", "\\-") + " (1)" in text, f"mops.1 does not list {name}"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_help_has_an_example(name, run):
    r = run(name, "--help")
    assert r.code == 0
    assert "Example" in r.out, f"mops {name} --help has no Example section"


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (roff lint only)")
@pytest.mark.parametrize("page", sorted(p.name for p in MAN.glob("mops*.1")))
def test_page_renders_without_warnings(page):
    r = subprocess.run(["groff", "-k", "-man", "-Tutf8", "-ww", "-z", str(MAN / page)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_parser_sees_what_is_written():
    """The checks above are only as good as this parser."""
    text = "\n".join([
        ".TH MOPS-X 1", ".SH NAME", "mops\\-x \\- y", ".SH OPTIONS", ".TP", "\\fB\\-f\\fR, \\fB\\-\\-force\\fR",
        "Force.", ".TP", "\\fB\\-\\-tag\\fR \\fIT\\fR", "A tag.", ".TP", ".B not-an-option", ".SH EXAMPLES",
        ".TP", "\\fB\\-\\-ignored\\-elsewhere\\fR",
    ])
    text = text.replace(".SH EXAMPLES", ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n.SH EXAMPLES")
    assert man_options(text) == [(("-f", "--force"), False), (("--tag",), True)]
