"""mops discover: model classes found by parsing — direct, aliased, indirect across files — never by importing."""

from __future__ import annotations

import json
import tomllib

from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mops.models import save_to_pyproject


def _ids(run, *args):
    r = run("discover", "--json", *args)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "mops.discover/v1"
    return {m["id"]: m for m in doc["models"]}, doc


def test_direct_aliased_and_indirect_inheritance_across_files(project, run):
    write("models/__init__.py", "")
    write("models/base.py", "from modelops_calabaria import BaseModel\n\nclass StochasticSIR(BaseModel):\n    pass\n")
    write("models/alias.py", "import modelops_calabaria as cb\n\nclass Aliased(cb.BaseModel):\n    pass\n")
    write("models/full.py", "import modelops_calabaria\n\nclass Full(modelops_calabaria.BaseModel):\n    pass\n")
    write("models/renamed.py", "from calabaria import BaseModel as BM\n\nclass Renamed(BM):\n    pass\n")
    write("models/network.py", "from .base import StochasticSIR\n\nclass NetworkSIR(StochasticSIR):\n    pass\n\n"
                               "class Deeper(NetworkSIR):\n    pass\n")
    write("other/abs.py", "from models.network import Deeper\nimport models.base as mb\n\n"
                          "class FromAbs(Deeper):\n    pass\n\nclass ViaModule(mb.StochasticSIR):\n    pass\n")
    write("models/duck.py", "class Duck:\n    def parameters(self):\n        return {}\n\n    def simulate(self, p):\n        return p\n\n"
                            "class HalfDuck:\n    def simulate(self, p):\n        return p\n")
    write("models/plain.py", "from pydantic import BaseModel\n\nclass Settings(BaseModel):\n    x: int = 1\n\nclass Helper:\n    pass\n")
    models, doc = _ids(run)
    assert set(models) == {"StochasticSIR", "Aliased", "Full", "Renamed", "NetworkSIR", "Deeper", "FromAbs", "ViaModule", "Duck"}
    assert models["NetworkSIR"]["file"] == "models/network.py"
    assert "StochasticSIR" in models["NetworkSIR"]["reason"]
    assert models["Duck"]["reason"] == "defines simulate() and parameters()"
    # the human form lists one model per line on stdout
    r = run("discover")
    assert r.code == 0 and len(r.out.splitlines()) == 9 and "found 9 model(s)" in r.err


