"""Model selection: the (k, covariance type) sweep behind --select and --report.

The expected numbers come from outside the script: R's mclust 6.0 BIC tables
(tests/data/mclust_reference.json, made by the R command stored in each entry;
faithful.csv is R's faithful data written by write.csv), scikit-learn fitted here,
posteriors computed here with scipy.stats, parameter counts from scikit-learn's own
criteria, point counts by hand.

A sweep is deterministic given its arguments and costs seconds, so every call of
``select_model`` in this module, in-process or from main(), goes through
``shared_select_model``: the real function, run once per distinct argument set
(the progress callback aside), each caller getting its own deep copy.
"""

import copy
import functools
import inspect
import json
import math
import re

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    DATA,
    N_COMPONENTS,
    SEED,
    bic_of,
    blobs,
    rounded_with_repeated_values,
    select_model,
    sklearn_parameter_count,
    write_table,
)
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture

import gmm_clustering

FAITHFUL_CSV = DATA / "faithful.csv"
EDGE_NOTE = "Note: the best k is the largest tried"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

_REAL_SELECT = gmm_clustering.select
_SWEEPS = {}


def _frozen(value):
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    return value


def shared_select_model(*args, **kwargs):
    """gmm_clustering.select_model, computed once per argument set; a deep copy each call."""
    bound = inspect.signature(_REAL_SELECT).bind(*args, **kwargs)
    bound.apply_defaults()
    key = tuple(
        (name, _frozen(value))
        for name, value in bound.arguments.items()
        if name != "progress" and not callable(value)
    )
    if key not in _SWEEPS:
        _SWEEPS[key] = _REAL_SELECT(*args, **kwargs)
    return copy.deepcopy(_SWEEPS[key])


@pytest.fixture(autouse=True)
def _shared_sweeps(monkeypatch):
    monkeypatch.setattr(gmm_clustering, "select", shared_select_model)


@functools.cache
def reference():
    """mclust's BIC tables (our sign) and its chosen model, for faithful and iris."""
    return json.loads((DATA / "mclust_reference.json").read_text())


@functools.cache
def faithful():
    return np.loadtxt(FAITHFUL_CSV, delimiter=",", skiprows=1)


@functools.cache
def iris():
    return load_iris().data


DATASETS = {"faithful": faithful, "iris": iris}


def key_of(row):
    return row["covariance_type"], row["n_components"]


def lowest(rows, criterion):
    valid = [r for r in rows if not r["rejected"]]
    return min(valid, key=lambda r: r[criterion])


def shortfalls_against_mclust(name, rows):
    """(number compared, the candidates more than 2 BIC worse than mclust's, described)."""
    table = reference()[name]["bic"]
    compared, worse = 0, []
    for r in rows:
        theirs = table[r["covariance_type"]][r["n_components"] - 1]
        if r["rejected"] or theirs is None:
            continue
        compared += 1
        if r["bic"] > theirs + 2:
            worse.append(
                f"{name} {r['covariance_type']} k={r['n_components']}: ours {r['bic']:.3f}, "
                f"mclust {theirs:.3f} (+{r['bic'] - theirs:.3f})"
            )
    return compared, worse


def check_against_mclust(name, max_k):
    X = DATASETS[name]()
    rows, model, sample = select_model(X, max_k, "bic", SEED)
    assert sample is None  # a few hundred rows: no subsample
    assert {key_of(r) for r in rows} == {
        (c, k) for c in COVARIANCE_TYPES for k in range(1, max_k + 1)
    }
    compared, worse = shortfalls_against_mclust(name, rows)
    assert compared >= 3 * max_k, f"only {compared} candidates compared"
    assert not worse, "worse than mclust by more than 2 BIC:\n" + "\n".join(worse)
    best = reference()[name]["best"]
    assert (model.covariance_type, len(model.weights)) == (
        best["covariance_type"],
        best["n_components"],
    )
    assert bic_of(model, X) == pytest.approx(best["bic"], abs=0.1)  # scikit-learn's own BIC
    assert lowest(rows, "bic")["bic"] == pytest.approx(bic_of(model, X), abs=1e-6)


# --------------------------------------------------------------------------
# 1. Against R's mclust
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_small_sweep_matches_mclust(name):
    # k <= 3 already holds mclust's choice for both (faithful tied 3, iris full 2).
    check_against_mclust(name, 3)


