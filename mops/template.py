"""The starter project ``mops init --template`` writes: a small SIR model that ``mops discover`` finds.

The example needs nothing but the standard library, so it runs (and registers) in any
environment.  Existing files are never overwritten: if any of them exists, nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConflictError

PYPROJECT = '''\
[project]
name = "example-model"
version = "0.1.0"
description = "A model project published with mops"
requires-python = ">=3.11"
dependencies = []

[tool.modelops-bundle]
# mops reads this section.  File sets a worker can pull on its own go in
# [tool.modelops-bundle.roles]; `mops discover --save` records the models it finds
# in [tool.modelops-bundle.models].
'''

README = '''\
# example-model

A starter model project for mops.

    mops discover                       # finds models/example.py:SIR (nothing is run)
    mops register-model models/example.py --data data/contacts.csv
    mops models                         # the model, its files and digests
    mops push oci:../bundles:v1         # publish; `mops show` lists the model

`models/example.py` is a deterministic-by-seed SIR model using only the standard library.
Replace it with your own; any class deriving from `BaseModel`, or defining both `parameters()`
and `simulate()`, is a model.
'''

INIT = '''\
"""Model code of this project."""
'''

EXAMPLE = '''\
"""A stochastic SIR (susceptible, infected, recovered) model in discrete time."""

from __future__ import annotations

import csv
import random
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"


class SIR:
    """Chain-binomial SIR epidemic: each day every susceptible escapes infection with
    probability (1 - beta/N)^I and every infected person recovers with probability gamma."""

    outputs = ("incidence", "prevalence")

    def parameters(self) -> dict[str, tuple[float, float]]:
        """The parameters a calibration may vary, with their bounds."""
        return {"beta": (0.05, 1.0), "gamma": (0.05, 0.5)}

    def contacts(self) -> float:
        with open(DATA / "contacts.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        return sum(float(r["contacts_per_day"]) for r in rows) / len(rows)

    def simulate(self, params: dict[str, float], seed: int = 0, days: int = 60,
                 population: int = 1000, infected: int = 5) -> dict[str, list[int]]:
        rng = random.Random(seed)
        beta = params["beta"] * self.contacts() / 10.0
        gamma = params["gamma"]
        s, i, r = population - infected, infected, 0
        incidence, prevalence = [], []
        for _ in range(days):
            p_escape = (1.0 - beta / population) ** i
            new_inf = sum(rng.random() > p_escape for _ in range(s))
            new_rec = sum(rng.random() < gamma for _ in range(i))
            s, i, r = s - new_inf, i + new_inf - new_rec, r + new_rec
            incidence.append(new_inf)
            prevalence.append(i)
        return {"incidence": incidence, "prevalence": prevalence}


if __name__ == "__main__":
    out = SIR().simulate({"beta": 0.3, "gamma": 0.1}, seed=1)
    print("peak prevalence:", max(out["prevalence"]))
'''

CONTACTS = '''\
age_group,contacts_per_day
0-17,12
18-64,9
65+,5
'''

IGNORE = '''\
# Paths mops never stages (gitignore syntax).  Built in already: .git/, __pycache__/, .venv/ ...
*.log
outputs/
.env
'''

FILES: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "models/__init__.py": INIT,
    "models/example.py": EXAMPLE,
    "data/contacts.csv": CONTACTS,
    ".modelopsignore": IGNORE,
}


def write_template(root: Path) -> list[str]:
    """Write the starter project into ``root``; returns the relative paths written (sorted).

    Refuses (ConflictError, exit 12) before writing anything if any of the files exists.
    """
    root = Path(root)
    for rel in sorted(FILES):
        if os.path.lexists(root / rel):
            raise ConflictError(f"{root / rel}: already exists; --template writes a new project only",
                                hint="run mops init --template in an empty directory, or plain mops init here")
    written = []
    for rel in sorted(FILES):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "x", encoding="utf-8", newline="\n") as f:
            f.write(FILES[rel])
        written.append(rel)
    return written
