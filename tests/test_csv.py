"""`--csv`, `--dataset iris|wine` and their plots: rows, columns, labels, bad files.

Every table is written by the test itself into its own tmp_path; the script is
run in-process through ``gmm_clustering.main`` and its output read with capsys.
"""

import json
import math
import os
import re

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

import gmm_clustering

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEED = 42  # the script's default --random-state

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


def run(capsys, *argv):
    """Run the script in-process: (exit status, stdout, stderr)."""
    code = gmm_clustering.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    """Run with --json, require success, return the parsed object."""
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def assert_usage_error(code, out, err, *fragments):
    """Exit 2, nothing on stdout, ONE line on stderr holding every fragment."""
    assert code == 2, (code, out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gmm_clustering.py: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def write_text(path, text, encoding="utf-8"):
    """Write ``text`` exactly (no newline translation)."""
    with open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)
    return str(path)


def blobs(n_per_cluster, n_features, seed=0, std=0.5):
    """(X, names of the true clusters): well-separated Gaussian blobs."""
    rng = np.random.RandomState(seed)
    X, y = [], []
    for name, center in CENTERS.items():
        c = np.resize(np.array(center), n_features)
        X.append(c + std * rng.randn(n_per_cluster, n_features))
        y += [name] * n_per_cluster
    return np.vstack(X), np.array(y)


def own_fit_ari(X, y, n_components):
    """ARI of a fit made here with the script's defaults (full, seed 42, one start)."""
    gmm = GaussianMixture(n_components, n_init=1, random_state=SEED)  # full by default
    return adjusted_rand_score(y, gmm.fit(X).predict(X))


def numeric_table(path, X, names, delimiter=",", labels=None, label_name="group"):
    """A plain table of numbers (and an optional label column), one row per point."""
    header = list(names) + ([label_name] if labels is not None else [])
    lines = [delimiter.join(header)]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row]
        if labels is not None:
            cells.append(str(labels[i]))
        lines.append(delimiter.join(cells))
    return write_text(path, "\n".join(lines) + "\n")


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
    X, y = blobs(MESSY_N, 3, seed=1)
    cells = [[repr(round(float(v), 4)) for v in row] for row in X]
    for i, j, token in MESSY_MISSING:
        cells[i][j] = token
    lines = ['"Sepal ""Len""","Sepal.Width","Petal.Length","Species","notes"']
    for i, row in enumerate(cells):
        note = "NA" if i == MESSY_NOTES_NA_ROW else f'"sample {i}, lab ""B"""'
        lines.append(",".join([*row, f'"{y[i]}"', note]))
    path = write_text(tmp_path / "messy.csv", "\ufeff" + "\r\n".join(lines) + "\r\n")
    keep = np.ones(len(X), dtype=bool)
    keep[[i for i, _, _ in MESSY_MISSING]] = False
    return path, X, y, keep


def test_messy_table_rows_columns_and_ari(capsys, messy):
    path, X, y, keep = messy
    r = run_json(capsys, "--csv", path, "--labels", "Species", "--no-plot")

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


def test_messy_table_text_summary_names_skipped_and_dropped(capsys, messy):
    path, *_ = messy
    code, out, err = run(capsys, "--csv", path, "--labels", "Species", "--no-plot")
    assert code == 0, err
    lines = out.splitlines()
    assert f"Data: {path}, 56 samples x 3 features" in lines
    assert 'Columns used: Sepal "Len", Sepal.Width, Petal.Length' in lines
    assert "Skipped columns (text, empty or row names): notes" in lines
    assert "Dropped rows with missing values: 4" in lines
    assert "Adjusted Rand Index: 1.00000" in lines


