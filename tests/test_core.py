"""Core behaviour of gmm_clustering.py: metrics, plots, output files, display.

Every number is checked against an independent computation (scipy densities, a
hand count of parameters, closed-form ellipse geometry, scikit-learn fitted here on the
standardised columns and mapped back by hand), never against the script's own helpers.
Figures are inspected as objects, never as pixels.
"""

import importlib.abc
import math
import os
import re
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    N_COMPONENTS,
    N_SAMPLES,
    REPO,
    SEED,
    as_mixture,
    blobs,
    ellipses,
    full_covariances,
    sklearn_fit,
    standardised_fit,
    title_of,
    write_table,
)
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

import gmm_clustering

# Free parameters of a 4-component mixture in 2-D, counted by hand:
# 4 means x 2 coordinates = 8, weights 4 - 1 = 3, plus the covariances:
#   full: 4 x 3 (a, b, c of each symmetric 2x2) = 12; tied: one 2x2 = 3;
#   diag: 4 x 2 variances = 8; spherical: 4 x 1 variance = 4.
HAND_COUNTED_PARAMETERS = {"full": 23, "tied": 14, "diag": 19, "spherical": 15}

MAGIC = {  # how each format starts (an SVG: the XML declaration, then its <svg> element)
    "png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "svg": lambda head: head.startswith(b"<?xml") and b"<svg" in head,
    "pdf": lambda head: head.startswith(b"%PDF-"),
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def scipy_mean_log_likelihood(X, weights, means, covs):
    density = sum(
        w * multivariate_normal(mean=m, cov=c).pdf(X) for w, m, c in zip(weights, means, covs)
    )
    return float(np.mean(np.log(density)))


def closed_form_ellipse(cov2, n_sigma):
    """Width, height, angle (degrees) of the n_sigma ellipse of [[a, b], [b, c]]."""
    a, b, c = cov2[0, 0], cov2[0, 1], cov2[1, 1]
    mid, half_gap = (a + c) / 2, math.hypot((a - c) / 2, b)
    major, minor = mid + half_gap, mid - half_gap
    angle = math.degrees(0.5 * math.atan2(2 * b, a - c))
    return 2 * n_sigma * math.sqrt(major), 2 * n_sigma * math.sqrt(minor), angle


def angle_diff(a, b):
    """Difference of two ellipse orientations, modulo 180 degrees, in [-90, 90)."""
    return (a - b + 90) % 180 - 90


def ellipses_by_centre(drawn, centre):
    """The ellipses drawn around one centre, smallest first."""
    found = [e for e in drawn if np.allclose(e.center, centre, atol=1e-9)]
    return sorted(found, key=lambda e: e.width)


# --------------------------------------------------------------------------
# 1. The default run
# --------------------------------------------------------------------------


def test_default_run_prints_metrics_and_saves_png(cli, tmp_path):
    out = cli.output()
    assert "Log Likelihood: -4.16199\n" in out
    assert "Silhouette Score: 0.79110\n" in out
    assert re.search(r"^BIC: -?\d+\.\d{3}$", out, re.MULTILINE)
    assert re.search(r"^AIC: -?\d+\.\d{3}$", out, re.MULTILINE)
    assert re.search(r"^EM converged: yes after \d+ iterations$", out, re.MULTILINE)
    assert re.search(r"^Adjusted Rand Index: 1\.00000$", out, re.MULTILINE)
    png = tmp_path / "gmm_clustering.png"
    assert f"Figure saved to {png}" in out
    assert png.is_file() and png.stat().st_size > 1000
    assert MAGIC["png"](png.read_bytes()[:16])


# --------------------------------------------------------------------------
# 2. Log-likelihood, BIC and AIC against independent computations
# --------------------------------------------------------------------------


def test_log_likelihood_matches_scipy_density(cli):
    # The script's model is scikit-learn's fit of the standardised columns, mapped back to
    # the data's units (made here by hand); its log-likelihood is scipy's, in those units.
    X, gmm = blobs()[0], sklearn_fit("full")
    expected = scipy_mean_log_likelihood(X, gmm.weights_, gmm.means_, gmm.covariances_)
    result = cli.json("--init", "kmeans")  # the start the reference makes
    # the same model: same fitted parameters
    np.testing.assert_allclose(result["weights"], gmm.weights_, atol=1e-9)
    np.testing.assert_allclose(result["means"], gmm.means_, atol=1e-9)
    np.testing.assert_allclose(result["covariances"], gmm.covariances_, rtol=1e-9)
    assert result["log_likelihood"] == pytest.approx(expected, rel=1e-10)
    assert f"{expected:.5f}" == "-4.16199"  # the value the default run prints


def test_standardised_fit_has_the_likelihood_of_the_data_in_its_own_units():
    # The reference itself: the mean log-likelihood of x is that of z = (x - m) / s minus
    # sum log s (the Jacobian), and scikit-learn's score of the mapped-back model agrees.
    X, gmm = blobs()[0], sklearn_fit("full")
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    on_z = GaussianMixture(N_COMPONENTS, random_state=SEED).fit(Z).score(Z)
    assert gmm.score(X) == pytest.approx(on_z - np.log(X.std(axis=0)).sum(), rel=1e-12)
    assert gmm.score(X) == pytest.approx(
        scipy_mean_log_likelihood(X, gmm.weights_, gmm.means_, gmm.covariances_), rel=1e-12
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_aic_match_formula_with_hand_counted_parameters(cli, covariance_type):
    X, gmm = blobs()[0], sklearn_fit(covariance_type)
    n, p = len(X), HAND_COUNTED_PARAMETERS[covariance_type]
    ll = scipy_mean_log_likelihood(X, gmm.weights_, gmm.means_, full_covariances(gmm))
    expected_bic = -2 * n * ll + p * math.log(n)
    expected_aic = -2 * n * ll + 2 * p
    # the formula and scikit-learn's own criteria agree (so p is counted right)
    assert gmm.bic(X) == pytest.approx(expected_bic, rel=1e-9)
    assert gmm.aic(X) == pytest.approx(expected_aic, rel=1e-9)
    result = cli.json("--covariance-type", covariance_type)
    assert result["covariance_type"] == covariance_type
    assert result["log_likelihood"] == pytest.approx(ll, rel=1e-9)
    assert result["bic"] == pytest.approx(expected_bic, rel=1e-9)
    assert result["aic"] == pytest.approx(expected_aic, rel=1e-9)


# --------------------------------------------------------------------------
# 3. Fitted means recover the true centres
# --------------------------------------------------------------------------


def test_fitted_means_match_true_blob_centres(cli):
    X, y, centers = make_blobs(
        N_SAMPLES, centers=N_COMPONENTS, random_state=SEED, return_centers=True
    )
    result = cli.json()
    means = np.array(result["means"])
    assert means.shape == (N_COMPONENTS, 2)
    rows, cols = linear_sum_assignment(cdist(centers, means))
    # 125 points of sd 1 per blob: the mean's standard error is ~0.09 per coordinate
    assert np.abs(means[cols] - centers[rows]).max() < 0.3
    # the blobs are well apart, so each mean is its blob's sample mean
    sample_means = np.array([X[y == j].mean(axis=0) for j in rows])
    np.testing.assert_allclose(means[cols], sample_means, atol=1e-3)
    np.testing.assert_allclose(np.array(result["weights"])[cols], 0.25, atol=1e-3)


# --------------------------------------------------------------------------
# 4. Ellipses and covariance matrices
# --------------------------------------------------------------------------


def _rotated(eigenvalues, degrees):
    t = math.radians(degrees)
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return R @ np.diag(eigenvalues) @ R.T


def test_plot_clusters_draws_known_ellipses():
    covs = np.array([np.diag([4.0, 1.0]), _rotated([9.0, 1.0], 30), 2.0 * np.eye(2)])
    means = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    expected = [  # (width, height) at one sigma, angle in degrees (None: a circle)
        (4.0, 2.0, 0.0),
        (6.0, 2.0, 30.0),
        (2 * math.sqrt(2), 2 * math.sqrt(2), None),
    ]
    view = gmm_clustering.View(
        X2=means.copy(),
        labels=np.array([0, 1, 2]),
        largest=np.array([1.0, 0.8, 0.6]),
        means2=means,
        covs2=covs,
        weights=np.full(3, 1 / 3),
        xlabel="x label",
        ylabel="y label",
    )
    _fig, ax = plt.subplots()
    gmm_clustering.plot_clusters(ax, view)
    drawn = ellipses(ax)
    assert len(drawn) == 3 * 3
    for mean, (width, height, angle) in zip(means, expected):
        around = ellipses_by_centre(drawn, mean)
        assert len(around) == 3
        for n_sigma, e in zip((1, 2, 3), around):
            assert e.width == pytest.approx(n_sigma * width)
            assert e.height == pytest.approx(n_sigma * height)
            if angle is not None:
                assert angle_diff(e.angle, angle) == pytest.approx(0, abs=1e-6)
    assert title_of(ax) == "GMM clusters"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x label", "y label")


@pytest.mark.parametrize("degrees", [-60, 0, 45, 90, 120])
@pytest.mark.parametrize("n_sigma", [1, 3])
def test_ellipse_axes_of_rotated_covariance(degrees, n_sigma):
    e = gmm_clustering.ellipse((1.0, 2.0), _rotated([9.0, 4.0], degrees), n_sigma, "black")
    width, height, angle = e.width, e.height, e.angle
    assert tuple(e.center) == (1.0, 2.0)
    assert (width, height) == pytest.approx((2 * n_sigma * 3, 2 * n_sigma * 2))
    assert angle_diff(angle, degrees) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_covariance_type_draws_its_ellipses(cli, unrendered_figures, covariance_type):
    cli.output("--covariance-type", covariance_type, "--save", "fig.png")
    [fig] = unrendered_figures
    ax = fig.axes[0]
    assert title_of(ax) == "GMM clusters"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature 1", "feature 2")
    assert any(f"({covariance_type})" in t.get_text() for t in fig.texts)  # the suptitle
    drawn = ellipses(ax)
    assert len(drawn) == N_COMPONENTS * 3

    gmm = sklearn_fit(covariance_type)
    shapes, angles = [], []
    for mean, cov in zip(gmm.means_, full_covariances(gmm)):
        around = ellipses_by_centre(drawn, mean)
        assert len(around) == 3
        for n_sigma, e in zip((1, 2, 3), around):
            width, height, angle = closed_form_ellipse(cov, n_sigma)
            assert e.width == pytest.approx(width, rel=1e-6)
            assert e.height == pytest.approx(height, rel=1e-6)
            if not math.isclose(width, height, rel_tol=1e-6):
                assert angle_diff(e.angle, angle) == pytest.approx(0, abs=1e-4)
        shapes.append([(e.width, e.height) for e in around])
        angles.append(around[0].angle)

    shapes = np.array(shapes)  # (component, sigma, [width, height])
    same_shape = np.allclose(shapes, shapes[0], rtol=1e-9)
    if covariance_type == "spherical":
        assert all(e.width == pytest.approx(e.height) for e in drawn)
    if covariance_type == "tied":
        assert same_shape
        assert all(angle_diff(a, angles[0]) == pytest.approx(0, abs=1e-6) for a in angles)
    else:
        assert not same_shape
    if covariance_type == "diag":  # axis-aligned
        assert all(min(e.angle % 90, 90 - e.angle % 90) < 1e-6 for e in drawn)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_as_mixture_expands_every_type_and_maps_it_to_the_data_units(covariance_type):
    # A mixture fitted on z = (x - center) / scale, as the script's Mixture of x: every
    # type written out as full matrices, means center + scale * means_z, covariances
    # covariances_z * scale scale' (computed here by hand).
    X, _ = make_blobs(n_samples=150, centers=3, n_features=3, random_state=0)
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    identity = gmm_clustering.Units(np.zeros(3), np.ones(3))
    mixture = gmm_clustering.as_mixture(gmm, identity)
    assert mixture.covariances.shape == (3, 3, 3)
    np.testing.assert_allclose(mixture.covariances, full_covariances(gmm), rtol=1e-12)
    center, scale = np.array([1e9, -3.0, 0.5]), np.array([1e-6, 2.0, 1e4])
    mapped = gmm_clustering.as_mixture(gmm, gmm_clustering.Units(center, scale))
    np.testing.assert_allclose(mapped.weights, gmm.weights_, rtol=1e-15)
    np.testing.assert_allclose(mapped.means, center + gmm.means_ * scale, rtol=1e-15)
    expected = full_covariances(gmm) * scale[:, None] * scale[None, :]
    np.testing.assert_allclose(mapped.covariances, expected, rtol=1e-12)
    # a covariance matrix of each component: symmetric positive definite
    covs = mixture.covariances
    np.testing.assert_allclose(covs, covs.transpose(0, 2, 1))
    assert (np.linalg.eigvalsh(covs) > 0).all()


def test_points_that_are_all_certain_are_not_faded():
    """A point's fading depends on its own certainty, not on the others'."""

    def alphas(confidence):
        means = np.array([[0.0, 0.0], [5.0, 5.0]])
        view = gmm_clustering.View(
            X2=np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]]),
            labels=np.array([0, 0, 1, 1]),
            largest=np.array(confidence),
            means2=means,
            covs2=np.array([np.eye(2), np.eye(2)]),
            weights=np.array([0.5, 0.5]),
            xlabel="x",
            ylabel="y",
        )
        _fig, ax = plt.subplots()
        gmm_clustering.plot_clusters(ax, view)
        return ax.collections[0].get_facecolors()[:, 3]

    mixed = alphas([1.0, 1.0, 1.0, 0.55])
    assert mixed[0] > mixed[3]  # the uncertain point is the faded one
    all_certain = alphas([1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(all_certain, mixed[0])


# --------------------------------------------------------------------------
# 5. More than two features: principal components
# --------------------------------------------------------------------------


def test_principal_axes_and_projected_covariances():
    rng = np.random.RandomState(0)
    A = rng.normal(size=(4, 4)) * np.array([5.0, 3.0, 1.0, 0.5])
    X = rng.normal(size=(300, 4)) @ A.T + 7.0
    W, share = gmm_clustering.principal_axes(X, 0)
    eigenvalues = np.linalg.eigvalsh(np.cov(X, rowvar=False))[::-1]
    np.testing.assert_allclose(share, eigenvalues[:2] / eigenvalues.sum(), rtol=1e-9)
    empty = np.zeros((0, 2))
    proj = gmm_clustering.View(empty, None, None, None, None, None, "", "", center=X.mean(0), W=W)
    assert W.shape == (4, 2)
    np.testing.assert_allclose(W.T @ W, np.eye(2), atol=1e-12)
    # the two leading principal axes (from an SVD of the centred data), up to sign
    _, _, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(np.abs(Vt[:2] @ W), np.eye(2), atol=1e-9)
    np.testing.assert_allclose(proj.points(X), (X - X.mean(axis=0)) @ W, atol=1e-9)

    covs = []
    for _ in range(3):
        B = rng.normal(size=(4, 4))
        covs.append(B @ B.T + np.eye(4))
    covs = np.array(covs)
    expected = np.array([W.T @ S @ W for S in covs])
    np.testing.assert_allclose(proj.covariances(covs), expected, rtol=1e-12)
    # the projection of a Gaussian sample has that covariance (a sanity check of W^T S W)
    sample = rng.multivariate_normal(np.zeros(4), covs[0], size=20000)
    np.testing.assert_allclose(np.cov(sample @ W, rowvar=False), expected[0], rtol=0.05, atol=0.1)


def test_two_features_are_drawn_as_they_are(cli, tmp_path, unrendered_figures):
    X = np.random.RandomState(1).normal(size=(50, 2)) * [10, 1] + [170, 70]
    path = write_table(tmp_path / "hw.csv", X, ["height", "weight"])
    cli.output("--csv", path, "--n-components", "2", "--save", "hw.png")
    [fig] = unrendered_figures
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("height", "weight")
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), X)
    assert ax.get_aspect() == "auto"  # raw columns of different units keep their own scales


