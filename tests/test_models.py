"""register-model, register-target, models, manifest, env: the registry as a user sees it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import write

from mops.bundle import parse_tree

BASE = "from modelops_calabaria import BaseModel\n\n\nclass StochasticSIR(BaseModel):\n    outputs = ('incidence',)\n\n    def simulate(self, p):\n        return helper(p)\n"


@pytest.fixture
def sir_project(project):
    write("models/__init__.py", "")
    write("models/util.py", "def helper(p):\n    return p * 2\n")
    write("models/sir.py", "from .util import helper\n\n" + BASE.replace("from modelops_calabaria import BaseModel\n\n\n", "from modelops_calabaria import BaseModel\n\n"))
    write("models/network.py", "from models.sir import StochasticSIR\n\n\nclass NetworkSIR(StochasticSIR):\n    pass\n\n\n"
                               "class Abstract(StochasticSIR):\n    pass\n")
    write("models/unrelated.py", "X = 1\n")
    write("data/contacts.csv", "a,b\n1,2\n")
    write("data/obs.csv", "day,cases\n1,3\n")
    return project


def _json(run, *args):
    r = run(*args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_register_model_finds_code_dependencies_and_stages(sir_project, run):
    doc = _json(run, "register-model", "models/network.py", "--exclude", "Abstract", "--data", "data/", "--output", "prevalence")
    assert doc["schema"] == "mops.register-model/v1"
    [m] = doc["models"]
    assert m["id"] == "NetworkSIR" and m["class"] == "NetworkSIR" and m["state"] == "ready"
    assert [c["path"] for c in m["code"]] == ["models/__init__.py", "models/network.py", "models/sir.py", "models/util.py"]
    assert [d["path"] for d in m["data"]] == ["data/contacts.csv", "data/obs.csv"]
    assert m["outputs"] == ["incidence", "prevalence"]  # inherited from StochasticSIR, plus --output
    assert m["digest"].startswith("blake3:")
    staged = run("ls-files").out.splitlines()
    assert staged == ["data/contacts.csv", "data/obs.csv", "models/__init__.py", "models/network.py", "models/sir.py", "models/util.py"]
    assert "models/unrelated.py" not in staged


def test_register_all_classes_class_filter_and_errors(sir_project, run):
    doc = _json(run, "register-model", "models/")
    assert sorted(m["id"] for m in doc["models"]) == ["Abstract", "NetworkSIR", "StochasticSIR"]
    r = run("register-model", "models/network.py", "--class", "Nope")
    assert r.code == 1 and "Nope" in r.err and "NetworkSIR" in r.err
    r = run("register-model", "models/network.py", "--exclude", "Typo")
    assert r.code == 1 and "Typo" in r.err
    r = run("register-model", "models/network.py", "--id", "x")
    assert r.code == 2 and "--class" in r.err
    r = run("register-model", "models/unrelated.py")
    assert r.code == 1 and "no model classes" in r.err
    r = run("register-model", "models/sir.py", "--data", "data/missing.csv")
    assert r.code == 1 and "data/missing.csv" in r.err
    write("models/broken.py", "class X(:\n")
    r = run("register-model", "models/broken.py")
    assert r.code == 2 and "models/broken.py" in r.err


def test_models_states_ready_stale_broken_and_formatting_is_not_stale(sir_project, run):
    _json(run, "register-model", "models/network.py", "--class", "NetworkSIR", "--data", "data/contacts.csv")
    first = _json(run, "models")["models"][0]
    assert first["state"] == "ready"
    # reformatting and a comment: still ready, same digest
    src = Path("models/sir.py").read_text()
    write("models/sir.py", "# a comment\n" + src.replace("    ", "  ").replace("'incidence'", '"incidence"'))
    again = _json(run, "models")["models"][0]
    assert again["state"] == "ready" and again["digest"] == first["digest"]
    # a change of meaning in an imported module: stale, new digest
    write("models/util.py", "def helper(p):\n    return p * 3\n")
    stale = _json(run, "models")["models"][0]
    assert stale["state"] == "stale" and stale["changed"] == ["models/util.py"] and stale["digest"] != first["digest"]
    r = run("models")
    assert r.code == 0 and "stale" in r.out and "1 stale" in r.err
    # data changes too
    os.remove("data/contacts.csv")
    broken = _json(run, "models")["models"][0]
    assert broken["state"] == "broken" and broken["missing"] == ["data/contacts.csv"] and "digest" not in broken
    # re-registering accepts the change
    write("data/contacts.csv", "a,b\n1,2\n")
    _json(run, "register-model", "models/network.py", "--class", "NetworkSIR", "--data", "data/contacts.csv")
    assert _json(run, "models")["models"][0]["state"] == "ready"


def test_models_travel_in_the_bundle_config(sir_project, run):
    plain = run("write-tree").out.strip()
    assert "models" not in run("cat-file", "-p", plain).out  # nothing registered: no model keys at all
    _json(run, "register-model", "models/network.py", "--class", "NetworkSIR", "--data", "data/contacts.csv")
    _json(run, "register-model", "models/sir.py", "--id", "sir")
    d1 = run("write-tree").out.strip()
    d2 = run("write-tree").out.strip()
    assert d1 == d2  # deterministic
    tree = parse_tree(run("cat-file", "-p", d1).out_bytes)
    models = {m["id"]: m for m in tree.extra["models"]}
    assert set(models) == {"NetworkSIR", "sir"}
    net = models["NetworkSIR"]
    assert net["class"] == "NetworkSIR" and net["file"] == "models/network.py"
    assert {c["path"]: c["sha256"] for c in net["code"]} == {p: tree.files[p].digest for p in
                                                                 ["models/__init__.py", "models/network.py", "models/sir.py", "models/util.py"]}
    assert net["data"] == [{"path": "data/contacts.csv", "digest": tree.files["data/contacts.csv"].digest}]
    assert net["digest"] == _json(run, "models")["models"][0]["digest"]
    env = tree.extra["environment"]
    assert env["digest"] == net["environment"] and re.fullmatch(r"\w+-\d+\.\d+", env["python"])
    blob = run("cat-file", "-p", d1).out
    assert "/tmp" not in blob and os.uname().nodename not in blob
    # what is staged, not the worktree, decides the bundle's record
    write("models/util.py", "def helper(p):\n    return p + 1\n")
    assert run("write-tree").out.strip() == d1
    run("add", "models/util.py")
    d3 = run("write-tree").out.strip()
    tree3 = parse_tree(run("cat-file", "-p", d3).out_bytes)
    net3 = {m["id"]: m for m in tree3.extra["models"]}["NetworkSIR"]
    assert net3["digest"] != net["digest"]
    # a registered file that is no longer staged leaves the record without a digest
    run("remove", "data/contacts.csv")
    tree4 = parse_tree(run("cat-file", "-p", run("write-tree").out.strip()).out_bytes)
    net4 = {m["id"]: m for m in tree4.extra["models"]}["NetworkSIR"]
    assert net4["missing"] == ["data/contacts.csv"] and "digest" not in net4


def test_register_target_checks_outputs(sir_project, run):
    write("targets/fit.py", "from mops.models import calibration_target\n\n"
                            "@calibration_target(model_output='incidence', data='data/obs.csv')\ndef incidence_fit(sim, obs):\n    return 0\n\n"
                            "def plain(sim, obs):\n    return 1\n")
    r = run("register-target", "targets/fit.py")
    assert r.code == 2 and "incidence" in r.err and "no registered model" in r.err
    _json(run, "register-model", "models/sir.py", "--output", "deaths")
    doc = _json(run, "register-target", "targets/fit.py")
    assert doc["schema"] == "mops.register-target/v1"
    [t] = doc["targets"]
    assert t["id"] == "incidence_fit" and t["model_output"] == "incidence" and t["data"][0]["path"] == "data/obs.csv"
    assert "data/obs.csv" in run("ls-files").out.split()
    r = run("register-target", "targets/fit.py", "--target", "plain", "--output", "hospitalisations", "--data", "data/obs.csv")
    assert r.code == 2 and "outputs: deaths, incidence" in r.err
    doc = _json(run, "register-target", "targets/fit.py", "--target", "plain", "--output", "deaths", "--data", "data/obs.csv", "--id", "d")
    assert doc["targets"][0]["id"] == "d"
    listing = _json(run, "models")
    assert sorted(t["id"] for t in listing["targets"]) == ["d", "incidence_fit"]
    tree = parse_tree(run("cat-file", "-p", run("write-tree").out.strip()).out_bytes)
    assert sorted(t["id"] for t in tree.extra["targets"]) == ["d", "incidence_fit"]
    # a target digest and a model digest never coincide, even over the same files
    assert {t["digest"] for t in tree.extra["targets"]}.isdisjoint({m["digest"] for m in tree.extra["models"]})


def test_manifest_write_and_check(sir_project, run):
    _json(run, "register-model", "models/sir.py", "--data", "data/contacts.csv")
    r = run("manifest", "--check")
    assert r.code == 1 and "manifest.json" in r.err
    r = run("manifest")
    assert r.code == 0, r.err
    doc = json.loads(Path("manifest.json").read_text())
    assert doc["schemaVersion"] == 1
    assert [m["id"] for m in doc["models"]] == ["StochasticSIR"]
    assert {f["path"]: f["size"] for f in doc["files"]}["data/contacts.csv"] == 8
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", f["sha256"]) for f in doc["files"])
    assert run("manifest", "--check").code == 0
    # staging manifest.json itself does not make it stale
    run("add", "manifest.json")
    assert run("manifest", "--check").code == 0
    # a staged change does
    write("models/util.py", "def helper(p):\n    return -p\n")
    run("add", "models/util.py")
    r = run("manifest", "--check")
    assert r.code == 1 and "out of date" in r.err and "models" in r.err
    assert run("manifest").code == 0 and run("manifest", "--check").code == 0


def test_manifest_bundle_digest_is_the_pushed_digest(sir_project, run, tmp_path):
    _json(run, "register-model", "models/sir.py")
    doc = _json(run, "manifest")["manifest"]
    tree = run("write-tree").out.strip()
    assert doc["bundle"]["config"] == tree
    r = run("write-manifest", tree)
    assert r.code == 0 and r.out.strip() == doc["bundle"]["digest"]


def test_env_reports_inputs_and_lock_files(project, run, monkeypatch):
    doc = _json(run, "env")
    assert doc["schema"] == "mops.env/v1"
    assert doc["digest"].startswith("blake3:") and doc["dependencies"]["source"] == "installed"
    assert any(p.startswith("click==") for p in doc["dependencies"]["packages"])
    write("uv.lock", 'version = 1\n\n[[package]]\nname = "NumPy"\nversion = "2.0.0"\n\n[[package]]\nname = "scipy"\nversion = "1.13.0"\n')
    locked = _json(run, "env")
    assert locked["dependencies"] == {"source": "uv.lock", "count": 2, "digest": locked["dependencies"]["digest"],
                                      "packages": ["numpy==2.0.0", "scipy==1.13.0"]}
    # reformatting the lock file keeps the digest; a version bump changes it
    write("uv.lock", '# regenerated\nversion = 1\n[[package]]\nversion = "1.13.0"\nname = "scipy"\n[[package]]\nname = "numpy"\nversion = "2.0.0"\n')
    assert _json(run, "env")["digest"] == locked["digest"]
    write("uv.lock", 'version = 1\n[[package]]\nname = "numpy"\nversion = "2.0.1"\n[[package]]\nname = "scipy"\nversion = "1.13.0"\n')
    assert _json(run, "env")["digest"] != locked["digest"]
    monkeypatch.setenv("MOPS_CONTAINER_IMAGE", "ghcr.io/acme/sim@sha256:" + "a" * 64)
    img = _json(run, "env")
    assert img["container_image"].startswith("ghcr.io/acme/sim") and img["digest"] != locked["digest"]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _json(run, "env")["threads"] == "3"
    r = run("env")
    assert r.code == 0 and r.out.startswith("digest        blake3:")


def test_env_digest_is_stable_across_processes(project, run_sub):
    a = run_sub("env", "--json", cwd=project)
    b = run_sub("env", "--json", cwd=project / ".modelops-bundle")
    assert a.code == 0, a.err
    assert json.loads(a.out)["digest"] == json.loads(b.out)["digest"]


COMMANDS = ["discover", "register-model", "register-target", "models", "manifest", "env"]


def _help_options(run, cmd):
    out = run(cmd, "--help").out
    assert "Example" in out
    opts = set()
    for line in out.split("Options:", 1)[1].splitlines():
        m = re.match(r"\s+(-[\w-]+(?:, --[\w-]+)?|--[\w-]+)", line)
        if m:
            opts.add(m.group(1))
    return opts


@pytest.mark.parametrize("cmd", COMMANDS)
def test_man_page_options_match_help(cmd, run):
    page = Path(__file__).parent.parent / "man" / f"mops-{cmd}.1"
    text = page.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS", "SEE ALSO"):
        assert f'.SH {section}' in text or f'.SH "{section}"' in text, section
    opts = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".TP") and i + 1 < len(lines):
            names = re.findall(r"\\fB(\\-[^\\]*(?:\\-[^\\]*)*)\\fR", lines[i + 1])
            if names:
                opts.add(", ".join(n.replace("\\-", "-") for n in names))
    assert opts == _help_options(run, cmd)


def test_worker_sees_models_via_show_after_push(sir_project, run, tmp_path):
    _json(run, "register-model", "models/network.py", "--class", "NetworkSIR", "--data", "data/contacts.csv")
    local = _json(run, "models")["models"][0]
    layout = tmp_path / "layout"
    r = run("push", f"oci:{layout}", "--tag", "v1")
    assert r.code == 0, r.err
    shown = _json(run, "show", f"oci:{layout}:v1")
    [m] = shown["models"]
    assert m["id"] == "NetworkSIR" and m["digest"] == local["digest"]
    assert shown["environment"]["digest"] == m["environment"]
