"""`--csv`, `--dataset iris|wine` and their plots: rows, columns, labels.

Every table is written by the test itself into its own tmp_path; the script is run
in-process through ``gmm_clustering.main`` (the ``cli`` fixture).  The reader's own cases
are in test_csv_files.py, the files it refuses in test_bad_input.py.
"""

import math

import numpy as np
import pytest
from conftest import PNG_MAGIC, SEED, standardised_fit, write_file, write_table
from sklearn.datasets import load_iris, load_wine
from sklearn.metrics import adjusted_rand_score

import gmm_clustering

# Three far-apart clusters: any sane fit recovers them exactly.
# The first coordinates differ too, so that 1-column tables have three clusters.
CENTERS = {
    "setosa": (0.0, 0.0, 0.0),
    "versicolor": (12.0, 0.0, 6.0),
    "virginica": (-12.0, 12.0, -6.0),
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def named_clusters(n_per_cluster, n_features, seed=0, std=0.5):
    """(X, names of the true clusters): well-separated Gaussian blobs."""
    rng = np.random.RandomState(seed)
    X, y = [], []
    for name, center in CENTERS.items():
        c = np.resize(np.array(center), n_features)
        X.append(c + std * rng.randn(n_per_cluster, n_features))
        y += [name] * n_per_cluster
    return np.vstack(X), np.array(y)


def own_fit_ari(X, y, n_components, random_state=SEED):
    """ARI of a fit made here with the script's defaults (full, seed 42, one start, on the
    standardised columns)."""
    gmm = standardised_fit(X, n_components, random_state=random_state)
    return adjusted_rand_score(y, gmm.predict(X))


# --------------------------------------------------------------------------
# The messy table: R / spreadsheet style
# --------------------------------------------------------------------------
# Header quoted as R's write.csv does, one name with doubled quotes; the file
# starts with a UTF-8 BOM and uses CRLF like a spreadsheet export.  Columns:
# three numeric ones (with NA-style cells), a text label column and a text
# "notes" column that itself holds an NA (which must not drop its row).

MESSY_HEADER = ['Sepal "Len"', "Sepal.Width", "Petal.Length"]
MESSY_N = 20  # rows per cluster, 60 in all
# (row index, column index, missing token): the rows to be dropped.
MESSY_MISSING = [(3, 0, "NA"), (17, 1, ""), (25, 2, "NaN"), (44, 1, "nan")]
MESSY_NOTES_NA_ROW = 30  # "notes" is NA here; the row is kept


@pytest.fixture
def messy(tmp_path):
    X, y = named_clusters(MESSY_N, 3, seed=1)
    cells = [[repr(round(float(v), 4)) for v in row] for row in X]
    for i, j, token in MESSY_MISSING:
        cells[i][j] = token
    lines = ['"Sepal ""Len""","Sepal.Width","Petal.Length","Species","notes"']
    for i, row in enumerate(cells):
        note = "NA" if i == MESSY_NOTES_NA_ROW else f'"sample {i}, lab ""B"""'
        lines.append(",".join([*row, f'"{y[i]}"', note]))
    path = write_file(tmp_path / "messy.csv", "\ufeff" + "\r\n".join(lines) + "\r\n")
    keep = np.ones(len(X), dtype=bool)
    keep[[i for i, _, _ in MESSY_MISSING]] = False
    return path, X, y, keep


def test_messy_table_rows_columns_and_ari(cli, messy):
    path, X, y, keep = messy
    r = cli.json("--csv", path, "--labels", "Species")

    assert r["source"] == path
    assert r["columns"] == MESSY_HEADER  # BOM gone, quotes undone, labels not fitted
    assert r["skipped_columns"] == ["notes"]
    assert r["n_samples"] == 56
    assert r["dropped_rows"] == 4
    assert r["n_features"] == 3
    assert r["n_components"] == 3  # default: the number of distinct labels

    # Fitted on exactly the kept rows: the means are the three cluster centres.
    means = np.array(r["means"])
    means = means[np.argsort(means[:, 0])]
    expected = np.array([X[keep][y[keep] == name].mean(axis=0) for name in CENTERS])
    expected = expected[np.argsort(expected[:, 0])]
    np.testing.assert_allclose(means, expected, atol=1e-3)

    mine = own_fit_ari(X[keep], y[keep], 3)
    assert mine == 1.0
    assert r["ari"] == pytest.approx(mine)


def test_messy_table_text_summary_names_skipped_and_dropped(cli, messy):
    path, *_ = messy
    lines = cli.output("--csv", path, "--labels", "Species", "--no-plot").splitlines()
    assert f"Data: {path}, 56 samples x 3 features" in lines
    assert 'Columns used: Sepal "Len", Sepal.Width, Petal.Length' in lines
    assert "Skipped columns (text, empty or row names): notes" in lines
    assert "Dropped rows with missing values: 4" in lines
    assert "Adjusted Rand Index: 1.00000" in lines


def test_r_write_csv_row_names_column_is_not_a_feature(cli, tmp_path):
    # write.csv(df) in R: an unnamed first column of quoted row numbers.
    X, y = named_clusters(10, 2, seed=13)
    rows = ['"","x","y","group"']
    for i, ((a, b), g) in enumerate(zip(X.tolist(), y), start=1):
        rows.append(f'"{i}",{a!r},{b!r},"{g}"')
    path = write_file(tmp_path / "r.csv", "\n".join(rows) + "\n")
    r = cli.json("--csv", path, "--labels", "group")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["ari"] == 1.0


def test_columns_chosen_by_name_drop_only_their_missing_rows(cli, messy):
    path, X, y, _ = messy
    r = cli.json("--csv", path, "--columns", 'Petal.Length, Sepal "Len"', "--labels", "Species")
    assert r["columns"] == ["Petal.Length", 'Sepal "Len"']  # in the order asked
    # Only the NA in 'Sepal "Len"' (row 3) and the NaN in Petal.Length (row 25)
    # fall in the chosen columns; the Sepal.Width gaps no longer matter.
    assert r["dropped_rows"] == 2
    assert r["n_samples"] == 3 * MESSY_N - 2
    keep = np.ones(len(X), dtype=bool)
    keep[[3, 25]] = False
    assert r["ari"] == pytest.approx(own_fit_ari(X[keep][:, [2, 0]], y[keep], 3))


# --------------------------------------------------------------------------
# Delimiters
# --------------------------------------------------------------------------


@pytest.fixture
def semicolon_file(tmp_path):
    X, y = named_clusters(10, 2, seed=2)
    lines = ["x; y ;group"] + [f"{a!r};{b!r};{g}" for (a, b), g in zip(X.tolist(), y)]
    return write_file(tmp_path / "semi.csv", "\n".join(lines) + "\n")


@pytest.fixture
def tab_file(tmp_path):
    # R's write.table(sep = "\t"): quoted names and quoted text values.
    X, y = named_clusters(10, 2, seed=3)
    rows = [f'{a!r}\t{b!r}\t"{g}"' for (a, b), g in zip(X.tolist(), y)]
    lines = ['"x"\t"y"\t"group"', *rows]
    return write_file(tmp_path / "tab.tsv", "\n".join(lines) + "\n")


@pytest.mark.parametrize("delimiter", [None, ";"], ids=["detected", "explicit"])
def test_semicolon_file(cli, semicolon_file, delimiter):
    extra = ["--delimiter", delimiter] if delimiter else []
    r = cli.json("--csv", semicolon_file, *extra, "--labels", "group")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["dropped_rows"] == 0
    assert r["ari"] == 1.0


# Sniffed, and the two spellings of a tab --delimiter.
TAB_SPELLINGS = [None, "tab", pytest.param("\\t", id="backslash-t")]


@pytest.mark.parametrize("delimiter", TAB_SPELLINGS)
def test_tab_file(cli, tab_file, delimiter):
    extra = ["--delimiter", delimiter] if delimiter else []
    r = cli.json("--csv", tab_file, *extra, "--labels", "group")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["ari"] == 1.0


# --------------------------------------------------------------------------
# Missing values
# --------------------------------------------------------------------------


def small_cells(n=12):
    """n rows of two numeric cells, as text, from three separated clusters."""
    X, _ = named_clusters(n // 3, 2, seed=5)
    return [[repr(float(a)), repr(float(b))] for a, b in X]


def test_every_missing_token_together(cli, tmp_path):
    cells = small_cells(30)
    gaps = {(0, 0): "NA", (7, 1): "NaN", (8, 0): "nan", (29, 1): "", (4, 1): " NA "}
    for (row, col), token in gaps.items():
        cells[row][col] = token
    cells[12] = ["NA", "NA"]  # one row, two gaps: counted once
    text = "x,y,label\n" + "".join(f"{a},{b},t{i}\n" for i, (a, b) in enumerate(cells))
    path = write_file(tmp_path / "gaps.csv", text)
    r = cli.json("--csv", path, "--n-components", "3")
    assert r["columns"] == ["x", "y"]
    assert r["skipped_columns"] == ["label"]
    assert r["n_samples"] == 24
    assert r["dropped_rows"] == 6
    out = cli.output("--csv", path, "--n-components", "3", "--no-plot")
    assert "Dropped rows with missing values: 6" in out.splitlines()


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "numbers"])
def test_labels_column_gives_ari_and_is_not_fitted(cli, tmp_path, kind):
    X, y = named_clusters(30, 2, seed=6)
    labels = y if kind == "text" else np.unique(y, return_inverse=True)[1] + 1
    path = write_table(tmp_path / "l.csv", X, "ab", labels=labels, label_name="truth")
    r = cli.json("--csv", path, "--labels", "truth")
    assert r["columns"] == ["a", "b"]
    assert r["skipped_columns"] == []
    assert r["n_components"] == 3
    mine = own_fit_ari(X, labels, 3)
    assert mine == 1.0
    assert r["ari"] == pytest.approx(mine)


