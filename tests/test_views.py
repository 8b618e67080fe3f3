"""What the figure and the summary show beyond the default run.

Cluster sizes and full covariances, the clusters-by-classes table, the EM trace
and its animation, several starts, the Bayesian mixture, the pairs and
principal-component views, equal aspect, and the window a figure opens in.

Every expected number comes from an independent computation: scikit-learn (fitted
here on the standardised columns and mapped back by hand, as the script fits), numpy or
scipy called here directly, or a count by hand; never the script's own helpers.  Figures are checked as objects (axes, titles, patches), not as pixels;
one PNG and one GIF are really rendered.
"""

import functools
import json
import re
import warnings

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    N_COMPONENTS,
    N_SAMPLES,
    PNG_MAGIC,
    SEED,
    blobs,
    ellipses,
    full_covariances,
    sklearn_fit,
    standardised_fit,
    standardised_units,
    title_of,
    write_table,
)
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.patches import Rectangle
from PIL import Image
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.cluster import contingency_matrix
from sklearn.mixture import BayesianGaussianMixture

SCREEN = (1366, 768)  # the smallest common laptop screen, in pixels


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


@functools.cache
def sklearn_starts(n_init):
    """The n_init starts of `--n-init N --init random`, one scikit-learn fit per seed."""
    X, _ = blobs()
    return [
        standardised_fit(X, N_COMPONENTS, init_params="random", random_state=SEED + i)
        for i in range(n_init)
    ]


@functools.cache
def sklearn_bayesian():
    """The Dirichlet-process mixture of --bayesian --n-components 10, fitted here on the
    standardised blobs (its weights do not depend on the units)."""
    X, _ = blobs()
    center, scale = standardised_units(X)
    return BayesianGaussianMixture(
        n_components=10,
        weight_concentration_prior_type="dirichlet_process",
        max_iter=500,
        random_state=SEED,
    ).fit((X - center) / scale)


def one_figure(cli, figures, *argv):
    """Run main(argv) (which saves a figure) and return (that figure, stdout)."""
    out = cli.output(*argv)
    [fig] = figures
    return fig, out


def titled(fig, prefix):
    """The one visible axes whose title starts with prefix."""
    found = [ax for ax in fig.axes if ax.get_visible() and title_of(ax).startswith(prefix)]
    assert len(found) == 1, [title_of(ax) for ax in fig.axes]
    return found[0]


def assert_ellipses_of(ax, means2, covs2):
    """Per component, the 1, 2 and 3 sd ellipses of (mean, 2 x 2 covariance), in order.

    Full axes 2 s sqrt(eigenvalue), the width along the largest eigenvalue's vector.
    """
    drawn = ellipses(ax)
    assert len(drawn) == 3 * len(means2)
    for j, (mu, cov) in enumerate(zip(means2, covs2)):
        small, large = np.linalg.eigvalsh(cov)
        for n_sigma, e in zip((1, 2, 3), drawn[3 * j : 3 * j + 3]):
            np.testing.assert_allclose(e.center, mu, rtol=1e-9, atol=1e-9)
            expected = 2 * n_sigma * np.sqrt([large, small])
            np.testing.assert_allclose([e.width, e.height], expected, rtol=1e-7)
            along = np.array([np.cos(np.radians(e.angle)), np.sin(np.radians(e.angle))])
            np.testing.assert_allclose(cov @ along, large * along, atol=1e-7 * large)


# A tiny table: two well separated groups of six, and labels that mostly agree.
# Group A (rows 0-5, near 0, 0) holds 2 "north" and 4 "south"; group B (rows 6-11,
# near 20, 20) holds 5 "north" and 1 "south".  So A matches "south", B "north".
TINY_LABELS = ["south", "north", "south", "south", "north", "south"]  # group A
TINY_LABELS += ["north", "north", "south", "north", "north", "north"]  # group B


def tiny_table():
    rng = np.random.RandomState(0)
    return np.r_[rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + [20, 20]]