def test_syntax_error_file_is_reported_and_others_still_found(project, run):
    write("good.py", "class M:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    write("bad.py", "class Broken(:\n")
    models, doc = _ids(run)
    assert set(models) == {"M"}
    assert [e["file"] for e in doc["errors"]] == ["bad.py"]
    r = run("discover")
    assert r.code == 0 and "warning: skipped bad.py" in r.err


def test_module_with_import_side_effects_is_only_read(project, run, tmp_path):
    marker = tmp_path / "imported.txt"
    write("models/evil.py",
          f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('crash on import')\n\n"
          "class Evil:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    models, _ = _ids(run)
    assert "Evil" in models
    assert not marker.exists()


def test_paths_limit_what_is_reported_but_not_inheritance(project, run):
    write("models/__init__.py", "")
    write("models/base.py", "class Base:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    write("models/sub/__init__.py", "")
    write("models/sub/child.py", "from models.base import Base\n\nclass Child(Base):\n    pass\n")
    models, _ = _ids(run, "models/sub")
    assert set(models) == {"Child"}
    r = run("discover", "missing/")
    assert r.code == 1 and "missing/" in r.err


def test_outputs_and_targets_are_discovered(project, run):
    write("m.py", "import mops.models as mm\n\nclass M:\n    outputs = ('incidence',)\n"
                  "    def parameters(self): ...\n    def simulate(self): ...\n"
                  "    @mm.model_output('deaths')\n    def d(self, r): ...\n")
    write("t.py", "from mops.models import calibration_target\n\n"
                  "@calibration_target(model_output='incidence', data='obs.csv')\ndef fit(sim, obs):\n    return 0\n")
    models, doc = _ids(run)
    assert models["M"]["outputs"] == ["deaths", "incidence"]
    assert doc["targets"] == [{"id": "fit", "function": "fit", "file": "t.py", "line": 4, "model_output": "incidence", "data": ["obs.csv"]}]


def test_save_writes_pyproject_preserving_every_other_byte(project, run):
    original = ('# my project\n[project]\nname = "x"  # keep this comment\nversion = "1"\n\n'
                '[tool.modelops-bundle.roles]\nsim = ["models/**"]\n\n[tool.other]\nz = 1\n')
    write("pyproject.toml", original)
    write("models/m.py", "class M:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    r = run("discover", "--save")
    assert r.code == 0, r.err
    text = (project / "pyproject.toml").read_text()
    assert text.startswith(original)
    data = tomllib.loads(text)
    assert data["tool"]["modelops-bundle"]["models"] == {"M": {"class": "M", "file": "models/m.py"}}
    assert data["tool"]["modelops-bundle"]["roles"] == {"sim": ["models/**"]}
    # saving again after a model was added replaces the table in place
    write("models/n.py", "class N:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    assert run("discover", "--save").code == 0
    text2 = (project / "pyproject.toml").read_text()
    assert text2.startswith(original) and text2.count("[tool.modelops-bundle.models]") == 1
    assert set(tomllib.loads(text2)["tool"]["modelops-bundle"]["models"]) == {"M", "N"}


def test_save_with_nothing_found_creates_no_pyproject(project, run):
    write("analysis.py", "x = 1\n")
    r = run("discover", "--save")
    assert r.code == 0, r.err
    assert "found 0 model(s)" in r.err
    assert not (project / "pyproject.toml").exists()


def test_save_refuses_when_models_are_set_inline(project, run):
    original = '[tool.modelops-bundle]\nmodels = { X = { class = "X", file = "x.py" } }\n'
    write("pyproject.toml", original)
    write("m.py", "class M:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    r = run("discover", "--save")
    assert r.code == 12 and "pyproject.toml" in r.err
    assert (project / "pyproject.toml").read_text() == original


def test_interactive_asks_per_model(project, run):
    write("a.py", "class A:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    write("b.py", "class B:\n    def parameters(self): ...\n    def simulate(self): ...\n")
    r = run("discover", "--interactive", stdin=b"y\nn\n")
    assert r.code == 0, r.err
    assert tomllib.loads((project / "pyproject.toml").read_text())["tool"]["modelops-bundle"]["models"] == {"A": {"class": "A", "file": "a.py"}}


_toml_line = st.sampled_from(['a = 1', 'b = "two"  # comment', '# just a comment', '', 'c = [1, 2]', "d = 'x'", 'e = 1.5', 'f = true'])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.lists(_toml_line, max_size=4, unique=True), tail=st.lists(_toml_line, max_size=4, unique=True), has_old=st.booleans(), nl=st.booleans())
def test_save_to_pyproject_touches_only_its_table(tmp_path_factory, head, tail, has_old, nl):
    root = tmp_path_factory.mktemp("pp")
    before = "[project]\n" + "".join(x + "\n" for x in head)
    old_table = '[tool.modelops-bundle.models]\nold = { class = "Old", file = "old.py" }\n\n' if has_old else ""
    after = "[tool.zz]\n" + "".join(x + "\n" for x in tail)
    text = before + old_table + after
    if not nl:
        text = text.rstrip("\n")
    (root / "pyproject.toml").write_text(text)
    save_to_pyproject(root, [{"id": "M", "class": "M", "file": "m.py"}])
    new = (root / "pyproject.toml").read_text()
    assert new.startswith(before)
    if has_old:
        assert new.endswith(after if nl else after.rstrip("\n"))
    else:
        assert new.startswith(text)
    assert tomllib.loads(new)["tool"]["modelops-bundle"]["models"] == {"M": {"class": "M", "file": "m.py"}}
