"""Model selection: the (k, covariance type) sweep behind --select and --report.

The expected numbers come from outside the script: R's mclust 6.0 BIC tables for eleven
data sets (tests/data/mclust/tables.json, made by the R call in its "made_by", with the
CSVs beside it), mclust's ICL of its choice on Old Faithful (tests/data/mclust_reference.json),
scikit-learn fitted here, posteriors computed here with scipy.stats, parameter counts from
scikit-learn's own criteria, point counts by hand.

A sweep is deterministic given its arguments and costs up to a second, so every call of
``select`` in this module, in-process or from main(), goes through ``shared_select``: the
real function, run once per distinct argument set, each caller getting its own deep copy.
"""

import copy
import functools
import inspect
import json
import math

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    DATA,
    MCLUST,
    MCLUST_TYPES,
    bic_of,
    blobs,
    mclust_data,
    mclust_table,
    mclust_tables,
    select_model,
    sklearn_fit,
    sklearn_parameter_count,
    standardised_fit,
    title_of,
    write_table,
)
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmm_clustering

FAITHFUL_CSV = MCLUST / "faithful.csv"  # R's faithful, write.csv
EDGE_NOTE = "Note: the best k is the largest tried"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

_REAL_SELECT = gmm_clustering.select
_SWEEPS = {}


def _frozen(value):
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, list):
        return ("list", *value)
    return value


def shared_select(*args, **kwargs):
    """gmm_clustering.select, computed once per argument set; a deep copy each call."""
    bound = inspect.signature(_REAL_SELECT).bind(*args, **kwargs)
    bound.apply_defaults()
    key = tuple((name, _frozen(value)) for name, value in bound.arguments.items())
    if key not in _SWEEPS:
        _SWEEPS[key] = _REAL_SELECT(*args, **kwargs)
    return copy.deepcopy(_SWEEPS[key])


@pytest.fixture(autouse=True)
def _shared_sweeps(monkeypatch):
    monkeypatch.setattr(gmm_clustering, "select", shared_select)


@functools.cache
def faithful_icl():
    """mclust's ICL of its choice on Old Faithful (EEE, 3), in our sign: icl(m) negated."""
    entry = json.loads((DATA / "mclust_reference.json").read_text())["faithful"]
    assert (entry["best"]["covariance_type"], entry["best"]["n_components"]) == ("tied", 3)
    return entry["best"]["icl"]


def key_of(row):
    return row["covariance_type"], row["n_components"]


def lowest(rows, criterion):
    usable = [r for r in rows if not r["set_aside"]]
    return min(usable, key=lambda r: r[criterion])


# --------------------------------------------------------------------------
# 1. Against R's mclust: every candidate, eleven data sets
# --------------------------------------------------------------------------
# For every candidate mclust fitted, the sweep either fits it at mclust's BIC or better
# (within 2 points), or sets it aside as spurious: no usable fit, or a spurious fit found
# at mclust's optimum or better.  The winner is mclust's, or has a better BIC.

MCLUST_DEFAULT = ["faithful", "women", "trees"]  # each sweep well under half a second
MCLUST_SLOW = [
    "faithful_std",
    "iris",
    "swiss",
    "LifeCycleSavings",
    "mtcars",
    "Orange",
    "quakes",
    "mclust_thyroid",
]


@functools.cache
def mclust_sweep(name):
    """Our sweep of one of mclust's data sets, G = 1..9 as mclust's, seed 42."""
    X, names = mclust_data(name)
    return _REAL_SELECT(X, 9, "bic", 42, names)


def mclust_verdicts(name):
    """{candidate: "fitted", "set aside" or a description of the miss}, for every candidate
    mclust fitted (ours is "fitted" when its BIC is mclust's or better, within 2)."""
    rows = {key_of(r): r for r in mclust_sweep(name).rows}
    verdicts = {}
    for key, theirs in mclust_table(name).items():
        r = rows[key]
        if r["bic"] is not None and r["bic"] <= theirs + 2:
            verdicts[key] = "fitted"
        elif r["set_aside"] or (
            r["set_aside_bic"] is not None and r["set_aside_bic"] <= theirs + 2
        ):
            verdicts[key] = "set aside"
        else:
            spurious = r["set_aside_bic"] and f", spurious fit {r['set_aside_bic']:.3f}"
            verdicts[key] = (
                f"{name} {key[0]} k={key[1]}: ours {r['bic']:.3f}{spurious or ''}, "
                f"mclust {theirs:.3f} (+{r['bic'] - theirs:.3f})"
            )
    return verdicts