def test_no_labels_no_ari(cli, tmp_path):
    X, _ = named_clusters(10, 2, seed=7)
    path = write_table(tmp_path / "plain.csv", X, ["a", "b"])
    # k-means: the default tree start leaves one of these 30 points alone at k = 4, and the
    # run warns of a spurious fit (said on stderr)
    r = cli.json("--csv", path, "--init", "kmeans")
    assert "ari" not in r
    assert r["n_components"] == gmm_clustering.DEFAULT_N_COMPONENTS


def test_unchosen_numeric_column_is_not_called_non_numeric(cli, tmp_path):
    X, _ = named_clusters(10, 3, seed=9)
    rows = [f"{p!r},{q!r},{s!r},t{i}" for i, (p, q, s) in enumerate(X.tolist())]
    lines = ["a,b,c,tag", *rows]
    path = write_file(tmp_path / "abc.csv", "\n".join(lines) + "\n")
    argv = ["--csv", path, "--columns", "a,b", "--init", "kmeans", "--no-plot"]  # no warning
    lines = cli.output(*argv).splitlines()
    assert "Columns used: a, b" in lines
    # c is numeric and merely not chosen: nothing may call it skipped as text
    assert not [line for line in lines if line.startswith("Skipped")]


# --------------------------------------------------------------------------
# Plots: 1, 2 and 5 columns, saved with no display
# --------------------------------------------------------------------------


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000


