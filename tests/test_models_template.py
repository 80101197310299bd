"""mops init --template: a starter project whose example model discover finds at once."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from conftest import write


def test_template_project_works_at_once(tmp_path, run, monkeypatch):
    d = tmp_path / "starter"
    r = run("init", "--template", "--json", str(d))
    assert r.code == 0, r.err
    files = json.loads(r.out)["template_files"]
    assert set(files) == {"pyproject.toml", "README.md", "models/__init__.py", "models/example.py",
                          "data/contacts.csv", ".modelopsignore"}
    assert "tool" in tomllib.loads((d / "pyproject.toml").read_text()) and \
        "modelops-bundle" in tomllib.loads((d / "pyproject.toml").read_text())["tool"]
    monkeypatch.chdir(d)
    doc = json.loads(run("discover", "--json").out)
    assert [(m["class"], m["file"]) for m in doc["models"]] == [("SIR", "models/example.py")]
    assert doc["models"][0]["outputs"] == ["incidence", "prevalence"]
    # stages nothing by itself; registering stages the model's files
    assert run("ls-files").out == ""
    r = run("register-model", "models/example.py", "--data", "data/contacts.csv")
    assert r.code == 0, r.err
    assert run("ls-files").out.splitlines() == ["data/contacts.csv", "models/__init__.py", "models/example.py"]
    # and the example really runs
    p = subprocess.run([sys.executable, "models/example.py"], capture_output=True, text=True, cwd=d)
    assert p.returncode == 0 and "peak prevalence" in p.stdout


def test_template_refuses_existing_file_and_writes_nothing(tmp_path, run):
    d = tmp_path / "busy"
    write(d / "README.md", "mine\n")
    r = run("init", "--template", str(d))
    assert r.code == 12
    assert "README.md" in r.err and "already exists" in r.err
    assert (d / "README.md").read_text() == "mine\n"
    assert sorted(p.name for p in d.iterdir()) == ["README.md"]  # no project, no other file


def test_template_discover_save_keeps_pyproject_comments(tmp_path, run, monkeypatch):
    d = tmp_path / "t"
    assert run("init", "--template", str(d)).code == 0
    before = (d / "pyproject.toml").read_text()
    monkeypatch.chdir(d)
    assert run("discover", "--save").code == 0
    after = (d / "pyproject.toml").read_text()
    assert after.startswith(before)
    assert tomllib.loads(after)["tool"]["modelops-bundle"]["models"]["SIR"]["file"] == "models/example.py"
