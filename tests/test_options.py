"""The options of gmm_clustering.py beyond the default run.

--select (with --max-components, --criterion, --n-init), --predict, --compare-kmeans,
--anomalies, --sample and --sample-out, --scale and --report.

Every expected number comes from an independent computation: scikit-learn fitted
here directly, numpy moments, KMeans run here, never the script's own helpers
(those are unit-tested on their own, against hand-made inputs).
"""

import contextlib
import copy
import csv
import errno
import functools
import os
import tempfile

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, bic_of, run, run_json, select_model
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture

import gmm_clustering

N_SAMPLES, N_COMPONENTS, SEED = 500, 4, 42  # the script's defaults
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@functools.cache
def default_data():
    """The script's default data, generated here with make_blobs."""
    return make_blobs(n_samples=N_SAMPLES, centers=N_COMPONENTS, n_features=2, random_state=SEED)


@functools.cache
def default_model(n_features=2):
    """The script's default model, fitted here with scikit-learn (never mutate it)."""
    X, _ = make_blobs(
        n_samples=N_SAMPLES, centers=N_COMPONENTS, n_features=n_features, random_state=SEED
    )
    return X, GaussianMixture(N_COMPONENTS, covariance_type="full", random_state=SEED).fit(X)


def write_table(path, X, names=None, labels=None):
    """A CSV with a header row; floats written with repr (exact round trip)."""
    names = names or [f"x{j + 1}" for j in range(X.shape[1])]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, *(["group"] if labels is not None else [])])
        for i, row in enumerate(X):
            cells = [repr(float(v)) for v in row]
            if labels is not None:
                cells.append(f"class-{labels[i]}")
            writer.writerow(cells)
    return str(path)


