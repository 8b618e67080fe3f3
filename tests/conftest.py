"""Shared set-up, fixtures and helpers of the test suite.

Set-up: matplotlib's Agg backend, forced once here (no window ever opens); every test runs
in its own empty folder (``tmp_path``) with one BLAS thread, and its figures are closed after.

Fixtures: ``cli`` runs the script in-process; ``no_work`` is a tripwire on generating data,
fitting and drawing; ``refused`` checks a refusal with both; ``captured_figures``,
``unrendered_figures`` and ``shown_figures`` record the figures main() saves or shows.

Helpers (plain functions, ``from conftest import ...``): the script's default data and
scikit-learn's fit of it, made here independently (``standardised_fit``: EM on the columns
centred and scaled, as every fit of the script runs, mapped back to the data's units by
hand); parameter counts and BIC from scikit-learn and scipy; a mixture's log-densities and
posteriors from scipy alone (``scipy_posteriors``); R's mclust tables (``mclust_table``,
``mclust_data``); files written exactly (``write_file``, ``write_table``) and a folder's
``snapshot``.
"""

import functools
import hashlib
import json
import math
import os
import pathlib
import stat
import sys

import matplotlib

matplotlib.use("Agg")  # headless and deterministic, whatever the machine has

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sklearn.cluster
import sklearn.datasets
import sklearn.mixture
from matplotlib.patches import Ellipse
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import gmm_clustering  # found through the path set just above

SCRIPT = os.path.join(REPO, "gmm_clustering.py")
DATA = pathlib.Path(REPO, "tests", "data")  # data files: R's output, mclust's tables
N_SAMPLES, N_COMPONENTS, SEED = 500, 4, 42  # the script's defaults
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ERROR = "gmm_clustering.py: error: "  # how every one-line error starts


# --------------------------------------------------------------------------
# Set-up of every test
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _own_folder_and_no_leaked_figures(monkeypatch, tmp_path):
    # Every test runs in its own empty folder, so a default figure lands there.
    monkeypatch.chdir(tmp_path)
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Every matrix here is tiny: a multithreaded BLAS only spins, and on a busy machine it
    makes the fits several times slower.  Results are unchanged."""
    with threadpool_limits(limits=1):
        yield


# --------------------------------------------------------------------------
# The script, run in-process
# --------------------------------------------------------------------------


class Cli:
    """``gmm_clustering.main(argv)`` in-process, its output read from capsys."""

    def __init__(self, capsys):
        self.capsys = capsys

    def run(self, *argv):
        """(exit status, stdout, stderr); paths and numbers in argv are made text."""
        rc = gmm_clustering.main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        return rc, out, err

    def output(self, *argv):
        """The stdout of a run that succeeds and says nothing on stderr."""
        rc, out, err = self.run(*argv)
        assert rc == 0, err
        assert err == ""
        return out

    def json(self, *argv, figure=False):
        """The parsed JSON of a successful ``--json`` run, with ``--no-plot`` unless
        ``figure``; nothing may be said on stderr."""
        return json.loads(self.output(*argv, "--json", *([] if figure else ["--no-plot"])))

    def error(self, *argv):
        """The one-line error of a refused run: exit 2, nothing on stdout, exactly one
        line on stderr starting "gmm_clustering.py: error: ", no traceback."""
        rc, out, err = self.run(*argv)
        assert (rc, out) == (2, ""), (rc, out, err)
        assert "Traceback" not in err
        assert err.endswith("\n") and err.count("\n") == 1, repr(err)
        assert err.startswith(ERROR), err
        return err[:-1]

    def undelivered(self, *argv):
        """The one-line error of a run whose output could not be delivered: exit 1
        (the input was fine; what was printed before the failure stays printed),
        exactly one line on stderr starting "gmm_clustering.py: error: "."""
        rc, out, err = self.run(*argv)
        assert rc == 1, (rc, out, err)
        assert "Traceback" not in err
        assert err.endswith("\n") and err.count("\n") == 1, repr(err)
        assert err.startswith(ERROR), err
        return err[:-1]


@pytest.fixture
def cli(capsys):
    return Cli(capsys)


class Tripwire:
    """What work began, in order.  Generating the data is refused unless ``data_allowed``
    (the refusals that come from looking at the data); fitting and drawing always are."""

    def __init__(self):
        self.begun, self.data_allowed = [], False


@pytest.fixture
def no_work(monkeypatch):
    """A tripwire on make_blobs, every fit (the mixtures, and the k-means of the sweep behind
    --select) and savefig: each records itself in ``.begun`` and fails."""
    trip = Tripwire()

    def refuse(what, real=None):
        def call(*args, **kwargs):
            if real is not None and trip.data_allowed:
                return real(*args, **kwargs)
            trip.begun.append(what)
            raise RuntimeError(f"the test forbids any work here ({what})")

        return call

    monkeypatch.setattr(
        sklearn.datasets, "make_blobs", refuse("make_blobs", sklearn.datasets.make_blobs)
    )
    for cls in (
        sklearn.mixture.GaussianMixture,
        sklearn.mixture.BayesianGaussianMixture,
        sklearn.cluster.KMeans,
    ):
        monkeypatch.setattr(cls, "fit", refuse(f"{cls.__name__}.fit"))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", refuse("savefig"))
    return trip


@pytest.fixture
def refused(cli, no_work, tmp_path):
    """refused(*argv): the one-line error of a run that began no work (see ``no_work``) and
    changed no file in the test's folder."""

    def check(*argv):
        before = snapshot(tmp_path)
        line = cli.error(*argv)
        assert no_work.begun == []
        assert snapshot(tmp_path) == before
        return line

    return check


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


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


