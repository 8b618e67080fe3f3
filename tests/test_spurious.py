"""The spurious rule: a component that models its own few points rather than a population.

A component is spurious when (a) it holds, rounded, fewer points than its covariance needs
(full d + 1, diag 2, spherical 2, tied none: a tied component owns no covariance), or (b) it
collapsed onto repeated values: its variance in some direction, in standardised units, is
under 10 x reg_covar (1e-5), the regulariser's and not the data's.  A plain fit that is
spurious says so in one stderr line and in JSON "degenerate"; the sweep behind --select sets
such candidates aside.

The rule itself is checked on hand-made covariances; the fits on hand-made data (rows that
share one value, a lone far point) and on R's data sets, every expectation counted or
measured here by hand (which rows share a value, the component's mean and spread in the
data's own units), never taken from the script's helpers.
"""

import json
import math
import re

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    MCLUST,
    mclust_data,
    mclust_table,
    rounded_with_repeated_values,
    select_model,
    title_of,
    write_table,
)

import gmm_clustering

WARNING = "gmm_clustering.py: warning: the fit is spurious: "
WAY_OUT = "; use fewer components or --select\n"
NEEDS = {"full": lambda d: d + 1, "diag": lambda d: 2, "spherical": lambda d: 2}  # tied: none
HOLDS = re.compile(
    r"component (\d+) holds ([\d.]+) points; a (\w+) covariance in (\d+) dimensions needs (\d+)"
)
ROW_KEYS = [
    *("covariance_type", "n_components", "bic", "aic", "icl", "log_likelihood"),
    *("set_aside", "reason", "set_aside_bic", "set_aside_aic", "set_aside_icl"),
]
COLLAPSED = re.compile(r"component (\d+) collapsed onto repeated values \(no spread in (.+)\)")


def standardised_variances(covariance, X):
    """The eigenvalues of a covariance in units of each column's sd (ddof=0), smallest first."""
    sd = X.std(axis=0)
    return np.linalg.eigvalsh(np.asarray(covariance) / np.outer(sd, sd))


def two_groups_and_a_lone_point():
    """Two round groups of 50 and one point far from both: k = 3 gives it a component."""
    rng = np.random.RandomState(0)
    return np.r_[rng.normal(0, 1, (50, 2)), rng.normal(0, 1, (50, 2)) + [6, 0], [[3.0, 25.0]]]


def plain_fit(cli, path, k, covariance_type):
    """(JSON, stderr) of a plain fit of the CSV at path."""
    argv = ["--csv", path, "--n-components", k, "--covariance-type", covariance_type]
    rc, out, err = cli.run(*argv, "--no-plot", "--json")
    assert rc == 0, err
    return json.loads(out), err


# --------------------------------------------------------------------------
# 1. The rule, on hand-made covariances
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("covariance_type", "d", "fewest", "spurious"),
    [
        ("full", 2, 2.4, True),  # rounds to 2: a full covariance in 2-D needs 3 points
        ("full", 2, 2.6, False),  # rounds to 3
        ("full", 4, 4.4, True),  # in 4-D it needs 5
        ("full", 4, 4.6, False),
        ("diag", 3, 1.4, True),  # one variance per column: 2 points, whatever d
        ("diag", 3, 1.6, False),
        ("spherical", 5, 1.4, True),  # one variance: 2 points
        ("spherical", 5, 1.6, False),
        ("tied", 3, 0.2, False),  # a tied component owns no covariance: never too small
        ("tied", 3, 0.0, False),
    ],
)
def test_a_component_needs_the_points_its_covariance_needs(covariance_type, d, fewest, spurious):
    n_points = np.array([40.0, fewest, 30.0])
    covariances = np.array([np.eye(d)] * 3)  # healthy: the data's own spread
    names = [f"c{j}" for j in range(d)]
    reason = gmm_clustering.spurious_component(n_points, covariances, covariance_type, names)
    if not spurious:
        assert reason is None
        return
    need = NEEDS[covariance_type](d)
    assert reason == (
        f"component 1 holds {fewest:.1f} points; a {covariance_type} covariance in {d} "
        f"dimensions needs {need}"
    )


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied"])
@pytest.mark.parametrize(
    ("variance", "spurious"),
    # 10 x reg_covar = 1e-5, in units of the column's spread: below it, the regulariser's.
    [(0.99e-5, True), (1.01e-5, False), (1e-6, True), (1e-4, False), (0.0, True)],
)
def test_a_variance_under_ten_times_reg_covar_is_a_collapse(covariance_type, variance, spurious):
    names = ["height", "weight", "age"]
    covariances = np.array([np.eye(3), np.diag([1.0, variance, 2.0]), 0.5 * np.eye(3)])
    if covariance_type == "tied":  # one matrix shared by all
        covariances = np.array([np.diag([1.0, variance, 2.0])] * 3)
    n_points = np.array([50.0, 50.0, 50.0])
    reason = gmm_clustering.spurious_component(n_points, covariances, covariance_type, names)
    if not spurious:
        assert reason is None
        return
    j = 1 if covariance_type != "tied" else 0  # tied: every component alike, the first named
    assert reason == f"component {j} collapsed onto repeated values (no spread in weight)"


