"""--explore: EM driven by the learner's keys and clicks, on matplotlib's Agg canvas.

The window's keys and clicks are sent as matplotlib's own events (KeyEvent,
MouseEvent) through the canvas, as a desktop's event loop would send them; a run
to convergence is the timer's callback called until it stops, as the loop would.
Checked against the mathematics and against scikit-learn: the log-likelihood never
decreases across an iteration; a run to convergence reaches GaussianMixture's fit
from the same start; k, the type and restarts start afresh; clicks change n.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, ERROR, SEED, three_blobs, write_table
from matplotlib.backend_bases import KeyEvent, MouseEvent
from sklearn.mixture import GaussianMixture
from test_window import problems_of

import gmm_clustering


def explorer(k=3, covariance_type="full", X=None):
    """An explorer on Agg, drawn only when a test asks (a desktop draws when idle)."""
    X = three_blobs() if X is None else X
    ex = gmm_clustering.Explorer(X, ["x", "y"], k, covariance_type, SEED)
    ex.fig.canvas.draw_idle = lambda: None
    return ex


def press(ex, *keys):
    for key in keys:
        event = KeyEvent("key_press_event", ex.fig.canvas, key)
        ex.fig.canvas.callbacks.process("key_press_event", event)


def click(ex, x, y, button):
    """A click at the data point (x, y) of the main panel."""
    ex.fig.canvas.draw()
    px, py = ex.ax.transData.transform((x, y))
    event = MouseEvent("button_press_event", ex.fig.canvas, px, py, button=button)
    ex.fig.canvas.callbacks.process("button_press_event", event)


def run_to_convergence(ex):
    press(ex, "enter")
    for _ in range(gmm_clustering.EXPLORE_MAX_ITER + 1):  # the timer's calls
        if not ex.running:
            break
        ex.tick()
    assert not ex.running


def data_units(ex):
    """The mixture's means and covariances, and the points, in the data's units."""
    u, m = ex.units, ex.mixture
    return m.means * u.scale + u.center, m.covariances * np.outer(u.scale, u.scale)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases_across_an_iteration(covariance_type):
    ex = explorer(4, covariance_type)
    press(ex, *[" "] * 25)
    assert ex.iteration == 25 and len(ex.curve) == 26
    steps = np.diff(ex.curve)
    assert steps.min() > -1e-9, steps  # EM's guarantee (reg_covar is 1e-6 of a unit)
    assert ex.curve[-1] > ex.curve[0] + 0.1  # and from a random start it climbs


def test_the_log_likelihood_shown_is_the_data_s_by_scipy():
    from scipy.stats import multivariate_normal

    ex = explorer()
    press(ex, "e", "m")
    X = three_blobs()
    means, covariances = data_units(ex)
    density = sum(
        w * multivariate_normal(mu, S).pdf(X)
        for w, mu, S in zip(ex.mixture.weights, means, covariances)
    )
    assert ex.curve[-1] == pytest.approx(np.log(density).mean(), rel=1e-10)
    assert f"mean log-likelihood {ex.curve[-1]:.5f}" in ex.ax.get_title()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_run_to_convergence_reaches_scikit_learn_from_the_same_start(covariance_type):
    """As many iterations from the same start: the same mixture (to rounding)."""
    ex = explorer(3, covariance_type)
    start = ex.mixture
    precisions = np.linalg.inv(start.covariances)
    stored = {
        "full": precisions,
        "tied": precisions[0],
        "diag": np.diagonal(precisions, axis1=1, axis2=2),
        "spherical": precisions[:, 0, 0],
    }[covariance_type]
    run_to_convergence(ex)
    assert ex.iteration > 1
    gmm = GaussianMixture(  # as many iterations, from the same start (it warns: not converged)
        3,
        covariance_type=covariance_type,
        weights_init=start.weights,
        means_init=start.means,
        precisions_init=stored,
        max_iter=ex.iteration,
    ).fit(ex.Z)
    assert "converged: the log-likelihood moved by less than 0.001" in ex.ax.get_title()
    np.testing.assert_allclose(ex.mixture.means, gmm.means_, atol=1e-9)
    np.testing.assert_allclose(ex.mixture.weights, gmm.weights_, atol=1e-9)
    expected = gmm_clustering.as_mixture(gmm, gmm_clustering.Units(np.zeros(2), np.ones(2)))
    np.testing.assert_allclose(ex.mixture.covariances, expected.covariances, atol=1e-9)


def test_m_step_before_any_e_step_changes_nothing_and_says_so():
    ex = explorer()
    before = ex.mixture
    press(ex, "m")
    assert ex.mixture is before and ex.iteration == 0
    assert "press e (the E-step) first" in ex.ax.get_title()
    press(ex, "e")
    assert ex.posteriors.shape == (len(ex.Z), 3)
    np.testing.assert_allclose(ex.posteriors.sum(axis=1), 1)


def test_changing_k_or_the_type_restarts_cleanly():
    ex = explorer(3)
    press(ex, " ", " ", "+")
    assert (ex.k, len(ex.mixture.weights), ex.iteration, ex.curve[1:]) == (4, 4, 0, [])
    assert ex.posteriors is None
    press(ex, "-", "-")
    assert len(ex.mixture.weights) == 2
    press(ex, "t")
    assert ex.mixture.covariance_type == "tied"
    np.testing.assert_allclose(ex.mixture.covariances[0], ex.mixture.covariances[1])
    press(ex, "t", " ")
    assert ex.mixture.covariance_type == "diag" and ex.iteration == 1
    off_diagonal = ex.mixture.covariances * (1 - np.eye(2))
    assert not off_diagonal.any()
    press(ex, "k")  # k-means' clusters: the first M-step from them
    assert ex.iteration == 0 and "k-means start" in ex.ax.get_title()
    press(ex, "-", "-")
    assert ex.k == 1 and "k stays 1" in ex.ax.get_title()


def test_a_click_adds_a_point_and_a_right_click_removes_the_nearest():
    ex = explorer()
    n = len(ex.Z)
    inside = three_blobs().mean(axis=0)
    click(ex, *inside, button=1)
    assert len(ex.Z) == n + 1
    added = ex.Z[-1] * ex.units.scale + ex.units.center
    np.testing.assert_allclose(added, inside, rtol=1e-9)
    assert ex.posteriors.shape == (n + 1, 3)  # the E-step reran on the new data
    assert f"n = {n + 1}" in ex.ax.get_title()
    X = three_blobs()
    click(ex, *X[7], button=3)
    assert len(ex.Z) == n
    left = ex.Z * ex.units.scale + ex.units.center
    assert not np.isclose(left, X[7]).all(axis=1).any()
    press(ex, " ")  # EM continues on the new data
    assert ex.iteration == 1 and ex.posteriors.shape == (n, 3)


def test_any_key_stops_a_run_and_the_window_fits_the_screen():
    ex = explorer(4)
    press(ex, "enter")
    assert ex.running
    ex.tick()
    press(ex, "e")
    assert not ex.running and "stopped at iteration 1" in ex.ax.get_title()
    for _ in range(3):
        press(ex, " ")
    ex.fig.set_size_inches(1336 / 100, 618 / 100)
    ex.fig.canvas.draw()
    assert problems_of(ex.fig, (1336, 618)) == []


def test_explore_opens_its_window_after_the_printed_metrics(cli, shown_figures):
    out = cli.output("--explore", "--n-samples", "120", "--n-features", "3")
    assert "Explore: EM from a random start on feature 1 and feature 2 (of 3" in out
    [fig] = shown_figures
    assert isinstance(fig.explorer, gmm_clustering.Explorer)
    assert fig.explorer.Z.shape == (120, 2)
    plt.close(fig)


def test_explore_where_no_window_can_open_is_one_line(cli):
    assert cli.error("--explore") == (
        f"{ERROR}--explore is interactive and no window can open here (matplotlib backend "
        "'agg'); run it on a desktop, or see EM replayed with --trace --save em.gif"
    )


def test_explore_on_one_feature_is_one_line(cli, shown_figures, tmp_path):
    write_table(tmp_path / "one.csv", three_blobs()[:, :1])
    assert cli.error("--csv", "one.csv", "--explore") == (
        f"{ERROR}--explore draws two features and the data has one; use --trace"
    )


def test_k_means_restart_on_fewer_distinct_points_than_k_starts_at_random():
    X = np.repeat([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], 5, axis=0)  # 3 distinct points
    ex = explorer(4, X=X)
    press(ex, "k")
    assert "k-means needs k = 4 distinct points and there are 3" in ex.ax.get_title()
    press(ex, *[" "] * 20)  # EM runs on: every number finite
    assert np.isfinite(ex.mixture.means).all() and np.isfinite(ex.curve).all()


def test_spherical_is_one_variance_in_the_data_s_own_units():
    X = three_blobs() * [1.0, 100.0]  # columns in units 100 apart
    ex = explorer(3, "spherical", X=X)
    press(ex, " ", " ")
    _, covariances = data_units(ex)
    for S in covariances:
        np.testing.assert_allclose(S, S[0, 0] * np.eye(2), rtol=1e-12, atol=0)


def test_a_step_that_fails_during_a_run_stops_it_and_says_so():
    ex = explorer()
    press(ex, "enter")
    ex.Z[0] = np.nan  # arithmetic that cannot go on
    callback, args, kwargs = ex.timer.callbacks[0]  # what the event loop calls
    callback(*args, **kwargs)
    assert not ex.running and "that step failed" in ex.ax.get_title()