def tiny_csv(tmp_path):
    return write_table(tmp_path / "tiny.csv", tiny_table(), "xy", TINY_LABELS, "zone")


def tiny_clusters():
    """The cluster ids scikit-learn gives groups A and B (the same fit as the script's)."""
    labels = standardised_fit(tiny_table(), 2).predict(tiny_table())
    (a,), (b,) = set(labels[:6]), set(labels[6:])  # each group is one cluster
    assert a != b
    return a, b


# --------------------------------------------------------------------------
# 1. Cluster sizes and full covariances
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cluster_sizes_and_full_covariances_match_scikit_learn(cli, covariance_type):
    data = {"n_features": 3, "cluster_std": 2.5}  # overlapping: the sizes differ
    X, _ = blobs(**data)
    model = sklearn_fit(covariance_type, **data)
    result = cli.json(
        *("--n-features", "3", "--cluster-std", "2.5", "--covariance-type", covariance_type),
        *("--init", "kmeans"),  # the start sklearn_fit makes
    )
    sizes = result["cluster_sizes"]
    assert all(type(s) is int for s in sizes)
    assert sum(sizes) == N_SAMPLES
    assert sizes == np.bincount(model.predict(X), minlength=N_COMPONENTS).tolist()
    assert len(set(sizes)) > 1  # not the trivial 125 each
    covs = np.array(result["covariances"])
    assert covs.shape == (N_COMPONENTS, 3, 3)
    expected = full_covariances(model)
    np.testing.assert_allclose(covs, expected, rtol=1e-9, atol=1e-12)


def test_default_run_prints_four_clusters_of_125(cli):
    X, _ = blobs()
    assert np.bincount(sklearn_fit().predict(X)).tolist() == [125] * 4
    out = cli.output("--no-plot")
    assert "Cluster sizes: 125, 125, 125, 125" in out.splitlines()


# --------------------------------------------------------------------------
# 2. Clusters against known classes
# --------------------------------------------------------------------------


def test_confusion_on_a_tiny_csv_is_the_hand_count(cli, tmp_path):
    a, b = tiny_clusters()
    result = cli.json("--csv", tiny_csv(tmp_path), "--labels", "zone")
    assert result["n_components"] == 2  # two classes, so two components
    # Classes in sorted order: north, south.  Row 0 is the cluster matched to
    # north (group B: 5 north, 1 south), row 1 the one matched to south (A: 2, 4).
    assert result["confusion"] == [[5, 1], [2, 4]]
    assert result["confusion_clusters"] == [int(b), int(a)]
    assert np.trace(result["confusion"]) == 9


def test_csv_class_names_are_the_label_values(cli, tmp_path):
    result = cli.json("--csv", tiny_csv(tmp_path), "--labels", "zone")
    assert result["class_names"] == ["north", "south"]


def hungarian_agreement(labels, y):
    """Points on which the cluster's Hungarian-matched class is the true class."""
    table = contingency_matrix(labels, y)
    rows, cols = linear_sum_assignment(-table)
    match = dict(zip(rows, cols))
    return sum(match.get(c) == t for c, t in zip(labels, y)), table, match


@pytest.mark.parametrize("dataset", ["blobs", "iris"])
def test_confusion_rows_are_clusters_in_matched_class_order(cli, dataset):
    if dataset == "iris":
        iris = load_iris()
        X, y, names = iris.data, iris.target, list(iris.target_names)
        labels = standardised_fit(X, 3).predict(X)
    else:
        X, y = blobs()
        names = [f"blob {c}" for c in range(4)]
        labels = sklearn_fit().predict(X)
    agree, table, match = hungarian_agreement(labels, y)
    result = cli.json("--dataset", dataset, "--init", "kmeans")  # the start of the fits above
    assert result["class_names"] == names
    clusters = result["confusion_clusters"]
    assert sorted(clusters) == list(range(len(table)))
    for i, cluster in enumerate(clusters):
        assert result["confusion"][i] == table[cluster].tolist()  # columns are the classes
        assert match[cluster] == i  # row i is the cluster matched to class i
    assert np.trace(result["confusion"]) == agree
    if dataset == "blobs":
        assert agree == N_SAMPLES


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", text)]