KNOWN_SHORT = pytest.mark.xfail(
    strict=True, reason="iris, spherical k = 5 and 8: 4.4 and 4.9 BIC above mclust's optimum"
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["faithful", pytest.param("iris", marks=KNOWN_SHORT)])
def test_full_sweep_matches_mclust(name):
    """mclust's whole table, G = 1..9: no candidate more than 2 BIC worse than R's."""
    check_against_mclust(name, 9)


# --------------------------------------------------------------------------
# 2. Never worse than scikit-learn's plain fit of the same candidate
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_sweep_is_never_worse_than_a_default_fit(name):
    X = DATASETS[name]()
    rows, _, _ = select_model(X, 3, "bic", SEED)
    compared, behind = 0, []
    for r in rows:
        if r["rejected"]:
            continue
        cov, k = key_of(r)
        plain = GaussianMixture(k, covariance_type=cov, random_state=SEED).fit(X).bic(X)
        compared += 1
        if plain < r["bic"] - 0.01:
            behind.append(f"{cov} k={k}: sweep {r['bic']:.3f}, plain fit {plain:.3f}")
    assert compared >= 10
    assert not behind, "the sweep lost to a default fit:\n" + "\n".join(behind)


# --------------------------------------------------------------------------
# 3. --report: the fitted model on its BIC curve, and the sweep's preference
# --------------------------------------------------------------------------


def test_report_puts_this_model_on_its_curve(cli, unrendered_figures):
    X, _ = blobs()
    plain_bic = GaussianMixture(N_COMPONENTS, random_state=SEED).fit(X).bic(X)
    argv = ["--report", "--max-components", "4", "--save", "out.png"]
    result = cli.json(*argv, figure=True)
    assert (result["covariance_type"], result["n_components"]) == ("full", 4)  # as asked
    assert result["bic"] == pytest.approx(plain_bic, abs=1e-6)
    rows = {key_of(r): r for r in result["selection"]}
    assert len(rows) == 4 * 4
    assert rows["full", 4]["bic"] == pytest.approx(result["bic"], abs=0.01)
    best = lowest(result["selection"], "bic")
    assert result["selection_best"] == {
        "covariance_type": best["covariance_type"],
        "n_components": best["n_components"],
        "bic": best["bic"],
    }
    # The star drawn on the BIC panel sits on the "full" curve at k = 4.
    (fig,) = unrendered_figures
    (ax,) = [a for a in fig.axes if a.get_title().startswith("BIC by number of components")]
    lines = {line.get_label(): line for line in ax.get_lines()}
    star_y = lines["this model"].get_ydata()[0]
    full_x, full_y = list(lines["full"].get_xdata()), lines["full"].get_ydata()
    assert full_y[full_x.index(4)] == pytest.approx(star_y, abs=0.01)

    out = cli.output(*argv)
    assert (best["covariance_type"], best["n_components"]) != ("full", 4)
    assert (
        f"BIC prefers {best['covariance_type']} with {best['n_components']} components "
        f"(BIC {best['bic']:.3f}; this model {plain_bic:.3f})"
    ) in out.splitlines()
    assert "Selected:" not in out


# --------------------------------------------------------------------------
# 4. ICL, recomputed here from the reported parameters
# --------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["bic", "icl"])
def test_icl_is_bic_minus_twice_the_log_certainty(cli, criterion):
    X = faithful()
    n, d = X.shape
    result = cli.json(
        "--csv", FAITHFUL_CSV, "--select", "--max-components", "3", "--criterion", criterion
    )
    log_joint = np.column_stack(
        [
            math.log(w) + multivariate_normal(mu, cov).logpdf(X)
            for w, mu, cov in zip(result["weights"], result["means"], result["covariances"])
        ]
    )
    log_density = logsumexp(log_joint, axis=1)
    posteriors = np.exp(log_joint - log_density[:, None])
    p = sklearn_parameter_count(result["n_components"], d, result["covariance_type"])
    bic = -2 * log_density.sum() + p * math.log(n)
    icl = bic - 2 * np.log(posteriors.max(axis=1)).sum()
    assert icl - bic > 0.1  # overlapping clusters: the check below can tell ICL from BIC
    assert result["bic"] == pytest.approx(bic, rel=1e-6)
    assert result["icl"] == pytest.approx(icl, rel=1e-6)
    # The winner's row describes the model reported.
    (winner,) = [
        r
        for r in result["selection"]
        if key_of(r) == (result["covariance_type"], result["n_components"])
    ]
    assert winner["bic"] == pytest.approx(bic, rel=1e-6)
    if criterion == "bic":  # mclust's choice, and its ICL (icl(m) in R)
        assert key_of(winner) == ("tied", 3)
        assert result["icl"] == pytest.approx(reference()["faithful"]["best"]["icl"], abs=1.0)
    assert winner["icl"] == pytest.approx(icl, rel=1e-6)