@pytest.fixture
def shown_figures(monkeypatch):
    """A machine with a display: every figure open when main() calls plt.show()."""
    shown = []
    monkeypatch.setattr(gmm_clustering, "backend_can_show", lambda backend: True)
    monkeypatch.setattr(
        plt, "show", lambda *a, **k: shown.extend(plt.figure(n) for n in plt.get_fignums())
    )
    return shown


def ellipses(ax):
    """The ellipses drawn on an axes."""
    return [p for p in ax.patches if isinstance(p, Ellipse)]


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


# --------------------------------------------------------------------------
# Data and models, made here with scikit-learn (cached: never mutate them)
# --------------------------------------------------------------------------


def _read_only(*arrays):
    for array in arrays:
        array.flags.writeable = False
    return arrays


@functools.cache
def blobs(n_features=2, n_samples=N_SAMPLES, cluster_std=1.0, random_state=SEED):
    """The script's generated data, (X, y): by default make_blobs(500, centers=4,
    n_features=2, random_state=42), as the script makes it."""
    return _read_only(
        *make_blobs(
            n_samples=n_samples,
            centers=N_COMPONENTS,
            n_features=n_features,
            cluster_std=cluster_std,
            random_state=random_state,
        )
    )


def standardised_units(X, covariance_type="full"):
    """(center, scale) of the columns: each one's mean and population sd (ddof=0); for
    spherical one shared scale, the root of the mean of the columns' variances."""
    center, scale = X.mean(axis=0), X.std(axis=0)
    if covariance_type == "spherical":
        scale = np.full(X.shape[1], math.sqrt(float(np.mean(X.var(axis=0)))))
    return center, scale


def standardised_fit(X, n_components, covariance_type="full", random_state=SEED, **options):
    """A scikit-learn GaussianMixture fitted here on (X - mean) / sd, then mapped back by hand
    to X's units: means = center + scale * means_z, covariances = covariances_z * scale scale',
    and the precisions and their Cholesky factors with them, so that its predict, score_samples,
    bic and sample work on X itself.  (n_iter_, converged_ and lower_bound_ stay those of the
    standardised fit; the log-likelihood of X is that of z minus sum log scale.)"""
    X = np.asarray(X, dtype=float)
    center, scale = standardised_units(X, covariance_type)
    gmm = GaussianMixture(
        n_components, covariance_type=covariance_type, random_state=random_state, **options
    )
    gmm.fit((X - center) / scale)
    outer = np.outer(scale, scale)
    gmm.means_ = center + scale * gmm.means_
    if covariance_type in ("full", "tied"):
        gmm.covariances_ = gmm.covariances_ * outer
        gmm.precisions_ = gmm.precisions_ / outer
        gmm.precisions_cholesky_ = gmm.precisions_cholesky_ / scale[:, None]  # D^-1 U
    else:  # diag: one variance per column; spherical: one, in the shared unit
        unit = scale if covariance_type == "diag" else scale[0]
        gmm.covariances_ = gmm.covariances_ * unit**2
        gmm.precisions_ = gmm.precisions_ / unit**2
        gmm.precisions_cholesky_ = gmm.precisions_cholesky_ / unit
    gmm.log_scale_ = float(np.log(scale).sum())  # ll(x) = ll(z) - n * this
    return gmm


@functools.cache
def sklearn_fit(covariance_type="full", **data):
    """The script's default model, made here: ``standardised_fit`` of blobs(**data) with
    4 components, ``covariance_type`` and random_state=42."""
    X, _ = blobs(**data)
    return standardised_fit(X, N_COMPONENTS, covariance_type)


def as_mixture(gmm):
    """A ``gmm_clustering.Mixture`` holding a scikit-learn mixture's parameters as they are
    (covariances written out as full matrices here), for the script's E-step and sampling."""
    return gmm_clustering.Mixture(
        np.array(gmm.weights_),
        np.array(gmm.means_),
        full_covariances(gmm),
        gmm.covariance_type,
    )


def three_blobs(n=60):
    """Three well separated blobs in 2-D: a small table that any run can fit."""
    return make_blobs(n_samples=n, centers=3, n_features=2, random_state=0)[0]


def rounded_with_repeated_values():
    """Measurements recorded as whole numbers: two real groups, and a batch of six
    readings that all share the same y value (y = 45), a typical rounding artefact."""
    rng = np.random.RandomState(0)
    A = rng.multivariate_normal([50, 60], [[40, 15], [15, 30]], 150)
    B = rng.multivariate_normal([75, 80], [[30, -10], [-10, 35]], 150)
    batch = np.c_[95 + rng.uniform(-4, 4, 6), np.full(6, 45.0)]
    return np.round(np.r_[A, B, batch])