def test_r_write_csv_row_names_column_is_not_a_feature(capsys, tmp_path):
    # write.csv(df) in R: an unnamed first column of quoted row numbers.
    X, y = blobs(10, 2, seed=13)
    rows = ['"","x","y","group"']
    for i, ((a, b), g) in enumerate(zip(X.tolist(), y), start=1):
        rows.append(f'"{i}",{a!r},{b!r},"{g}"')
    path = write_text(tmp_path / "r.csv", "\n".join(rows) + "\n")
    r = run_json(capsys, "--csv", path, "--labels", "group", "--no-plot")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["ari"] == 1.0


def test_columns_chosen_by_name_drop_only_their_missing_rows(capsys, messy):
    path, X, y, _ = messy
    r = run_json(
        capsys,
        "--csv",
        path,
        "--columns",
        'Petal.Length, Sepal "Len"',
        "--labels",
        "Species",
        "--no-plot",
    )
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
    X, y = blobs(10, 2, seed=2)
    lines = ["x; y ;group"] + [f"{a!r};{b!r};{g}" for (a, b), g in zip(X.tolist(), y)]
    return write_text(tmp_path / "semi.csv", "\n".join(lines) + "\n"), X, y


@pytest.fixture
def tab_file(tmp_path):
    # R's write.table(sep = "\t"): quoted names and quoted text values.
    X, y = blobs(10, 2, seed=3)
    rows = [f'{a!r}\t{b!r}\t"{g}"' for (a, b), g in zip(X.tolist(), y)]
    lines = ['"x"\t"y"\t"group"', *rows]
    return write_text(tmp_path / "tab.tsv", "\n".join(lines) + "\n"), X, y


@pytest.mark.parametrize("delimiter", [None, ";"], ids=["detected", "explicit"])
def test_semicolon_file(capsys, semicolon_file, delimiter):
    path, _, _ = semicolon_file
    extra = ["--delimiter", delimiter] if delimiter else []
    r = run_json(capsys, "--csv", path, *extra, "--labels", "group", "--no-plot")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["dropped_rows"] == 0
    assert r["ari"] == 1.0


# Sniffed, and the two spellings of a tab --delimiter.
TAB_SPELLINGS = [None, "tab", pytest.param("\\t", id="backslash-t")]


@pytest.mark.parametrize("delimiter", TAB_SPELLINGS)
def test_tab_file(capsys, tab_file, delimiter):
    path, _, _ = tab_file
    extra = ["--delimiter", delimiter] if delimiter else []
    r = run_json(capsys, "--csv", path, *extra, "--labels", "group", "--no-plot")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 30
    assert r["ari"] == 1.0


def test_wrong_explicit_delimiter_is_a_one_line_error(capsys, semicolon_file):
    path, *_ = semicolon_file
    code, out, err = run(capsys, "--csv", path, "--delimiter", ",", "--no-plot")
    assert_usage_error(code, out, err, path, "no numeric column")


@pytest.mark.parametrize(
    "header, delimiter",
    [('"Length, cm";"Width, cm";"group"', ";"), ("Length, cm\tWidth, cm\tgroup", "\t")],
    ids=["semicolon-quoted-comma", "tab-comma-in-name"],
)
def test_delimiter_sniffed_despite_comma_in_a_name(capsys, tmp_path, header, delimiter):
    X, y = blobs(10, 2, seed=4)
    rows = [delimiter.join([repr(a), repr(b), g]) for (a, b), g in zip(X.tolist(), y)]
    lines = [header, *rows]
    path = write_text(tmp_path / "names.csv", "\n".join(lines) + "\n")
    r = run_json(capsys, "--csv", path, "--labels", "group", "--no-plot")
    assert r["columns"] == ["Length, cm", "Width, cm"]
    assert r["n_samples"] == 30


# --------------------------------------------------------------------------
# Missing and infinite values
# --------------------------------------------------------------------------


