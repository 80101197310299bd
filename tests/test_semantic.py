"""Semantic code digests and composite digests: what must and must not change them."""

from __future__ import annotations

import ast
import io
import tokenize

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mops.semantic import CTX_MODEL, CTX_SOURCE_BYTES, CTX_TARGET, bytes_digest, code_digest, composite, python_digest
from mops.template import EXAMPLE

NETWORK_MODEL = '''\
"""A network SIR model: infection spreads along the edges of a contact graph."""
import random
from models.example import SIR


class NetworkSIR(SIR):
    """Docstrings do not count."""

    outputs = ('incidence', 'prevalence')

    def parameters(self):
        return {'beta': (0.01, 0.9), 'gamma': (0.05, 0.5), 'degree': (2, 12)}

    def simulate(self, params, seed=0, days=30, nodes=200):
        rng = random.Random(seed)
        degree = int(params['degree'])
        edges = [(a, rng.randrange(nodes)) for a in range(nodes) for _ in range(degree // 2)]
        state = ['S'] * nodes
        for start in rng.sample(range(nodes), 3):
            state[start] = 'I'
        incidence = []
        while days > 0:
            new = 0
            for a, b in edges:
                if state[a] == 'I' and state[b] == 'S' and rng.random() < params['beta']:
                    state[b] = 'I'
                    new += 1
            for n in range(nodes):
                if state[n] == 'I' and rng.random() < params['gamma']:
                    state[n] = 'R'
                    continue
            incidence.append(new)
            days -= 1
        return {'incidence': incidence, 'prevalence': [state.count('I')]}
'''

SOURCES = [EXAMPLE, NETWORK_MODEL]


# -- formatting variants (hypothesis re-emits the token stream) --------------------------------
@st.composite
def reformatted(draw, source: str) -> str:
    """``source`` rewritten from its tokens: new indentation width, comments, blank lines, spacing,
    line breaks after commas inside brackets, and swapped quote styles."""
    indent = draw(st.sampled_from(["  ", "   ", "    ", "        ", "\t"]))
    toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out: list[str] = []
    level = 0
    depth = 0
    at_line_start = True
    prev_type = None
    for tok in toks:
        tt, s = tok.type, tok.string
        if tt == tokenize.INDENT:
            level += 1
            continue
        if tt == tokenize.DEDENT:
            level -= 1
            continue
        if tt in (tokenize.ENDMARKER,):
            break
        if tt == tokenize.COMMENT:
            continue  # original comments go; new ones come below
        if tt in (tokenize.NEWLINE, tokenize.NL):
            if depth == 0:
                if prev_type not in (tokenize.NEWLINE, tokenize.NL, None) and draw(st.booleans()):
                    out.append("  # " + draw(st.text("abc xyz=+", max_size=8)))
                out.append("\n")
                for _ in range(draw(st.integers(0, 2))):  # blank lines and comment lines
                    out.append((indent * level + "# note\n") if draw(st.booleans()) else "\n")
                at_line_start = True
            prev_type = tt
            continue
        if at_line_start:
            out.append(indent * level)
            at_line_start = False
        elif prev_type not in (tokenize.NEWLINE, tokenize.NL):
            out.append(" " * draw(st.integers(1, 2)))
        if tt == tokenize.STRING and s[0] in "'\"" and not s.startswith(("'''", '"""')) and "\\" not in s \
                and "'" not in s[1:-1] and '"' not in s[1:-1] and draw(st.booleans()):
            s = ('"' if s[0] == "'" else "'") + s[1:-1] + ('"' if s[0] == "'" else "'")
        out.append(s)
        if tt == tokenize.OP and s in "([{":
            depth += 1
        elif tt == tokenize.OP and s in ")]}":
            depth -= 1
        elif tt == tokenize.OP and s == "," and depth > 0 and draw(st.booleans()):
            out.append("\n" + " " * draw(st.integers(0, 12)))  # reflow: break after a comma
        prev_type = tt
    return "".join(out)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_formatting_variants_keep_the_digest(data):
    source = data.draw(st.sampled_from(SOURCES))
    variant = data.draw(reformatted(source))
    ast.parse(variant)  # the variant is valid Python …
    assert variant != source
    assert python_digest(variant.encode()) == python_digest(source.encode())  # … with the same digest


def test_unparse_roundtrip_and_docstrings_do_not_count():
    src = NETWORK_MODEL.encode()
    assert python_digest(ast.unparse(ast.parse(src)).encode()) == python_digest(src)
    redoc = NETWORK_MODEL.replace("Docstrings do not count.", "Documentation was rewritten entirely.")
    assert python_digest(redoc.encode()) == python_digest(src)
    # a string that is not a docstring does count
    assert python_digest(NETWORK_MODEL.replace("'R'", "'X'").encode()) != python_digest(src)


