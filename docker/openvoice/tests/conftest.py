import sys
from pathlib import Path

import pytest

# The service's package lives beside the tests: make `app` importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def server():
    """The checkpoint archive of test_checkpoints.py, served on 127.0.0.1 for the test's length."""
    from test_checkpoints import ARCHIVE, ModelServer

    with ModelServer(ARCHIVE) as serving:
        yield serving