def small_cells(n=12):
    """n rows of two numeric cells, as text, from three separated clusters."""
    X, _ = blobs(n // 3, 2, seed=5)
    return [[repr(float(a)), repr(float(b))] for a, b in X]


@pytest.mark.parametrize("token", ["NA", "NaN", "nan", "", " NA "], ids=repr)
def test_each_missing_token_drops_its_row(capsys, tmp_path, token):
    cells = small_cells()
    cells[4][1] = token
    text = "x,y,label\n" + "".join(f"{a},{b},t{i}\n" for i, (a, b) in enumerate(cells))
    path = write_text(tmp_path / "gaps.csv", text)
    r = run_json(capsys, "--csv", path, "--n-components", "3", "--no-plot")
    assert r["columns"] == ["x", "y"]
    assert r["skipped_columns"] == ["label"]
    assert r["n_samples"] == 11
    assert r["dropped_rows"] == 1


def test_every_missing_token_together(capsys, tmp_path):
    cells = small_cells(30)
    gaps = {(0, 0): "NA", (7, 1): "NaN", (8, 0): "nan", (29, 1): ""}
    for (row, col), token in gaps.items():
        cells[row][col] = token
    cells[12] = ["NA", "NA"]  # one row, two gaps: counted once
    text = "x,y\n" + "".join(f"{a},{b}\n" for a, b in cells)
    path = write_text(tmp_path / "gaps.csv", text)
    r = run_json(capsys, "--csv", path, "--n-components", "3", "--no-plot")
    assert r["n_samples"] == 25
    assert r["dropped_rows"] == 5
    code, out, _ = run(capsys, "--csv", path, "--n-components", "3", "--no-plot")
    assert code == 0
    assert "Dropped rows with missing values: 5" in out.splitlines()


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
def test_infinite_value_names_row_and_column(capsys, tmp_path, value):
    cells = small_cells()
    cells[2][1] = value  # third data row, column "y"
    text = "x,y\n" + "".join(f"{a},{b}\n" for a, b in cells)
    path = write_text(tmp_path / "inf.csv", text)
    code, out, err = run(capsys, "--csv", path, "--no-plot")
    line = assert_usage_error(code, out, err, path, "infinite", "'y'")
    assert re.search(r"\brow 3\b", line), line
    assert re.search(r"\bline 4\b", line), line  # header is line 1


def test_infinite_value_line_number_counts_blank_lines(capsys, tmp_path):
    path = write_text(tmp_path / "inf.csv", "x,y\n1,2\n3,4\n\n5,inf\n6,1\n")
    code, out, err = run(capsys, "--csv", path, "--no-plot", "--n-components", "2")
    line = assert_usage_error(code, out, err, path, "'y'")
    assert re.search(r"\brow 3\b", line), line
    assert re.search(r"\bline 5\b", line), line  # the file's fifth line holds "inf"


def test_an_entirely_empty_column_is_not_fitted(capsys, tmp_path):
    # Spreadsheets export an empty column (or a trailing delimiter) like this.
    cells = small_cells()
    text = "x,y,comment\n" + "".join(f"{a},{b},\n" for a, b in cells)
    path = write_text(tmp_path / "empty_col.csv", text)
    r = run_json(capsys, "--csv", path, "--n-components", "3", "--no-plot")
    assert r["columns"] == ["x", "y"]
    assert r["n_samples"] == 12
    assert r["dropped_rows"] == 0


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "numbers"])
def test_labels_column_gives_ari_and_is_not_fitted(capsys, tmp_path, kind):
    X, y = blobs(30, 2, seed=6)
    labels = y if kind == "text" else np.unique(y, return_inverse=True)[1] + 1
    path = numeric_table(tmp_path / "l.csv", X, "ab", labels=labels, label_name="truth")
    r = run_json(capsys, "--csv", path, "--labels", "truth", "--no-plot")
    assert r["columns"] == ["a", "b"]
    assert r["skipped_columns"] == []
    assert r["n_components"] == 3
    mine = own_fit_ari(X, labels, 3)
    assert mine == 1.0
    assert r["ari"] == pytest.approx(mine)