def model_of(key):
    """One name for one model: with one component, tied is full (one covariance matrix)."""
    return ("full", 1) if key == ("tied", 1) else key


def check_against_mclust(name):
    selection = mclust_sweep(name)
    assert selection.sample is None  # at most 1,000 rows: no subsample
    assert {key_of(r) for r in selection.rows} == {
        (c, k) for c in COVARIANCE_TYPES for k in range(1, 10)
    }
    verdicts = mclust_verdicts(name)
    assert len(verdicts) == mclust_tables()[name]["n_fitted"]
    missed = [v for v in verdicts.values() if v not in ("fitted", "set aside")]
    assert not missed, "neither fitted at mclust's BIC nor set aside:\n" + "\n".join(missed)
    # The winner: not set aside, and mclust's choice or a better BIC than it.  When mclust's
    # choice is one we set aside (a spurious fit), the best of mclust's candidates we kept.
    winner = selection.best
    assert not winner["set_aside"]
    assert winner == lowest(selection.rows, "bic")
    kept = {key: theirs for key, theirs in mclust_table(name).items() if verdicts[key] == "fitted"}
    theirs = min(kept, key=kept.get)
    ours = model_of(key_of(winner))
    assert ours == model_of(theirs) or winner["bic"] < kept[theirs], (ours, theirs)
    best = mclust_tables()[name]["best"]
    mclust_choice = (MCLUST_TYPES[best["model"]], best["G"])
    if verdicts[mclust_choice] == "fitted":  # then it is the choice compared with
        assert model_of(theirs) == model_of(mclust_choice)
    return selection


@pytest.mark.parametrize("name", MCLUST_DEFAULT)
def test_sweep_matches_mclust(name):
    selection = check_against_mclust(name)
    # The winner refitted on all the data: its BIC, from scipy's densities and scikit-learn's
    # parameter count, is the row's (EM continued from it: no worse, up to rounding).
    X, _ = mclust_data(name)
    winner = copy.deepcopy(selection)
    row = winner.best
    before = row["bic"]
    model = winner.winner_mixture(X, 42)
    assert (model.covariance_type, len(model.weights)) == key_of(row)
    assert bic_of(model, X) == pytest.approx(row["bic"], abs=1e-6)
    assert row["bic"] <= before + 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", MCLUST_SLOW)
def test_sweep_matches_mclust_on_more_data(name):
    check_against_mclust(name)


@pytest.mark.slow
def test_at_most_one_in_ten_of_mclusts_candidates_is_set_aside():
    verdicts = [v for name in MCLUST_DEFAULT + MCLUST_SLOW for v in mclust_verdicts(name).values()]
    aside = verdicts.count("set aside")
    assert len(verdicts) == sum(t["n_fitted"] for t in mclust_tables().values())
    assert aside * 10 <= len(verdicts), f"{aside} of {len(verdicts)} set aside"


def test_the_mclust_tables_are_mclusts_bic_of_the_data_beside_them():
    # A check of the reference itself, on the single-component rows (closed-form): mclust's
    # BIC of VVV k = 1 is 2 log L - p log n of the sample mean and covariance (ddof=0).
    for name, info in mclust_tables().items():
        X, names = mclust_data(name)
        n, d = X.shape
        assert (n, d, names) == (info["n"], info["d"], info["columns"])
        S = np.cov(X, rowvar=False, bias=True)
        log_l = multivariate_normal(X.mean(axis=0), S).logpdf(X).sum()
        p = d + d * (d + 1) / 2
        assert -mclust_table(name)["full", 1] == pytest.approx(
            2 * log_l - p * math.log(n), rel=1e-9
        )


# --------------------------------------------------------------------------
# 2. Never worse than scikit-learn's plain fit of the same candidate
# --------------------------------------------------------------------------