# --------------------------------------------------------------------------
# 5. The edge flag
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_k", "at_edge"),
    # Four blobs: up to 3 the best k is the largest tried; with 5 it is 4, inside the range.
    # With 1 nothing else was possible: not an edge.
    [(3, True), (5, False), (1, False)],
)
def test_edge_flag_and_note(cli, max_k, at_edge):
    result = cli.json("--select", "--max-components", max_k)
    assert result["selection_at_edge"] is at_edge
    assert max(r["n_components"] for r in result["selection"]) == max_k
    best = lowest(result["selection"], "bic")
    assert result["selection_best"] == {
        "covariance_type": best["covariance_type"],
        "n_components": best["n_components"],
        "bic": best["bic"],
    }
    assert (best["n_components"] == max_k > 1) is at_edge
    out = cli.output("--select", "--max-components", max_k, "--no-plot")
    note = f"{EDGE_NOTE} ({max_k}); try a larger --max-components"
    assert (note in out.splitlines()) is at_edge
    assert (EDGE_NOTE in out) is at_edge
    assert f"Selected: {best['covariance_type']} with {best['n_components']} components" in out


def test_no_sweep_no_selection_keys(cli):
    result = cli.json()
    for key in ("selection", "selection_at_edge", "selection_best", "criterion"):
        assert key not in result


# --------------------------------------------------------------------------
# 6. --criterion icl
# --------------------------------------------------------------------------


def test_criterion_icl_picks_the_lowest_icl(cli):
    argv = ["--csv", FAITHFUL_CSV, "--select", "--max-components", "3", "--criterion", "icl"]
    result = cli.json(*argv)
    assert result["criterion"] == "icl"
    rows = result["selection"]
    by_icl, by_bic = lowest(rows, "icl"), lowest(rows, "bic")
    assert (result["covariance_type"], result["n_components"]) == key_of(by_icl)
    # On faithful the two criteria disagree (mclust: BIC tied 3; ICL penalises its overlap).
    assert key_of(by_icl) != key_of(by_bic)
    assert result["selection_best"] == {
        "covariance_type": by_icl["covariance_type"],
        "n_components": by_icl["n_components"],
        "icl": by_icl["icl"],
    }
    out = cli.output(*argv, "--no-plot")
    assert "Model selection by ICL (lower is better) over 12 candidates:" in out
    assert f"Selected: {by_icl['covariance_type']} with {by_icl['n_components']} components" in out


# --------------------------------------------------------------------------
# 7. A degenerate plain fit warns in one line
# --------------------------------------------------------------------------


def scattered_plus_copies():
    """60 scattered points and 10 copies of one far-away point: k-means gives the copies
    a component of their own, whose covariance shrinks to reg_covar."""
    rng = np.random.RandomState(0)
    return np.r_[rng.normal(0, 1, (60, 2)), np.tile([[10.0, 10.0]], (10, 1))]


def test_degenerate_plain_fit_warns_once(cli, tmp_path):
    path = write_table(tmp_path / "copies.csv", scattered_plus_copies(), ["x", "y"])
    rc, out, err = cli.run("--csv", path, "--n-components", "2", "--no-plot")
    assert rc == 0, err
    assert "Model: GaussianMixture(n_components=2," in out
    assert err.count("\n") == 1 and err.endswith("\n"), repr(err)
    match = re.match(r"gmm_clustering\.py: warning: the fit is degenerate: component (\d+) ", err)
    assert match, err
    j = int(match.group(1))
    for way_out in ("fewer components", "--select", "--scale"):
        assert way_out in err
    rc, out, json_err = cli.run("--csv", path, "--n-components", "2", "--no-plot", "--json")
    assert (rc, json_err) == (0, err)  # the same warning
    result = json.loads(out)
    assert isinstance(result["degenerate"], str)
    assert f"degenerate: {result['degenerate']}" in err
    # The component named is the one on the ten copies (counted by hand: 10 of 70 points).
    np.testing.assert_allclose(result["means"][j], [10.0, 10.0], atol=1e-6)
    assert result["weights"][j] * 70 == pytest.approx(10, abs=1e-3)
    assert np.linalg.eigvalsh(result["covariances"][j]).max() < 1e-5