@pytest.mark.parametrize(
    ("direction", "named"),
    [
        ((0.8, 0.6), "a combination of A and B"),  # no spread along 0.8 A + 0.6 B
        ((0.6, -0.8), "a combination of B and A"),  # the larger share named first
        ((0.995, 0.0999), "A"),  # nearly along A alone (|u| > 0.9): that column
    ],
)
def test_a_collapse_names_its_column_or_the_combination(direction, named):
    u = np.array(direction) / np.linalg.norm(direction)
    v = np.array([-u[1], u[0]])
    narrow = 1e-7 * np.outer(u, u) + 3.0 * np.outer(v, v)  # wide across, none along u
    covariances = np.array([np.eye(2), narrow])
    reason = gmm_clustering.spurious_component(np.array([20.0, 20.0]), covariances, "full", "AB")
    assert reason == f"component 1 collapsed onto repeated values (no spread in {named})"


def test_in_one_dimension_the_column_is_named():
    covariances = np.array([[[1.0]], [[2e-6]]])
    reason = gmm_clustering.spurious_component(np.array([9.0, 5.0]), covariances, "full", ["x"])
    assert reason == "component 1 collapsed onto repeated values (no spread in x)"


def test_too_few_points_is_said_before_a_collapse():
    # One point: its variance is the regulariser's too, but the count is the reason given.
    covariances = np.array([np.eye(2), 1e-6 * np.eye(2)])
    reason = gmm_clustering.spurious_component(np.array([99.0, 1.0]), covariances, "full", "xy")
    assert reason == "component 1 holds 1.0 points; a full covariance in 2 dimensions needs 3"


# --------------------------------------------------------------------------
# 2. Plain fits: one warning line, JSON "degenerate"
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_component_on_repeated_values_is_spurious_and_names_the_column(
    cli, tmp_path, covariance_type
):
    # Whole numbers: two real groups, and six readings that share y = 45 far to the right.
    X = rounded_with_repeated_values()
    path = write_table(tmp_path / "rounded.csv", X, ["x", "y"])
    result, err = plain_fit(cli, path, 3, covariance_type)
    reason = result["degenerate"]
    assert err == WARNING + reason + WAY_OUT  # one line, the script's own
    match = COLLAPSED.fullmatch(reason)
    assert match and match[2] == "y", reason
    j = int(match[1])
    # Counted by hand: the six readings at y = 45 with x above 90, and nothing else.
    batch = X[(X[:, 1] == 45) & (X[:, 0] > 90)]
    assert len(batch) == 6
    assert result["weights"][j] * len(X) == pytest.approx(6, abs=1e-6)
    np.testing.assert_allclose(result["means"][j], batch.mean(axis=0), rtol=1e-7)
    # Its spread in y, in units of y's sd: the regulariser's (1e-6), under 10 x that.
    cov = np.array(result["covariances"][j])
    assert cov[1, 1] / X[:, 1].var() < 1e-5
    assert cov[0, 0] == pytest.approx(batch[:, 0].var(), rel=1e-4)  # x: the batch's own spread
    # The same run without --json: the same line, once.
    rc, out, text_err = cli.run(
        "--csv", path, "--n-components", 3, "--covariance-type", covariance_type, "--no-plot"
    )
    assert (rc, text_err) == (0, err)
    assert "Log Likelihood:" in out


