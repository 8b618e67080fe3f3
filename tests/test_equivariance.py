"""The same data in other units gives the same fit: equivariance, asserted as a property.

A Gaussian mixture's maximum-likelihood fit is equivariant under x -> a x + b (a, b one
number per column): the clusters are the same row by row, the weights too, the means move to
a mu + b and the covariances to S * a a', and the log-likelihood per sample shifts by
-sum_j log|a_j| (the Jacobian), so BIC, AIC and ICL by +2 n sum_j log|a_j|.  The script runs
every fit on standardised columns, so it keeps this property whatever the units: a column in
millionths, in millions, offset by 1e9, or each column in its own unit (full, tied and diag;
spherical has one variance for every column, so it is equivariant under one shared a only).

Each case fits Old Faithful (R's faithful, 272 x 2) as it is and transformed, and compares
the two JSON results by hand: the transformed fit mapped back with a and b, the rows' clusters
from scipy densities of each fit's own parameters, the criteria shifted by the Jacobian.
"""

import math

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, mclust_data, write_table
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

TOLERANCE = 1e-6  # relative: floating point, not the property, limits the agreement

# name: (a, b), one number per column (eruptions in minutes, waiting in minutes)
SHARED = {  # one a for every column: every covariance type is equivariant
    "a=1e-6": ((1e-6, 1e-6), (0.0, 0.0)),
    "a=1e6": ((1e6, 1e6), (0.0, 0.0)),
    "b=1e9": ((1.0, 1.0), (1e9, 1e9)),
    "mirrored": ((-1.0, 1.0), (0.0, 0.0)),  # |a| shared; eruptions reversed
    "a=1e-140": ((1e-140, 1e-140), (0.0, 0.0)),  # sd ~1e-140: above the 1e-150 refusal
    "a=1e140": ((1e140, 1e140), (0.0, 0.0)),  # values ~1e142: under the 1e150 refusal
}
PER_COLUMN = {  # each column its own unit: full, tied and diag only
    "a=(1e-3, 1e4)": ((1e-3, 1e4), (0.0, 0.0)),
    "a=(1e4, 1e-3), b=(0, 5e3)": ((1e4, 1e-3), (0.0, 5e3)),
}
CASES = [
    pytest.param(cov, name, id=f"{cov}-{name}")
    for cov in COVARIANCE_TYPES
    for name in [*SHARED, *(PER_COLUMN if cov != "spherical" else [])]
]
SELECT_CASES = [
    "a=1e-6",
    "a=1e6",
    "b=1e9",
    "mirrored",
    "a=(1e-3, 1e4)",
    "a=(1e4, 1e-3), b=(0, 5e3)",
]


def faithful():
    return mclust_data("faithful")


def transform(name):
    a, b = {**SHARED, **PER_COLUMN}[name]
    return np.array(a), np.array(b)


def fit(cli, tmp_path, X, *argv):
    """The JSON of a run on X written as a CSV (exactly, with repr); nothing on stderr."""
    path = write_table(tmp_path / f"data{len(list(tmp_path.iterdir()))}.csv", X, faithful()[1])
    return cli.json("--csv", path, *argv)


def hard_labels(result, X):
    """Each row's likeliest component, from scipy's densities of the result's parameters.

    Computed in coordinates where each column of X has mean 0 and sd 1 (an affine map of
    every point and every component alike leaves the posteriors as they are), so that
    scipy sees well-conditioned covariances whatever the units."""
    m, s = X.mean(axis=0), X.std(axis=0)
    log_joint = np.column_stack(
        [
            math.log(w)
            + multivariate_normal((np.array(mu) - m) / s, np.array(cov) / np.outer(s, s)).logpdf(
                (X - m) / s
            )
            for w, mu, cov in zip(result["weights"], result["means"], result["covariances"])
        ]
    )
    assert np.isfinite(logsumexp(log_joint, axis=1)).all()
    return log_joint.argmax(axis=1)