def read_samples(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    values = np.array([[float(v) for v in row[:-1]] for row in body])
    component = np.array([int(row[-1]) for row in body])
    return header, values, component


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


# Data sets whose right covariance structure is known.


def sheared_and_round(n=250):
    """scikit-learn's plot_gmm_selection data: one sheared and one round cluster."""
    rng = np.random.RandomState(0)
    C = np.array([[0.0, -0.1], [1.7, 0.4]])
    return np.r_[rng.randn(n, 2) @ C, 0.7 * rng.randn(n, 2) + [-4, 1]]


def round_blobs_of_different_sizes():
    """Isotropic clusters, each with its own variance: spherical is the true model."""
    X, _ = make_blobs(
        n_samples=450,
        centers=[[0, 0], [8, 3], [-6, 6]],
        cluster_std=[1.0, 2.0, 0.5],
        random_state=0,
    )
    return X


def anisotropic_blobs(n=600):
    """plot_kmeans_assumptions: three blobs under one linear map (one shared covariance)."""
    X, y = make_blobs(n_samples=n, random_state=170)
    return X @ np.array([[0.6, -0.6], [-0.4, 0.8]]), y


def rounded_with_repeated_values():
    """Measurements recorded as whole numbers: two real groups, and a batch of six
    readings that all share the same y value (y = 45), a typical rounding artefact."""
    rng = np.random.RandomState(0)
    A = rng.multivariate_normal([50, 60], [[40, 15], [15, 30]], 150)
    B = rng.multivariate_normal([75, 80], [[30, -10], [-10, 35]], 150)
    batch = np.c_[95 + rng.uniform(-4, 4, 6), np.full(6, 45.0)]
    return np.round(np.r_[A, B, batch])


# --------------------------------------------------------------------------
# 1-2. --select: k and covariance type by BIC/AIC
# --------------------------------------------------------------------------


def test_select_on_default_blobs_picks_four_components(capsys):
    X, _ = default_data()
    result = run_json(capsys, "--select")
    assert result["n_components"] == 4
    # Four isotropic blobs of equal spread: tied (3 covariance parameters) or
    # spherical (4) describe them; full and diag only add parameters.
    assert result["covariance_type"] in ("tied", "spherical")
    rows = result["selection"]
    assert len(rows) == 10 * 4  # --max-components 10 by default, four covariance types
    assert {(r["covariance_type"], r["n_components"]) for r in rows} == {
        (c, k) for c in COVARIANCE_TYPES for k in range(1, 11)
    }
    valid = [r for r in rows if not r["rejected"]]
    winner = min(valid, key=lambda r: r["bic"])
    assert (winner["covariance_type"], winner["n_components"]) == (
        result["covariance_type"],
        result["n_components"],
    )
    # The reported BIC is the one scikit-learn computes for that model, fitted here.
    own = GaussianMixture(4, covariance_type=result["covariance_type"], n_init=3, random_state=0)
    assert result["bic"] == pytest.approx(own.fit(X).bic(X), abs=0.5)
    assert winner["bic"] == pytest.approx(result["bic"], abs=1e-6)


def test_select_text_summary_names_the_candidates_and_the_winner(capsys):
    rc, out, err = run(capsys, "--select", "--max-components", "3", "--no-plot")
    assert rc == 0, err
    assert "Model selection by BIC (lower is better) over 12 candidates:" in out
    # k = 4 was not tried, so the best is 3 components (two blobs merged).
    assert "Selected: " in out and "with 3 components" in out
    assert "Model: GaussianMixture(n_components=3," in out


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_criterion_chooses_the_lowest_value_of_that_criterion(capsys, criterion):
    X, _ = default_data()
    result = run_json(capsys, "--select", "--max-components", "5", "--criterion", criterion)
    valid = [r for r in result["selection"] if not r["rejected"]]
    winner = min(valid, key=lambda r: r[criterion])
    assert (result["covariance_type"], result["n_components"]) == (
        winner["covariance_type"],
        winner["n_components"],
    )
    if criterion == "bic":  # AIC's lighter penalty may split a blob: no k asserted
        assert result["n_components"] == 4
    # Each row's criteria follow from its log-likelihood and parameter count.
    for r in valid:
        k, cov = r["n_components"], r["covariance_type"]
        # scikit-learn's parameter count, from its public criteria: BIC - AIC = p (log n - 2)
        counter = GaussianMixture(k, covariance_type=cov, random_state=0).fit(X)
        p = round((counter.bic(X) - counter.aic(X)) / (np.log(len(X)) - 2))
        total = r["log_likelihood"] * len(X)
        assert r["bic"] == pytest.approx(-2 * total + p * np.log(len(X)))
        assert r["aic"] == pytest.approx(-2 * total + 2 * p)


@pytest.mark.parametrize(
    ("make_data", "covariance_type", "k"),
    [
        (sheared_and_round, "full", 2),
        (round_blobs_of_different_sizes, "spherical", 3),
        # One covariance shared by every blob: tied is the true (and smallest) model.
        (lambda: anisotropic_blobs(450)[0], "tied", 3),
    ],
    ids=["sheared-full", "round-spherical", "anisotropic-tied"],
)
def test_select_finds_the_true_covariance_structure(
    capsys, tmp_path, make_data, covariance_type, k
):
    X = make_data()
    path = write_table(tmp_path / "data.csv", X)
    result = run_json(capsys, "--csv", path, "--select", "--max-components", "4")
    assert (result["covariance_type"], result["n_components"]) == (covariance_type, k)
    assert not any(r["rejected"] for r in result["selection"])
    # The reported BIC is scikit-learn's for that model, fitted here.
    own = GaussianMixture(k, covariance_type=covariance_type, n_init=2, random_state=0).fit(X)
    assert result["bic"] == pytest.approx(own.bic(X), abs=0.5)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_data", "covariance_type", "k"),
    [
        (sheared_and_round, "full", 2),
        (round_blobs_of_different_sizes, "spherical", 3),
        (lambda: anisotropic_blobs(450)[0], "tied", 3),
    ],
    ids=["sheared-full", "round-spherical", "anisotropic-tied"],
)
def test_scikit_learn_alone_agrees_on_the_true_structure(make_data, covariance_type, k):
    """The expectations above, confirmed by scikit-learn's own BIC over the same grid."""
    X = make_data()
    bics = {
        (cov, kk): GaussianMixture(kk, covariance_type=cov, n_init=3, random_state=0).fit(X).bic(X)
        for cov in COVARIANCE_TYPES
        for kk in range(1, 5)
    }
    assert min(bics, key=bics.get) == (covariance_type, k)
    rows, _, _ = select_model(X, 4, "bic", SEED)
    # With the true k the sweep reaches scikit-learn's best of three starts for every
    # type, or a better optimum (lower BIC).  (Above the true k, EM has many near-equal
    # optima: no comparison there.)
    for r in rows:
        if r["n_components"] == k:
            assert r["bic"] <= bics[(r["covariance_type"], k)] + 0.5


# --------------------------------------------------------------------------
# 3. The degeneracy guard
# --------------------------------------------------------------------------


@functools.cache
def degenerate_case_selection():
    X = rounded_with_repeated_values()
    rows, best, _ = select_model(X, 4, "bic", SEED)
    return X, rows, best


def spurious_fit(X):
    """The degenerate optimum, found here with scikit-learn alone: a third component
    started on the six readings that share y = 45 collapses onto that line."""
    two = GaussianMixture(2, random_state=0).fit(X)
    line = np.array([[[1 / 25, 0.0], [0.0, 1e6]]])  # narrow in y, where the readings agree
    return GaussianMixture(
        3,
        weights_init=np.r_[two.weights_ * 0.98, 0.02],
        means_init=np.r_[two.means_, [[95.0, 45.0]]],
        precisions_init=np.r_[two.precisions_, line],
        random_state=0,
    ).fit(X)


def test_unguarded_bic_would_pick_a_component_on_repeated_values():
    X, _, best = degenerate_case_selection()
    spurious = spurious_fit(X)
    eig = np.linalg.eigvalsh(spurious.covariances_)
    assert spurious.converged_  # a genuine EM optimum, not a half-way state
    assert eig.min() < 1e-5  # a variance of ~reg_covar (1e-6): the line y = 45
    assert spurious.bic(X) < bic_of(best, X) - 20  # ... yet the best BIC of all
    reason = gmm_clustering.degeneracy(
        spurious.weights_, spurious.covariances_, len(X), gmm_clustering.rounding_variance(X)
    )
    assert reason is not None and "rounding" in reason