def test_copies_of_one_point_are_a_collapse_whatever_the_type_but_tied(cli, tmp_path):
    # 60 scattered points and ten copies of one far-away point: the copies get a component
    # of their own, whose covariance is the regulariser's alone -- except when tied, where
    # the one covariance is pooled with the scattered points' and stays wide.
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(0, 1, (60, 2)), np.tile([[10.0, 10.0]], (10, 1))]
    path = write_table(tmp_path / "copies.csv", X, ["x", "y"])
    for covariance_type in COVARIANCE_TYPES:
        result, err = plain_fit(cli, path, 2, covariance_type)
        j = int(np.argmin(np.abs(np.array(result["means"]) - 10).sum(axis=1)))
        np.testing.assert_allclose(result["means"][j], [10.0, 10.0], atol=1e-6)
        assert result["weights"][j] * 70 == pytest.approx(10, abs=1e-3)  # the ten copies
        if covariance_type == "tied":
            assert result["degenerate"] is None and err == ""
            assert standardised_variances(result["covariances"][j], X).min() > 1e-2
            continue
        assert COLLAPSED.fullmatch(result["degenerate"])[1] == str(j), result["degenerate"]
        assert err == WARNING + result["degenerate"] + WAY_OUT
        assert standardised_variances(result["covariances"][j], X).max() < 1e-5


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_lone_point_is_spurious_for_its_size_except_when_tied(cli, tmp_path, covariance_type):
    X = two_groups_and_a_lone_point()
    path = write_table(tmp_path / "lone.csv", X, ["x", "y"])
    result, err = plain_fit(cli, path, 3, covariance_type)
    # Counted by hand: one component holds the lone point (3, 25), alone.
    j = int(np.argmax(np.array(result["means"])[:, 1]))
    np.testing.assert_allclose(result["means"][j], [3.0, 25.0], atol=1e-6)
    assert result["weights"][j] * len(X) == pytest.approx(1, abs=1e-6)
    assert sorted(result["cluster_sizes"]) == [1, 50, 50]
    if covariance_type == "tied":  # a tied component owns no covariance: one point is fine
        assert result["degenerate"] is None and err == ""
        return
    need = {"full": 3, "diag": 2, "spherical": 2}[covariance_type]
    assert result["degenerate"] == (
        f"component {j} holds 1.0 points; a {covariance_type} covariance in 2 dimensions "
        f"needs {need}"
    )
    assert err == WARNING + result["degenerate"] + WAY_OUT


def test_a_healthy_default_fit_is_not_spurious(cli):
    assert cli.json()["degenerate"] is None  # and nothing on stderr (cli.json checks)
    cli.output("--no-plot")  # nothing on stderr


# --------------------------------------------------------------------------
# 3. Legitimate narrow fits are not spurious
# --------------------------------------------------------------------------