def healthy(gmm, X):
    """By hand: each component holds the points its covariance needs, and no variance (in
    units of the columns' sd) is the regulariser's."""
    n, d = X.shape
    need = {"full": d + 1, "diag": 2, "spherical": 2, "tied": 0}[gmm.covariance_type]
    sd = X.std(axis=0)
    covs = gmm.covariances_
    full = {
        "full": lambda: covs,
        "tied": lambda: np.array([covs]),
        "diag": lambda: np.array([np.diag(c) for c in covs]),
        "spherical": lambda: np.array([c * np.eye(d) for c in covs]),
    }[gmm.covariance_type]()
    narrowest = np.linalg.eigvalsh(full / np.outer(sd, sd)).min()
    return round(gmm.weights_.min() * n) >= need and narrowest >= 1e-5


@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_sweep_is_never_worse_than_a_default_fit(name):
    X, names = mclust_data(name)
    rows, _, _ = select_model(X, 3, "bic", 42, names)
    compared, behind = 0, []
    for r in rows:
        if r["set_aside"]:
            continue
        cov, k = key_of(r)
        plain = standardised_fit(X, k, cov)  # the script's plain fit, made here
        if not healthy(plain, X):
            continue
        compared += 1
        if plain.bic(X) < r["bic"] - 0.01:
            behind.append(f"{cov} k={k}: sweep {r['bic']:.3f}, plain fit {plain.bic(X):.3f}")
    assert compared >= 10
    assert not behind, "the sweep lost to a default fit:\n" + "\n".join(behind)


def test_the_sweeps_em_never_lowers_a_fits_likelihood_leaps_included(monkeypatch):
    # Every fit's log-likelihood as the sweep's batched EM keeps it, step after step: a
    # leap (SQUAREM, in EM's slow tails) whose likelihood falls short is undone, so the
    # kept values never go down.  Old Faithful up to k = 9 has long tails: leaps are made.
    X, names = mclust_data("faithful")
    history, leaps, undone = {}, [], []
    iterate = gmm_clustering.Fits.iterate

    def watched(batch):
        leapt = {  # the fits that leapt: the plain step (R2) and its log-likelihood
            id(fit): (plain.copy(), plain_ll)
            for fit, step, plain, plain_ll in zip(
                batch.fits, batch.step, batch.plain, batch.plain_ll
            )
            if step == 2
        }
        leaps.append(len(leapt))
        iterate(batch)
        for fit, ll, posteriors in zip(batch.fits, batch.previous, batch.posteriors):
            history.setdefault(id(fit), (fit, []))[1].append(ll)  # the fit kept: ids stay unique
            if id(fit) in leapt and ll == leapt[id(fit)][1]:  # the leap undone: EM goes on
                undone.append(np.array_equal(posteriors, leapt[id(fit)][0]))  # from R2

    monkeypatch.setattr(gmm_clustering.Fits, "iterate", watched)
    gmm_clustering.Sweep(X, 9, 42, names)
    assert sum(leaps) > 100
    assert undone and all(undone)
    falls = [
        (fit["k"], fit["cov"], float(np.diff(lls).min()))
        for fit, lls in history.values()
        if np.diff(lls).min(initial=0) < -1e-9 * abs(lls[-1])
    ]
    assert not falls


# --------------------------------------------------------------------------
# 3. --report: the fitted model on its BIC curve, and the sweep's preference
# --------------------------------------------------------------------------


def test_report_puts_this_model_on_its_curve(cli, unrendered_figures):
    X, _ = blobs()
    plain_bic = sklearn_fit().bic(X)
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
    (ax,) = [a for a in fig.axes if title_of(a).startswith("BIC by number of components")]
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
    X, _ = mclust_data("faithful")
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
        assert result["icl"] == pytest.approx(faithful_icl(), abs=1.0)
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
    k = best["n_components"]
    assert f"Selected: {best['covariance_type']} with {k} component{'s' * (k > 1)}" in out


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
# 7. Few rows: the sweep stays within what they hold
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
    one = {cov: standardised_fit(X, 1, cov).bic(X) for cov in COVARIANCE_TYPES}
    two = [standardised_fit(X, 2, cov).bic(X) for cov in COVARIANCE_TYPES]
    assert min(one.values()) < min(two) - 1  # k = 1 is clearly best here
    result = cli.json("--csv", path, "--select", "--max-components", "2")
    assert result["n_components"] == 1
    assert result["covariance_type"] == min(one, key=one.get)
    assert result["bic"] == pytest.approx(min(one.values()), abs=1e-6)
    out = cli.output("--csv", path, "--select", "--max-components", "2", "--no-plot")
    assert f"Selected: {result['covariance_type']} with 1 component" in out.splitlines()