def renaming(base, moved, sd, a, b):
    """order[j]: the component of ``moved`` that is ``base``'s component j, matched by their
    means (``moved``'s mapped back, in units of each column's sd)."""
    back = (np.array(moved["means"]) - b) / a
    cost = np.abs((back[None, :, :] - np.array(base["means"])[:, None, :]) / sd).sum(axis=2)
    _, order = linear_sum_assignment(cost)
    return order


def assert_same_fit(base, moved, X, a, b):
    """``moved`` is ``base`` in the units x -> a x + b: clusters, parameters and criteria."""
    n = len(X)
    Xt = a * X + b
    sd = X.std(axis=0)
    order = renaming(base, moved, sd, a, b)
    # Every row in the same cluster, up to that renaming.
    np.testing.assert_array_equal(hard_labels(moved, Xt), order[hard_labels(base, X)])
    assert [moved["cluster_sizes"][j] for j in order] == base["cluster_sizes"]
    np.testing.assert_allclose(np.array(moved["weights"])[order], base["weights"], rtol=TOLERANCE)
    # The parameters mapped back, compared in units of each column's sd.
    means = (np.array(moved["means"])[order] - b) / a
    np.testing.assert_allclose((means - base["means"]) / sd, 0, atol=TOLERANCE)
    covs = np.array(moved["covariances"])[order] / np.outer(a, a)
    np.testing.assert_allclose((covs - base["covariances"]) / np.outer(sd, sd), 0, atol=TOLERANCE)
    # The criteria, shifted by the Jacobian.
    jacobian = float(np.log(np.abs(a)).sum())
    assert moved["log_likelihood"] == pytest.approx(
        base["log_likelihood"] - jacobian, rel=TOLERANCE, abs=TOLERANCE
    )
    for criterion in ("bic", "aic", "icl"):
        expected = base[criterion] + 2 * n * jacobian
        assert moved[criterion] == pytest.approx(
            expected, rel=TOLERANCE, abs=TOLERANCE * abs(base[criterion])
        ), criterion
    assert (moved["n_components"], moved["covariance_type"]) == (
        base["n_components"],
        base["covariance_type"],
    )
    assert moved["degenerate"] == base["degenerate"]


# --------------------------------------------------------------------------
# 1. Plain fits, every covariance type
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("covariance_type", "name"), CASES)
def test_a_plain_fit_is_the_same_in_other_units(cli, tmp_path, covariance_type, name):
    X, _ = faithful()
    a, b = transform(name)
    argv = ["--n-components", "3", "--covariance-type", covariance_type]
    base = fit(cli, tmp_path, X, *argv)
    moved = fit(cli, tmp_path, a * X + b, *argv)  # no refusal, nothing on stderr
    assert_same_fit(base, moved, X, a, b)
    assert moved["n_iter"] == base["n_iter"]  # the same EM, step for step


def test_spherical_is_not_equivariant_under_per_column_units(cli, tmp_path):
    # The counter-case: one variance for every column cannot follow a separate unit per
    # column, so the fit changes (which is why spherical has one shared scale).
    X, _ = faithful()
    a, b = transform("a=(1e-3, 1e4)")
    argv = ["--n-components", "3", "--covariance-type", "spherical"]
    base, moved = fit(cli, tmp_path, X, *argv), fit(cli, tmp_path, a * X + b, *argv)
    jacobian = float(np.log(np.abs(a)).sum())
    assert abs(moved["log_likelihood"] - (base["log_likelihood"] - jacobian)) > 0.1


