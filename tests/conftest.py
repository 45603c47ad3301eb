"""Shared fixtures. Bad-input generators live in tests/corpus.py (imported as `corpus`)."""

import pytest

from facemask import Pipeline


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """The shipped pipeline (photo mode), loaded once; fails, never skips, when the model is missing."""
    return Pipeline()


@pytest.fixture(scope="session")
def live_pipeline() -> Pipeline:
    """The pipeline as video and webcam run it: one pass at native size."""
    return Pipeline(live=True)
