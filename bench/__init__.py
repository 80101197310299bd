"""Benchmarks of mops against its peers (git, sha256sum, ...): ``python bench/run.py --help``."""