# --------------------------------------------------------------------------
# 6. Saved files are real images
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_save_writes_a_real_file(cli, tmp_path, fmt):
    path = tmp_path / f"figure.{fmt}"
    out = cli.output("--n-samples", "200", "--save", path)
    assert f"Figure saved to {path}\n" in out
    assert "no display" not in out
    head = path.read_bytes()[:1024]
    assert MAGIC[fmt](head), head[:32]
    assert not (tmp_path / "gmm_clustering.png").exists()


# --------------------------------------------------------------------------
# 7. --json
# --------------------------------------------------------------------------


def test_json_output_has_every_key_with_numbers(cli):
    result = cli.json()
    numbers = ["log_likelihood", "silhouette", "bic", "aic", "ari"]
    counts = ["n_samples", "n_features", "n_components", "n_iter"]
    for key in [*numbers, *counts, "covariance_type", "converged", "weights", "means"]:
        assert key in result, key
    for key in numbers:
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
    for key in counts:
        assert isinstance(result[key], int) and not isinstance(result[key], bool), key
    assert (result["n_samples"], result["n_features"], result["n_components"]) == (500, 2, 4)
    assert result["covariance_type"] == "full"
    assert result["converged"] is True
    assert result["n_iter"] >= 1
    assert len(result["weights"]) == 4 and sum(result["weights"]) == pytest.approx(1)
    assert all(isinstance(w, float) for w in result["weights"])
    assert np.array(result["means"], dtype=float).shape == (4, 2)
    assert -1 <= result["silhouette"] <= 1 and result["ari"] == pytest.approx(1.0)