def test_plot_two_columns_axes_are_the_column_names(cli, tmp_path, captured_figures):
    X, y = named_clusters(20, 2, seed=10)
    path = write_table(tmp_path / "two.csv", X, ["height (cm)", "mass; kg"], labels=y)
    r = cli.json("--csv", path, "--labels", "group", "--save", "out.png", figure=True)
    assert r["figure"] == str(tmp_path / "out.png")
    assert_png(tmp_path / "out.png")
    [fig] = captured_figures
    ax = fig.axes[0]
    assert ax.get_xlabel() == "height (cm)"
    assert ax.get_ylabel() == "mass; kg"


def test_plot_five_columns_on_principal_components(cli, tmp_path, captured_figures):
    X, y = named_clusters(20, 5, seed=11)
    names = [f"v{j}" for j in range(1, 6)]
    path = write_table(tmp_path / "five.csv", X, names, labels=y)
    argv = ["--csv", path, "--labels", "group", "--view", "pca", "--save", "out.png"]
    r = cli.json(*argv, figure=True)
    assert r["columns"] == names
    assert r["n_features"] == 5
    assert_png(tmp_path / "out.png")
    ax = captured_figures[0].axes[0]
    # A CSV's columns need not share units: the components are those of the standardised
    # columns, and the shares their correlation matrix's eigenvalues over its trace.
    eig = np.sort(np.linalg.eigvalsh(np.corrcoef(X, rowvar=False)))[::-1]
    share = eig / eig.sum()
    assert ax.get_xlabel() == f"PC1 (standardised, {share[0]:.0%})"
    assert ax.get_ylabel() == f"PC2 (standardised, {share[1]:.0%})"
    # ... and the points drawn are the data's scores on them (standardised with ddof 0).
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    drawn = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.abs(drawn), np.abs(Z @ Vt[:2].T), atol=1e-9)