def test_parameters_print_components_and_the_confusion_table(cli, tmp_path):
    model = standardised_fit(tiny_table(), 2)
    a, b = tiny_clusters()
    out = cli.output("--csv", tiny_csv(tmp_path), "--labels", "zone", "--parameters", "--no-plot")
    lines = out.splitlines()
    for j in range(2):
        [at] = [i for i, line in enumerate(lines) if line.startswith(f"Component {j} (weight ")]
        head = re.fullmatch(rf"Component {j} \(weight ([\d.]+)\): mean (.*)", lines[at])
        assert head, lines[at]
        assert float(head[1]) == pytest.approx(model.weights_[j], abs=5e-4)
        assert numbers(head[2]) == pytest.approx(model.means_[j], rel=1e-3)
        for row, line in enumerate(lines[at + 1 : at + 3]):  # one row per feature: x, y
            assert line.split(":")[0].split() == ["covariance", "xy"[row]]
            got = numbers(line.split(":")[1])
            assert got == pytest.approx(model.covariances_[j][row], rel=1e-3)
    [at] = [i for i, line in enumerate(lines) if line.startswith("Clusters (rows) by classes")]
    assert lines[at + 2].split() == ["cluster", str(b), "5", "1"]
    assert lines[at + 3].split() == ["cluster", str(a), "2", "4"]
    assert lines[at + 1].split() == ["north", "south"]  # the classes, by name


# --------------------------------------------------------------------------
# 3. --trace: EM step by step
# --------------------------------------------------------------------------


