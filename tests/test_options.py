"""The options of gmm_clustering.py beyond the default run.

--select (with --max-components, --criterion, --n-init), --predict, --compare-kmeans,
--anomalies, --sample and --sample-out, --scale and --report.

Every expected number comes from an independent computation: scikit-learn fitted
here directly (on the standardised columns, mapped back by hand, as the script fits),
numpy moments, KMeans run here, never the script's own helpers (those are unit-tested
on their own, against hand-made inputs).  The spurious rule has its own file,
test_spurious.py.
"""

import copy
import csv
import os

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    PNG_MAGIC,
    SEED,
    as_mixture,
    blobs,
    legend_texts,
    select_model,
    sklearn_fit,
    sklearn_parameter_count,
    standardised_fit,
    title_of,
    write_table,
)
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

import gmm_clustering

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def read_samples(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    values = np.array([[float(v) for v in row[:-1]] for row in body])
    component = np.array([int(row[-1]) for row in body])
    return header, values, component


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


# --------------------------------------------------------------------------
# 1-2. --select: k and covariance type by BIC/AIC
# --------------------------------------------------------------------------


def test_select_on_default_blobs_picks_four_tied_components(cli):
    X, _ = blobs()
    result = cli.json("--select")
    # Four isotropic blobs of equal spread: tied (3 covariance parameters) has the lowest
    # BIC, about 6 below spherical (4); full and diag only add parameters.
    assert (result["covariance_type"], result["n_components"]) == ("tied", 4)
    rows = result["selection"]
    assert len(rows) == 10 * 4  # --max-components 10 by default, four covariance types
    assert {(r["covariance_type"], r["n_components"]) for r in rows} == {
        (c, k) for c in COVARIANCE_TYPES for k in range(1, 11)
    }
    usable = [r for r in rows if not r["set_aside"]]
    winner = min(usable, key=lambda r: r["bic"])
    assert (winner["covariance_type"], winner["n_components"]) == (
        result["covariance_type"],
        result["n_components"],
    )
    runner_up = sorted(r["bic"] for r in usable)[1]
    assert runner_up - winner["bic"] > 5  # clear-cut
    # The reported BIC is the one scikit-learn computes for that model, fitted here.
    own = standardised_fit(X, 4, result["covariance_type"], random_state=0, n_init=3)
    assert result["bic"] == pytest.approx(own.bic(X), abs=0.5)
    assert winner["bic"] == pytest.approx(result["bic"], abs=1e-6)


def test_select_text_summary_names_the_candidates_and_the_winner(cli):
    out = cli.output("--select", "--max-components", "3", "--no-plot")
    assert "Model selection by BIC (lower is better) over 12 candidates:" in out
    # k = 4 was not tried, so the best is 3 components (two blobs merged).
    assert "Selected: full with 3 components" in out.splitlines()
    assert "Model: GaussianMixture(n_components=3, covariance_type='full')" in out.splitlines()


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_criterion_chooses_the_lowest_value_of_that_criterion(cli, criterion):
    X, _ = blobs()
    result = cli.json("--select", "--max-components", "5", "--criterion", criterion)
    usable = [r for r in result["selection"] if not r["set_aside"]]
    winner = min(usable, key=lambda r: r[criterion])
    assert (result["covariance_type"], result["n_components"]) == (
        winner["covariance_type"],
        winner["n_components"],
    )
    if criterion == "bic":  # clear-cut (see above); AIC's choice is within 3 points of others
        assert (result["covariance_type"], result["n_components"]) == ("tied", 4)
    else:  # AIC's lighter penalty never asks for fewer components than the blobs
        assert result["n_components"] >= 4
    # Each row's criteria follow from its log-likelihood and scikit-learn's parameter count.
    for r in usable:
        p = sklearn_parameter_count(r["n_components"], 2, r["covariance_type"])
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
def test_select_finds_the_true_covariance_structure(cli, tmp_path, make_data, covariance_type, k):
    X = make_data()
    path = write_table(tmp_path / "data.csv", X)
    result = cli.json("--csv", path, "--select", "--max-components", "4")
    assert (result["covariance_type"], result["n_components"]) == (covariance_type, k)
    assert not any(r["set_aside"] or r["reason"] for r in result["selection"])
    # The reported BIC is scikit-learn's for that model, fitted here.
    own = standardised_fit(X, k, covariance_type, random_state=0, n_init=2)
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
        (cov, kk): standardised_fit(X, kk, cov, random_state=0, n_init=3).bic(X)
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
# 3. --anomalies
# --------------------------------------------------------------------------


def test_anomalies_2_percent_flags_10_points_at_the_10th_lowest_density(cli):
    X, gmm = blobs()[0], sklearn_fit()
    threshold = np.sort(gmm.score_samples(X))[9]
    result = cli.json("--anomalies", "2")
    assert result["anomalies"]["count"] == 10
    assert result["anomalies"]["percent"] == 2
    assert result["anomalies"]["threshold"] == pytest.approx(threshold, abs=1e-9)
    out = cli.output("--anomalies", "2", "--no-plot")
    assert f"Anomalies: 10 points (2% lowest density), log-density threshold {threshold:.4f}" in out


@pytest.mark.parametrize(
    ("percent", "count"),
    # 0.42% and 0.58% of 500 are 2.1 and 2.9 points: rounded to the nearest whole point.
    [(0.42, 2), (0.58, 3), (1, 5), (5, 25), (10, 50), (50, 250)],
)
def test_find_anomalies_flags_exactly_the_lowest_densities(percent, count):
    X, gmm = blobs()[0], sklearn_fit()
    log_density = gmm.score_samples(X)
    mask, threshold = gmm_clustering.find_anomalies(log_density, percent)
    expected = np.zeros(len(X), dtype=bool)
    expected[np.argsort(log_density)[:count]] = True
    np.testing.assert_array_equal(mask, expected)
    assert threshold == np.sort(log_density)[count - 1]
    assert (log_density[~mask] > threshold).all()


def test_too_small_a_percentage_flags_nothing_without_failing(cli, tmp_path):
    # 0.1% of 500 points is half a point: none is flagged, and the figure still draws.
    out = cli.output("--anomalies", "0.1", "--save", "out.png")
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
# 4. Soft assignments: e_step
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_matches_score_samples_and_predict_proba(covariance_type):
    X, gmm = blobs()[0], sklearn_fit(covariance_type)
    far = np.array([[1e3, 1e3], [-500.0, 40.0]])  # every density underflows here
    points = np.r_[X, far]
    log_density, posteriors = gmm_clustering.e_step(as_mixture(gmm), points)
    assert posteriors.shape == (len(points), 4)
    assert np.isfinite(posteriors).all()
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(posteriors, gmm.predict_proba(points), atol=1e-12)
    np.testing.assert_allclose(log_density, gmm.score_samples(points), rtol=1e-12)


# --------------------------------------------------------------------------
# 5. --predict
# --------------------------------------------------------------------------


def test_predict_points_written_with_equals(cli):
    predict_args = ["--predict", "0,5", "--predict=-6,-6"]
    gmm = sklearn_fit()
    points = np.array([[0.0, 5.0], [-6.0, -6.0]])
    clusters, proba = gmm.predict(points), gmm.predict_proba(points)
    result = cli.json(*predict_args, "--init", "kmeans")  # the start sklearn_fit makes
    assert len(result["predictions"]) == 2
    for p, point, cluster, row in zip(result["predictions"], points, clusters, proba):
        assert p["point"] == point.tolist()
        assert p["cluster"] == cluster
        assert sum(p["probabilities"]) == pytest.approx(1.0)
        np.testing.assert_allclose(p["probabilities"], row, atol=1e-9)
    out = cli.output("--no-plot", *predict_args, "--init", "kmeans")
    for text, cluster, row in zip(("0,5", "-6,-6"), clusters, proba):
        posteriors = ", ".join(f"{q:.3f}" for q in row)
        assert f"Predict {text}: cluster {cluster} (posteriors {posteriors})" in out


def test_predict_in_three_dimensions(cli):
    gmm = sklearn_fit(n_features=3)
    result = cli.json("--n-features", "3", "--predict", "1,2,3")
    (p,) = result["predictions"]
    assert p["cluster"] == gmm.predict([[1, 2, 3]])[0]
    np.testing.assert_allclose(p["probabilities"], gmm.predict_proba([[1, 2, 3]])[0], atol=1e-9)


# --------------------------------------------------------------------------
# 6-7. --sample and --sample-out
# --------------------------------------------------------------------------


def mixture_moments(gmm):
    """Mean and covariance of a Gaussian mixture: sum w mu, sum w (S + mu mu^T) - mu mu^T."""
    w, mu, S = gmm.weights_, gmm.means_, gmm.covariances_
    mean = w @ mu
    second = np.einsum("k,kij->ij", w, S + mu[:, :, None] * mu[:, None, :])
    return mean, second - np.outer(mean, mean)


def test_sample_2000_has_the_mixture_moments_and_is_shuffled(cli, tmp_path):
    gmm = sklearn_fit()
    result = cli.json("--sample", "2000", "--sample-out", "samples.csv", "--init", "kmeans")
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


def test_sample_text_summary_and_no_file_without_sample_out(cli, tmp_path):
    out = cli.output("--sample", "30", "--no-plot")
    assert "Sampled: 30 new points from the model" in out.splitlines()
    assert list(tmp_path.iterdir()) == []
    out = cli.output("--sample", "30", "--no-plot", "--sample-out", "s.csv")
    assert f"Sampled: 30 new points from the model, written to {tmp_path / 's.csv'}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_draw_samples_is_reproducible_and_depends_on_the_seed():
    gmm = sklearn_fit()
    mixture = as_mixture(gmm)
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


def test_sample_out_under_scale_is_in_the_data_units(cli, tmp_path):
    X, _ = blobs()
    cli.json("--scale", "--sample", "2000", "--sample-out", "s.csv")
    header, S, _ = read_samples(tmp_path / "s.csv")
    assert header == ["feature 1", "feature 2", "component"]
    se = X.std(axis=0) / np.sqrt(len(S))
    assert np.all(np.abs(S.mean(axis=0) - X.mean(axis=0)) < 6 * se)
    np.testing.assert_allclose(S.std(axis=0), X.std(axis=0), rtol=0.1)


def test_sample_out_replaces_an_existing_output_file(cli, tmp_path):
    (tmp_path / "out.csv").write_text("old\n")
    cli.json("--sample", "25", "--sample-out", "out.csv")
    _, S, _ = read_samples(tmp_path / "out.csv")
    assert S.shape == (25, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_sample_out_file_has_ordinary_permissions(cli, tmp_path):
    cli.json("--sample", "5", "--sample-out", "out.csv")
    with open(tmp_path / "reference.csv", "w") as handle:  # how any new file is created
        handle.write("x\n")
    mode = os.stat(tmp_path / "out.csv").st_mode & 0o777
    assert mode == os.stat(tmp_path / "reference.csv").st_mode & 0o777


# --------------------------------------------------------------------------
# 8. --compare-kmeans
# --------------------------------------------------------------------------


def test_gmm_beats_kmeans_on_anisotropic_blobs(cli, tmp_path):
    X, y = anisotropic_blobs()
    path = write_table(tmp_path / "aniso.csv", X, labels=y)
    result = cli.json("--csv", path, "--labels", "group", "--compare-kmeans")
    assert result["n_components"] == 3  # three label values
    km = KMeans(3, n_init=1, random_state=SEED).fit(X)
    gmm = standardised_fit(X, 3)
    assert result["ari"] == pytest.approx(adjusted_rand_score(y, gmm.predict(X)))
    assert result["kmeans"]["ari"] == pytest.approx(adjusted_rand_score(y, km.labels_))
    assert result["kmeans"]["inertia"] == pytest.approx(km.inertia_)
    assert result["kmeans"]["silhouette"] == pytest.approx(silhouette_score(X, km.labels_))
    # Stretched clusters: KMeans cuts them with straight borders, the mixture does not.
    assert result["ari"] > 0.95
    assert result["ari"] > result["kmeans"]["ari"] + 0.2
    out = cli.output("--csv", path, "--labels", "group", "--compare-kmeans", "--no-plot")
    assert f"KMeans Adjusted Rand Index: {result['kmeans']['ari']:.5f}" in out
    assert f"KMeans Inertia: {km.inertia_:.3f}" in out
    assert f"KMeans Silhouette Score: {silhouette_score(X, km.labels_):.5f}" in out


def test_compare_kmeans_without_labels_has_no_ari(cli, tmp_path):
    X, _ = blobs()
    path = write_table(tmp_path / "unlabelled.csv", X)
    result = cli.json("--csv", path, "--compare-kmeans")
    km = KMeans(4, n_init=1, random_state=SEED).fit(X)  # no labels: the default 4 components
    assert "ari" not in result and "ari" not in result["kmeans"]
    assert result["kmeans"]["inertia"] == pytest.approx(km.inertia_)
    assert result["kmeans"]["silhouette"] == pytest.approx(silhouette_score(X, km.labels_))
    out = cli.output("--csv", path, "--compare-kmeans", "--no-plot")
    assert "KMeans Inertia:" in out and "Adjusted Rand Index" not in out


# --------------------------------------------------------------------------
# 9. --scale
# --------------------------------------------------------------------------


def test_scale_fits_standardised_data(cli):
    X, _ = blobs()
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    gmm = standardised_fit(Z, 4)  # the standardised columns are already in their own units
    point = np.array([[0.0, 5.0]])
    result = cli.json("--scale", "--predict", "0,5", "--init", "kmeans")
    assert result["scaled"] is True
    np.testing.assert_allclose(result["means"], gmm.means_, atol=1e-6)
    (p,) = result["predictions"]
    assert p["point"] == [0.0, 5.0]  # reported in the data's units
    z = (point - X.mean(axis=0)) / X.std(axis=0)
    assert p["cluster"] == gmm.predict(z)[0]
    np.testing.assert_allclose(p["probabilities"], gmm.predict_proba(z)[0], atol=1e-9)
    assert cli.json()["scaled"] is False


def test_scale_text_says_standardised(cli):
    lines = cli.output("--scale", "--no-plot").splitlines()
    assert lines[0] == "Data: make_blobs, 500 samples x 2 features (standardised)"
    assert "Note: All numbers are on the standardised scale (each feature mean 0, sd 1)." in lines
    assert "standardised" not in cli.output("--no-plot")


@pytest.mark.parametrize(
    ("n_features", "xlabel"),
    [("2", "feature 1 (standardised)"), ("3", "feature 1"), ("1", "feature 1 (standardised)")],
)
def test_scale_labels_the_axes_standardised(cli, unrendered_figures, n_features, xlabel):
    cli.output("--scale", "--n-features", n_features, "--save", "out.png")
    (fig,) = unrendered_figures
    ax = next(ax for ax in fig.axes if ax.get_xlabel())  # 3 features: the pairs' bottom row
    assert ax.get_xlabel().startswith(xlabel) and ax.get_xlabel().endswith("(standardised)")
    if n_features != "1":
        assert ax.get_ylabel().endswith("(standardised)")
    # ... and without --scale, nothing says so.
    unrendered_figures.clear()
    cli.output("--n-features", n_features, "--save", "out.png")
    assert not any("standardised" in ax.get_xlabel() for ax in unrendered_figures[0].axes)


# --------------------------------------------------------------------------
# 10. Every option draws its figure, with no display
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
def test_every_option_saves_a_real_png(cli, tmp_path, captured_figures, argv, titles, legends):
    out = cli.output(*argv, "--save", "out.png")
    assert f"Figure saved to {tmp_path / 'out.png'}" in out
    assert (tmp_path / "out.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "out.png").stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # nothing else written
    (fig,) = captured_figures
    visible = [ax for ax in fig.axes if ax.get_visible()]
    all_titles = [title_of(ax) for ax in visible]
    for title in titles:
        assert any(t.startswith(title) for t in all_titles), (title, all_titles)
    all_legends = [text for ax in visible for text in legend_texts(ax)]
    for legend in legends:
        assert legend in all_legends, (legend, all_legends)


def test_report_draws_every_panel(cli, tmp_path, unrendered_figures):
    X, gmm = blobs()[0], sklearn_fit()
    out = cli.output("--report", "--max-components", "4", "--save", "out.png")
    (fig,) = unrendered_figures
    panels = [ax for ax in fig.axes if ax.get_visible() and title_of(ax)]
    assert len(panels) >= 5
    for title in REPORT_TITLES:
        assert sum(title_of(ax).startswith(title) for ax in panels) == 1, title
    # The BIC panel marks the fitted model (full, k = 4) at its BIC, computed here.
    (bic_ax,) = [ax for ax in panels if title_of(ax).startswith("BIC")]
    (star,) = [line for line in bic_ax.get_lines() if line.get_label() == "this model"]
    assert star.get_xdata()[0] == 4
    assert star.get_ydata()[0] == pytest.approx(gmm.bic(X), abs=0.5)
    # The KMeans panel's numbers are KMeans', computed here.
    km = KMeans(4, n_init=1, random_state=SEED).fit(X)
    (km_ax,) = [ax for ax in panels if title_of(ax).startswith("KMeans")]
    assert f"silhouette {silhouette_score(X, km.labels_):.3f}" in title_of(km_ax)
    # --report without --select keeps the asked-for model and prints no selection table.
    assert "Model: GaussianMixture(n_components=4, covariance_type='full')" in out
    assert "Selected:" not in out


def test_without_save_the_figure_goes_to_the_default_file(cli, tmp_path):
    out = cli.output("--sample", "20", "--anomalies", "3")
    assert (tmp_path / "gmm_clustering.png").read_bytes()[:8] == PNG_MAGIC
    assert "(no display: matplotlib backend is 'agg')" in out