def test_selected_model_on_rounded_data_is_not_degenerate():
    X, _, best = degenerate_case_selection()
    covs = best.covariances
    # Data in whole units: no real component is narrower than rounding (1/12).
    assert np.linalg.eigvalsh(covs).min() > 1 / 12
    assert best.weights.min() * len(X) >= 3
    # ... although the degenerate optimum of the test above has a better BIC: the sweep
    # kept, for each candidate, its best fit that is not degenerate.
    assert bic_of(best, X) > spurious_fit(X).bic(X) + 20


def few_rounded_rows():
    """Eleven whole-number rows: two groups of five, and one of the repeated readings."""
    return rounded_with_repeated_values()[::30]


def test_select_on_few_rows_reports_rejected_candidates(capsys, tmp_path):
    X = few_rounded_rows()
    rows, best, _ = select_model(X, 4, "bic", SEED)
    # Two groups of five and one stray row: k = 3 and 4 leave a component a single point.
    assert sorted(r["n_components"] for r in rows if r["rejected"]) == [3] * 4 + [4] * 4
    assert all("points" in r["reason"] for r in rows if r["rejected"])
    path = write_table(tmp_path / "rounded.csv", X, ["x", "y"])
    result = run_json(capsys, "--csv", path, "--select", "--max-components", "4")
    assert (result["covariance_type"], result["n_components"]) == (
        best.covariance_type,
        len(best.weights),
    )
    by_key = {(r["covariance_type"], r["n_components"]): r for r in result["selection"]}
    for r in rows:
        assert by_key[(r["covariance_type"], r["n_components"])]["rejected"] == r["rejected"]
    chosen = by_key[(result["covariance_type"], result["n_components"])]
    assert not chosen["rejected"]
    rc, out, err = run(capsys, "--csv", path, "--select", "--max-components", "4", "--no-plot")
    assert rc == 0, err
    first = next(r for r in rows if r["rejected"])
    assert "rejected as degenerate: " in out
    assert f"{first['covariance_type']} k={first['n_components']}" in out


def test_degeneracy_rejects_a_component_holding_one_point():
    covs = np.array([np.eye(2), np.eye(2)])
    reason = gmm_clustering.degeneracy(np.array([0.99, 0.01]), covs, 100, np.full(2, 1e-12))
    assert reason is not None and "1.0 points" in reason
    # Three points in 2-D (d + 1) is enough.
    assert gmm_clustering.degeneracy(np.array([0.97, 0.03]), covs, 100, np.full(2, 1e-12)) is None


@pytest.mark.parametrize(
    ("cov", "noise", "degenerate"),
    [
        (np.diag([0.05, 4.0]), [1 / 12, 1 / 12], True),  # x narrower than rounding in steps of 1
        (np.diag([0.1, 4.0]), [1 / 12, 1 / 12], False),  # just wider
        (np.diag([0.05, 4.0]), [0.01**2 / 12, 1 / 12], False),  # x recorded finely
        (np.diag([4.0, 0.0005]), [1 / 12, 0.1**2 / 12], True),  # y in steps of 0.1
        (np.diag([4.0, 0.001]), [1 / 12, 0.1**2 / 12], False),
        # Wide along both axes, but along the diagonal only 0.01 wide.
        (np.array([[4.0, 3.99], [3.99, 4.0]]), [1 / 12, 1 / 12], True),
        (np.eye(2) * 1e-4, [1e-20, 1e-20], False),  # continuous data: rounding is no floor
        # ... but a variance at scikit-learn's reg_covar (1e-6) is the regulariser's alone.
        (np.diag([4.0, 1e-6]), [1e-20, 1e-20], True),
    ],
)
def test_degeneracy_compares_with_rounding_variance(cov, noise, degenerate):
    covs = np.array([np.eye(2) * 4.0, cov])
    reason = gmm_clustering.degeneracy(np.array([0.5, 0.5]), covs, 200, np.array(noise))
    assert (reason is not None) == degenerate
    if degenerate:
        assert "rounding" in reason


def test_healthy_mixture_is_not_degenerate():
    X, gmm = default_model()
    noise = gmm_clustering.rounding_variance(X)
    assert gmm_clustering.degeneracy(gmm.weights_, gmm.covariances_, len(X), noise) is None


def test_rounding_variance_is_step_squared_over_twelve():
    rng = np.random.RandomState(0)
    X = np.c_[
        np.round(rng.normal(0, 10, 200)),  # whole numbers: q = 1
        np.round(rng.normal(0, 3, 200) * 2) / 2,  # halves: q = 0.5
        np.full(200, 7.0),  # constant: no step at all
    ]
    assert gmm_clustering.rounding_variance(X) == pytest.approx([1 / 12, 0.25 / 12, 0.0])
    continuous = rng.normal(size=(200, 2))
    assert gmm_clustering.rounding_variance(continuous).max() < 1e-6


