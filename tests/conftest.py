"""Shared test set-up: no window ever opens, figures never leak between tests."""

import os
import sys

import matplotlib

matplotlib.use("Agg")  # headless and deterministic, whatever the machine has

import matplotlib.figure
import matplotlib.pyplot as plt
import pytest
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch, tmp_path):
    # Every test runs in its own empty directory, so a default figure lands there.
    monkeypatch.chdir(tmp_path)
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Every matrix here is tiny: a multithreaded BLAS only spins, and on a busy machine it
    makes the fits several times slower.  Results are unchanged."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def captured_figures(monkeypatch):
    """Figures main() saves, recorded; they are still written to disk."""
    figures = []
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


@pytest.fixture
def unrendered_figures(monkeypatch):
    """Figures main() would save, recorded and not rendered (fast)."""
    figures = []
    monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", lambda self, *a, **k: figures.append(self)
    )
    return figures