def full_covariances(gmm):
    """A fitted scikit-learn mixture's ``covariances_`` written out as k full d x d
    matrices, type by type."""
    k, d = gmm.means_.shape
    cov = gmm.covariances_
    if gmm.covariance_type == "full":
        return np.array(cov)
    if gmm.covariance_type == "tied":
        return np.array([cov for _ in range(k)])
    if gmm.covariance_type == "diag":
        return np.array([np.diag(variances) for variances in cov])
    return np.array([variance * np.eye(d) for variance in cov])


@functools.cache
def sklearn_parameter_count(k, d, covariance_type):
    """The free parameters of a (k, d, type) mixture as scikit-learn counts them, read from
    its public criteria: BIC - AIC = p (log n - 2)."""
    X, _ = make_blobs(n_samples=100 * k, centers=k, n_features=d, random_state=0)
    gmm = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
    assert gmm.converged_
    return round((gmm.bic(X) - gmm.aic(X)) / (math.log(len(X)) - 2))


def scipy_posteriors(X, weights, means, covariances):
    """(log p(x), posteriors p(j | x)) of every row of X under a mixture given as plain
    numbers (k full covariances), from scipy.stats' densities and Bayes' rule alone."""
    log_joint = np.column_stack(
        [
            math.log(w) + np.atleast_1d(multivariate_normal(m, c).logpdf(X))
            for w, m, c in zip(weights, means, covariances)
        ]
    )
    log_density = logsumexp(log_joint, axis=1)
    return log_density, np.exp(log_joint - log_density[:, None])


def bic_of(mixture, X):
    """BIC (scikit-learn's sign) of a fitted ``gmm_clustering.Mixture``, from scipy's densities
    and scikit-learn's parameter count."""
    k, d = mixture.means.shape
    density = sum(
        w * multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(mixture.weights, mixture.means, mixture.covariances)
    )
    p = sklearn_parameter_count(k, d, mixture.covariance_type)
    return -2 * np.log(density).sum() + p * np.log(len(X))


MCLUST = DATA / "mclust"  # R's mclust 6.0.0 BIC tables and the data sets they are of
MCLUST_TYPES = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}


@functools.cache
def mclust_tables():
    """tests/data/mclust/tables.json: its "tables", one per data set (read "about" there)."""
    return json.loads((MCLUST / "tables.json").read_text())["tables"]


def mclust_table(name):
    """mclust's BIC of each candidate in OUR sign (lower is better): {(covariance type, k):
    -BIC}, only the candidates mclust fitted (its nulls left out)."""
    table = {}
    for model, values in mclust_tables()[name]["bic"].items():
        for k, value in enumerate(values, start=1):
            if value is not None:
                table[MCLUST_TYPES[model], k] = -value
    return table


@functools.cache
def mclust_data(name):
    """(X, column names) of one of mclust's data sets, read here with numpy."""
    info = mclust_tables()[name]
    X = np.loadtxt(MCLUST / info["csv"], delimiter=",", skiprows=1, ndmin=2)
    _read_only(X)
    return X, list(info["columns"])


def select_model(X, max_k, criterion="bic", seed=SEED, names=None):
    """The sweep behind --select: (rows, the winner refitted on all of X, the sample or None)."""
    selection = gmm_clustering.select(X, max_k, criterion, seed, names)
    return selection.rows, selection.winner_mixture(X, seed), selection.sample


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def write_file(path, content, encoding="utf-8"):
    """``content`` written exactly: text in ``encoding`` with no newline translation, or
    bytes as they are.  Returns the path as text."""
    data = content.encode(encoding) if isinstance(content, str) else content
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


def write_table(path, X, names=None, labels=None, label_name="group", delimiter=","):
    """A table with a header row: the numbers written with repr (an exact round trip), then,
    when given, a column of labels.  Returns the path as text."""
    X = np.asarray(X, dtype=float)
    names = list(names or [f"x{j + 1}" for j in range(X.shape[1])])
    header = names + ([label_name] if labels is not None else [])
    lines = [delimiter.join(header)]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row]
        lines.append(delimiter.join(cells + ([str(labels[i])] if labels is not None else [])))
    return write_file(path, "\n".join(lines) + "\n")


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def snapshot(folder):
    """Every entry of a folder: symlinks by target, files by inode and checksum, folders
    recursively, anything else (a FIFO) by type only (never opened)."""
    state = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                state[entry.name] = ("symlink", os.readlink(entry.path))
            elif stat.S_ISREG(st.st_mode):
                state[entry.name] = ("file", st.st_ino, st.st_nlink, digest(entry.path))
            elif stat.S_ISDIR(st.st_mode):
                state[entry.name] = ("folder", snapshot(entry.path))
            else:
                state[entry.name] = ("special", stat.S_IFMT(st.st_mode))
    return state


def title_of(ax):
    """A panel's title as read: its words, whatever line breaks fit it to its panel."""
    return " ".join(ax.get_title().split())
