"""Fixtures for the tests of make bench's own code (bench/bench.py, loaded as a module: bench/ is not a package)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench_module():
    """A fresh copy of bench/bench.py, so a test's changes to its settings stay in that test."""
    spec = importlib.util.spec_from_file_location("bench_under_test", BENCH / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
