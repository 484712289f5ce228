"""The corpus and training tests: marked `training` (run with `pytest -m training`), and a
tiny real corpus they share."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny import TINY


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.training)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    from core.data.build import build_corpus

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, hours=0.01, config=TINY, workers=2, progress=False)
    return root