# --------------------------------------------------------------------------
# 4. --anomalies
# --------------------------------------------------------------------------


def test_anomalies_2_percent_flags_10_points_at_the_10th_lowest_density(capsys):
    X, gmm = default_model()
    threshold = np.sort(gmm.score_samples(X))[9]
    result = run_json(capsys, "--anomalies", "2")
    assert result["anomalies"]["count"] == 10
    assert result["anomalies"]["percent"] == 2
    assert result["anomalies"]["threshold"] == pytest.approx(threshold, abs=1e-9)
    rc, out, err = run(capsys, "--anomalies", "2", "--no-plot")
    assert rc == 0, err
    assert f"Anomalies: 10 points (2% lowest density), log-density threshold {threshold:.4f}" in out


@pytest.mark.parametrize(
    ("percent", "count"),
    # 0.42% and 0.58% of 500 are 2.1 and 2.9 points: rounded to the nearest whole point.
    [(0.42, 2), (0.58, 3), (1, 5), (5, 25), (10, 50), (50, 250)],
)
def test_find_anomalies_flags_exactly_the_lowest_densities(percent, count):
    X, gmm = default_model()
    log_density = gmm.score_samples(X)
    mask, threshold = gmm_clustering.find_anomalies(log_density, percent)
    expected = np.zeros(len(X), dtype=bool)
    expected[np.argsort(log_density)[:count]] = True
    np.testing.assert_array_equal(mask, expected)
    assert threshold == np.sort(log_density)[count - 1]
    assert (log_density[~mask] > threshold).all()


def test_too_small_a_percentage_flags_nothing_without_failing(capsys, tmp_path):
    # 0.1% of 500 points is half a point: none is flagged, and the figure still draws.
    rc, out, err = run(capsys, "--anomalies", "0.1", "--save", "out.png")
    assert rc == 0, err
    assert "Anomalies: 0 points (0.1% lowest density), log-density threshold n/a" in out
    assert (tmp_path / "out.png").read_bytes().startswith(PNG_MAGIC)


def test_find_anomalies_breaks_ties_by_order():
    # 50 points: twenty at log-density 1, then ten at 0 alternating with ten at 1, then
    # ten at 1.  20% is 10 points: the ten at 0.  30% is 15: the ten at 0 and then, of
    # the thirty points tied at 1, the first five in the order the points come.
    log_density = np.array([1.0] * 20 + [0.0, 1.0] * 10 + [1.0] * 10)
    zeros = [20 + 2 * i for i in range(10)]
    mask, threshold = gmm_clustering.find_anomalies(log_density, 30)
    assert sorted(np.flatnonzero(mask)) == sorted(zeros + [0, 1, 2, 3, 4])
    assert threshold == 1.0
    mask, threshold = gmm_clustering.find_anomalies(log_density, 20)
    assert list(np.flatnonzero(mask)) == zeros and threshold == 0.0


# --------------------------------------------------------------------------
# 5. Soft assignments: e_step
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_matches_score_samples_and_predict_proba(covariance_type):
    X, _ = default_data()
    gmm = GaussianMixture(4, covariance_type=covariance_type, random_state=SEED).fit(X)
    far = np.array([[1e3, 1e3], [-500.0, 40.0]])  # every density underflows here
    points = np.r_[X, far]
    log_density, posteriors = gmm_clustering.e_step(gmm_clustering.as_mixture(gmm), points)
    assert posteriors.shape == (len(points), 4)
    assert np.isfinite(posteriors).all()
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(posteriors, gmm.predict_proba(points), atol=1e-12)
    np.testing.assert_allclose(log_density, gmm.score_samples(points), rtol=1e-12)


# --------------------------------------------------------------------------
# 6. --predict
# --------------------------------------------------------------------------


def check_predictions(capsys, *predict_args):
    _, gmm = default_model()
    points = np.array([[0.0, 5.0], [-6.0, -6.0]])
    clusters, proba = gmm.predict(points), gmm.predict_proba(points)
    result = run_json(capsys, *predict_args)
    assert len(result["predictions"]) == 2
    for p, point, cluster, row in zip(result["predictions"], points, clusters, proba):
        assert p["point"] == point.tolist()
        assert p["cluster"] == cluster
        assert sum(p["probabilities"]) == pytest.approx(1.0)
        np.testing.assert_allclose(p["probabilities"], row, atol=1e-9)
    rc, out, err = run(capsys, "--no-plot", *predict_args)
    assert rc == 0, err
    for text, cluster, row in zip(("0,5", "-6,-6"), clusters, proba):
        posteriors = ", ".join(f"{q:.3f}" for q in row)
        assert f"Predict {text}: cluster {cluster} (posteriors {posteriors})" in out


def test_negative_predict_without_equals_says_how(capsys):
    rc, out, err = run(capsys, "--predict", "0,5", "--predict", "-6,-6")
    assert_one_line_error(rc, out, err)
    assert "--predict=-6,-6" in err