def test_women_full_two_components_is_not_set_aside(cli):
    # R's women: 15 rows of height and weight on one narrow band; mclust's choice is VVV 2.
    X, _ = mclust_data("women")
    rows, winner, _ = select_model(X, 3, "bic")
    full2 = next(r for r in rows if (r["covariance_type"], r["n_components"]) == ("full", 2))
    assert not full2["set_aside"]  # (a start that put 2 points in a component was; said apart)
    assert full2["bic"] == pytest.approx(mclust_table("women")["full", 2], abs=0.01)
    assert (winner.covariance_type, len(winner.weights)) == ("full", 2)
    # The plain fit of the same model: nothing said.
    result = cli.json("--csv", MCLUST / "women.csv", "--n-components", "2")
    assert result["degenerate"] is None
    assert min(result["weights"]) * len(X) >= 3  # by hand: each holds d + 1 = 3 points or more
    for cov in result["covariances"]:
        assert standardised_variances(cov, X).min() > 1e-5


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mtcars_one_component_is_not_spurious(cli, covariance_type):
    # 32 cars x 11 columns, two of them 0/1 (vs, am) and some with few values (cyl, gear):
    # one Gaussian over all of them is narrow in places, and legitimate.
    X, names = mclust_data("mtcars")
    result = cli.json(
        "--csv", MCLUST / "mtcars.csv", "--n-components", "1", "--covariance-type", covariance_type
    )
    assert result["degenerate"] is None
    assert result["columns"] == names
    # k = 1 is closed-form: the sample mean, and the covariance (ddof=0) of its type.
    np.testing.assert_allclose(result["means"][0], X.mean(axis=0), rtol=1e-9)
    S = np.cov(X, rowvar=False, bias=True)
    expected = {
        "full": S,
        "tied": S,
        "diag": np.diag(np.diag(S)),
        "spherical": np.mean(np.diag(S)) * np.eye(len(S)),
    }[covariance_type]
    np.testing.assert_allclose(result["covariances"][0], expected, rtol=1e-4, atol=1e-9)
    rows, _, _ = select_model(X, 1, "bic")
    assert [r["set_aside"] for r in rows] == [False] * 4


# --------------------------------------------------------------------------
# 4. The sweep sets spurious candidates aside, and says so
# --------------------------------------------------------------------------


def test_select_sets_aside_a_collapse_onto_repeated_values(cli, tmp_path):
    X = rounded_with_repeated_values()
    path = write_table(tmp_path / "rounded.csv", X, ["x", "y"])
    result = cli.json("--csv", path, "--select", "--max-components", "4")
    rows = result["selection"]
    by_key = {(r["covariance_type"], r["n_components"]): r for r in rows}
    full3 = by_key["full", 3]
    assert full3["set_aside"] and COLLAPSED.fullmatch(full3["reason"])[2] == "y"
    assert full3["bic"] is None and full3["set_aside_bic"] is not None
    # The model chosen is not spurious by a hand measure: each component holds what its
    # covariance needs, and no variance is the regulariser's.
    assert not by_key[result["covariance_type"], result["n_components"]]["set_aside"]
    n, d = X.shape
    need = {"full": d + 1, "diag": 2, "spherical": 2, "tied": 0}[result["covariance_type"]]
    assert round(min(result["weights"]) * n) >= need
    for cov in result["covariances"]:
        assert standardised_variances(cov, X).min() > 1e-3
    # ... although spurious fits had a better BIC: the best of them is named in a note.
    aside = [r for r in rows if r["set_aside_bic"] is not None]
    better = min(aside, key=lambda r: r["set_aside_bic"])
    assert better["set_aside_bic"] < result["bic"] - 20
    out = cli.output("--csv", path, "--select", "--max-components", "4", "--no-plot")
    assert (
        "Note: a spurious fit had a better BIC and was set aside: "
        f"{better['covariance_type']} k={better['n_components']} ({better['reason']})"
    ) in out.splitlines()
    listed = [r for r in rows if r["set_aside"]]
    names = ", ".join(f"{r['covariance_type']} k={r['n_components']}" for r in listed)
    line = f"  set aside as spurious: {names} (first: {listed[0]['reason']})"
    assert line in out.splitlines()