def test_trace_is_scikit_learns_em_iteration_by_iteration(cli):
    # --random-state seeds the data too: these blobs are make_blobs(random_state=3).
    X, _ = blobs(random_state=3)
    model = standardised_fit(X, N_COMPONENTS, init_params="random", random_state=3)
    shift = model.log_scale_  # the log-likelihood of x is that of z minus this
    result = cli.json("--trace", "--init", "random", "--random-state", "3")
    trace = result["trace"]
    assert isinstance(trace, list)
    assert result["n_iter"] > 10  # a start far from the optimum: many steps to follow
    assert len(trace) - 1 == result["n_iter"]
    assert np.all(np.diff(trace) >= -1e-9)  # EM never lowers the likelihood
    assert trace[-1] == pytest.approx(result["log_likelihood"], abs=1e-9)
    # The same EM run by scikit-learn alone on the standardised columns: its lower bounds
    # (shifted to the data's units) are the trace before each M-step (the first one that
    # of the start), its score the last value.
    assert result["n_iter"] == model.n_iter_
    assert trace[-1] == pytest.approx(model.score(X), abs=1e-9)
    assert trace[-2] == pytest.approx(model.lower_bound_ - shift, abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one step: not converged
        one_step = standardised_fit(
            X, N_COMPONENTS, init_params="random", random_state=3, max_iter=1
        )
        assert trace[0] == pytest.approx(one_step.lower_bound_ - shift, abs=1e-9)
    if hasattr(model, "lower_bounds_"):  # scikit-learn >= 1.7 keeps every step
        np.testing.assert_allclose(trace[:-1], np.array(model.lower_bounds_) - shift, atol=1e-9)


def test_trace_figure_has_the_convergence_and_steps_panels(cli, tmp_path, captured_figures):
    fig, out = one_figure(
        cli, captured_figures, "--trace", "--n-samples", "100", "--json", "--save", "em.png"
    )
    trace = json.loads(out)["trace"]
    assert (tmp_path / "em.png").read_bytes()[:8] == PNG_MAGIC
    # On a log scale: how far each iteration's mean log-likelihood is from the final one,
    # beside a line at EM's tolerance (scikit-learn's 1e-3).
    convergence = titled(fig, "EM convergence")
    assert convergence.get_yscale() == "log"
    curve, tolerance = convergence.get_lines()
    gaps = trace[-1] - np.array(trace[:-1])
    np.testing.assert_allclose(curve.get_ydata(), gaps[gaps > 0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(curve.get_xdata(), np.flatnonzero(gaps > 0))
    assert set(tolerance.get_ydata()) == {1e-3}
    steps = titled(fig, "EM step by step")
    assert title_of(steps).startswith("EM step by step: iterations 0, ")


def test_trace_saved_as_gif_is_an_animation(cli, tmp_path):
    X, _ = blobs(n_samples=100)
    n_iter = standardised_fit(X, N_COMPONENTS).n_iter_
    out = cli.output("--trace", "--init", "kmeans", "--n-samples", "100", "--save", "em.gif")
    assert f"Figure saved to {tmp_path / 'em.gif'}" in out.splitlines()
    with Image.open(tmp_path / "em.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames > 2
        assert gif.n_frames == n_iter + 1  # the start, then one frame per EM iteration


# --------------------------------------------------------------------------
# 4. --n-init: how much the answer depends on the start
# --------------------------------------------------------------------------


def test_each_start_is_scikit_learns_fit_with_its_seed(cli):
    X, _ = blobs()
    models = sklearn_starts(5)
    result = cli.json("--n-init", "5", "--init", "random")
    starts = result["starts"]
    assert [s["random_state"] for s in starts] == [SEED + i for i in range(5)]
    for start, model in zip(starts, models):
        assert start["log_likelihood"] == pytest.approx(model.score(X), abs=1e-9)
        assert start["n_iter"] == model.n_iter_
    best = max(model.score(X) for model in models)
    assert result["log_likelihood"] == pytest.approx(best, abs=1e-9)
    assert max(s["log_likelihood"] for s in starts) == pytest.approx(best, abs=1e-9)


def test_starts_text_line_gives_best_worst_and_distinct_optima(cli):
    X, _ = blobs()
    scores = sorted(model.score(X) for model in sklearn_starts(5))
    distinct = 1 + int((np.diff(scores) > 1e-4).sum())  # equal to 4 decimals: one optimum
    out = cli.output("--no-plot", "--n-init", "5", "--init", "random")
    [line] = [line for line in out.splitlines() if line.startswith("Starts: 5;")]
    found = re.search(r"best (-?[\d.]+), worst (-?[\d.]+); (\d+) distinct end points", line)
    assert found, line
    assert float(found[1]) == pytest.approx(scores[-1], abs=1e-5)
    assert float(found[2]) == pytest.approx(scores[0], abs=1e-5)
    assert int(found[3]) == distinct


def x_of(ax, label):
    """The x values of the one artist (points or line) labelled so in the legend."""
    [artist] = [a for a in ax.get_children() if a.get_label() == label]
    if hasattr(artist, "get_offsets"):
        return np.asarray(artist.get_offsets())[:, 0]
    return np.asarray(artist.get_xdata())


def test_report_draws_the_starts_panel(cli, unrendered_figures):
    X, _ = blobs()
    scores = [model.score(X) for model in sklearn_starts(3)]
    fig, _ = one_figure(
        cli,
        unrendered_figures,
        *("--n-init", "3", "--init", "random", "--report", "--max-components", "2"),
    )
    ax = titled(fig, "3 starts: final mean log-likelihood")
    np.testing.assert_allclose(x_of(ax, "a start"), scores, atol=1e-9)
    np.testing.assert_allclose(x_of(ax, "kept"), [max(scores)], atol=1e-9)


# --------------------------------------------------------------------------
# 5. --bayesian
# --------------------------------------------------------------------------


def test_bayesian_mixture_keeps_four_of_ten_components(cli, unrendered_figures):
    model = sklearn_bayesian()
    fig, out = one_figure(
        cli,
        unrendered_figures,
        *("--bayesian", "--n-components", "10", "--json", "--save", "b.png"),
    )
    result = json.loads(out)
    assert result["estimator"] == "BayesianGaussianMixture"
    assert result["effective_threshold"] == 0.01
    assert result["effective_components"] == 4
    assert result["effective_components"] == int((model.weights_ > 0.01).sum())
    np.testing.assert_allclose(result["weights"], model.weights_, rtol=1e-7, atol=1e-12)
    ax = titled(fig, "Bayesian mixture")
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    np.testing.assert_allclose([bar.get_height() for bar in bars], model.weights_, atol=1e-12)


# --------------------------------------------------------------------------
# 6. Pairs, principal components, one feature
# --------------------------------------------------------------------------


def pair_grid(fig):
    """The visible axes of the pairs grid, by (row, column)."""
    grid = {}
    for ax in fig.axes:
        if ax.get_visible():
            spec = ax.get_subplotspec()
            grid[(spec.rowspan.start, spec.colspan.start)] = ax
    return grid


def test_four_features_show_every_pair_with_the_marginal_ellipses(cli, unrendered_figures):
    d = 4
    model = sklearn_fit(n_features=d)
    fig, _ = one_figure(
        cli, unrendered_figures, "--n-features", d, "--init", "kmeans", "--save", "p.png"
    )
    grid = pair_grid(fig)
    # Lower triangle of a (d-1) x (d-1) grid: row r plots feature r+2 against feature c+1.
    assert sorted(grid) == [(r, c) for r in range(d - 1) for c in range(r + 1)]
    assert len(grid) == (d - 1) * d // 2
    for (r, c), ax in grid.items():
        x, y = c, r + 1
        block = model.covariances_[:, [x, y]][:, :, [x, y]]  # the exact 2-D marginal
        assert_ellipses_of(ax, model.means_[:, [x, y]], block)
        if r == d - 2:
            assert ax.get_xlabel() == f"feature {x + 1}"
        if c == 0:
            assert ax.get_ylabel() == f"feature {y + 1}"


@pytest.mark.parametrize("d", [3, 4])
def test_view_pca_draws_the_principal_components(cli, unrendered_figures, d):
    X, _ = blobs(n_features=d)
    model = sklearn_fit(n_features=d)
    pca = PCA(2).fit(X)
    fig, _ = one_figure(
        cli,
        unrendered_figures,
        *("--n-features", d, "--view", "pca", "--init", "kmeans", "--save", "p.png"),
    )
    [ax] = [ax for ax in fig.axes if ax.get_visible() and title_of(ax)]
    assert title_of(ax) == "GMM clusters"
    assert ax.get_xlabel() == f"PC1 ({pca.explained_variance_ratio_[0]:.0%} of variance)"
    assert ax.get_ylabel() == f"PC2 ({pca.explained_variance_ratio_[1]:.0%} of variance)"
    # The points are the data projected on the two components (each up to its sign).
    projected = pca.transform(X)
    shown = np.asarray(ax.collections[0].get_offsets())
    signs = np.sign((shown * projected).sum(axis=0))
    np.testing.assert_allclose(shown, projected * signs, atol=1e-9)
    W = pca.components_.T * signs
    assert_ellipses_of(
        ax, (model.means_ - X.mean(axis=0)) @ W, [W.T @ S @ W for S in model.covariances_]
    )


def test_seven_features_default_to_principal_components(cli, unrendered_figures):
    fig, _ = one_figure(
        cli, unrendered_figures, "--n-features", "7", "--n-samples", "100", "--save", "p.png"
    )
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 1
    assert visible[0].get_xlabel().startswith("PC1")
    assert len(ellipses(visible[0])) == 3 * N_COMPONENTS


def test_view_pairs_with_seven_features_draws_21_pairs(cli, unrendered_figures):
    fig, _ = one_figure(
        cli,
        unrendered_figures,
        *("--n-features", "7", "--n-samples", "40", "--centers", "2", "--view", "pairs"),
        *("--save", "p.png"),
    )
    grid = pair_grid(fig)
    assert sorted(grid) == [(r, c) for r in range(6) for c in range(r + 1)]
    assert all(len(ellipses(ax)) == 3 * 2 for ax in grid.values())  # two components
    assert not any(ax.get_xlabel().startswith("PC") for ax in grid.values())


def test_one_feature_draws_a_histogram_and_the_mixture_density(cli, unrendered_figures):
    X, _ = blobs(n_features=1)
    model = sklearn_fit(n_features=1)
    fig, _ = one_figure(
        cli, unrendered_figures, "--n-features", "1", "--init", "kmeans", "--save", "h.png"
    )
    ax = titled(fig, "GMM")
    assert [p for p in ax.patches if isinstance(p, Rectangle)]  # the histogram's bars
    [mixture] = [line for line in ax.get_lines() if line.get_label() == "mixture density"]
    grid = mixture.get_xdata()
    assert grid.min() < X.min() and grid.max() > X.max()
    expected = np.exp(model.score_samples(grid.reshape(-1, 1)))
    np.testing.assert_allclose(mixture.get_ydata(), expected, rtol=1e-9)


# --------------------------------------------------------------------------
# 7. Equal aspect where both axes share units
# --------------------------------------------------------------------------


def height_weight_csv(tmp_path):
    """Two raw columns on different units: cm (spread ~10) and a small index (~1)."""
    rng = np.random.RandomState(1)
    X = np.r_[rng.normal([160, 2], [8, 0.5], (40, 2)), rng.normal([185, 5], [8, 0.5], (40, 2))]
    return write_table(tmp_path / "hw.csv", X, ["height_cm", "index"])


@pytest.mark.parametrize(
    "argv, aspect",
    [
        pytest.param(["--n-samples", "100"], 1.0, id="blobs"),
        pytest.param(["--n-samples", "100", "--n-features", "3", "--view", "pca"], 1.0, id="pca"),
        pytest.param(["CSV", "--scale"], 1.0, id="csv-scaled"),
        pytest.param(["CSV"], "auto", id="csv-raw"),
    ],
)
def test_equal_aspect_only_where_the_axes_share_units(
    cli, tmp_path, unrendered_figures, argv, aspect
):
    if argv[0] == "CSV":
        argv = ["--csv", height_weight_csv(tmp_path), "--n-components", "2", *argv[1:]]
    fig, _ = one_figure(cli, unrendered_figures, *argv, "--save", "a.png")
    assert titled(fig, "GMM clusters").get_aspect() == aspect


# --------------------------------------------------------------------------
# 8. The window: its title and its size
# --------------------------------------------------------------------------


def test_window_fits_the_screen_and_names_the_run(cli, tmp_path, shown_figures, monkeypatch):
    # Agg keeps no window title before matplotlib 3.10.3: record what the script sets.
    titles = []
    monkeypatch.setattr(FigureManagerBase, "set_window_title", lambda self, t: titles.append(t))
    out = cli.output("--report", "--max-components", "2", "--n-samples", "100")
    [fig] = shown_figures
    # At least two rows of three panels: far wider and taller than the screen unshrunk.
    nrows, ncols = titled(fig, "GMM clusters").get_subplotspec().get_geometry()[:2]
    assert nrows >= 2 and ncols == 3
    width, height = fig.get_size_inches() * fig.dpi
    assert width <= SCREEN[0] and height <= SCREEN[1]
    assert titles[-1] == "gmm_clustering: make_blobs, full, k=4"  # the last word, not "Figure 1"
    assert list(tmp_path.iterdir()) == [] and "Figure saved" not in out  # shown, not saved