def test_predict_points_written_with_equals(capsys):
    check_predictions(capsys, "--predict", "0,5", "--predict=-6,-6")


def test_predict_in_three_dimensions(capsys):
    _, gmm = default_model(n_features=3)
    result = run_json(capsys, "--n-features", "3", "--predict", "1,2,3")
    (p,) = result["predictions"]
    assert p["cluster"] == gmm.predict([[1, 2, 3]])[0]
    np.testing.assert_allclose(p["probabilities"], gmm.predict_proba([[1, 2, 3]])[0], atol=1e-9)


# --------------------------------------------------------------------------
# 7-8. --sample and --sample-out
# --------------------------------------------------------------------------


def mixture_moments(gmm):
    """Mean and covariance of a Gaussian mixture: sum w mu, sum w (S + mu mu^T) - mu mu^T."""
    w, mu, S = gmm.weights_, gmm.means_, gmm.covariances_
    mean = w @ mu
    second = np.einsum("k,kij->ij", w, S + mu[:, :, None] * mu[:, None, :])
    return mean, second - np.outer(mean, mean)


def test_sample_2000_has_the_mixture_moments_and_is_shuffled(capsys, tmp_path):
    _, gmm = default_model()
    result = run_json(capsys, "--sample", "2000", "--sample-out", "samples.csv")
    assert result["sample"]["n"] == 2000
    assert result["sample"]["path"] == str(tmp_path / "samples.csv")
    header, S, component = read_samples(tmp_path / "samples.csv")
    assert header == ["feature 1", "feature 2", "component"]
    assert S.shape == (2000, 2) and component.shape == (2000,)

    # Mean and covariance within five standard errors estimated from the sample itself.
    n = len(S)
    mean, cov = mixture_moments(gmm)
    mean_se = S.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(S.mean(axis=0) - mean) < 5 * mean_se)
    centred = S - S.mean(axis=0)
    products = centred[:, :, None] * centred[:, None, :]
    cov_se = products.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(np.cov(S, rowvar=False) - cov) < 5 * cov_se)

    # The component column names the component each point was drawn from.
    counts = np.bincount(component, minlength=4)
    assert np.all(np.abs(counts / n - gmm.weights_) < 5 * np.sqrt(gmm.weights_ / n))
    for k in range(4):
        Sk = S[component == k]
        se = np.sqrt(np.diag(gmm.covariances_[k]) / len(Sk))
        assert np.all(np.abs(Sk.mean(axis=0) - gmm.means_[k]) < 5 * se)

    # Shuffled: sample() returns component 0's points, then 1's ...; here a point's
    # component changes at about the rate of a random order, (n - 1)(1 - sum w^2).
    assert np.any(np.diff(component) < 0)
    changes = np.count_nonzero(np.diff(component))
    assert changes > 0.8 * (n - 1) * (1 - np.sum(gmm.weights_**2))


def test_sample_text_summary_and_no_file_without_sample_out(capsys, tmp_path):
    rc, out, err = run(capsys, "--sample", "30", "--no-plot")
    assert rc == 0, err
    assert "Sampled: 30 new points from the model" in out.splitlines()
    assert list(tmp_path.iterdir()) == []
    rc, out, err = run(capsys, "--sample", "30", "--no-plot", "--sample-out", "s.csv")
    assert rc == 0, err
    assert f"Sampled: 30 new points from the model, written to {tmp_path / 's.csv'}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_draw_samples_is_reproducible_and_depends_on_the_seed():
    _, gmm = default_model()
    mixture = gmm_clustering.as_mixture(gmm)
    a, ca = gmm_clustering.draw_samples(mixture, 300, 7)
    b, cb = gmm_clustering.draw_samples(mixture, 300, 7)
    c, _ = gmm_clustering.draw_samples(mixture, 300, 8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ca, cb)
    assert not np.allclose(a, c)
    # The rows are the model's own draws, reordered together with their labels.
    raw = copy.deepcopy(gmm)
    raw.random_state = 7
    X_raw, c_raw = raw.sample(300)
    order = np.lexsort((X_raw[:, 1], X_raw[:, 0]))
    order_a = np.lexsort((a[:, 1], a[:, 0]))
    np.testing.assert_array_equal(a[order_a], X_raw[order])
    np.testing.assert_array_equal(ca[order_a], c_raw[order])


def test_sample_out_under_scale_is_in_the_data_units(capsys, tmp_path):
    X, _ = default_data()
    run_json(capsys, "--scale", "--sample", "2000", "--sample-out", "s.csv")
    header, S, _ = read_samples(tmp_path / "s.csv")
    assert header == ["feature 1", "feature 2", "component"]
    se = X.std(axis=0) / np.sqrt(len(S))
    assert np.all(np.abs(S.mean(axis=0) - X.mean(axis=0)) < 6 * se)
    np.testing.assert_allclose(S.std(axis=0), X.std(axis=0), rtol=0.1)