def test_few_rows_set_aside_the_candidates_too_small_for_their_covariance(cli, tmp_path):
    # Eleven whole-number rows: two groups of five and one stray reading (96, 45).
    X = rounded_with_repeated_values()[::30]
    assert len(X) == 11
    path = write_table(tmp_path / "few.csv", X, ["x", "y"])
    result = cli.json("--csv", path, "--select", "--max-components", "4")
    rows = result["selection"]
    assert all(list(r) == ROW_KEYS for r in rows)  # in this order; no "rejected" any more
    aside = [r for r in rows if r["set_aside"]]
    assert aside, "nothing set aside: this data no longer exercises the rule"
    for r in rows:
        if r["set_aside"]:  # no usable fit: no criteria of its own, and why
            assert (r["bic"], r["aic"], r["icl"], r["log_likelihood"]) == (None,) * 4, r
            assert isinstance(r["reason"], str) and r["reason"], r
        else:
            assert isinstance(r["bic"], float), r
        if r["reason"] and (m := HOLDS.fullmatch(r["reason"])):  # by hand: too few points
            assert (m[3], m[4]) == (r["covariance_type"], "2")
            assert int(m[5]) == NEEDS[r["covariance_type"]](2)
            assert round(float(m[2])) < int(m[5])
        if r["set_aside_bic"] is not None:  # a spurious fit that beat the usable one
            assert r["reason"] is not None
            if not r["set_aside"]:
                assert r["set_aside_bic"] < r["bic"] and r["set_aside_aic"] < r["aic"]
        else:
            assert r["set_aside_aic"] is None and r["set_aside_icl"] is None
    # A tied component is never too small: no tied candidate is set aside, and the model
    # chosen here (tied) gives the stray reading a component of its own.
    assert not any(r["set_aside"] for r in rows if r["covariance_type"] == "tied")
    usable = [r for r in rows if not r["set_aside"]]
    winner = min(usable, key=lambda r: r["bic"])
    assert (result["covariance_type"], result["n_components"]) == (
        winner["covariance_type"],
        winner["n_components"],
    )
    assert result["covariance_type"] == "tied"
    assert min(result["weights"]) * len(X) == pytest.approx(1, abs=1e-6)


def test_collinear_columns_under_select_set_aside_full_and_tied(cli, tmp_path):
    # b = 2a + 1 exactly: every full or tied covariance has no spread across the line.  A
    # plain full fit is refused (the bad-input table); the sweep sets those aside instead.
    a = np.random.RandomState(2).normal(size=40)
    path = write_table(tmp_path / "line.csv", np.c_[a, 2 * a + 1], ["a", "b"])
    result = cli.json("--csv", path, "--select", "--max-components", "3")
    for r in result["selection"]:
        own_matrix = r["covariance_type"] in ("full", "tied")
        assert r["set_aside"] is own_matrix, r
        if own_matrix:
            assert COLLAPSED.fullmatch(r["reason"])[2] in (
                "a combination of a and b",
                "a combination of b and a",
            )
    assert result["covariance_type"] in ("diag", "spherical")


def test_the_criterion_panel_draws_set_aside_fits_as_crosses(cli, tmp_path, unrendered_figures):
    X = rounded_with_repeated_values()
    path = write_table(tmp_path / "rounded.csv", X, ["x", "y"])
    out = cli.output(
        "--csv", path, "--select", "--max-components", "4", "--json", "--save", "s.png"
    )
    rows = json.loads(out)["selection"]
    (fig,) = unrendered_figures
    (ax,) = [a for a in fig.axes if title_of(a).startswith("BIC by number of components")]
    curves = {line.get_label(): line for line in ax.get_lines() if line.get_marker() == "o"}
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert crosses
    # One legend entry for all the crosses.
    labels = [line.get_label() for line in crosses]
    assert labels.count("set aside (spurious)") == 1
    assert all(label.startswith("_") for label in labels if label != "set aside (spurious)")
    drawn = set()
    for line in crosses:
        cov = next(c for c, curve in curves.items() if curve.get_color() == line.get_color())
        drawn |= {(cov, int(k), float(v)) for k, v in zip(line.get_xdata(), line.get_ydata())}
    expected = {
        (r["covariance_type"], r["n_components"], r["set_aside_bic"])
        for r in rows
        if r["set_aside_bic"] is not None
    }
    assert drawn == expected
    # A candidate set aside is a gap in its curve.
    for cov in COVARIANCE_TYPES:
        ys = curves[cov].get_ydata()
        mine = [r for r in rows if r["covariance_type"] == cov]
        assert [math.isnan(y) for y in ys] == [r["bic"] is None for r in mine]
