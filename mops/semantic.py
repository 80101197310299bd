"""Provenance digests (SPEC §3): semantic code digests and composite digests, all blake3.

These digests never touch a registry, so they use blake3 in derive-key mode with one context
string per kind of thing hashed (domain separation): a model digest can never equal a target
digest, an environment digest or a file digest, whatever the inputs.

**Semantic code digest.**  Python source is parsed with the standard ``ast`` module and the tree
is serialised by :func:`normalised`, our own encoding rather than ``ast.dump`` (whose output
changes between Python releases).  What the tree does not hold cannot change the digest:
comments, blank lines, quoting style (``'a'`` / ``"a"`` / ``u"a"``), line wrapping, indentation
width, parentheses, trailing commas.  Everything the tree holds changes it — a constant, an
operator, a name, and the block a statement belongs to (a dedent out of a loop).

*Docstrings do not count*: the first statement of a module, class or function body, when it is a
bare string literal, is dropped.  Documentation does not change what a model computes, and
results cached under a digest stay valid when someone fixes a typo in a docstring.  Any other
string literal counts.

Fields that are ``None`` or empty lists are skipped, so a node type that grows a new optional
field in a later Python (``type_params`` in 3.12) hashes as before.  Numbers are encoded by type
and exact value (``0x10`` and ``16`` are the same program; ``1`` and ``1.0`` are not).

A file that does not parse is hashed from its bytes under a different context, so a syntax
error still gives a stable digest but never one a parsed file could have.
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Iterable

PREFIX = "blake3:"

# derive-key contexts: "application, purpose, version", one per kind (blake3's recommended form)
CTX_PYTHON = "mops 2025 python source semantic digest v1"
CTX_SOURCE_BYTES = "mops 2025 source file bytes digest v1"  # unparsable .py and non-Python code
CTX_MODEL = "mops 2025 model composite digest v1"
CTX_TARGET = "mops 2025 target composite digest v1"
CTX_ENVIRONMENT = "mops 2025 environment digest v1"
CTX_DEPENDENCIES = "mops 2025 dependency set digest v1"

_U64 = struct.Struct("<Q")


def _hasher(context: str):
    from blake3 import blake3

    return blake3(derive_key_context=context)


def _lp(data: bytes) -> bytes:
    """Length-prefixed: a u64 little-endian length, then the bytes."""
    return _U64.pack(len(data)) + data


# -- normalised syntax tree ------------------------------------------------------------------
_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_SKIP_FIELDS = frozenset({"kind", "type_comment", "type_ignores"})  # u-prefix, comments-as-types


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def _const(v: object, out: list[bytes]) -> None:
    if v is None or v is Ellipsis or isinstance(v, bool):
        out.append(b"K" + _lp(repr(v).encode()))
    elif isinstance(v, int):
        out.append(b"I" + _lp(str(v).encode()))
    elif isinstance(v, float):
        out.append(b"F" + _lp(v.hex().encode()))
    elif isinstance(v, complex):
        out.append(b"J" + _lp(v.real.hex().encode()) + _lp(v.imag.hex().encode()))
    elif isinstance(v, str):
        out.append(b"S" + _lp(v.encode("utf-8", "surrogatepass")))
    elif isinstance(v, bytes):
        out.append(b"B" + _lp(v))
    else:  # frozenset/tuple constants only come from the optimiser, never from parse()
        out.append(b"R" + _lp(repr(v).encode("utf-8", "surrogatepass")))


def _encode(node: object, out: list[bytes]) -> None:
    if isinstance(node, ast.AST):
        out.append(b"N" + _lp(type(node).__name__.encode()))
        for name in node._fields:
            if name in _SKIP_FIELDS:
                continue
            value = getattr(node, name, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            if name == "body" and isinstance(node, _DOC_OWNERS):
                value = _strip_docstring(value)
                if not value:
                    continue
            if name == "value" and isinstance(node, ast.Constant):
                out.append(b"f" + _lp(b"value"))
                _const(value, out)
                continue
            out.append(b"f" + _lp(name.encode()))
            _encode(value, out)
        out.append(b"E")
    elif isinstance(node, list):
        out.append(b"L" + _U64.pack(len(node)))
        for item in node:
            _encode(item, out)
    elif isinstance(node, str):
        out.append(b"s" + _lp(node.encode("utf-8", "surrogatepass")))
    else:
        _const(node, out)


def normalised(source: str | bytes) -> bytes:
    """The canonical encoding of ``source``'s syntax tree; raises SyntaxError/ValueError if it does not parse."""
    tree = ast.parse(source)
    out: list[bytes] = []
    _encode(tree, out)
    return b"".join(out)


# -- digests ---------------------------------------------------------------------------------
def bytes_digest(data: bytes, context: str = CTX_SOURCE_BYTES) -> str:
    h = _hasher(context)
    h.update(data)
    return PREFIX + h.hexdigest()


def python_digest(source: bytes) -> str:
    """Semantic digest of Python source; a file that does not parse falls back to its bytes."""
    try:
        enc = normalised(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return bytes_digest(source, CTX_SOURCE_BYTES)
    h = _hasher(CTX_PYTHON)
    h.update(enc)
    return PREFIX + h.hexdigest()


def code_digest(path: str, data: bytes) -> str:
    """The digest of a code file: semantic for ``*.py``/``*.pyi``, bytes for anything else."""
    if path.endswith((".py", ".pyi")):
        return python_digest(data)
    return bytes_digest(data, CTX_SOURCE_BYTES)


def is_parsable(data: bytes) -> bool:
    try:
        ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def composite(context: str, fields: Iterable[Iterable[str]]) -> str:
    """A digest over a *set* of fields, each a tuple of strings.

    Every string is length-prefixed, every field carries its string count, and the encoded fields
    are sorted, so the result does not depend on the order fields are given in, and ``("ab", "c")``
    and ``("a", "bc")`` can never collide.  ``context`` separates the kinds (model, target, …).
    """
    encoded = []
    for field in fields:
        parts = [s.encode("utf-8", "surrogatepass") for s in field]
        encoded.append(_U64.pack(len(parts)) + b"".join(_lp(p) for p in parts))
    encoded.sort()
    h = _hasher(context)
    h.update(_U64.pack(len(encoded)))
    for e in encoded:
        h.update(_lp(e))
    return PREFIX + h.hexdigest()