def input_spellings(tmp_path, how):
    """The input file, named another way."""
    if how == "same":
        return "in.csv"
    if how == "dot":
        return "./in.csv"
    if how == "absolute":
        return str(tmp_path / "in.csv")
    if how == "symlink":
        os.symlink(tmp_path / "in.csv", tmp_path / "link.csv")
        return "link.csv"
    os.link(tmp_path / "in.csv", tmp_path / "hard.csv")
    return "hard.csv"


@pytest.mark.parametrize("how", ["same", "dot", "absolute", "symlink", "hardlink"])
def test_sample_out_never_overwrites_the_input(capsys, tmp_path, how):
    X, _ = default_data()
    write_table(tmp_path / "in.csv", X[:200])
    before = (tmp_path / "in.csv").read_bytes()
    target = input_spellings(tmp_path, how)
    rc, out, err = run(capsys, "--csv", "in.csv", "--sample", "10", "--sample-out", target)
    assert_one_line_error(rc, out, err)
    assert "input file" in err
    assert (tmp_path / "in.csv").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


class _FailingWriter:
    """A csv writer whose disk fills up after a few rows."""

    def __init__(self, writer, rows_before_failure):
        self._writer, self._left = writer, rows_before_failure

    def writerow(self, row):
        if self._left == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= 1
        return self._writer.writerow(row)


@pytest.fixture
def disk_full_after_5_rows(monkeypatch):
    real_writer = csv.writer
    monkeypatch.setattr(
        csv, "writer", lambda handle, *a, **k: _FailingWriter(real_writer(handle, *a, **k), 5)
    )


def test_failing_write_leaves_no_partial_or_temporary_file(tmp_path, disk_full_after_5_rows):
    X = np.arange(40.0).reshape(20, 2)
    with pytest.raises(gmm_clustering.UsageError, match="No space left on device"):
        gmm_clustering.write_atomically(
            "out.csv", lambda f: gmm_clustering.write_samples(f, X, np.zeros(20, int), ["a", "b"])
        )
    assert list(tmp_path.iterdir()) == []


