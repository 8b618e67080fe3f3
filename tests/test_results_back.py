"""Your results back: --assignments, --save-model and --model.

Every expected number is rebuilt here from the saved JSON with scipy.stats alone (Bayes'
rule on each component's density: ``scipy_posteriors``), the classes and data from
scikit-learn's make_blobs, anomalies by sorting those densities by hand.  Files are written
by the tests as R's write.csv and write.table lay them out (the layouts of the real R
output in data/r_examples) and read back with the csv module.  The refusals of --model
are rows of the bad-input table (test_bad_input.py).
"""

import csv
import json
import os

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    blobs,
    scipy_posteriors,
    sklearn_parameter_count,
    three_blobs,
    write_file,
    write_table,
)
from sklearn.metrics import adjusted_rand_score

import gmm_clustering

QUIET = ["--no-plot"]


def read_assignments(path):
    """An --assignments file as {column name: list of cells}, read with the csv module."""
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert all(len(row) == len(header) for row in rows)
    return {name: [row[j] for row in rows] for j, name in enumerate(header)}


def posterior_columns(table):
    """The posterior_0 .. posterior_{k-1} columns as a float array (n, k)."""
    names = [name for name in table if name.startswith("posterior_")]
    assert names == [f"posterior_{j}" for j in range(len(names))]
    return np.array([table[name] for name in names], dtype=float).T


def load_model(path):
    """A --save-model file, read with the json module."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def scipy_of(model, X):
    """(log p(x), posteriors) of X's rows under a saved model, from scipy alone."""
    return scipy_posteriors(X, model["weights"], model["means"], model["covariances"])


def r_write_csv(path, names, X, row_names, text=None):
    """A table as R's write.csv writes it: a quoted header whose first cell is "", each row
    its quoted row name first, NA for a missing value, text quoted."""
    lines = [",".join(f'"{name}"' for name in ["", *names, *(["note"] if text else [])])]
    for i, row in enumerate(X):
        cells = ["NA" if np.isnan(v) else repr(float(v)) for v in row]
        lines.append(",".join([f'"{row_names[i]}"', *cells, *([f'"{text[i]}"'] if text else [])]))
    return write_file(path, "\n".join(lines) + "\n")


def r_write_table(path, names, X, row_names):
    """A table as R's write.table writes it: space-separated, the header one field shorter
    than the rows, each row its quoted row name first."""
    lines = [" ".join(f'"{name}"' for name in names)]
    for i, row in enumerate(X):
        cells = ["NA" if np.isnan(v) else repr(float(v)) for v in row]
        lines.append(" ".join([f'"{row_names[i]}"', *cells]))
    return write_file(path, "\n".join(lines) + "\n")