# --------------------------------------------------------------------------
# 9. Importing has no side effects; --no-plot never imports matplotlib
# --------------------------------------------------------------------------


def python(code, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_prints_and_writes_nothing(tmp_path):
    proc = python("import gmm_clustering", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", "")
    assert list(tmp_path.iterdir()) == []


class RefuseMatplotlib(importlib.abc.MetaPathFinder):
    """An import hook that records, and refuses, any import of matplotlib."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "mpl_toolkits"):
            self.attempts.append(name)
            raise ImportError(f"the test forbids importing {name}")
        # anything else: None, i.e. "not mine", and the next finder looks


def test_no_plot_does_not_import_matplotlib(cli, monkeypatch, tmp_path):
    # In-process, so it is fast: matplotlib is taken out of sys.modules (the test session
    # has imported it) and any attempt to import it again is recorded and refused.
    guard = RefuseMatplotlib()
    with monkeypatch.context() as m:
        for name in [n for n in sys.modules if n.split(".")[0] in ("matplotlib", "mpl_toolkits")]:
            m.delitem(sys.modules, name)
        m.setattr(sys, "meta_path", [guard, *sys.meta_path])
        rc, out, err = cli.run("--no-plot", "--n-samples", "60")
        leaked = sorted(n for n in sys.modules if n.split(".")[0] == "matplotlib")
    assert guard.attempts == []
    assert leaked == []
    assert rc == 0, err
    assert "Log Likelihood:" in out
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# 10. Show the figure where a window can open, else save it and say so
# --------------------------------------------------------------------------


@pytest.fixture
def small_figure(monkeypatch):
    """The figure (saved or in a window) replaced by a cheap one: these tests are about what
    happens next."""
    built = []

    def fake_build_figure(*args, **kwargs):
        fig = plt.figure(figsize=(2, 2))
        built.append(fig)
        return fig

    monkeypatch.setattr(gmm_clustering, "build_figure", fake_build_figure)
    monkeypatch.setattr(gmm_clustering, "show_in_window", fake_build_figure)
    return built


def test_headless_backend_saves_default_png_and_says_no_display(
    cli, tmp_path, monkeypatch, small_figure
):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    out = cli.output("--n-samples", "100")
    assert len(small_figure) == 1 and shown == []
    png = tmp_path / "gmm_clustering.png"
    [line] = [line for line in out.splitlines() if line.startswith("Figure saved to")]
    assert line == f"Figure saved to {png} (no display: matplotlib backend is 'agg')"
    assert MAGIC["png"](png.read_bytes()[:16])


def test_interactive_backend_shows_and_saves_nothing(cli, tmp_path, shown_figures, small_figure):
    out = cli.output("--n-samples", "100")
    assert len(small_figure) == 1
    assert shown_figures == small_figure  # the figure built, shown while open
    assert "Log Likelihood:" in out
    assert "Figure saved" not in out and "no display" not in out
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# 11. A fit that fails is explained in one line
# --------------------------------------------------------------------------


def test_failing_fit_from_scikit_learn_is_one_line_exit_2(cli, monkeypatch):
    def failing_fit(self, X, y=None):
        raise ValueError("simulated collapse")

    monkeypatch.setattr(GaussianMixture, "fit", failing_fit)
    line = cli.error("--covariance-type", "tied", "--n-components", "3", "--no-plot")
    assert "the 'tied' mixture with 3 components could not be fitted" in line
    assert "use fewer components, another --covariance-type, or --scale" in line
    assert "[scikit-learn: simulated collapse]" in line


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_away_points_get_posteriors_not_nan(covariance_type):
    # At 1e200 every Gaussian density underflows (scikit-learn gives NaN); the
    # point belongs to the component nearest in Mahalanobis distance.
    X, _ = make_blobs(n_samples=300, centers=3, random_state=1)
    mixture = as_mixture(standardised_fit(X, 3, covariance_type, random_state=5))
    far = np.array([[1e200, 1e200], [-1e200, 3e199]])
    _, posteriors = gmm_clustering.e_step(mixture, far)
    assert np.isfinite(posteriors).all()
    np.testing.assert_allclose(posteriors.sum(axis=1), 1)
    # ... the same component that takes points far out along the same direction, at
    # a distance where densities are still representable.
    _, near = gmm_clustering.e_step(mixture, far / 1e197)
    np.testing.assert_array_equal(posteriors.argmax(axis=1), near.argmax(axis=1))


def test_a_missing_package_is_named_in_one_line(cli, monkeypatch):
    # What a user who skipped `pip install -r requirements.txt` sees: the package to
    # install, not a traceback.
    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(gmm_clustering, "fitted", missing)
    rc, out, err = cli.run("--no-plot")
    assert (rc, out) == (1, "")
    assert err == (
        "gmm_clustering.py: error: the package 'scikit-learn' is not installed; install the "
        "requirements: python3 -m pip install -r requirements.txt\n"
    )
