"""Find model classes and calibration targets by parsing Python files (SPEC §3); never importing them.

A *model class* is a class that

* derives from ``BaseModel`` — by its bare name, through a module alias (``cb.BaseModel``), a
  full path (``modelops_calabaria.BaseModel``) or an ``as`` rename — except pydantic's
  ``BaseModel``, which is a data class, not a model;
* or derives from another model class of the project, in the same file or across files
  (``class NetworkSIR(StochasticSIR)`` with ``from .stochastic import StochasticSIR``);
* or defines both ``simulate()`` and ``parameters()`` itself.

A model's *outputs* are read from methods decorated with ``model_output("name")`` and from a
class attribute ``outputs = ("name", ...)`` of string literals (inherited from project bases).

A *calibration target* is a module-level function decorated with ``calibration_target`` (any
spelling: ``@calibration_target(...)``, ``@mops.models.calibration_target(...)``,
``@cb.calibration_target(...)``); its ``model_output=`` and ``data=`` keywords name the model output
it is compared with and its observation data.

Files are read and parsed with ``ast`` only, so a module that would crash or write files when
imported has no effect here; a file that does not parse is reported and skipped.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

BASE_NAME = "BaseModel"
NOT_MODEL_BASES = {"pydantic", "pydantic.main", "pydantic.v1", "pydantic.v1.main", "sqlmodel", "sqlmodel.main"}
TARGET_DECORATOR = "calibration_target"
OUTPUT_DECORATOR = "model_output"


@dataclass
class ClassInfo:
    name: str
    file: str  # project-relative POSIX path
    line: int
    bases: list[str]  # dotted names as written (after alias resolution): "models.sir.StochasticSIR"
    methods: set[str]
    outputs: list[str]
    is_model: bool = False
    reason: str = ""


@dataclass
class TargetInfo:
    name: str
    file: str
    line: int
    model_output: str | None
    data: list[str]


@dataclass
class ModuleInfo:
    file: str
    module: str
    is_package: bool
    imports: dict[str, str]  # local name -> dotted target ("pkg.mod" or "pkg.mod.Name")
    imported_modules: list[str]  # every absolute module name this file imports (for code deps)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    targets: list[TargetInfo] = field(default_factory=list)
    functions: dict[str, int] = field(default_factory=dict)  # module-level function -> line


@dataclass
class Discovery:
    models: list[ClassInfo]
    targets: list[TargetInfo]
    modules: dict[str, ModuleInfo]  # by file
    errors: dict[str, str]  # file -> why it was skipped


# -- parsing one file ------------------------------------------------------------------------
def module_name(rel: str) -> tuple[str, bool]:
    parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    if isinstance(node, ast.Subscript):  # Generic[T], BaseModel[Config]
        return _dotted(node.value)
    if isinstance(node, ast.Call):  # decorators with arguments
        return _dotted(node.func)
    return None


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    pkg = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        pkg = pkg[: len(pkg) - (level - 1)] if level - 1 <= len(pkg) else []
    base = ".".join(p for p in pkg if p)
    if target:
        return f"{base}.{target}" if base else target
    return base


def _expand(name: str, imports: dict[str, str]) -> str:
    head, _, rest = name.partition(".")
    if head in imports:
        return imports[head] + ("." + rest if rest else "")
    return name


def _str_arg(call: ast.AST, keyword: str, position: int | None = None) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    if position is not None and len(call.args) > position:
        a = call.args[position]
        if isinstance(a, ast.Constant) and isinstance(a.value, str):
            return a.value
    return None


def _str_list_arg(call: ast.AST, keyword: str) -> list[str]:
    if not isinstance(call, ast.Call):
        return []
    for kw in call.keywords:
        if kw.arg != keyword:
            continue
        v = kw.value
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            return [v.value]
        if isinstance(v, (ast.List, ast.Tuple)):
            return [e.value for e in v.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def parse_module(rel: str, source: bytes) -> ModuleInfo:
    """Parse one file; raises SyntaxError/ValueError when it does not parse."""
    tree = ast.parse(source, filename=rel)
    module, is_package = module_name(rel)
    imports: dict[str, str] = {}
    imported: list[str] = []
    for node in ast.walk(tree):  # imports anywhere (also inside functions and try blocks)
        if isinstance(node, ast.Import):
            for a in node.names:
                imported.append(a.name)
                if a.asname:
                    imports[a.asname] = a.name
                else:
                    imports.setdefault(a.name.split(".")[0], a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            src = _resolve_relative(module, is_package, node.level, node.module) if node.level else (node.module or "")
            imported.append(src)
            for a in node.names:
                if a.name == "*":
                    continue
                imported.append(f"{src}.{a.name}")  # may be a submodule
                imports[a.asname or a.name] = f"{src}.{a.name}"
    info = ModuleInfo(rel, module, is_package, imports, imported)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            outputs: list[str] = []
            for n in node.body:
                if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for d in n.decorator_list:
                    dn = _dotted(d)
                    if dn and dn.rsplit(".", 1)[-1] == OUTPUT_DECORATOR:
                        outputs.append(_str_arg(d, "name", 0) or n.name)
            for n in node.body:  # the stdlib-only convention: outputs = ("incidence", ...)
                if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "outputs" for t in n.targets) \
                        and isinstance(n.value, (ast.List, ast.Tuple)):
                    outputs += [e.value for e in n.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            bases = [_expand(b, imports) for b in (_dotted(x) for x in node.bases) if b]
            info.classes[node.name] = ClassInfo(node.name, rel, node.lineno, bases, methods, sorted(set(outputs)))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            info.functions[node.name] = node.lineno
            for d in node.decorator_list:
                dn = _dotted(d)
                if dn and dn.rsplit(".", 1)[-1] == TARGET_DECORATOR:
                    out = _str_arg(d, "model_output", 0)
                    data = _str_list_arg(d, "data") or _str_list_arg(d, "observation")
                    info.targets.append(TargetInfo(node.name, rel, node.lineno, out, data))
                    break
    return info


# -- across files ----------------------------------------------------------------------------
def python_files(root: Path, paths: list[str] | None = None, rules=None) -> list[str]:
    """Project-relative ``*.py`` files under ``paths`` (default: the whole project), ignore rules applied."""
    from .ignore import walk

    found: dict[str, None] = {}
    for start in paths or [""]:
        full = root / start if start else root
        if start and full.is_file():
            if start.endswith(".py"):
                found[start] = None
            continue
        for rel, _de, _ig in walk(root, rules, start):
            if rel.endswith(".py"):
                found[rel] = None
    return sorted(found)


class ModuleMap:
    """Dotted module names → project files.

    A name is looked up as a path from the project root (``models.sir`` → ``models/sir.py``), then
    under ``src/`` (the src layout), then beside the importing file (a script's own directory is
    on ``sys.path``).  Nothing else: ``import random`` never matches a project's ``utils/random.py``.
    """

    def __init__(self, modules: dict[str, ModuleInfo]):
        self.exact: dict[str, str] = {m.module: rel for rel, m in sorted(modules.items())}

    def file_of(self, module: str, from_file: str | None = None) -> str | None:
        if not module:
            return None
        for cand in (module, "src." + module):
            if cand in self.exact:
                return self.exact[cand]
        if from_file and "/" in from_file:
            here = from_file.rsplit("/", 1)[0].replace("/", ".")
            return self.exact.get(f"{here}.{module}")
        return None

    def resolve_class(self, dotted: str, from_file: str | None = None) -> tuple[str, str] | None:
        """``pkg.mod.Class`` → (file, "Class") when ``pkg.mod`` is a project module."""
        mod, _, name = dotted.rpartition(".")
        f = self.file_of(mod, from_file)
        return (f, name) if f else None


def _is_framework_base(dotted: str) -> bool:
    mod, _, name = dotted.rpartition(".")
    return name == BASE_NAME and mod not in NOT_MODEL_BASES


def discover(root: str | os.PathLike, paths: list[str] | None = None, rules=None,
             scope: list[str] | None = None) -> Discovery:
    """Parse the project's Python files and classify their classes.

    ``scope`` (project-relative files) limits what is *reported*; the whole project is still parsed
    so that inheritance through classes in other files is followed.
    """
    root = Path(root)
    modules: dict[str, ModuleInfo] = {}
    errors: dict[str, str] = {}
    for rel in python_files(root, paths, rules):
        try:
            data = (root / rel).read_bytes()
            modules[rel] = parse_module(rel, data)
        except (SyntaxError, ValueError, RecursionError) as e:
            errors[rel] = f"does not parse: {e.__class__.__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})"
        except OSError as e:
            errors[rel] = f"cannot be read: {e.strerror}"
    mm = ModuleMap(modules)
    classes: dict[tuple[str, str], ClassInfo] = {(c.file, c.name): c for m in modules.values() for c in m.classes.values()}

    def base_key(c: ClassInfo, b: str) -> tuple[str, str] | None:
        if "." not in b:  # a class of the same file
            return (c.file, b) if (c.file, b) in classes else None
        hit = mm.resolve_class(b, c.file)
        return hit if hit in classes else None

    for c in classes.values():
        if {"simulate", "parameters"} <= c.methods:
            c.is_model, c.reason = True, "defines simulate() and parameters()"
        for b in c.bases:
            if _is_framework_base(b):
                c.is_model, c.reason = True, f"derives from {b}"
    changed = True
    while changed:  # inheritance through project classes, to a fixed point
        changed = False
        for c in classes.values():
            if c.is_model:
                continue
            for b in c.bases:
                k = base_key(c, b)
                if k is not None and classes[k].is_model:
                    c.is_model, c.reason = True, f"derives from {classes[k].name} ({k[0]})"
                    changed = True
                    break
    # a model inherits the outputs its project bases declare
    for c in classes.values():
        seen, todo, outs = set(), [c], set(c.outputs)
        while todo:
            x = todo.pop()
            for b in x.bases:
                k = base_key(x, b)
                if k and k not in seen:
                    seen.add(k)
                    outs.update(classes[k].outputs)
                    todo.append(classes[k])
        c.outputs = sorted(outs)
    in_scope = set(scope) if scope is not None else None
    models = sorted((c for c in classes.values() if c.is_model and (in_scope is None or c.file in in_scope)),
                    key=lambda c: (c.file, c.line))
    targets = sorted((t for m in modules.values() for t in m.targets if in_scope is None or t.file in in_scope),
                     key=lambda t: (t.file, t.line))
    return Discovery(models, targets, modules, errors)


def code_dependencies(d: Discovery, start: str) -> list[str]:
    """``start`` plus every project file it imports, transitively, with the packages' ``__init__.py``."""
    mm = ModuleMap(d.modules)
    out: set[str] = set()
    todo = [start]
    while todo:
        rel = todo.pop()
        if rel in out:
            continue
        out.add(rel)
        m = d.modules.get(rel)
        if m is None:
            continue
        names = list(m.imported_modules)
        # importing pkg.mod runs pkg/__init__.py first
        parts = m.module.split(".")
        names += [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in names:
            f = mm.file_of(name, rel)
            if f is None and "." in name:
                f = mm.file_of(name.rsplit(".", 1)[0], rel)  # "pkg.mod.Name" → pkg/mod.py
            if f is not None:
                todo.append(f)
                # and the __init__.py of every enclosing package of that module
                fp = d.modules[f].module.split(".")
                for i in range(1, len(fp)):
                    g = mm.exact.get(".".join(fp[:i]))
                    if g:
                        todo.append(g)
    return sorted(out)