def test_no_labels_no_ari(capsys, tmp_path):
    X, _ = blobs(10, 2, seed=7)
    path = numeric_table(tmp_path / "plain.csv", X, ["a", "b"])
    r = run_json(capsys, "--csv", path, "--no-plot")
    assert "ari" not in r
    assert r["n_components"] == gmm_clustering.DEFAULT_N_COMPONENTS


def test_labels_column_listed_in_columns_is_still_not_fitted(capsys, tmp_path):
    X, y = blobs(10, 2, seed=8)
    labels = np.unique(y, return_inverse=True)[1]
    path = numeric_table(tmp_path / "l.csv", X, "ab", labels=labels, label_name="g")
    code, out, err = run(capsys, "--csv", path, "--columns=a,g", "--labels=g", "--json")
    assert_usage_error(code, out, err, "'g' is both in --columns and the --labels column")


def test_unchosen_numeric_column_is_not_called_non_numeric(capsys, tmp_path):
    X, _ = blobs(10, 3, seed=9)
    rows = [f"{p!r},{q!r},{s!r},t{i}" for i, (p, q, s) in enumerate(X.tolist())]
    lines = ["a,b,c,tag", *rows]
    path = write_text(tmp_path / "abc.csv", "\n".join(lines) + "\n")
    code, out, err = run(capsys, "--csv", path, "--columns", "a,b", "--no-plot")
    assert code == 0, err
    assert "Columns used: a, b" in out.splitlines()
    # c is numeric and merely not chosen: nothing may call it skipped as text
    assert not [ln for ln in out.splitlines() if ln.startswith("Skipped") and "c" in ln]


# --------------------------------------------------------------------------
# Bad files: exit 2, one line on stderr naming the file and the problem
# --------------------------------------------------------------------------

GOOD_TEXT = "x,y,name\n1,2,a\n3,5,b\n4,1,c\n7,2,d\n2,8,e\n6,6,f\n"


def _dir(path):
    os.mkdir(path)


