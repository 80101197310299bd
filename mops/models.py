"""The model and target registry, and the records it adds to the bundle config (SPEC §4).

Where it lives: ``.modelops-bundle/models.yaml``, beside the index, because it is the project's
bookkeeping of what was registered and with which digests.  It travels inside every bundle: the
bundle config's ``models``, ``targets`` and ``environment`` keys are built from it at write-tree
time (:func:`tree_records`), so ``mops show REF --json`` on a worker lists them.  Format (YAML)::

    version: 1
    models:
      SIR:                       # the model id (default: the class name)
        class: SIR
        file: models/example.py
        code: [models/__init__.py, models/example.py]   # the file and its project imports (+ --code)
        data: [data/contacts.csv]
        outputs: [incidence]
        registered:              # digests when registered: `mops models` reports "stale" on change
          models/example.py: {sha256: "sha256:…", digest: "blake3:…"}
    targets:
      incidence_fit:
        function: incidence_fit
        file: targets/incidence.py
        model_output: incidence
        code: [targets/incidence.py]
        data: [data/observed.csv]
        registered: {…}

Digests: a code file's is the semantic digest (:mod:`mops.semantic`), a data file's is its sha256
object id; a model's digest is ``composite(CTX_MODEL, …)`` over its class, file, outputs, code and
data (path, digest) pairs and the environment digest — so it changes exactly when the model's
meaning, data or environment changes.  A target's is the same under ``CTX_TARGET``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConflictError, NotFound, UsageError
from .semantic import CTX_MODEL, CTX_TARGET, code_digest, composite

REGISTRY_NAME = "models.yaml"
REGISTRY_VERSION = 1


def calibration_target(model_output: str | None = None, data: str | list[str] | None = None, **_kw):
    """Mark a function as a calibration target (discovery reads the decorator; nothing runs).

    ``@calibration_target(model_output="incidence", data="data/observed.csv")``
    """

    def mark(fn):
        fn.__mops_target__ = {"model_output": model_output, "data": data}
        return fn

    return mark


def model_output(name: str | None = None):
    """Mark a model method as producing the output ``name`` (default: the method's name)."""

    def mark(fn):
        fn.__mops_output__ = name or fn.__name__
        return fn

    return mark


# -- the registry file -----------------------------------------------------------------------
@dataclass
class ModelSpec:
    id: str
    cls: str
    file: str
    code: list[str]
    data: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    registered: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_yaml(self) -> dict:
        return {"class": self.cls, "file": self.file, "code": self.code, "data": self.data,
                "outputs": self.outputs, "registered": self.registered}


@dataclass
class TargetSpec:
    id: str
    function: str
    file: str
    model_output: str
    code: list[str]
    data: list[str] = field(default_factory=list)
    registered: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_yaml(self) -> dict:
        return {"function": self.function, "file": self.file, "model_output": self.model_output,
                "code": self.code, "data": self.data, "registered": self.registered}


@dataclass
class Registry:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    targets: dict[str, TargetSpec] = field(default_factory=dict)

    def outputs(self) -> dict[str, list[str]]:
        """output name → ids of the models producing it."""
        out: dict[str, list[str]] = {}
        for m in self.models.values():
            for o in m.outputs:
                out.setdefault(o, []).append(m.id)
        return out


def registry_path(repo) -> Path:
    return repo.dot / REGISTRY_NAME


def _str_list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise UsageError(f"{where}: expected a list of strings")
    return list(v)


def _registered(v: Any, where: str) -> dict[str, dict[str, str]]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise UsageError(f"{where}: expected a mapping of path to digests")
    return {str(k): {str(a): str(b) for a, b in (d or {}).items()} for k, d in v.items() if isinstance(d, dict)}


def load_registry(repo) -> Registry:
    import yaml

    path = registry_path(repo)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Registry()
    where = f"{path}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"{where}: not valid YAML ({e})", hint="fix or delete it, then run mops register-model again") from None
    if not isinstance(data, dict) or data.get("version", REGISTRY_VERSION) != REGISTRY_VERSION:
        raise UsageError(f"{where}: not a version {REGISTRY_VERSION} model registry")
    reg = Registry()
    for mid, m in (data.get("models") or {}).items():
        if not isinstance(m, dict) or not isinstance(m.get("class"), str) or not isinstance(m.get("file"), str):
            raise UsageError(f"{where}: model {mid!r} needs 'class' and 'file'")
        w = f"{where}: model {mid!r}"
        reg.models[str(mid)] = ModelSpec(str(mid), m["class"], m["file"], _str_list(m.get("code"), w),
                                         _str_list(m.get("data"), w), _str_list(m.get("outputs"), w),
                                         _registered(m.get("registered"), w))
    for tid, t in (data.get("targets") or {}).items():
        if not isinstance(t, dict) or not all(isinstance(t.get(k), str) for k in ("function", "file", "model_output")):
            raise UsageError(f"{where}: target {tid!r} needs 'function', 'file' and 'model_output'")
        w = f"{where}: target {tid!r}"
        reg.targets[str(tid)] = TargetSpec(str(tid), t["function"], t["file"], t["model_output"],
                                           _str_list(t.get("code"), w), _str_list(t.get("data"), w),
                                           _registered(t.get("registered"), w))
    return reg


def save_registry(repo, reg: Registry) -> None:
    import yaml

    doc = {"version": REGISTRY_VERSION,
           "models": {k: reg.models[k].to_yaml() for k in sorted(reg.models)},
           "targets": {k: reg.targets[k].to_yaml() for k in sorted(reg.targets)}}
    text = "# mops model registry (mops register-model / register-target); see docs/MODELS.md\n"
    text += yaml.safe_dump(doc, sort_keys=True, allow_unicode=True, default_flow_style=False)
    from .fsutil import atomic_write_bytes

    atomic_write_bytes(registry_path(repo), text.encode("utf-8"))


# -- digests of files ------------------------------------------------------------------------
def worktree_digests(repo, rel: str, is_code: bool, index=None, known: dict[str, str] | None = None) -> dict[str, str] | None:
    """``{"sha256": …, "digest": …}`` of a worktree file, or None when it is missing.

    The sha256 comes from the index when the stat data says the file is unchanged (no read);
    a code file's semantic digest is reused from ``known`` when its sha256 is the same.
    """
    from . import digest as dg
    from .index import stat_matches

    full = repo.abspath(rel)
    try:
        st = os.stat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not os.path.isfile(full):
        return None
    sha = None
    e = index.entries.get(rel) if index is not None else None
    if e is not None and stat_matches(e, st) and not index.is_racy(e):
        sha = "sha256:" + e[6].hex()
    data = None
    if sha is None:
        if is_code:
            data = full.read_bytes()
            sha = dg.of_bytes(data)
        else:
            sha = dg.of_file(full)[0]
    if not is_code:
        return {"sha256": sha, "digest": sha}
    if known and known.get("sha256") == sha and known.get("digest"):
        return {"sha256": sha, "digest": known["digest"]}
    if data is None:
        data = full.read_bytes()
    return {"sha256": sha, "digest": code_digest(rel, data)}


def staged_code_digest(repo, rel: str, entry, known: dict[str, str] | None = None) -> str:
    """The semantic digest of a staged code file's content (reusing ``known`` when the sha matches)."""
    sha = "sha256:" + entry[6].hex()
    if known and known.get("sha256") == sha and known.get("digest"):
        return known["digest"]
    from .index import Entry
    from .worktree import open_staged

    with open_staged(repo, rel, Entry._make(entry)) as f:
        data = f.read()
    return code_digest(rel, data)


def model_digest(spec: ModelSpec, code: dict[str, str], data: dict[str, str], env_digest: str) -> str:
    fields: list[tuple[str, ...]] = [("class", spec.cls), ("file", spec.file), ("environment", env_digest)]
    fields += [("output", o) for o in spec.outputs]
    fields += [("code", p, d) for p, d in code.items()]
    fields += [("data", p, d) for p, d in data.items()]
    return composite(CTX_MODEL, fields)


def target_digest(spec: TargetSpec, code: dict[str, str], data: dict[str, str], env_digest: str) -> str:
    fields: list[tuple[str, ...]] = [("function", spec.function), ("file", spec.file), ("model_output", spec.model_output),
                                     ("environment", env_digest)]
    fields += [("code", p, d) for p, d in code.items()]
    fields += [("data", p, d) for p, d in data.items()]
    return composite(CTX_TARGET, fields)


# -- records for the bundle config -----------------------------------------------------------
def _staged_files(repo, index, spec) -> tuple[dict[str, dict], dict[str, dict], list[str]]:
    code, data, missing = {}, {}, []
    for rel in sorted(set(spec.code) | {spec.file}):
        e = index.entries.get(rel)
        if e is None:
            missing.append(rel)
            continue
        code[rel] = {"path": rel, "digest": staged_code_digest(repo, rel, e, spec.registered.get(rel)), "sha256": "sha256:" + e[6].hex()}
    for rel in sorted(set(spec.data)):
        e = index.entries.get(rel)
        if e is None:
            missing.append(rel)
            continue
        data[rel] = {"path": rel, "digest": "sha256:" + e[6].hex()}
    return code, data, missing


def _record(kind: str, spec, code: dict, data: dict, missing: list[str], env_digest: str) -> dict:
    rec: dict[str, Any] = {"id": spec.id, "file": spec.file,
                           "code": [code[p] for p in sorted(code)], "data": [data[p] for p in sorted(data)]}
    if kind == "model":
        rec["class"] = spec.cls
        rec["outputs"] = list(spec.outputs)
    else:
        rec["function"] = spec.function
        rec["model_output"] = spec.model_output
    rec["environment"] = env_digest
    if missing:
        rec["missing"] = sorted(missing)  # not staged: no digest can vouch for this model
    else:
        cd = {p: r["digest"] for p, r in code.items()}
        dd = {p: r["digest"] for p, r in data.items()}
        rec["digest"] = (model_digest if kind == "model" else target_digest)(spec, cd, dd, env_digest)
    return rec


def tree_records(repo, index=None) -> dict[str, Any]:
    """The bundle config's ``models``, ``targets`` and ``environment`` (only those with content).

    Built from the registry and the *staged* content: code digests come from the index's
    objects (reused from the registry when the sha256 is unchanged, so usually nothing is read).
    With nothing registered this returns ``{}`` and touches no environment at all, so bundles
    without models stay byte-identical across machines.
    """
    if not registry_path(repo).is_file():
        return {}
    reg = load_registry(repo)
    if not reg.models and not reg.targets:
        return {}
    from .envdigest import environment

    env = environment(repo.root)
    index = index if index is not None else repo.load_index()
    out: dict[str, Any] = {"environment": env}
    models = [_record("model", s, *_staged_files(repo, index, s), env["digest"]) for _k, s in sorted(reg.models.items())]
    targets = [_record("target", s, *_staged_files(repo, index, s), env["digest"]) for _k, s in sorted(reg.targets.items())]
    if models:
        out["models"] = models
    if targets:
        out["targets"] = targets
    return out


# -- state against the worktree (mops models) ------------------------------------------------
def describe(repo, reg: Registry | None = None, env: dict | None = None) -> dict[str, list[dict]]:
    """Every model and target with its files, current digests and state (ready, stale or broken)."""
    from .envdigest import environment

    reg = reg if reg is not None else load_registry(repo)
    env = env if env is not None else environment(repo.root)
    index = repo.load_index()
    result: dict[str, list[dict]] = {"models": [], "targets": []}
    for kind, table in (("model", reg.models), ("target", reg.targets)):
        for key in sorted(table):
            spec = table[key]
            code, data, missing, changed = {}, {}, [], []
            for rel in sorted(set(spec.code) | {spec.file}):
                d = worktree_digests(repo, rel, True, index, spec.registered.get(rel))
                if d is None:
                    missing.append(rel)
                    continue
                code[rel] = {"path": rel, **d}
                if spec.registered.get(rel, {}).get("digest") != d["digest"]:
                    changed.append(rel)
            for rel in sorted(set(spec.data)):
                d = worktree_digests(repo, rel, False, index)
                if d is None:
                    missing.append(rel)
                    continue
                data[rel] = {"path": rel, "digest": d["digest"]}
                if spec.registered.get(rel, {}).get("digest") != d["digest"]:
                    changed.append(rel)
            rec = _record(kind, spec, {p: {"path": p, "digest": r["digest"], "sha256": r["sha256"]} for p, r in code.items()},
                          data, missing, env["digest"])
            rec["state"] = "broken" if missing else "stale" if changed else "ready"
            if changed:
                rec["changed"] = changed
            result[kind + "s"].append(rec)
    return result


# -- registering -----------------------------------------------------------------------------
def _expand_paths(repo, specs: list[str], what: str, cwd: str | None = None) -> list[str]:
    """Files named by ``specs`` (files, directories, globs), project-relative; each must match something."""
    import fnmatch

    from .ignore import walk

    out: dict[str, None] = {}
    for spec in specs:
        rel = repo.relpath(spec, cwd)
        full = repo.abspath(rel) if rel else repo.root
        if full.is_file():
            out[rel] = None
            continue
        if full.is_dir():
            hits = [r for r, _de, _ig in walk(repo.root, repo.ignore, rel)]
        elif any(c in rel for c in "*?["):
            hits = [r for r, _de, _ig in walk(repo.root, repo.ignore) if fnmatch.fnmatchcase(r, rel)]
        else:
            hits = []
        if not hits:
            raise NotFound(f"{what} {spec!r} did not match any file")
        out.update(dict.fromkeys(sorted(hits)))
    return list(out)


def _stage(repo, rels: list[str]) -> None:
    from plumbing.update_index import stage_paths

    with repo.lock_index() as lock:
        index = repo.load_index()
        stage_paths(repo, index, sorted(set(rels)))
        lock.commit(index)


def _registered_digests(repo, code: list[str], data: list[str]) -> dict[str, dict[str, str]]:
    index = repo.load_index()
    out = {}
    for rel in code:
        d = worktree_digests(repo, rel, True, index)
        if d is None:
            raise NotFound(f"{rel}: no such file")
        out[rel] = d
    for rel in data:
        d = worktree_digests(repo, rel, False, index)
        if d is None:
            raise NotFound(f"{rel}: no such file")
        out[rel] = d
    return out


def _scope(repo, path: str, cwd: str | None) -> tuple[str, list[str]]:
    from .discover import python_files

    rel = repo.relpath(path, cwd)
    full = repo.abspath(rel) if rel else repo.root
    if not full.exists():
        raise NotFound(f"{path}: no such file or directory")
    if full.is_file():
        if not rel.endswith(".py"):
            raise UsageError(f"{path}: not a Python file")
        return rel, [rel]
    return rel, python_files(repo.root, [rel] if rel else None, repo.ignore)


def register_models(repo, path: str, classes: list[str] | None = None, exclude: list[str] | None = None,
                    data: list[str] | None = None, code: list[str] | None = None, outputs: list[str] | None = None,
                    model_id: str | None = None, cwd: str | None = None) -> list[dict]:
    """Register the model classes of ``path`` (all discovered ones unless ``classes``); stage their files."""
    from .discover import code_dependencies, discover

    rel, scope = _scope(repo, path, cwd)
    d = discover(repo.root, None, repo.ignore)
    if rel in d.errors or (scope == [rel] and rel not in d.modules):
        raise UsageError(f"{path}: {d.errors.get(rel, 'cannot be parsed')}", hint="fix the syntax error, then register again")
    found = [m for m in d.models if m.file in set(scope)]
    by_name: dict[str, list] = {}
    for m in found:
        by_name.setdefault(m.name, []).append(m)
    exclude = list(exclude or [])
    for x in exclude:
        if x not in by_name and not any(x in mod.classes for f, mod in d.modules.items() if f in set(scope)):
            raise NotFound(f"--exclude {x}: no class {x} in {path}", hint="model classes there: " + (", ".join(sorted(by_name)) or "none"))
    if classes:
        chosen = []
        for c in classes:
            if c in by_name:
                chosen += by_name[c]
                continue
            plain = [mod.classes[c] for f, mod in sorted(d.modules.items()) if f in set(scope) and c in mod.classes]
            if not plain:
                raise NotFound(f"--class {c}: no class {c} in {path}", hint="model classes there: " + (", ".join(sorted(by_name)) or "none"))
            chosen += plain  # named explicitly: the user vouches that it is a model
    else:
        chosen = found
    chosen = [c for c in chosen if c.name not in set(exclude)]
    if not chosen:
        raise NotFound(f"no model classes in {path}" + (" after --exclude" if exclude else ""),
                       hint="a model class derives from BaseModel or defines simulate() and parameters(); see mops discover")
    if model_id is not None and len(chosen) != 1:
        raise UsageError(f"--id {model_id} names one model but {len(chosen)} classes were selected ({', '.join(c.name for c in chosen)})",
                         hint="add --class C to pick one")
    data_files = _expand_paths(repo, data or [], "--data", cwd)
    extra_code = _expand_paths(repo, code or [], "--code", cwd)
    reg = load_registry(repo)
    specs: list[ModelSpec] = []
    ids = set()
    for c in chosen:
        mid = model_id or c.name
        if mid in ids:
            raise UsageError(f"two selected classes are both named {c.name} ({c.file})", hint="register them one at a time with --id")
        ids.add(mid)
        old = reg.models.get(mid)
        if old is not None and (old.file, old.cls) != (c.file, c.name):
            raise UsageError(f"model id {mid!r} is already registered for {old.cls} in {old.file}",
                             hint=f"pick another id with --id, or re-register {old.file}")
        code_files = sorted(set(code_dependencies(d, c.file)) | set(extra_code))
        outs = sorted(set(c.outputs) | set(outputs or []))
        specs.append(ModelSpec(mid, c.name, c.file, code_files, sorted(set(data_files)), outs))
    all_files = sorted({f for s in specs for f in s.code + s.data})
    _stage(repo, all_files)
    for s in specs:
        s.registered = _registered_digests(repo, s.code, s.data)
        reg.models[s.id] = s
    save_registry(repo, reg)
    return describe_ids(repo, reg, models=[s.id for s in specs])


def describe_ids(repo, reg: Registry, models: list[str] = (), targets: list[str] = ()) -> list[dict]:
    desc = describe(repo, reg)
    return [r for r in desc["models"] if r["id"] in set(models)] + [r for r in desc["targets"] if r["id"] in set(targets)]


def register_targets(repo, path: str, names: list[str] | None = None, output: str | None = None,
                     data: list[str] | None = None, code: list[str] | None = None, target_id: str | None = None,
                     cwd: str | None = None) -> list[dict]:
    """Register the calibration targets of ``path``; each must compare against an output a model produces."""
    from .discover import TargetInfo, code_dependencies, discover

    rel, scope = _scope(repo, path, cwd)
    d = discover(repo.root, None, repo.ignore)
    if rel in d.errors:
        raise UsageError(f"{path}: {d.errors[rel]}", hint="fix the syntax error, then register again")
    found = [t for t in d.targets if t.file in set(scope)]
    if names:
        chosen = []
        for n in names:
            hit = [t for t in found if t.name == n]
            if not hit:
                plain = [TargetInfo(n, f, mod.functions[n], None, []) for f, mod in sorted(d.modules.items())
                         if f in set(scope) and n in mod.functions]
                if not plain:
                    raise NotFound(f"--target {n}: no function {n} in {path}",
                                   hint="targets there: " + (", ".join(t.name for t in found) or "none"))
                hit = plain
            chosen += hit
    else:
        chosen = found
    if not chosen:
        raise NotFound(f"no calibration targets in {path}",
                       hint="decorate a function with @calibration_target(model_output=..., data=...) or name it with --target")
    if target_id is not None and len(chosen) != 1:
        raise UsageError(f"--id {target_id} names one target but {len(chosen)} were selected", hint="add --target NAME to pick one")
    reg = load_registry(repo)
    produced = reg.outputs()
    cli_data = _expand_paths(repo, data or [], "--data", cwd)
    extra_code = _expand_paths(repo, code or [], "--code", cwd)
    specs: list[TargetSpec] = []
    for t in chosen:
        tid = target_id or t.name
        out = output or t.model_output
        if not out:
            raise UsageError(f"target {t.name} ({t.file}) names no model output", hint="give --output NAME or model_output= in the decorator")
        if out not in produced:
            have = ", ".join(sorted(produced)) or "none (no model declares outputs: register one with --output)"
            raise UsageError(f"target {t.name}: no registered model produces output {out!r}; outputs: {have}")
        tdata = cli_data or _expand_paths(repo, t.data, f"target {t.name} data", str(repo.root))
        if not tdata:
            raise UsageError(f"target {t.name} ({t.file}) names no observation data", hint="give --data PATH or data= in the decorator")
        old = reg.targets.get(tid)
        if old is not None and (old.file, old.function) != (t.file, t.name):
            raise UsageError(f"target id {tid!r} is already registered for {old.function} in {old.file}", hint="pick another id with --id")
        specs.append(TargetSpec(tid, t.name, t.file, out, sorted(set(code_dependencies(d, t.file)) | set(extra_code)), sorted(set(tdata))))
    _stage(repo, sorted({f for s in specs for f in s.code + s.data}))
    for s in specs:
        s.registered = _registered_digests(repo, s.code, s.data)
        reg.targets[s.id] = s
    save_registry(repo, reg)
    return describe_ids(repo, reg, targets=[s.id for s in specs])


# -- pyproject.toml (mops discover --save) ---------------------------------------------------
PYPROJECT_TABLE = "tool.modelops-bundle.models"


def _toml_str(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _toml_key(s: str) -> str:
    import re

    return s if re.fullmatch(r"[A-Za-z0-9_-]+", s) else _toml_str(s)


def models_table_text(models: list[dict]) -> str:
    lines = ["[tool.modelops-bundle.models]"]
    for m in models:
        parts = [f"class = {_toml_str(m['class'])}", f"file = {_toml_str(m['file'])}"]
        if m.get("outputs"):
            parts.append("outputs = [" + ", ".join(_toml_str(o) for o in m["outputs"]) + "]")
        lines.append(f"{_toml_key(m['id'])} = {{ {', '.join(parts)} }}")
    return "\n".join(lines) + "\n"


def save_to_pyproject(root: str | os.PathLike, models: list[dict]) -> str:
    """Write ``[tool.modelops-bundle.models]`` into pyproject.toml; every other byte stays as it was.

    The table (and any ``[tool.modelops-bundle.models.*]`` sub-tables) is replaced in place, or
    appended at the end.  The result is parsed back and compared with the original: if anything
    but the models changed (say, models were also set inline elsewhere), nothing is written.
    """
    import re
    import tomllib

    path = Path(root) / "pyproject.toml"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before = tomllib.loads(old)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path.name}: not valid TOML ({e})", hint="fix it, then run mops discover --save again") from None
    table = models_table_text(models)
    header = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]]*?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.M)
    heads = list(header.finditer(old))

    def norm(name: str) -> str:
        return re.sub(r"[ \t]*\.[ \t]*", ".", name).replace('"modelops-bundle"', "modelops-bundle").replace("'modelops-bundle'", "modelops-bundle")

    start = end = None
    for i, h in enumerate(heads):
        n = norm(h.group(1))
        if n == PYPROJECT_TABLE or n.startswith(PYPROJECT_TABLE + "."):
            if start is None:
                start = h.start()
            end = heads[i + 1].start() if i + 1 < len(heads) else len(old)
        elif start is not None and end is not None and h.start() >= end:
            break
    if start is not None:
        body = old[start:end]
        trail = body[len(body.rstrip("\n")):]  # keep the blank lines that separated it from the next table
        new = old[:start] + table + (trail[1:] if trail.startswith("\n") else trail) + old[end:]
    else:
        sep = "" if not old or old.endswith("\n\n") else "\n" if old.endswith("\n") else "\n\n"
        new = old + sep + table
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        after = {}
    want = {m["id"]: {k: v for k, v in (("class", m["class"]), ("file", m["file"]), ("outputs", m.get("outputs"))) if v}
            for m in models}

    def without_models(doc: dict) -> dict:
        doc = {**doc, "tool": dict(doc.get("tool", {}))}
        mb = dict(doc["tool"].get("modelops-bundle", {}))
        mb.pop("models", None)
        if mb:
            doc["tool"]["modelops-bundle"] = mb
        else:
            doc["tool"].pop("modelops-bundle", None)
        if not doc["tool"]:
            doc.pop("tool")
        return doc

    got = after.get("tool", {}).get("modelops-bundle", {}).get("models")
    if got != want or without_models(after) != without_models(before):
        raise ConflictError(f"{path.name}: cannot update [{PYPROJECT_TABLE}] without touching other settings",
                            hint="models seem to be set some other way there (inline or dotted keys); edit the file by hand")
    if new != old:
        tmp = path.with_name(".pyproject.toml.mops-tmp")
        tmp.write_text(new, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    return new