# --------------------------------------------------------------------------
# 2. The sweep behind --select
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SELECT_CASES)
def test_select_chooses_the_same_model_in_other_units(cli, tmp_path, name):
    X, _ = faithful()
    n = len(X)
    a, b = transform(name)
    argv = ["--select", "--max-components", "6"]
    base = fit(cli, tmp_path, X, *argv)
    moved = fit(cli, tmp_path, a * X + b, *argv)
    assert_same_fit(base, moved, X, a, b)  # the same model chosen, fitted alike
    jacobian = float(np.log(np.abs(a)).sum())
    per_column = abs(a[0]) != abs(a[1])
    compared = 0
    for row, row_t in zip(base["selection"], moved["selection"]):
        assert (row_t["covariance_type"], row_t["n_components"]) == (
            row["covariance_type"],
            row["n_components"],
        )
        if per_column and row["covariance_type"] == "spherical":
            continue  # not equivariant under separate units (see above)
        assert row_t["set_aside"] == row["set_aside"], row
        assert (row_t["reason"] is None) == (row["reason"] is None), row
        for key in ("bic", "aic", "icl", "set_aside_bic", "set_aside_aic", "set_aside_icl"):
            if row[key] is None:
                assert row_t[key] is None, (key, row)
                continue
            expected = row[key] + 2 * n * jacobian
            assert row_t[key] == pytest.approx(
                expected, rel=TOLERANCE, abs=TOLERANCE * abs(row[key])
            ), (key, row)
        compared += 1
    assert compared == 6 * 3 if per_column else 6 * 4
    best, best_t = base["selection_best"], moved["selection_best"]
    assert (best_t["covariance_type"], best_t["n_components"]) == (
        best["covariance_type"],
        best["n_components"],
    )
    assert best_t["bic"] == pytest.approx(
        best["bic"] + 2 * n * jacobian, rel=TOLERANCE, abs=TOLERANCE * abs(best["bic"])
    )


# --------------------------------------------------------------------------
# 3. The other ways of fitting: several starts, the trace, the Bayesian mixture
# --------------------------------------------------------------------------

PER_COLUMN_A = "a=(1e-3, 1e4)"


def test_every_start_of_n_init_is_the_same_in_other_units(cli, tmp_path):
    X, _ = faithful()
    a, b = transform(PER_COLUMN_A)
    argv = ["--n-components", "3", "--n-init", "4", "--init", "random"]
    base, moved = fit(cli, tmp_path, X, *argv), fit(cli, tmp_path, a * X + b, *argv)
    assert_same_fit(base, moved, X, a, b)
    jacobian = float(np.log(np.abs(a)).sum())
    assert len(base["starts"]) == len(moved["starts"]) == 4
    for start, start_t in zip(base["starts"], moved["starts"]):
        assert start_t["random_state"] == start["random_state"]
        assert start_t["n_iter"] == start["n_iter"]
        assert start_t["log_likelihood"] == pytest.approx(
            start["log_likelihood"] - jacobian, rel=TOLERANCE
        )


def test_the_em_trace_is_the_same_in_other_units(cli, tmp_path):
    X, _ = faithful()
    a, b = transform(PER_COLUMN_A)
    argv = ["--n-components", "3", "--trace"]
    base, moved = fit(cli, tmp_path, X, *argv), fit(cli, tmp_path, a * X + b, *argv)
    assert_same_fit(base, moved, X, a, b)
    jacobian = float(np.log(np.abs(a)).sum())
    assert len(moved["trace"]) == len(base["trace"]) > 3
    np.testing.assert_allclose(moved["trace"], np.array(base["trace"]) - jacobian, rtol=TOLERANCE)


def test_the_bayesian_mixture_is_the_same_in_other_units(cli, tmp_path):
    X, _ = faithful()
    a, b = transform(PER_COLUMN_A)
    argv = ["--n-components", "6", "--bayesian"]
    base, moved = fit(cli, tmp_path, X, *argv), fit(cli, tmp_path, a * X + b, *argv)
    assert moved["effective_components"] == base["effective_components"]
    np.testing.assert_allclose(moved["weights"], base["weights"], rtol=TOLERANCE, atol=1e-12)
    sd = X.std(axis=0)
    means = (np.array(moved["means"]) - b) / a
    np.testing.assert_allclose((means - base["means"]) / sd, 0, atol=TOLERANCE)
    covs = np.array(moved["covariances"]) / np.outer(a, a)
    np.testing.assert_allclose((covs - base["covariances"]) / np.outer(sd, sd), 0, atol=TOLERANCE)
    assert moved["cluster_sizes"] == base["cluster_sizes"]
