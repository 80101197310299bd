"""mops plan: every staged file's size, destination and deciding rule — the decision push makes."""

from __future__ import annotations

import json

from conftest import write


def plan_json(run) -> dict:
    r = run("plan", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "mops.plan/v1"
    return doc


def by_path(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc["files"]}


def test_threshold_boundary(project, run, file_store):
    """Exactly the threshold goes external; one byte less stays in the registry."""
    file_store.configure(run)
    assert run("config", "set", "storage.threshold", "1K").code == 0
    write("exact.bin", b"e" * 1024)
    write("below.bin", b"b" * 1023)
    write("above.bin", b"a" * 1025)
    assert run("add", ".").code == 0
    files = by_path(plan_json(run))
    assert files["exact.bin"]["storage"] == "external"
    assert files["exact.bin"]["destination"] == file_store.url
    assert files["exact.bin"]["rule"].startswith("size >= storage.threshold")
    assert files["below.bin"]["storage"] == "registry" and files["below.bin"]["destination"] == "registry"
    assert files["below.bin"]["rule"].startswith("size < storage.threshold")
    assert files["above.bin"]["storage"] == "external"
    assert files["exact.bin"]["size"] == 1024 and files["below.bin"]["size"] == 1023


def test_human_output_names_destination_size_and_rule(project, run, file_store):
    file_store.configure(run)
    run("config", "set", "storage.threshold", "100")
    write("w.bin", b"x" * 100)
    write("code.py", "print(1)\n")
    run("add", ".")
    r = run("plan")
    assert r.code == 0
    lines = dict((line.split()[2], line) for line in r.out.splitlines())
    assert lines["w.bin"].split()[:2] == [file_store.url, "100"]
    assert "(size >= storage.threshold (100 bytes))" in lines["w.bin"]
    assert lines["code.py"].split()[:2] == ["registry", "9"]
    assert "1 files" in r.err and file_store.url in r.err


def test_pattern_precedence(project, run, file_store):
    """storage.registry beats storage.external, and both beat the size threshold."""
    file_store.configure(run)
    assert run("config", "set", "storage.threshold", "1K").code == 0
    assert run("config", "set", "storage.external", "*.bin", "data/**").code == 0
    assert run("config", "set", "storage.registry", "keep/*.bin", "data/small.csv").code == 0
    write("tiny.bin", b"t")  # small, but matches storage.external
    write("keep/big.bin", b"k" * 5000)  # big and external pattern, but storage.registry wins
    write("data/small.csv", b"1,2\n")  # both patterns: registry
    write("data/other.csv", b"3,4\n")  # external pattern only
    write("huge.txt", b"h" * 5000)  # no pattern: size decides
    run("add", ".")
    files = by_path(plan_json(run))
    assert (files["tiny.bin"]["storage"], files["tiny.bin"]["rule"]) == ("external", "storage.external pattern")
    assert (files["keep/big.bin"]["storage"], files["keep/big.bin"]["rule"]) == ("registry", "storage.registry pattern")
    assert files["data/small.csv"]["storage"] == "registry"
    assert files["data/other.csv"]["storage"] == "external"
    assert files["huge.txt"]["storage"] == "external" and "threshold" in files["huge.txt"]["rule"]


def test_modes_override_everything(project, run, file_store):
    file_store.configure(run)
    run("config", "set", "storage.registry", "*.bin")
    write("a.bin", b"a")
    write("b.txt", b"b" * 10)
    run("add", ".")
    run("config", "set", "storage.mode", "external-only")
    assert {f["storage"] for f in plan_json(run)["files"]} == {"external"}
    run("config", "set", "storage.mode", "registry-only")
    doc = plan_json(run)
    assert {f["storage"] for f in doc["files"]} == {"registry"}
    assert doc["files"][0]["rule"] == "storage.mode=registry-only"


def test_external_uri_is_content_addressed(project, run, file_store):
    file_store.configure(run)
    run("config", "set", "storage.threshold", "1")
    write("a/w.bin", b"same bytes")
    write("b/w.bin", b"same bytes")
    run("add", ".")
    doc = plan_json(run)
    uris = {f["uri"] for f in doc["files"]}
    (digest,) = {f["digest"] for f in doc["files"]}
    h = digest.split(":")[1]
    assert uris == {f"{file_store.url}/sha256/{h[:2]}/{h[2:4]}/{h}"}
    assert doc["totals"]["external"] == {"files": 2, "bytes": 20}


def test_no_store_configured_warns_and_names_the_setting(project, run):
    run("config", "set", "storage.threshold", "10")
    write("big.bin", b"x" * 10)
    run("add", ".")
    r = run("plan")
    assert r.code == 0
    assert "(storage.url unset)" in r.out
    assert "storage.url is not set" in r.err and "mops config set storage.url" in r.err
    doc = plan_json(run)
    assert doc["store"] is None and doc["files"][0]["destination"] is None
    assert doc["problems"] == ["big.bin: goes to an external store but storage.url is not set"]


def test_plan_agrees_with_write_tree(project, run, file_store):
    file_store.configure(run)
    run("config", "set", "storage.threshold", "50")
    run("config", "set", "storage.external", "*.ckpt")
    for name, size in (("a.ckpt", 1), ("b.dat", 49), ("c.dat", 50), ("d.dat", 51)):
        write(name, b"z" * size)
    run("add", ".")
    planned = {f["path"]: f["storage"] for f in plan_json(run)["files"]}
    tree = run("write-tree").out.strip()
    listed = {line.split("\t")[1]: line.split()[1] for line in run("ls-tree", tree).out.splitlines()}
    assert planned == listed == {"a.ckpt": "external", "b.dat": "registry", "c.dat": "external", "d.dat": "external"}


def test_empty_index_plans_nothing(project, run):
    doc = plan_json(run)
    assert doc["files"] == [] and doc["totals"]["registry"] == {"files": 0, "bytes": 0}