def test_healthy_default_fit_is_not_degenerate(cli):
    assert cli.json()["degenerate"] is None  # and nothing on stderr
    cli.output("--no-plot")  # nothing on stderr


# --------------------------------------------------------------------------
# 8. Few rows: the sweep stays within what they hold
# --------------------------------------------------------------------------
# (Data no mixture can be fitted to, and --max-components outside 1 to 50, are rows of the
# bad-input table.)


def test_max_components_above_what_the_rows_hold_is_capped(cli, tmp_path):
    rng = np.random.RandomState(3)
    X = np.r_[rng.normal(0, 1, (6, 2)), rng.normal(0, 1, (6, 2)) + [8, 8]]
    path = write_table(tmp_path / "twelve.csv", X, ["x", "y"])
    argv = ["--csv", path, "--select", "--max-components", "50"]
    result = cli.json(*argv)
    # 12 rows hold at most 12 // 2 = 6 components of two points.
    assert {key_of(r) for r in result["selection"]} == {
        (c, k) for c in COVARIANCE_TYPES for k in range(1, 7)
    }
    out = cli.output(*argv, "--no-plot")
    assert "Note: --max-components capped at 6: 12 rows hold at most 6 components" in out


def test_select_on_a_dozen_rows_of_one_cloud_picks_one_component(cli, tmp_path):
    """One Gaussian, 12 rows: every k = 1 fit is closed-form, and the best of them wins."""
    X = np.random.RandomState(3).normal(size=(12, 2))
    path = write_table(tmp_path / "one.csv", X, ["x", "y"])
    one = {
        cov: GaussianMixture(1, covariance_type=cov, random_state=SEED).fit(X).bic(X)
        for cov in COVARIANCE_TYPES
    }
    two = [
        GaussianMixture(2, covariance_type=cov, random_state=SEED).fit(X).bic(X)
        for cov in COVARIANCE_TYPES
    ]
    assert min(one.values()) < min(two) - 1  # k = 1 is clearly best here
    result = cli.json("--csv", path, "--select", "--max-components", "2")
    assert result["n_components"] == 1
    assert result["covariance_type"] == min(one, key=one.get)
    assert result["bic"] == pytest.approx(min(one.values()), abs=1e-6)


# --------------------------------------------------------------------------
# 9. Rejected candidates are gaps with reasons
# --------------------------------------------------------------------------


def test_rejected_candidates_have_no_criteria_and_a_reason(cli, tmp_path):
    X = rounded_with_repeated_values()[::30]  # 11 rows: k = 4 cannot give each 3 points
    path = write_table(tmp_path / "rounded.csv", X, ["x", "y"])
    argv = ["--csv", path, "--select", "--max-components", "4"]
    result = cli.json(*argv)
    rows = result["selection"]
    rejected = [r for r in rows if r["rejected"]]
    assert rejected, "nothing rejected: this data no longer exercises the guard"
    for r in rejected:
        assert r["bic"] is None and r["aic"] is None and r["icl"] is None, r
        assert r["log_likelihood"] is None, r
        assert isinstance(r["reason"], str) and r["reason"], r
    for r in rows:
        if not r["rejected"]:
            assert r["reason"] is None and isinstance(r["bic"], float), r
    chosen = next(
        r for r in rows if key_of(r) == (result["covariance_type"], result["n_components"])
    )
    assert not chosen["rejected"]
    assert chosen == lowest(rows, "bic")
    # The model chosen is not degenerate by a hand measure: whole numbers are rounded by
    # +-0.5 (variance 1/12), and no real component is narrower, nor holds under 3 points.
    assert np.linalg.eigvalsh(result["covariances"]).min() > 1 / 12
    assert min(result["weights"]) * len(X) >= 3
    out = cli.output(*argv, "--no-plot")
    listed = ", ".join(f"{r['covariance_type']} k={r['n_components']}" for r in rejected)
    assert f"  rejected as degenerate: {listed}" in out.splitlines()