@pytest.mark.parametrize("k", [2, 3])
def test_plot_one_column_histogram_and_curves(cli, tmp_path, captured_figures, k):
    X, _ = named_clusters(40, 1, seed=12)
    path = write_table(tmp_path / "one.csv", X, ["length"])
    argv = ["--csv", path, "--n-components", k, "--init", "kmeans"]  # the start made below
    r = cli.json(*argv, "--save", "out.png", figure=True)
    assert r["columns"] == ["length"]
    assert r["n_samples"] == 120
    assert_png(tmp_path / "out.png")
    ax = captured_figures[0].axes[0]
    assert ax.get_xlabel() == "length"
    assert len(ax.patches) > 0  # the histogram's bars
    assert len(ax.lines) == k + 1  # one weighted curve per component, and the mixture
    curves = np.array([line.get_ydata() for line in ax.lines])
    np.testing.assert_allclose(curves[:-1].sum(axis=0), curves[-1])  # mixture = sum
    # Each curve is its component's weighted normal density (a fit made here).
    gmm = standardised_fit(X, k, "full")
    grid = ax.lines[0].get_xdata()
    assert grid.min() < X.min() and grid.max() > X.max()
    sd = np.sqrt(gmm.covariances_[:, 0, 0])
    expected = (
        gmm.weights_[:, None]
        * np.exp(-0.5 * ((grid - gmm.means_[:, :1]) / sd[:, None]) ** 2)
        / (sd[:, None] * math.sqrt(2 * math.pi))
    )
    np.testing.assert_allclose(curves[:-1], expected, rtol=1e-6, atol=1e-12)


# --------------------------------------------------------------------------
# Real data sets shipped with scikit-learn
# --------------------------------------------------------------------------


def test_iris_full_covariance_recovers_species(cli):
    r = cli.json(
        "--dataset", "iris", "--n-components", "3", "--covariance-type", "full", "--init", "kmeans"
    )
    iris = load_iris()
    assert r["source"] == "iris"
    assert r["n_samples"] == 150
    assert r["columns"] == list(iris.feature_names)
    assert r["dropped_rows"] == 0
    assert r["ari"] == pytest.approx(own_fit_ari(iris.data, iris.target, 3))
    # One start (seed 42) ends in a poorer optimum on the standardised columns (ARI 0.52);
    # the best of three starts (seeds 42, 43, 44) recovers the species.
    starts = [standardised_fit(iris.data, 3, random_state=SEED + i) for i in range(3)]
    best = max(starts, key=lambda gmm: gmm.score(iris.data))
    assert adjusted_rand_score(iris.target, best.predict(iris.data)) >= 0.9
    r = cli.json("--dataset", "iris", "--n-init", "3")
    assert r["log_likelihood"] == pytest.approx(best.score(iris.data), rel=1e-9)
    assert r["ari"] == pytest.approx(adjusted_rand_score(iris.target, best.predict(iris.data)))
    assert r["ari"] >= 0.9


def test_wine_runs_with_its_classes(cli):
    r = cli.json("--dataset", "wine", "--init", "kmeans")  # the start own_fit_ari makes
    wine = load_wine()
    assert r["source"] == "wine"
    assert r["n_samples"] == 178
    assert r["columns"] == list(wine.feature_names)
    assert r["n_components"] == 3  # the number of cultivars
    assert math.isfinite(r["ari"])
    assert r["ari"] == pytest.approx(own_fit_ari(wine.data, wine.target, 3))


# --------------------------------------------------------------------------
# Decimal commas
# --------------------------------------------------------------------------


def test_decimal_commas_are_read_as_numbers_and_said(cli, tmp_path):
    # A European spreadsheet (R's write.csv2): semicolons between fields, decimal commas.
    path = write_file(tmp_path / "euro.csv", "x;y\n1,5;2,5\n3,1;4,2\n2,2;0,5\n")
    r = cli.json("--csv", path, "--n-components", "1", "--covariance-type", "diag")
    assert r["means"] == [[pytest.approx(6.8 / 3), pytest.approx(7.2 / 3)]]
    assert "decimal commas read as decimal points" in r["notes"]
    out = cli.output("--csv", path, "--n-components", "1", "--no-plot")
    assert "Note: decimal commas read as decimal points" in out.splitlines()