def two_groups(n=30, seed=0):
    """Two well separated groups in 2-D (x, y), n rows."""
    rng = np.random.RandomState(seed)
    return np.r_[rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n - n // 2, 2))]


# --------------------------------------------------------------------------
# 1. --assignments: each row's posteriors, rebuilt from the saved model with scipy
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_assignments_are_the_saved_models_posteriors(cli, tmp_path, covariance_type):
    X, _ = blobs(n_samples=60)  # the generated data, made here
    cli.output(
        *("--n-samples", 60, "--n-components", 3, "--covariance-type", covariance_type),
        *("--assignments", "a.csv", "--save-model", "m.json", *QUIET),
    )
    log_density, posteriors = scipy_of(load_model(tmp_path / "m.json"), X)
    table = read_assignments(tmp_path / "a.csv")
    assert table["row"] == [str(i) for i in range(1, 61)]
    assert table["cluster"] == [str(c) for c in posteriors.argmax(axis=1)]
    np.testing.assert_allclose(posterior_columns(table), posteriors, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.array(table["log_density"], float), log_density, atol=1e-9)
    uncertainty = 1 - posteriors.max(axis=1)
    np.testing.assert_allclose(np.array(table["uncertainty"], float), uncertainty, atol=1e-9)


def test_assignments_log_density_is_in_the_data_units_under_scale(cli, tmp_path):
    X = three_blobs() * [1000.0, 0.1]  # columns in very different units
    path = write_table(tmp_path / "raw.csv", X, ["metres", "tonnes"])
    cli.output(
        *("--csv", path, "--scale", "--n-components", 3),
        *("--assignments", "a.csv", "--save-model", "m.json", *QUIET),
    )
    log_density, _ = scipy_of(load_model(tmp_path / "m.json"), X)  # raw X, the model's units
    table = read_assignments(tmp_path / "a.csv")
    np.testing.assert_allclose(np.array(table["log_density"], float), log_density, atol=1e-9)


def test_assignments_class_column_holds_the_true_classes(cli, tmp_path):
    _, y = blobs(n_samples=60)
    cli.output("--n-samples", 60, "--assignments", "a.csv", *QUIET)
    table = read_assignments(tmp_path / "a.csv")
    assert list(table)[-1] == "class"
    assert table["class"] == [f"blob {c}" for c in y]


def test_rows_without_names_are_numbered_among_the_data_rows(cli, tmp_path):
    X = two_groups()
    X[[2, 9], [0, 1]] = np.nan  # rows 3 and 10 dropped
    path = write_table(tmp_path / "plain.csv", X)
    cli.output("--csv", path, "--n-components", 2, "--assignments", "a.csv", *QUIET)
    table = read_assignments(tmp_path / "a.csv")
    assert table["row"] == [str(i) for i in range(1, 31)]
    dropped = [i for i, c in enumerate(table["cluster"]) if c == ""]
    assert dropped == [2, 9]


# --------------------------------------------------------------------------
# 2. --save-model: the mixture in the data's own units
# --------------------------------------------------------------------------


def test_saved_model_has_the_documented_fields(cli, tmp_path):
    X = three_blobs()
    path = write_table(tmp_path / "in.csv", X, ["a", "b"])
    fit = ["--n-components", 3, "--covariance-type", "diag"]
    cli.output("--csv", path, *fit, "--save-model", "m.json", *QUIET)
    model = load_model(tmp_path / "m.json")
    fields = "format version columns covariance_type weights means covariances n_samples"
    assert list(model) == [*fields.split(), "log_likelihood", "bic", "source"]
    assert (model["format"], model["version"]) == ("gmm_clustering mixture", 1)
    assert (model["columns"], model["covariance_type"]) == (["a", "b"], "diag")
    assert model["n_samples"] == 60
    assert np.array(model["means"]).shape == (3, 2)
    covariances = np.array(model["covariances"])  # every component's full matrix
    assert covariances.shape == (3, 2, 2)
    assert (covariances[:, 0, 1] == 0).all() and (covariances[:, 1, 0] == 0).all()
    assert sum(model["weights"]) == pytest.approx(1)


@pytest.mark.parametrize("scale", [False, True], ids=["raw", "scale"])
def test_saved_log_likelihood_and_bic_are_those_of_the_data(cli, tmp_path, scale):
    X = three_blobs() * [1000.0, 0.1]
    path = write_table(tmp_path / "raw.csv", X, ["metres", "tonnes"])
    fit = ["--n-components", 3, *(["--scale"] if scale else [])]
    cli.output("--csv", path, *fit, "--save-model", "m.json", *QUIET)
    model = load_model(tmp_path / "m.json")
    log_l = scipy_of(model, X)[0].sum()  # of the raw data, whatever the fit ran on
    p = sklearn_parameter_count(3, 2, "full")
    assert model["log_likelihood"] == pytest.approx(log_l / 60, rel=1e-9)
    assert model["bic"] == pytest.approx(-2 * log_l + p * np.log(60), rel=1e-9)


# --------------------------------------------------------------------------
# 3. --model: a saved mixture applied again
# --------------------------------------------------------------------------


def test_model_saved_under_scale_gives_the_fits_clusters_on_the_raw_file(cli, tmp_path):
    X = three_blobs() * [1000.0, 0.1]
    X[[4, 30], [1, 0]] = np.nan
    path = write_table(tmp_path / "raw.csv", X, ["metres", "tonnes"])
    outputs = ["--assignments", "fit.csv", "--save-model", "m.json", *QUIET]
    cli.output("--csv", path, "--scale", "--n-components", 3, *outputs)
    cli.output("--model", "m.json", "--csv", path, "--assignments", "applied.csv", *QUIET)
    fitted = read_assignments(tmp_path / "fit.csv")
    applied = read_assignments(tmp_path / "applied.csv")
    assert list(zip(applied["row"], applied["cluster"])) == list(
        zip(fitted["row"], fitted["cluster"])
    )


def test_model_gives_every_row_name_its_cluster_in_a_shuffled_reordered_file(cli, tmp_path):
    X = two_groups(40)
    names = [f"id {i}" for i in range(1, 41)]
    r_write_csv(tmp_path / "first.csv", ["x", "y"], X, names)
    outputs = ["--assignments", "fit.csv", "--save-model", "m.json", *QUIET]
    cli.output("--csv", "first.csv", "--n-components", 2, *outputs)
    order = np.random.RandomState(3).permutation(40)
    notes = [f"note {i}" for i in range(40)]  # a text column, not in the model
    shuffled = [names[i] for i in order]
    r_write_csv(tmp_path / "next.csv", ["y", "x"], X[order][:, ::-1], shuffled, text=notes)
    cli.output("--model", "m.json", "--csv", "next.csv", "--assignments", "applied.csv", *QUIET)
    fitted = read_assignments(tmp_path / "fit.csv")
    applied = read_assignments(tmp_path / "applied.csv")
    assert applied["row"] == shuffled
    assert dict(zip(applied["row"], applied["cluster"])) == dict(
        zip(fitted["row"], fitted["cluster"])
    )


def apply_to_new_blobs(cli, tmp_path, *extra):
    """A model fitted on 200 generated points (seed 42), applied to 300 new ones (seed 7)."""
    cli.output("--n-samples", 200, "--save-model", "m.json", *QUIET)
    return ["--model", "m.json", "--n-samples", 300, "--random-state", 7, *extra]


def test_model_on_generated_data_is_scipys_mixture_of_the_new_points(cli, tmp_path):
    argv = apply_to_new_blobs(cli, tmp_path)
    X, y = blobs(n_samples=300, random_state=7)
    log_density, posteriors = scipy_of(load_model(tmp_path / "m.json"), X)
    labels = posteriors.argmax(axis=1)
    result = cli.json(*argv)
    assert result["n_samples"] == 300
    assert result["log_likelihood"] == pytest.approx(log_density.mean(), rel=1e-9)
    assert result["cluster_sizes"] == np.bincount(labels, minlength=4).tolist()
    assert result["ari"] == pytest.approx(adjusted_rand_score(y, labels))


def test_model_summary_prints_no_criteria(cli, tmp_path):
    lines = cli.output(*apply_to_new_blobs(cli, tmp_path)).splitlines()
    assert {"BIC: n/a", "AIC: n/a", "ICL: n/a"} <= set(lines)


def test_model_summary_says_em_was_not_run(cli, tmp_path):
    lines = cli.output(*apply_to_new_blobs(cli, tmp_path)).splitlines()
    assert "EM converged: n/a (applied, not fitted)" in lines


# --------------------------------------------------------------------------
# 4. Files R wrote: row names and NA rows come back line by line
# --------------------------------------------------------------------------

R_NAMES = [f"id {i}" for i in range(1, 31)]
R_NAMES[4] = "Smith, J."  # a comma: quoted in the output too
R_LAYOUTS = {"write.csv": (r_write_csv, "r.csv"), "write.table": (r_write_table, "r.txt")}


@pytest.mark.parametrize("how", ["fit", "model"])
@pytest.mark.parametrize("layout", list(R_LAYOUTS))
def test_r_files_come_back_joinable_line_by_line(cli, tmp_path, layout, how):
    X = two_groups()
    X[[2, 9], [0, 1]] = np.nan  # NA in rows 3 and 10
    write, name = R_LAYOUTS[layout]
    write(tmp_path / name, ["x", "y"], X, R_NAMES)
    fit = ["--n-components", 2, "--save-model", "m.json"]
    argv = ["--csv", name, "--assignments", "a.csv", *QUIET]
    cli.output(*argv, *fit)
    if how == "model":
        os.remove(tmp_path / "a.csv")
        cli.output(*argv, "--model", "m.json")
    table = read_assignments(tmp_path / "a.csv")
    assert table["row"] == R_NAMES  # in the input's order
    empty = [i for i in range(30) if all(table[c][i] == "" for c in table if c != "row")]
    assert empty == [2, 9]  # the NA rows: every cell but the name empty
    assert all(table["cluster"][i] in ("0", "1") for i in range(30) if i not in (2, 9))


# --------------------------------------------------------------------------
# 5. --anomalies in the assignments: the lowest PCT % of the log-densities
# --------------------------------------------------------------------------


def flagged_by_hand(log_density, percent):
    """The round(n * percent / 100) rows of lowest density (no ties here)."""
    n_flag = round(len(log_density) * percent / 100)
    return set(np.argsort(log_density)[:n_flag].tolist())


def test_anomaly_column_of_an_applied_model_flags_the_lowest_densities(cli, tmp_path):
    X = two_groups(100, seed=1)
    path = write_table(tmp_path / "first.csv", X)
    cli.output("--csv", path, "--n-components", 2, "--save-model", "m.json", *QUIET)
    new = two_groups(120, seed=2)
    new[[0, 50], [1, 0]] = np.nan
    write_table(tmp_path / "new.csv", new)
    outputs = ["--anomalies", 5, "--assignments", "a.csv", *QUIET]
    cli.output("--model", "m.json", "--csv", "new.csv", *outputs)
    kept = np.flatnonzero(~np.isnan(new).any(axis=1))
    log_density, _ = scipy_of(load_model(tmp_path / "m.json"), new[kept])
    expected = [""] * 120
    for i, row in enumerate(kept):
        expected[row] = "1" if i in flagged_by_hand(log_density, 5) else "0"
    assert read_assignments(tmp_path / "a.csv")["anomaly"] == expected


def test_anomaly_column_of_a_fit_flags_the_lowest_densities(cli, tmp_path):
    X, _ = blobs(n_samples=100)
    outputs = ["--assignments", "a.csv", "--save-model", "m.json", *QUIET]
    cli.output("--n-samples", 100, "--anomalies", 10, *outputs)
    log_density, _ = scipy_of(load_model(tmp_path / "m.json"), X)
    flagged = flagged_by_hand(log_density, 10)
    expected = ["1" if i in flagged else "0" for i in range(100)]
    assert read_assignments(tmp_path / "a.csv")["anomaly"] == expected


def test_anomaly_column_is_written_when_no_row_is_flagged(cli, tmp_path):
    cli.output("--n-samples", 20, "--anomalies", 1, "--assignments", "a.csv", *QUIET)
    assert read_assignments(tmp_path / "a.csv")["anomaly"] == ["0"] * 20


# --------------------------------------------------------------------------
# 6. A model applied batch by batch gives the one-batch result
# --------------------------------------------------------------------------


def test_a_model_applied_in_many_batches_gives_the_one_batch_result(cli, tmp_path, monkeypatch):
    X = two_groups(300, seed=4)
    X[[7, 150, 299], [0, 1, 0]] = np.nan
    names = [f"row {i}" for i in range(300)]
    r_write_csv(tmp_path / "big.csv", ["x", "y"], X, names)
    cli.output("--csv", "big.csv", "--n-components", 2, "--save-model", "m.json", *QUIET)
    argv = ["--model", "m.json", "--csv", "big.csv", "--json", *QUIET]
    whole = json.loads(cli.output(*argv, "--assignments", "one.csv"))
    batches = []
    real_e_step = gmm_clustering.e_step
    monkeypatch.setattr(
        gmm_clustering, "e_step", lambda m, X: batches.append(len(X)) or real_e_step(m, X)
    )
    monkeypatch.setattr(gmm_clustering, "BATCH_CHARS", 200)  # about 5 rows a batch
    streamed = json.loads(cli.output(*argv, "--assignments", "many.csv"))
    assert len(batches) > 30 and sum(batches) == 297
    one, many = read_assignments(tmp_path / "one.csv"), read_assignments(tmp_path / "many.csv")
    assert (many["row"], many["cluster"]) == (one["row"], one["cluster"])
    for column in ("uncertainty", "log_density", "posterior_0", "posterior_1"):
        a = np.array([float(v) if v else np.nan for v in one[column]])
        b = np.array([float(v) if v else np.nan for v in many[column]])
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    for key in ("n_samples", "cluster_sizes", "uncertain", "dropped_rows"):
        assert streamed[key] == whole[key], key
    assert streamed["log_likelihood"] == pytest.approx(whole["log_likelihood"], rel=1e-12)


# --------------------------------------------------------------------------
# 7. The two new outputs get the output checks of --save (not yet: see the reasons)
# --------------------------------------------------------------------------


def _over_the_input(folder):
    write_table(folder / "in.csv", three_blobs())
    return ["--csv", "in.csv", "--assignments", "in.csv"]


def _model_over_the_input(folder):
    write_table(folder / "in.csv", three_blobs())
    return ["--csv", "in.csv", "--save-model", "in.csv"]


def _over_the_model_file(folder):
    write_table(folder / "in.csv", three_blobs())
    write_file(folder / "m.json", json.dumps(GOOD_MODEL))
    return ["--model", "m.json", "--csv", "in.csv", "--assignments", "m.json"]


def _assignments_and_model_in_one_file(folder):
    return ["--assignments", "out.csv", "--save-model", "out.csv"]


def _into_a_missing_folder(folder):
    return ["--assignments", "missing/a.csv"]


def _over_a_fifo(folder):  # never /dev/null: the bug renames a regular file over it
    os.mkfifo(folder / "pipe")
    return ["--assignments", "pipe"]


GOOD_MODEL = {
    "format": "gmm_clustering mixture",
    "version": 1,
    "columns": ["x1", "x2"],
    "covariance_type": "full",
    "weights": [0.5, 0.5],
    "means": [[0.0, 0.0], [5.0, 5.0]],
    "covariances": [[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]],
    "n_samples": 10,
    "log_likelihood": -3.0,
    "bic": 70.0,
    "source": "x.csv",
}


@pytest.mark.parametrize(
    "setup",
    [
        _over_the_input,
        _model_over_the_input,
        _over_the_model_file,
        _assignments_and_model_in_one_file,
        _into_a_missing_folder,
        _over_a_fifo,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_new_outputs_are_checked_before_any_work(refused, tmp_path, setup):
    argv = setup(tmp_path)
    line = refused(*argv, *QUIET)  # exit 2, no work begun, no file changed
    assert argv[-1] in line
