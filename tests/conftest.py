"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.netutil import release_all


@pytest.fixture(autouse=True)
def _give_back_test_ports() -> Iterator[None]:
    """Ports a test reserved for its peers are free again once its fixtures are torn down."""
    yield
    release_all()