BAD_FILES = {
    # id: (writer of the file at path or None, extra argv, fragments of the message)
    "missing": (None, [], ["no such file"]),
    "directory": (_dir, [], ["is a directory"]),
    "empty": (lambda p: write_text(p, ""), [], ["empty"]),
    "blank-lines-only": (lambda p: write_text(p, "\n  \n\r\n"), [], ["empty"]),
    "header-no-rows": (lambda p: write_text(p, "x,y\n"), [], ["no data rows"]),
    "header-blank-rows": (lambda p: write_text(p, '"x","y"\n\n\n'), [], ["no data"]),
    "no-numeric-column": (
        lambda p: write_text(p, "name,colour\nab,red\ncd,blue\nef,NA\n"),
        [],
        ["no numeric column"],
    ),
    "latin-1": (
        lambda p: write_text(p, "Länge,Breite\n1,2\n3,4\n", encoding="latin-1"),
        [],
        ["not UTF-8"],
    ),
    "binary-png": (
        lambda p: p.write_bytes(PNG_MAGIC + b"\x00\x00\x00\rIHDR" + bytes(range(256))),
        [],
        ["binary"],
    ),
    "utf16-without-bom": (  # UTF-16 is named as such (with a byte-order mark it is read)
        lambda p: p.write_bytes("x,y\n1,2\n3,4\n".encode("utf-16-le")),
        [],
        ["UTF-16", "--encoding utf-16-le"],
    ),
    "unknown-columns-name": (
        lambda p: write_text(p, GOOD_TEXT),
        ["--columns", "x,zzz"],
        ["'zzz'", "--columns"],
    ),
    "unknown-labels-name": (
        lambda p: write_text(p, GOOD_TEXT),
        ["--labels", "species"],
        ["'species'", "--labels"],
    ),
    "text-column-chosen": (
        lambda p: write_text(p, GOOD_TEXT),
        ["--columns", "x,name"],
        ["'name'", "not numeric"],
    ),
    "ragged-row": (
        lambda p: write_text(p, "x,y\n1,2\n3,4,5\n"),
        [],
        ["line 3 has 3 fields"],
    ),
    "fewer-rows-than-components": (
        lambda p: write_text(p, "x,y\n1,2\n3,5\n4,1\n"),
        ["--n-components", "4"],
        ["3 usable rows for 2 features and 4 components"],
    ),
    "fewer-usable-rows-after-dropping": (
        lambda p: write_text(p, "x,y\n1,2\nNA,5\n4,\n7,nan\n2,8\n"),
        ["--n-components", "3"],
        ["2 usable rows for 2 features and 3 components"],
    ),
    "rows-all-identical": (
        lambda p: write_text(p, "x,y\n" + "1.5,2\n" * 8),
        ["--n-components", "2"],
        ["all 8 rows are identical"],
    ),
    "identical-after-dropping": (
        lambda p: write_text(p, "x,y\n1,2\n1,2\n9,NA\n1,2\n"),
        ["--n-components", "2"],
        ["all 3 rows are identical"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_is_one_line_exit_2(capsys, tmp_path, case):
    writer, extra, fragments = BAD_FILES[case]
    path = tmp_path / "data.csv"
    if writer is not None:
        writer(path)
    code, out, err = run(capsys, "--csv", str(path), *extra, "--no-plot")
    assert_usage_error(code, out, err, str(path), *fragments)


@pytest.mark.parametrize(
    "option, value, missing",
    [("--columns", "x, y ,Y", "'Y'"), ("--labels", "Name", "'Name'")],
    ids=["columns-case", "labels-case"],
)
def test_unknown_column_error_lists_columns(capsys, tmp_path, option, value, missing):
    path = write_text(tmp_path / "t.csv", GOOD_TEXT)
    code, out, err = run(capsys, "--csv", path, option, value, "--no-plot")
    line = assert_usage_error(code, out, err, path, missing, option)
    assert line.endswith("x, y, name")  # the names that do exist


def test_unterminated_quote_in_large_file_is_one_line_error(capsys, tmp_path):
    rows = "".join(f"{i},{i % 7},row {i}\n" for i in range(20_000))
    path = write_text(tmp_path / "quote.csv", 'x,y,name\n1,2,"oops\n' + rows)
    code, out, err = run(capsys, "--csv", path, "--no-plot")
    assert_usage_error(code, out, err, path)


# --------------------------------------------------------------------------
# Plots: 1, 2 and 5 columns, saved with no display
# --------------------------------------------------------------------------


def assert_png(path):
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
    assert os.path.getsize(path) > 5_000


def test_plot_two_columns_axes_are_the_column_names(capsys, tmp_path, captured_figures):
    X, y = blobs(20, 2, seed=10)
    path = numeric_table(tmp_path / "two.csv", X, ["height (cm)", "mass; kg"], labels=y)
    r = run_json(capsys, "--csv", path, "--labels", "group", "--save", "out.png")
    assert r["figure"] == str(tmp_path / "out.png")
    assert_png(tmp_path / "out.png")
    assert len(captured_figures) == 1
    ax = captured_figures[0].axes[0]
    assert ax.get_xlabel() == "height (cm)"
    assert ax.get_ylabel() == "mass; kg"


def test_plot_five_columns_on_principal_components(capsys, tmp_path, captured_figures):
    X, y = blobs(20, 5, seed=11)
    names = [f"v{j}" for j in range(1, 6)]
    path = numeric_table(tmp_path / "five.csv", X, names, labels=y)
    r = run_json(capsys, "--csv", path, "--labels", "group", "--view", "pca", "--save", "out.png")
    assert r["columns"] == names
    assert r["n_features"] == 5
    assert_png(tmp_path / "out.png")
    ax = captured_figures[0].axes[0]
    xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
    assert xlabel.startswith("PC1") and "% of variance" in xlabel
    assert ylabel.startswith("PC2") and "% of variance" in ylabel
    # ...and the shares are the data's own.
    eig = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]
    share = eig / eig.sum()
    assert xlabel == f"PC1 ({share[0]:.0%} of variance)"
    assert ylabel == f"PC2 ({share[1]:.0%} of variance)"


@pytest.mark.parametrize("k", [2, 3])
def test_plot_one_column_histogram_and_curves(capsys, tmp_path, captured_figures, k):
    X, _ = blobs(40, 1, seed=12)
    path = numeric_table(tmp_path / "one.csv", X, ["length"])
    r = run_json(capsys, "--csv", path, "--n-components", str(k), "--save", "out.png")
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
    gmm = GaussianMixture(k, covariance_type="full", n_init=1, random_state=SEED).fit(X)
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


def test_iris_full_covariance_recovers_species(capsys):
    r = run_json(
        capsys,
        "--dataset",
        "iris",
        "--n-components",
        "3",
        "--covariance-type",
        "full",
        "--no-plot",
    )
    iris = load_iris()
    assert r["source"] == "iris"
    assert r["n_samples"] == 150
    assert r["columns"] == list(iris.feature_names)
    assert r["dropped_rows"] == 0
    mine = own_fit_ari(iris.data, iris.target, 3)
    assert mine >= 0.9
    assert r["ari"] == pytest.approx(mine)
    assert r["ari"] >= 0.9


def test_wine_runs_with_its_classes(capsys):
    r = run_json(capsys, "--dataset", "wine", "--no-plot")
    wine = load_wine()
    assert r["source"] == "wine"
    assert r["n_samples"] == 178
    assert r["columns"] == list(wine.feature_names)
    assert r["n_components"] == 3  # the number of cultivars
    assert math.isfinite(r["ari"])
    assert r["ari"] == pytest.approx(own_fit_ari(wine.data, wine.target, 3))


def test_fast_numeric_path_agrees_with_the_general_reader(tmp_path):
    # A table of plain numbers goes through numpy's parser; naming the columns
    # forces the csv-module reader.  Both must read the same rows and values.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    lines = ["a,b,c"] + [",".join(repr(v) for v in row) for row in X.tolist()]
    lines[7] = "nan,1.0,2.0"  # a NaN cell drops the row in both readers
    lines[20] = '"1.5","2.5","3.5"'  # quoted numbers
    path = write_text(tmp_path / "plain.csv", "\n".join(lines) + "\n")
    fast = gmm_clustering.read_csv_table(path)
    general = gmm_clustering.read_csv_table(path, columns=["a", "b", "c"])
    assert fast.feature_names == general.feature_names == ["a", "b", "c"]
    assert fast.dropped_rows == general.dropped_rows == 1
    np.testing.assert_array_equal(fast.X, general.X)
    assert len(fast.X) == 199


def test_decimal_commas_are_read_as_numbers_and_said(capsys, tmp_path):
    # A European spreadsheet (R's write.csv2): semicolons between fields, decimal commas.
    path = write_text(tmp_path / "euro.csv", "x;y\n1,5;2,5\n3,1;4,2\n2,2;0,5\n")
    r = run_json(capsys, "--csv", path, "--n-components", "1", "--covariance-type", "diag")
    assert r["means"] == [[pytest.approx(6.8 / 3), pytest.approx(7.2 / 3)]]
    assert "decimal commas read as decimal points" in r["notes"]
    code, out, _ = run(capsys, "--csv", path, "--n-components", "1", "--no-plot")
    assert code == 0 and "Note: decimal commas read as decimal points" in out.splitlines()


def test_decimal_comma_with_a_comma_delimiter_is_named_as_the_problem(capsys, tmp_path):
    path = write_text(tmp_path / "mixed.csv", 'x,y\n"1,5","2,5"\n"3,1","4,2"\n')
    code, out, err = run(capsys, "--csv", path, "--no-plot")
    assert_usage_error(code, out, err, "mixed.csv", "no numeric column", "decimal comma")
