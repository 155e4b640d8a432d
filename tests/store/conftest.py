"""The store tests' shared fixture: a store with products, the matrix and three customers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.store.import_files import (
    CUSTOMERS,
    MATRIX,
    PRODUCTS,
    run,
)


@pytest.fixture
def base(engine: Engine, tmp_path: Path) -> Engine:
    """Products, the matrix and three customers."""
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    result = run(engine, tmp_path, "customers", CUSTOMERS)
    assert (result.imported, result.rejected) == (3, 0)
    return engine