def test_failing_write_keeps_the_previous_file(capsys, tmp_path, disk_full_after_5_rows):
    (tmp_path / "out.csv").write_text("old,content\n1,2\n")
    with contextlib.suppress(OSError):  # how the failure is reported is not the point
        gmm_clustering.main(["--no-plot", "--sample", "100", "--sample-out", "out.csv"])
    capsys.readouterr()
    assert (tmp_path / "out.csv").read_text() == "old,content\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_sample_out_replaces_an_existing_output_file(capsys, tmp_path):
    (tmp_path / "out.csv").write_text("old\n")
    run_json(capsys, "--sample", "25", "--sample-out", "out.csv")
    _, S, _ = read_samples(tmp_path / "out.csv")
    assert S.shape == (25, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_sample_out_file_has_ordinary_permissions(capsys, tmp_path):
    run_json(capsys, "--sample", "5", "--sample-out", "out.csv")
    with open(tmp_path / "reference.csv", "w") as handle:  # how any new file is created
        handle.write("x\n")
    mode = os.stat(tmp_path / "out.csv").st_mode & 0o777
    assert mode == os.stat(tmp_path / "reference.csv").st_mode & 0o777


def _unwritable_folder(tmp_path, where):
    if where == "read-only folder":
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
    else:
        folder = "/sys"
        if not os.path.isdir(folder):
            pytest.skip("no /sys here")
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return str(folder)
    os.close(fd)
    os.unlink(probe)
    pytest.skip(f"{folder} is writable here (running as root?)")


@pytest.mark.parametrize("where", ["read-only folder", "/sys"])
def test_sample_out_into_an_unwritable_folder_is_one_line(capsys, tmp_path, where):
    folder = _unwritable_folder(tmp_path, where)
    rc, out, err = run(
        capsys, "--no-plot", "--sample", "5", "--sample-out", os.path.join(folder, "s.csv")
    )
    assert_one_line_error(rc, out, err)
    assert folder in err


# --------------------------------------------------------------------------
# 9. --compare-kmeans
# --------------------------------------------------------------------------


def test_gmm_beats_kmeans_on_anisotropic_blobs(capsys, tmp_path):
    X, y = anisotropic_blobs()
    path = write_table(tmp_path / "aniso.csv", X, labels=y)
    result = run_json(capsys, "--csv", path, "--labels", "group", "--compare-kmeans")
    assert result["n_components"] == 3  # three label values
    km = KMeans(3, n_init=1, random_state=SEED).fit(X)
    gmm = GaussianMixture(3, random_state=SEED).fit(X)
    assert result["ari"] == pytest.approx(adjusted_rand_score(y, gmm.predict(X)))
    assert result["kmeans"]["ari"] == pytest.approx(adjusted_rand_score(y, km.labels_))
    assert result["kmeans"]["inertia"] == pytest.approx(km.inertia_)
    assert result["kmeans"]["silhouette"] == pytest.approx(silhouette_score(X, km.labels_))
    # Stretched clusters: KMeans cuts them with straight borders, the mixture does not.
    assert result["ari"] > 0.95
    assert result["ari"] > result["kmeans"]["ari"] + 0.2
    rc, out, err = run(capsys, "--csv", path, "--labels", "group", "--compare-kmeans", "--no-plot")
    assert rc == 0, err
    assert f"KMeans Adjusted Rand Index: {result['kmeans']['ari']:.5f}" in out
    assert f"KMeans Inertia: {km.inertia_:.3f}" in out
    assert f"KMeans Silhouette Score: {silhouette_score(X, km.labels_):.5f}" in out


def test_compare_kmeans_without_labels_has_no_ari(capsys, tmp_path):
    X, _ = default_data()
    path = write_table(tmp_path / "unlabelled.csv", X)
    result = run_json(capsys, "--csv", path, "--compare-kmeans")
    km = KMeans(4, n_init=1, random_state=SEED).fit(X)  # no labels: the default 4 components
    assert "ari" not in result and "ari" not in result["kmeans"]
    assert result["kmeans"]["inertia"] == pytest.approx(km.inertia_)
    assert result["kmeans"]["silhouette"] == pytest.approx(silhouette_score(X, km.labels_))
    rc, out, err = run(capsys, "--csv", path, "--compare-kmeans", "--no-plot")
    assert rc == 0, err
    assert "KMeans Inertia:" in out and "Adjusted Rand Index" not in out


# --------------------------------------------------------------------------
# 10. --scale
# --------------------------------------------------------------------------


def test_scale_fits_standardised_data(capsys):
    X, _ = default_data()
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    gmm = GaussianMixture(4, random_state=SEED).fit(Z)
    point = np.array([[0.0, 5.0]])
    result = run_json(capsys, "--scale", "--predict", "0,5")
    assert result["scaled"] is True
    np.testing.assert_allclose(result["means"], gmm.means_, atol=1e-6)
    (p,) = result["predictions"]
    assert p["point"] == [0.0, 5.0]  # reported in the data's units
    z = (point - X.mean(axis=0)) / X.std(axis=0)
    assert p["cluster"] == gmm.predict(z)[0]
    np.testing.assert_allclose(p["probabilities"], gmm.predict_proba(z)[0], atol=1e-9)
    assert run_json(capsys)["scaled"] is False


def test_scale_text_says_standardised(capsys):
    rc, out, err = run(capsys, "--scale", "--no-plot")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "Data: make_blobs, 500 samples x 2 features (standardised)"
    assert "Note: All numbers are on the standardised scale (each feature mean 0, sd 1)." in lines
    rc, out, _ = run(capsys, "--no-plot")
    assert "standardised" not in out


@pytest.mark.parametrize(
    ("n_features", "xlabel"),
    [("2", "feature 1 (standardised)"), ("3", "feature 1"), ("1", "feature 1 (standardised)")],
)
def test_scale_labels_the_axes_standardised(capsys, unrendered_figures, n_features, xlabel):
    rc, _, err = run(capsys, "--scale", "--n-features", n_features, "--save", "out.png")
    assert rc == 0, err
    (fig,) = unrendered_figures
    ax = next(ax for ax in fig.axes if ax.get_xlabel())  # 3 features: the pairs' bottom row
    assert ax.get_xlabel().startswith(xlabel) and ax.get_xlabel().endswith("(standardised)")
    if n_features != "1":
        assert ax.get_ylabel().endswith("(standardised)")
    # ... and without --scale, nothing says so.
    unrendered_figures.clear()
    rc, _, err = run(capsys, "--n-features", n_features, "--save", "out.png")
    assert not any("standardised" in ax.get_xlabel() for ax in unrendered_figures[0].axes)


# --------------------------------------------------------------------------
# 11. Every option draws its figure, with no display
# --------------------------------------------------------------------------

REPORT_TITLES = [
    "GMM clusters",
    "Soft assignments",
    "BIC by number of components",
    "KMeans, same k and seed",
    "Fitted log-density and lowest-density points",
]


FIGURE_CASES = [  # options, panel titles and legend entries each must draw
    (["--select", "--max-components", "5"], ["BIC by number of components"], ["selected"]),
    (["--compare-kmeans"], ["KMeans, same k and seed"], []),
    (["--anomalies", "5"], ["Fitted log-density"], ["anomalies (25)"]),
    (["--sample", "50"], [], ["samples (50)"]),
    (["--predict", "0,0"], [], ["predictions (1)"]),
    # --max-components 2: the sweep behind the BIC panel is tested above, not here.
    (["--report", "--max-components", "2"], REPORT_TITLES, ["anomalies (10)", "this model"]),
    (["--report", "--max-components", "2", "--n-features", "3"], REPORT_TITLES, ["anomalies (10)"]),
    (
        ["--report", "--max-components", "2", "--n-features", "1"],
        ["BIC by number of components", "KMeans clusters"],
        ["mixture density", "anomalies"],
    ),
]


@pytest.mark.parametrize(
    ("argv", "titles", "legends"), FIGURE_CASES, ids=[" ".join(c[0]) for c in FIGURE_CASES]
)
def test_every_option_saves_a_real_png(capsys, tmp_path, captured_figures, argv, titles, legends):
    rc, out, err = run(capsys, *argv, "--save", "out.png")
    assert rc == 0, err
    assert f"Figure saved to {tmp_path / 'out.png'}" in out
    assert (tmp_path / "out.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "out.png").stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # nothing else written
    (fig,) = captured_figures
    visible = [ax for ax in fig.axes if ax.get_visible()]
    all_titles = [ax.get_title() for ax in visible]
    for title in titles:
        assert any(t.startswith(title) for t in all_titles), (title, all_titles)
    all_legends = [text for ax in visible for text in legend_texts(ax)]
    for legend in legends:
        assert legend in all_legends, (legend, all_legends)


def test_report_draws_every_panel(capsys, tmp_path, unrendered_figures):
    X, gmm = default_model()
    rc, out, err = run(capsys, "--report", "--max-components", "4", "--save", "out.png")
    assert rc == 0, err
    (fig,) = unrendered_figures
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) >= 5
    for title in REPORT_TITLES:
        assert sum(ax.get_title().startswith(title) for ax in panels) == 1, title
    # The BIC panel marks the fitted model (full, k = 4) at its BIC, computed here.
    (bic_ax,) = [ax for ax in panels if ax.get_title().startswith("BIC")]
    (star,) = [line for line in bic_ax.get_lines() if line.get_label() == "this model"]
    assert star.get_xdata()[0] == 4
    assert star.get_ydata()[0] == pytest.approx(gmm.bic(X), abs=0.5)
    # The KMeans panel's numbers are KMeans', computed here.
    km = KMeans(4, n_init=1, random_state=SEED).fit(X)
    (km_ax,) = [ax for ax in panels if ax.get_title().startswith("KMeans")]
    assert f"silhouette {silhouette_score(X, km.labels_):.3f}" in km_ax.get_title()
    # --report without --select keeps the asked-for model and prints no selection table.
    assert "Model: GaussianMixture(n_components=4, covariance_type='full')" in out
    assert "Selected:" not in out


def test_without_save_the_figure_goes_to_the_default_file(capsys, tmp_path):
    rc, out, err = run(capsys, "--sample", "20", "--anomalies", "3")
    assert rc == 0, err
    assert (tmp_path / "gmm_clustering.png").read_bytes()[:8] == PNG_MAGIC
    assert "(no display: matplotlib backend is 'agg')" in out


# --------------------------------------------------------------------------
# 12. Bad values: one line on stderr, exit 2
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--anomalies", "150"], "'150'"),
        (["--anomalies", "100"], "'100'"),
        (["--anomalies", "0"], "'0'"),
        (["--anomalies", "-1"], "'-1'"),
        (["--anomalies", "abc"], "'abc'"),
        (["--anomalies", "nan"], "'nan'"),
        (["--sample", "-5"], "'-5'"),
        (["--sample", "0"], "'0'"),
        (["--sample", "2.5"], "'2.5'"),
        (["--max-components", "0"], "'0'"),
        (["--max-components", "x"], "'x'"),
        (["--n-init", "0"], "'0'"),
        (["--predict", "1,2,3"], "3 coordinates"),
        (["--predict", "1"], "1 coordinates"),
        (["--predict", "a,b"], "'a,b'"),
        (["--predict", "1,nan"], "'1,nan'"),
        (["--predict", "1,,2"], "'1,,2'"),
        (["--sample-out", "s.csv"], "--sample"),
        (["--sample", "10", "--sample-out", "missing/s.csv"], "does not exist"),
        (["--sample", "10", "--sample-out", "."], "directory"),
        (["--criterion", "foo"], "'foo'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_value_is_one_line_and_exit_2(capsys, tmp_path, argv, named):
    rc, out, err = run(capsys, *argv)
    assert_one_line_error(rc, out, err)
    assert named in err
    option = "--sample-out" if "--sample-out" in argv else argv[0]
    assert option in err
    assert list(tmp_path.iterdir()) == []  # no figure, no sample file


def test_bad_predict_is_refused_before_any_fitting(capsys, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before checking --predict")

    monkeypatch.setattr(gmm_clustering, "fitted", no_fit)
    monkeypatch.setattr(gmm_clustering, "select", no_fit)
    rc, out, err = run(capsys, "--select", "--predict", "1,2,3")
    assert_one_line_error(rc, out, err)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--save", ""], "--save"),
        (["--csv", ""], "--csv"),
        (["--centers", "1000"], "--centers 1000"),
        (["--select", "--max-components", "600"], "--max-components: '600' must be from 1 to 50"),
    ],
)
def test_values_found_by_a_new_user_are_refused_in_one_line(capsys, argv, named):
    rc, out, err = run(capsys, *argv)
    assert_one_line_error(rc, out, err)
    assert named in err