def test_u_prefix_and_numeric_spelling():
    assert python_digest(b"x = u'a'\n") == python_digest(b'x = "a"\n')
    assert python_digest(b"x = 0x10\n") == python_digest(b"x = 16\n")
    assert python_digest(b"x = 1\n") != python_digest(b"x = 1.0\n")
    assert python_digest(b"x = True\n") != python_digest(b"x = 1\n")


# -- semantic mutations ------------------------------------------------------------------------
_OP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mod,
            ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.Eq: ast.NotEq, ast.And: ast.Or, ast.Or: ast.And}


def _mutation_sites(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    sites = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and type(n.value) in (int, float):
            sites.append(("constant", n))
        elif isinstance(n, (ast.BinOp, ast.BoolOp, ast.AugAssign)) and type(n.op) in _OP_SWAP:
            sites.append(("operator", n))
        elif isinstance(n, ast.Compare) and type(n.ops[0]) in _OP_SWAP:
            sites.append(("compare", n))
        elif isinstance(n, (ast.For, ast.While, ast.If)) and len(n.body) >= 2:
            sites.append(("dedent", n))
    return sites


def _mutate(source: str, index: int) -> tuple[str, str]:
    tree = ast.parse(source)
    kind, node = _mutation_sites(tree)[index]
    if kind == "constant":
        node.value = node.value + 1
    elif kind == "operator":
        node.op = _OP_SWAP[type(node.op)]()
    elif kind == "compare":
        node.ops[0] = _OP_SWAP[type(node.ops[0])]()
    else:  # move the block's last statement out of it, right after the block
        for parent in ast.walk(tree):
            for name in ("body", "orelse"):
                seq = getattr(parent, name, None)
                if isinstance(seq, list) and node in seq:
                    moved = node.body.pop()
                    seq.insert(seq.index(node) + 1, moved)
                    return kind, ast.unparse(tree)
    return kind, ast.unparse(tree)


@settings(max_examples=200)
@given(st.data())
def test_semantic_mutations_change_the_digest(data):
    source = data.draw(st.sampled_from(SOURCES))
    n = len(_mutation_sites(ast.parse(source)))
    kind, mutated = _mutate(source, data.draw(st.integers(0, n - 1)))
    assert python_digest(mutated.encode()) != python_digest(source.encode()), kind


def test_dedent_out_of_loop_changes_digest_though_tokens_match():
    inside = b"for i in range(3):\n    a = i\n    total = a\n"
    outside = b"for i in range(3):\n    a = i\ntotal = a\n"
    assert python_digest(inside) != python_digest(outside)


def test_unparsable_source_falls_back_to_bytes_under_its_own_context():
    bad = b"def broken(:\n    pass\n"
    assert python_digest(bad) == bytes_digest(bad, CTX_SOURCE_BYTES)
    assert python_digest(bad) != python_digest(bad + b"\n")  # bytes now: a blank line counts
    assert code_digest("notes.R", b"x <- 1") == bytes_digest(b"x <- 1")
    assert code_digest("m.py", b"x = 1\n").startswith("blake3:") and len(code_digest("m.py", b"x = 1\n")) == 71


# -- composite digests -------------------------------------------------------------------------
field_st = st.lists(st.text(max_size=6), min_size=1, max_size=3).map(tuple)


@given(st.lists(field_st, max_size=6), st.randoms())
def test_composite_is_order_independent(fields, rnd):
    shuffled = list(fields)
    rnd.shuffle(shuffled)
    assert composite(CTX_MODEL, fields) == composite(CTX_MODEL, shuffled)


@given(st.text(min_size=2, max_size=12), st.data())
def test_composite_separates_field_boundaries(s, data):
    i = data.draw(st.integers(0, len(s)))
    j = data.draw(st.integers(0, len(s)).filter(lambda j: j != i))
    assert composite(CTX_MODEL, [(s[:i], s[i:])]) != composite(CTX_MODEL, [(s[:j], s[j:])])
    assert composite(CTX_MODEL, [(s[:i], s[i:])]) != composite(CTX_MODEL, [(s[:i],), (s[i:],)])
    assert composite(CTX_MODEL, [(s,)]) != composite(CTX_TARGET, [(s,)])


def test_composite_known_collision_pairs():
    assert composite(CTX_MODEL, [("ab", "c")]) != composite(CTX_MODEL, [("a", "bc")])
    assert composite(CTX_MODEL, [("a",)]) != composite(CTX_MODEL, [("a",), ("a",)])
    assert composite(CTX_MODEL, []) != composite(CTX_TARGET, [])


@given(st.lists(field_st, min_size=1, max_size=4, unique=True), st.lists(field_st, min_size=1, max_size=4, unique=True))
def test_composite_differs_for_different_sets(a, b):
    if sorted(a) != sorted(b):
        assert composite(CTX_MODEL, a) != composite(CTX_MODEL, b)
