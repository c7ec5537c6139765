"""Fixtures for the tests of make bench's own code (bench/bench.py, loaded as a module: bench/ is not a package)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_fresh(filename: str):
    """A fresh copy of a bench/ script as a module, so a test's changes to its settings stay in that test."""
    spec = importlib.util.spec_from_file_location(f"{Path(filename).stem}_under_test", BENCH / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench_module():
    return load_fresh("bench.py")


@pytest.fixture
def scale_module():
    """bench/scale.py (it imports bench/bench.py for its helpers; nothing connects)."""
    return load_fresh("scale.py")
