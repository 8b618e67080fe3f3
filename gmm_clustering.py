"""Gaussian-mixture clustering, shown and measured.

A Gaussian mixture model (GMM) says that each point x was made in two draws:
first a component j, with probability w_j (the weights, which sum to 1), then
x itself from that component's Gaussian N(mu_j, S_j), with mean mu_j and
covariance matrix S_j.  Its density is p(x) = sum_j w_j N(x | mu_j, S_j).
Clustering with it means fitting w, mu and S, then giving each point to the
component likeliest to have made it.

EM (expectation-maximisation) fits it.  From a start (by default the clusters
of a model-based hierarchical clustering, as R's mclust starts) it repeats two
steps until the log-likelihood, log L = sum_i log p(x_i), stops rising:
  E-step, Bayes' rule: the posterior of component j for point i,
      p_ij = w_j N(x_i | mu_j, S_j) / sum_l w_l N(x_i | mu_l, S_l);
  M-step, averages weighted by the posteriors, with n_j = sum_i p_ij:
      w_j = n_j / n,   mu_j = sum_i p_ij x_i / n_j,
      S_j = sum_i p_ij (x_i - mu_j)(x_i - mu_j)' / n_j.
No iteration lowers log L, and EM stops at a local maximum: where it ends
depends on where it starts.

The covariance type says how much shape each component may have (mclust's
names in brackets): full (VVV), every component its own S_j; tied (EEE), one S
shared by all; diag (VVI), each S_j diagonal, so the ellipses are aligned
with the axes; spherical (VII), S_j = s_j^2 I, so they are circles.

More components always raise log L.  BIC = -2 log L + p log n and
AIC = -2 log L + 2 p charge for the p free parameters (weights, means,
covariances); the lowest wins.  ICL = BIC - 2 sum_i log max_j p_ij also
charges for points that sit between components.  (R's mclust prints BIC
with the opposite sign: higher is better there.)

A point's Mahalanobis distance from a component, r = sqrt((x - mu)' S^-1 (x - mu)),
is its distance counted in that component's own standard deviations.  The
ellipses drawn are r = 1, 2 and 3; in two dimensions they hold 1 - exp(-r^2 / 2)
of the component: 39 %, 86 % and 99 %.

Silhouette: for each point (b - a) / max(a, b), with a its mean distance to
its own cluster and b to the nearest other one; from -1 to 1, higher is
better.  The adjusted Rand index (ARI) compares the clusters with known
classes: 1 when they are the same up to renaming, 0 for chance agreement.

Usage::

    python gmm_clustering.py                        # 500 blobs, 4 components
    python gmm_clustering.py --covariance-type tied --save tied.png
    python gmm_clustering.py --select               # choose k and covariance by BIC
    python gmm_clustering.py --dataset iris --compare-kmeans --parameters
    python gmm_clustering.py --trace --save em.gif  # EM step by step, animated
    python gmm_clustering.py --explore              # drive EM yourself in the window
    python gmm_clustering.py --n-init 10 --init random --report
    python gmm_clustering.py --bayesian --n-components 10
    python gmm_clustering.py --csv data.csv --labels species --report
    python gmm_clustering.py --predict=-6,-6 --anomalies 2 --sample 200 --sample-out new.csv
    python gmm_clustering.py --csv data.csv --assignments out.csv --save-model m.json
    python gmm_clustering.py --model m.json --csv new.csv --assignments new_out.csv
    python gmm_clustering.py --no-plot --json       # one JSON object, no figure

Where a window can open the figure opens in it; where none can (a server, CI,
SSH, ``MPLBACKEND=Agg``) it is saved to ``gmm_clustering.png`` and the output
says where.  Bad input ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys


def interrupted_while_loading(*_):
    print("gmm_clustering.py: interrupted", file=sys.stderr)
    os._exit(130)


if __name__ == "__main__":  # Ctrl-C while the libraries load: a quiet exit, not a traceback
    signal.signal(signal.SIGINT, interrupted_while_loading)

import argparse
import codecs
import contextlib
import csv
import functools
import io
import itertools
import json
import logging
import math
import re
import shutil
import stat
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ADDRESS_SPACE_NEEDED = 768 << 20  # numpy, scipy, scikit-learn and matplotlib (0.5 GB measured)


def memory_limit():
    """(bytes, what they are): the machine's memory, or the address-space limit if lower."""
    total, where = None, "this machine has"
    with contextlib.suppress(ValueError, OSError, AttributeError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY and (total is None or limit < total):
            total, where = limit, "ulimit -v allows"
    return total, where


def gigabytes(n_bytes):
    """A size as people say it: '0.81 GB', '4.8 GB', '30 MB'."""
    if n_bytes < 1e9:
        return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.0f} MB"
    return f"{n_bytes / 1e9:.1f} GB"


def address_space_too_small():
    """Whether ``ulimit -v`` leaves too little room for the libraries."""
    total, where = memory_limit()
    return where.startswith("ulimit") and total < ADDRESS_SPACE_NEEDED


np = None  # without room for numpy's BLAS (it would end the process from C), main() says so
if not address_space_too_small():
    try:
        import numpy as np
    except ModuleNotFoundError:  # main() says what to install, in one line
        pass

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEFAULT_N_COMPONENTS = 4  # when the data has no known classes to count
UNCERTAIN_BELOW = 0.9  # a point is "uncertain" when its largest posterior is below this
ELLIPSE_SIGMAS = (1, 2, 3)  # Mahalanobis radii of the drawn ellipses
DEFAULT_FIGURE = "gmm_clustering.png"  # where a run with no display saves its figure
SILHOUETTE_MAX_SAMPLES = 5_000  # silhouette is quadratic in n: a random sample above this
PLOT_MAX_POINTS = 20_000  # scatter a random subset above this
EXIT_USAGE = 2
progress = logging.getLogger("gmm_clustering")  # a long sweep's progress (see main)


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class NotDelivered(UsageError):
    """An output that could not be written (a full disk, a folder gone): exit status 1."""


# ==========================================================================
# The lesson: the default run, top to bottom
# ==========================================================================
# ``lesson`` is the whole run.  Each option the user gives is one function
# with its record (section "What else to show"); the options that fit the
# model another way are in section "The model".


def lesson(args: argparse.Namespace, output: Output) -> Run:
    """Make or read the data, fit a mixture with EM, measure it, draw it."""
    if args.model:  # a saved mixture: steps 1 to 4 batch by batch ("Your results back")
        run = apply_saved_model(args, output)
    else:
        # 1. The points (and their true classes, when known): 500 blobs by default.
        data = load_data(args)

        # 2. EM: scikit-learn's GaussianMixture (fit_gmm below), unless an option fits otherwise.
        mixture, fitting = fit_model(args, data)

        # 3. One more E-step on the fitted mixture: each point's posteriors and log-density.
        log_density, posteriors = e_step(mixture, data.X)
        labels = posteriors.argmax(axis=1)  # the hard clusters: each point's likeliest component

        # 4. How good is the fit: log-likelihood, silhouette, BIC, AIC, ICL, ARI.
        classes = None if data.y is None else np.array(data.class_names)[data.y]
        tally = Tally(len(mixture.weights)).add(log_density, posteriors, classes)
        run = Run(args, output, data, mixture, log_density, posteriors, labels, [fitting], tally)
        run.metrics = measure(run)

    # 5. Whatever else was asked for: each option's step, in the order of the options.
    for step in steps_wanted(args):
        run.found.append(step(run))

    # 6. The figure: the clusters with their Gaussian ellipses, and the panels asked for.
    if not args.no_plot:
        run.found.append(show_or_save(run))
    return run


@dataclass
class Dataset:
    """The points to fit, and what is known about them."""

    X: np.ndarray  # (n_samples, n_features), as fitted
    feature_names: list[str]
    source: str
    y: np.ndarray | None = None  # the true class of each point (0 .. c-1), when known
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)  # one line each: how it was read
    dropped_rows: int = 0
    skipped_columns: list[str] = field(default_factory=list)
    scaler: Units | None = None  # under --scale: how the columns were standardised
    same_units: bool = False  # whether all columns share one unit (then circles look round)
    kept: np.ndarray | None = None  # which of the file's data rows X holds (None: all of them)
    row_ids: list[str] | None = None  # each data row's name in the file (R's), if it has them
    n_rows: int = 0  # a saved model's input: the data rows read


@dataclass
class Mixture:
    """A fitted Gaussian mixture: what the E-step, the figure and the summary read."""

    weights: np.ndarray  # (k,), summing to 1
    means: np.ndarray  # (k, d)
    covariances: np.ndarray  # (k, d, d): every component's full matrix, whatever the type
    covariance_type: str
    converged: bool | None = True  # None: applied, not fitted
    n_iter: int | None = 0
    estimator: str = "GaussianMixture"
    units: Units | None = None  # the units EM ran in (where reg_covar was added), if fitted


@dataclass
class Found:
    """What one step found: numbers for the JSON, text lines, points and panels to draw."""

    results: dict = field(default_factory=dict)  # JSON keys and values
    lines: list[str] = field(default_factory=list)  # printed after the metrics
    head: list[str] = field(default_factory=list)  # printed before them (the selection table)
    notes: list[str] = field(default_factory=list)  # "Note: " lines at the top; JSON "notes"
    warnings: list[str] = field(default_factory=list)  # printed on stderr
    marks: dict = field(default_factory=dict)  # name: points (data units) drawn on the clusters
    panels: list[Panel] = field(default_factory=list)  # figure panels, in order


@dataclass
class Run:
    """One run: the data, the fitted mixture, its soft assignments, and what was found."""

    args: argparse.Namespace  # the options as given; never changed
    output: Output  # where the figure goes
    data: Dataset
    mixture: Mixture
    log_density: np.ndarray  # (n,) log p(x_i)
    posteriors: np.ndarray  # (n, k) p_ij
    labels: np.ndarray  # (n,) each point's likeliest component
    found: list[Found] = field(default_factory=list)
    tally: Tally | None = None  # every point's part in the metrics (a saved model: all rows)
    metrics: dict = field(default_factory=dict)
    every_log_density: np.ndarray | None = None  # a saved model: every row's, not the sample's

    def marks(self, name):
        return next((f.marks[name] for f in self.found if name in f.marks), None)

    def results(self, key):
        return next((f.results[key] for f in self.found if key in f.results), None)


def make_blob_data(n_samples, centers, n_features, cluster_std, random_state):
    """Isotropic Gaussian blobs with known classes (scikit-learn's ``make_blobs``)."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples, n_features, centers=centers, cluster_std=cluster_std, random_state=random_state
    )
    names = [f"feature {j + 1}" for j in range(n_features)]
    classes = [f"blob {j}" for j in range(centers)]
    return Dataset(X, names, "make_blobs", y=y, class_names=classes, same_units=True)


def fit_gmm(args, data, random_state=None, init=None):
    """EM as scikit-learn runs it: ``GaussianMixture`` with the options' k, type and start.

    It runs on the columns centred and scaled to sd 1 (``Units``), so that the
    answer does not depend on the data's units; the mixture is mapped back.
    EM starts from a partition (``start_of``: by default a model-based
    hierarchical clustering, mclust's start), then alternates E- and M-steps
    until the mean log-likelihood gains less than ``tol`` (1e-3) in an iteration.
    """
    from sklearn.mixture import GaussianMixture

    units = Units.of(data.X, args.covariance_type)
    Z, k = units.z(data.X), n_components_wanted(data, args)
    seed = args.random_state if random_state is None else random_state
    start = start_of(init or args.init, Z, k, args.covariance_type, seed)
    model = GaussianMixture(k, covariance_type=args.covariance_type, random_state=seed, **start)
    return as_mixture(fitted(model, Z), units), Found()


def start_of(init, Z, k, covariance_type, random_state):
    """Where EM starts, as GaussianMixture's arguments: scikit-learn's own starts (k-means,
    random, ...), or "hierarchical": the first M-step from the tree's k clusters."""
    if init != "hierarchical" or Z.shape[1] > TREE_MAX_FEATURES:  # wide data: k-means
        return {"init_params": init if init != "hierarchical" else "kmeans"}
    labels = hierarchical_starts(Z, k, random_state)[:, k - 1]
    weights, means, covariances = m_step(Z, np.eye(k)[labels], covariance_type)
    precisions = np.linalg.inv(covariances)  # the stored form of each type's precision:
    stored = {
        "full": precisions,
        "tied": precisions[0],
        "diag": np.diagonal(precisions, axis1=1, axis2=2),
        "spherical": precisions[:, 0, 0],
    }[covariance_type]
    return {"weights_init": weights, "means_init": means, "precisions_init": stored}


def as_mixture(model, units):
    """A scikit-learn mixture fitted on ``units.z(X)`` as a ``Mixture`` of X (covariances full)."""
    k, d = model.means_.shape
    covariances = {
        "full": lambda c: c,  # one (d, d) matrix per component
        "tied": lambda c: np.broadcast_to(c, (k, d, d)),  # one matrix shared by all
        "diag": lambda c: c[:, :, None] * np.eye(d),  # one variance per feature
        "spherical": lambda c: c[:, None, None] * np.eye(d),  # one variance per component
    }[model.covariance_type](model.covariances_)
    return Mixture(
        model.weights_,
        units.center + model.means_ * units.scale,
        np.array(covariances) * np.outer(units.scale, units.scale),
        model.covariance_type,
        bool(model.converged_),
        int(model.n_iter_),
        type(model).__name__,
        units,
    )


def e_step(mixture, X):
    """Bayes' rule: each point's log-density log p(x) and its posteriors p(j | x).

    p(j | x) = w_j N(x | mu_j, S_j) / p(x), with p(x) = sum_l w_l N(x | mu_l, S_l),
    computed with logarithms (a log-sum-exp) so that tiny densities do not round to 0.
    """
    from scipy.special import logsumexp

    log_joint = np.log(mixture.weights) + component_log_densities(mixture, X)  # log w_j N(x | j)
    log_density = logsumexp(log_joint, axis=1)  # log p(x)
    posteriors = np.exp(log_joint - log_density[:, None])
    if not np.isfinite(log_density).all():  # points so far away that every density is 0
        posteriors = far_point_posteriors(mixture, X, posteriors)
    return log_density, posteriors


def component_log_densities(mixture, X):
    """log N(x | mu_j, S_j): one column per component (scipy.stats' Gaussian densities).

    Computed on the mixture's own standardised columns z = (x - center) / scale,
    where every covariance is well conditioned whatever the units; the density
    of x is that of z divided by the product of the scales.
    """
    from scipy.stats import multivariate_normal, norm

    units = Units.of_mixture(mixture)
    Z, means = units.z(X), units.z(mixture.means)
    covariances = mixture.covariances / np.outer(units.scale, units.scale)
    if mixture.covariance_type in ("diag", "spherical"):  # independent features: 1-D densities
        sds = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
        log_n = [norm(mu, sd).logpdf(Z).sum(axis=1) for mu, sd in zip(means, sds)]
    else:
        parts = zip(means, covariances)
        log_n = [np.atleast_1d(multivariate_normal(mu, S).logpdf(Z)) for mu, S in parts]
    return np.column_stack(log_n) - units.log_scale


def m_step(X, posteriors, covariance_type, reg_covar=1e-6):
    """Weights, means and covariances from the posteriors: the averages of the docstring.

    The batched EM of the model selection (section "Machinery: model selection")
    is these formulas for many starts at once.
    """
    n, d = X.shape
    n_j = posteriors.sum(axis=0)  # the number of points each component holds
    weights = n_j / n
    means = posteriors.T @ X / n_j[:, None]
    deviations = X[None, :, :] - means[:, None, :]  # (k, n, d)
    covariances = (
        np.einsum("nk,kni,knj->kij", posteriors, deviations, deviations) / n_j[:, None, None]
    )
    if covariance_type == "tied":  # one matrix: the components' scatter pooled
        covariances[:] = np.einsum("k,kij->ij", weights, covariances)
    elif covariance_type == "diag":  # only the variances along the axes
        covariances *= np.eye(d)
    elif covariance_type == "spherical":  # one variance per component: the mean of its d
        covariances = np.trace(covariances, axis1=1, axis2=2)[:, None, None] / d * np.eye(d)
    return weights, means, covariances + reg_covar * np.eye(d)


def measure(run):
    """The numbers the summary prints about the fitted mixture (every point's, from its tally)."""
    mixture, t = run.mixture, run.tally
    k, d = mixture.means.shape
    score, sample_size = silhouette(run.data.X, run.labels, run.args.random_state, t.n)
    metrics = {
        "n_samples": t.n,
        "n_features": d,
        "n_components": k,
        "covariance_type": mixture.covariance_type,
        "converged": mixture.converged,
        "n_iter": mixture.n_iter,
        **criteria(t.log_density, t.log_largest, t.n, k, mixture.covariance_type, d),
        "silhouette": score,
        "silhouette_sample_size": sample_size,
        "uncertain": t.uncertain,
        "uncertain_threshold": UNCERTAIN_BELOW,
        "cluster_sizes": t.sizes.tolist(),
        "weights": mixture.weights.tolist(),
        "means": mixture.means.tolist(),
        "covariances": mixture.covariances.tolist() if d <= 100 else None,  # bounds the JSON
    }
    if mixture.estimator != "GaussianMixture":  # a prior, or no fit to these data at all:
        metrics.update(bic=None, aic=None, icl=None)  # BIC's parameter count does not apply
    if t.by_class:
        names = sorted(t.by_class)
        table = np.column_stack([t.by_class[name] for name in names])  # clusters x classes
        metrics["ari"] = adjusted_rand_index(table)
        metrics.update(confusion_table(table, names))
    return metrics


def silhouette(X, labels, random_state, n_total=None):
    """Silhouette score (on a random sample above SILHOUETTE_MAX_SAMPLES), sample size."""
    from sklearn import config_context
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(X):
        return None, None  # undefined for one cluster, or one point per cluster
    size = SILHOUETTE_MAX_SAMPLES if len(X) > SILHOUETTE_MAX_SAMPLES else None
    if size is None and (n_total or 0) > len(X):  # X is already a sample of a larger input
        size = len(X)
    X = X - X.mean(axis=0)  # distances do not move; far from zero their digits would be lost
    with config_context(working_memory=16):  # bounds the pairwise-distance chunks (MiB)
        drawn = size if size is not None and size < len(X) else None
        score = silhouette_score(X, labels, sample_size=drawn, random_state=random_state)
    return float(score), size


def criteria(log_l, log_largest, n, k, covariance_type, d):
    """Mean log-likelihood, BIC, AIC and ICL, in scikit-learn's sign (lower is better).

    ``log_l`` is the total log-likelihood, ``log_largest`` the sum over the points
    of the log of their largest posterior.  p counts the free parameters: k - 1
    weights, k * d mean coordinates, and the covariances' own entries (a
    symmetric d x d matrix has d (d + 1) / 2).
    """
    covariance = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d}
    p = int(covariance.get(covariance_type, k) + k * d + k - 1)  # spherical: k variances
    bic = -2 * log_l + p * math.log(n)
    icl = bic - 2 * log_largest
    return {"log_likelihood": log_l / n, "bic": bic, "aic": -2 * log_l + 2 * p, "icl": icl}


def plot_clusters(ax, view):
    """Points coloured by cluster (faded where uncertain), the means and the ellipses."""
    colors = cluster_colors(len(view.weights))
    point_colors = np.array([colors[c] for c in view.labels]).reshape(-1, 4)
    chance = 1 / len(view.weights)  # opacity 1 for a sure point, 0.15 at chance
    sure = (view.largest - chance) / (1 - chance) if chance < 1 else 1.0
    point_colors[:, 3] = 0.15 + 0.85 * np.clip(sure, 0, 1)
    ax.scatter(view.X2[:, 0], view.X2[:, 1], c=point_colors, s=12, linewidths=0)
    shown = np.flatnonzero(view.weights >= view.min_weight)  # Bayesian: switched-off ones not
    for j in shown:
        for n_sigma, style in zip(ELLIPSE_SIGMAS, ("-", "--", ":")):
            label = f"{n_sigma} sd" if j == shown[0] else None
            patch = ellipse(
                view.means2[j], view.covs2[j], n_sigma, colors[j], ls=style, label=label
            )
            ax.add_patch(patch)
    ax.scatter(*view.means2[shown].T, label="component means", **MEAN_STYLE)
    draw_marks(ax, view)
    ax.set(title="GMM clusters" + view.subset_note, xlabel=view.xlabel, ylabel=view.ylabel)
    ax.legend(fontsize="small", title="ellipses: Mahalanobis radius", title_fontsize="small")


MEAN_STYLE = {"marker": "X", "s": 120, "c": "black", "edgecolors": "white", "zorder": 3}


def ellipse(mean2, cov2, n_sigma, color, alpha=1.0, **style):
    """The n_sigma contour of a 2-D Gaussian, as a matplotlib ``Ellipse`` (drawn above points).

    Its axes point along the eigenvectors of the covariance; each half-axis is
    n_sigma times the square root of its eigenvalue (``Ellipse`` takes full widths).
    """
    from matplotlib.patches import Ellipse

    eigval, eigvec = np.linalg.eigh(cov2)
    angle = math.degrees(math.atan2(eigvec[1, 1], eigvec[0, 1]))  # of the major axis
    width, height = 2 * n_sigma * np.sqrt(np.maximum(eigval[::-1], 0))
    return Ellipse(
        mean2,
        width,
        height,
        angle=angle,
        fill=False,
        lw=1.5,
        zorder=3,
        edgecolor=color,
        alpha=alpha,
        **style,
    )


def format_summary(run, explain=True):
    """The text summary: the data, the metrics one a line, notes, then what the options found."""
    r, data, found = run.metrics, run.data, run.found
    scaled = " (standardised)" if data.scaler is not None else ""
    lines = [
        f"Data: {data.source}, {r['n_samples']:,} samples x {r['n_features']} features{scaled}"
    ]
    if data.source != "make_blobs":
        lines.append(f"Columns used: {', '.join(data.feature_names)}")
    if data.skipped_columns:
        lines.append(
            f"Skipped columns (text, empty or row names): {', '.join(data.skipped_columns)}"
        )
    if data.dropped_rows:
        lines.append(f"Dropped rows with missing values: {data.dropped_rows}")
    notes = data.notes + [note for f in found for note in f.notes]
    lines += [f"Note: {note}" for note in notes] + [line for f in found for line in f.head]
    model = f"n_components={r['n_components']}, covariance_type='{r['covariance_type']}'"
    estimator, converged = run.mixture.estimator, "yes" if r["converged"] else "NO"
    converged += f" after {r['n_iter']} iterations"
    if run.args.model:
        estimator, converged = f"saved mixture {run.args.model} ", "n/a (applied, not fitted)"
    log_likelihood = f"{r['log_likelihood']:.5f}"
    if estimator == "BayesianGaussianMixture":  # not scikit-learn's score: say which it is
        log_likelihood += " (of the mixture at the posterior means of its parameters)"
    values = {
        "Model": f"{estimator}({model})",
        "EM converged": converged,
        "Log Likelihood": log_likelihood,
        "Silhouette Score": number_text(r["silhouette"]),
        "BIC": number_text(r["bic"], 3),
        "AIC": number_text(r["aic"], 3),
        "ICL": number_text(r["icl"], 3),
        "Adjusted Rand Index": number_text(r.get("ari")) if "ari" in r else None,
        "Uncertain points": f"{r['uncertain']} of {r['n_samples']:,} "
        f"(max posterior < {UNCERTAIN_BELOW})",
        "Cluster sizes": ", ".join(map(str, r["cluster_sizes"])),
        "Weights": ", ".join(f"{w:.3f}" for w in r["weights"]),
    }
    lines += [f"{label}: {value}" for label, value in values.items() if value is not None]
    if explain:
        sample = r["silhouette_sample_size"]
        sampled = f", computed on a random sample of {sample:,} points" if sample else ""
        ari = "; ARI compares with the true labels (1 = identical, 0 = chance)" * ("ari" in r)
        lines += [
            CRITERIA_NOTE,
            f"Note: Silhouette runs from -1 to 1 (higher is better){sampled}{ari}.",
        ]
        if data.scaler is not None:
            lines.append(
                "Note: All numbers are on the standardised scale (each feature mean 0, sd 1)."
            )
    lines += [line for f in found for line in f.lines]
    return "\n".join(map(printable, lines))  # a line break or ESC in a name: escaped


CRITERIA_NOTE = (
    "Note: Log Likelihood is the mean log-likelihood per sample (higher is better); BIC, AIC "
    "and ICL are -2 log L + penalty (lower is better); ICL also penalises overlapping clusters."
)


def number_text(value, digits=5):
    return "n/a" if value is None else f"{value:.{digits}f}"


# ==========================================================================
# Options: one record each
# ==========================================================================
# An option is declared once, beside the function that does its work: its
# flag, how argparse reads it, its help, the options it needs or excludes, and
# whether it fits the model (``fit``) or shows something after the fit
# (``step``).  The parser, the check of contradictions, the steps of the
# lesson and --report are all built from these records.


@dataclass
class Option:
    flag: str
    how: dict  # argparse keywords: type, default, action, metavar, choices
    help: str
    group: str  # the --help section: data, model, what else to show, output
    requires: dict = field(default_factory=dict)  # flag: message when this one is given alone
    excludes: dict = field(default_factory=dict)  # flag: message when both are given
    report: bool = False  # --report runs the step too
    fit: Callable | None = None  # (args, data) -> (Mixture, Found): the model, fitted this way
    step: Callable | None = None  # (run) -> Found: run after the fit

    @property
    def dest(self):
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: list[Option] = []
DATA, MODEL, SHOW, OUTPUT = GROUPS = ("data", "model", "what else to show", "output")  # --help


def option(flag, how, help, group, fits=False, **record):
    """Declare an option; as a decorator, the function below it is its step (or its fit)."""
    declared = Option(flag, how, help, group, **record)
    OPTIONS.append(declared)

    def does(function):
        setattr(declared, "fit" if fits else "step", function)
        return function

    return does


def given(args, flag):
    """Whether an option was given a value other than its default."""
    record = next(o for o in OPTIONS if o.flag == flag)
    value = getattr(args, record.dest)
    return value != record.how.get("default") and value not in (None, False)


def steps_wanted(args):
    """The steps of the options given (and of --report's), in the order they are declared."""
    wanted = [o for o in OPTIONS if given(args, o.flag) or o.report and args.report]
    return [o.step for o in wanted if o.step is not None]


def fit_model(args, data):
    """The model: fitted by the first option given that fits it, else by ``fit_gmm``."""
    fit = next((o.fit for o in OPTIONS if o.fit is not None and given(args, o.flag)), fit_gmm)
    mixture, found = fit(args, data)
    found.results = {"estimator": mixture.estimator, **found.results}
    if "degenerate" not in found.results:  # one maximum-likelihood candidate: checked
        units = mixture.units  # the units it was fitted in
        covs = mixture.covariances / np.outer(units.scale, units.scale)
        n_points = mixture.weights * len(data.X)
        reason = spurious_component(n_points, covs, mixture.covariance_type, data.feature_names)
        found.results["degenerate"] = reason
        if reason:
            found.warnings.append(
                f"the fit is spurious: {reason}; use fewer components or --select"
            )
    return mixture, found


FLAG = {"action": "store_true"}


def checked(convert, accept, requirement):
    """An argparse type: convert the text, then accept the value or say what is needed."""
    kind = "a whole number" if convert is int else "a number"

    def parse(text):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind} ({requirement})") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {requirement}")
        return value

    return parse


def upto(limit, default=None):
    """A count from 1 to ``limit``."""
    return number(checked(int, lambda v: 1 <= v <= limit, f"from 1 to {limit:,}"), default)


def number(kind, default=None, metavar="N"):
    return {"type": kind, "default": default, "metavar": metavar}


def choice(*choices):
    return {"choices": choices, "default": choices[0]}


def text(metavar, check=None):
    """A text value; never empty."""

    def parse(value):
        if value == "":
            raise argparse.ArgumentTypeError("needs a value, not an empty string")
        return check(value) if check else value

    return {"type": parse, "metavar": metavar}


SEED_MAX = 2**32 - 1  # numpy's seeds
SEED = checked(int, lambda v: 0 <= v <= SEED_MAX, f"from 0 to {SEED_MAX} (numpy's seed range)")
POSITIVE = checked(float, lambda v: 0 < v < 1e100, "a positive number below 1e100")
PERCENT = checked(float, lambda v: 0 < v < 100, "a percentage above 0 and below 100")
PATH = text("PATH")


# ==========================================================================
# The model: as asked, or fitted another way
# ==========================================================================
# Each option here replaces the plain fit; the first one given is used.

INITS = ("hierarchical", "kmeans", "k-means++", "random", "random_from_data")  # and sklearn's
for flag, how, help in [
    ("--n-components", upto(1000), "components (default: classes, or 4)"),
    ("--covariance-type", choice(*COVARIANCE_TYPES), "shape of each component (default full)"),
    ("--init", choice(*INITS), "how EM starts (default: mclust's hierarchical clustering)"),
]:
    option(flag, how, help, MODEL)


def n_components_wanted(data, args):
    """--n-components, else the number of known classes, else DEFAULT_N_COMPONENTS."""
    n_known = len(np.unique(data.y)) if data.y is not None else None
    return 1 if args.select else args.n_components or n_known or DEFAULT_N_COMPONENTS


ONE_FIT = "--trace follows one GaussianMixture fit: not with --select or --bayesian"


@option(
    "--select",
    FLAG,
    "choose k and covariance type by --criterion",
    MODEL,
    fits=True,
    excludes={
        "--bayesian": "--select and --bayesian are two ways of choosing k; use one",
        "--n-components": "--select chooses the number of components: drop --n-components",
        "--init": "--select makes its own starts: drop --init",
        "--n-init": "--select makes its own starts: drop --n-init",
        "--trace": ONE_FIT,
    },
)
def fit_selected(args, data):
    """--select: every k up to --max-components for the four types; the best by --criterion."""
    sweep = sweep_candidates(args, data)
    mixture = sweep.winner_mixture(data.X, args.random_state)
    best = sweep.best
    found = sweep.found(star=best[args.criterion])
    found.results["degenerate"] = None  # the sweep never selects a degenerate candidate
    found.head = selection_table(sweep.rows, best, args.criterion, sweep.sample_note)
    return mixture, found


MAX_COMPONENTS = 50  # the largest --max-components
for flag, how, help in [
    ("--max-components", upto(MAX_COMPONENTS, 10), "largest k tried (default 10)"),
    ("--criterion", choice("bic", "aic", "icl"), "selection criterion (default bic)"),
]:
    option(flag, how, help, MODEL)


def selection_table(rows, best, criterion, on_sample):
    """The text of --select: the five best candidates, those set aside, the choice."""
    name = criterion.upper()
    lines = [
        f"Model selection by {name} (lower is better) over {len(rows)} candidates{on_sample}:",
        f"  {'covariance':<10} {'k':>3} {'BIC':>12} {'AIC':>12} {'ICL':>12}",
    ]
    usable = sorted((r for r in rows if not r["set_aside"]), key=lambda r: r[criterion])
    for r in usable[:5]:
        numbers = "".join(f" {r[c]:>12.3f}" for c in ("bic", "aic", "icl"))
        lines.append(f"  {r['covariance_type']:<10} {r['n_components']:>3}{numbers}")
    aside = [r for r in rows if r["set_aside"]]
    if aside:
        listed = ", ".join(f"{r['covariance_type']} k={r['n_components']}" for r in aside)
        lines.append(f"  set aside as spurious: {listed} (first: {aside[0]['reason']})")
    lines.append(f"Selected: {model_words(best)}")
    return lines


def model_words(row):
    """A candidate in words: "tied with 3 components"."""
    k = row["n_components"]
    return f"{row['covariance_type']} with {k} component{'s' * (k != 1)}"


BAYES_WEIGHT_FLOOR = 0.01  # a Bayesian component "counts" above this weight


@option(
    "--bayesian",
    FLAG,
    "Dirichlet-process mixture: k is an upper bound",
    MODEL,
    fits=True,
    excludes={"--trace": ONE_FIT},
)
def fit_bayesian(args, data):
    """--bayesian: a Dirichlet-process mixture; --n-components is only an upper bound.

    Its prior pushes the weights of components the data does not need towards
    zero: the number that keep a real weight is the answer to "how many?".
    """
    from sklearn.mixture import BayesianGaussianMixture

    model = BayesianGaussianMixture(
        n_components=n_components_wanted(data, args),
        covariance_type=args.covariance_type,
        init_params="kmeans" if args.init == "hierarchical" else args.init,  # no partition here
        weight_concentration_prior_type="dirichlet_process",
        max_iter=500,
        n_init=args.n_init,
        random_state=args.random_state,
    )
    units = Units.of(data.X, args.covariance_type)
    mixture = as_mixture(fitted(model, units.z(data.X)), units)
    used, k = int((mixture.weights > BAYES_WEIGHT_FLOOR).sum()), len(mixture.weights)
    above = f"have weight above {BAYES_WEIGHT_FLOOR:.0%}"
    return mixture, Found(
        results={
            "degenerate": None,  # the prior empties the components the data does not need
            "effective_components": used,
            "effective_threshold": BAYES_WEIGHT_FLOOR,
        },
        lines=[f"Bayesian mixture: {used} of {k} components {above}"],
        panels=[Panel(functools.partial(plot_weights, weights=mixture.weights, used=used))],
    )


TRACE_MAX_ITER = 1000


@option("--trace", FLAG, "EM step by step (an animation with --save x.gif)", SHOW, fits=True)
def fit_traced(args, data):
    """--trace: EM one iteration at a time (``warm_start``), recording each step.

    ``max_iter=0`` makes scikit-learn's start and stops there, so that it can be
    drawn; then each ``fit`` with ``max_iter=1`` and ``warm_start=True`` is one EM
    iteration from where the last one ended.  EM never lowers the likelihood.
    With --n-init the best start is traced.
    """
    from sklearn.mixture import GaussianMixture

    seed, found = args.random_state, Found()
    init = args.init if given(args, "--init") else "random_from_data"
    if not given(args, "--init"):  # the default start leaves EM little to show
        found.lines.append(
            "Note: EM starts from k points drawn at random (--init random_from_data): from the "
            "default hierarchical start EM has little left to do; --init chooses another"
        )
    if args.n_init > 1:
        _, starts = fit_starts(args, data, init)  # trace the best of the starts
        found.results, found.lines = starts.results, starts.lines + found.lines
        seed = max(found.results["starts"], key=lambda s: s["log_likelihood"])["random_state"]
    units = Units.of(data.X, args.covariance_type)
    Z, shift = units.z(data.X), units.log_scale  # mean log-likelihood of x: that of z - shift
    k = n_components_wanted(data, args)
    model = GaussianMixture(
        k,
        covariance_type=args.covariance_type,
        max_iter=0,
        warm_start=True,
        random_state=seed,
        **start_of(init, Z, k, args.covariance_type, seed),
    )
    fitted(model, Z)  # max_iter=0: scikit-learn's start, and no EM step yet
    frames = [(0, as_mixture(model, units))]
    model.set_params(max_iter=1)  # from now on, each fit is one EM iteration
    trace = []
    for iteration in range(1, TRACE_MAX_ITER + 1):
        fitted(model, Z)  # one E-step and one M-step
        trace.append(float(model.lower_bound_) - shift)  # the log-likelihood before this M-step
        frames.append((iteration, as_mixture(model, units)))
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < model.tol:
            break
    trace.append(float(model.score(Z)) - shift)  # ... and of the final parameters
    mixture = as_mixture(model, units)
    mixture.n_iter, mixture.converged = iteration, iteration < TRACE_MAX_ITER
    start, end = f"{trace[0]:.5f} at the start", f"{trace[-1]:.5f} at the end"
    found.results["trace"] = trace
    found.lines.append(f"EM trace: {len(trace) - 1} iterations, mean log-likelihood {start}, {end}")
    found.panels += [
        Panel(
            functools.partial(plot_em_steps, frames=frames),
            plane=True,
            animation=functools.partial(animate_em, frames=frames, trace=trace),
        ),
        Panel(functools.partial(plot_convergence, trace=trace)),
    ]
    return mixture, found


@option(
    "--n-init",
    upto(1000, 1),
    "N k-means (or --init) starts, seeds SEED, SEED+1, ...",
    MODEL,
    fits=True,
)
def fit_starts(args, data, init=None):
    """--n-init N: N starts with seeds random_state, random_state + 1, ...; the best kept.

    Each start is a separate fit, so that any one of them can be repeated alone.
    The default start is the same every time: these are k-means starts unless
    --init names another random one.
    """
    init = init or (args.init if args.init != "hierarchical" else "kmeans")
    starts, best = [], None
    for i in range(args.n_init):
        mixture, _ = fit_gmm(args, data, args.random_state + i, init)
        score = float(e_step(mixture, data.X)[0].mean())
        starts.append(
            {
                "random_state": args.random_state + i,
                "log_likelihood": score,
                "n_iter": mixture.n_iter,
                "converged": mixture.converged,
            }
        )
        if best is None or score > best[0]:
            best = (score, mixture)
    scores = np.array([s["log_likelihood"] for s in starts])
    distinct = len(np.unique(np.round(scores, 4)))
    spread = f"best {scores.max():.5f}, worst {scores.min():.5f}; {distinct} distinct end points"
    found = Found(
        results={"starts": starts},
        lines=[f"Starts: {len(scores)}; mean log-likelihood {spread}; the best is kept"],
    )
    if args.report:
        found.panels.append(Panel(functools.partial(plot_starts, scores=scores)))
    return best[1], found


# ==========================================================================
# What else to show: one function per option
# ==========================================================================
# Each step reads the run (the data, the mixture, the posteriors) and returns
# what it found: numbers for the JSON, text lines, points and panels to draw.

REPORT_ANOMALY_PERCENT = 2.0  # --report marks this share when --anomalies is absent


@option("--report", FLAG, "every panel: uncertainty, BIC, KMeans, density", SHOW)
def show_report(run):
    """--report: the BIC curves beside this model, the soft assignments, and the summary."""
    found = Found()
    if run.results("selection") is None and run.mixture.estimator == "GaussianMixture":
        found = sweep_beside(run)
    found.panels += [Panel(plot_uncertainty, plane=True), Panel(plot_summary, text=True)]
    return found


def sweep_beside(run):
    """The sweep of --select, drawn beside the model asked for, which is marked on its curve.

    This fit counts as one more start of its own candidate, so its row is never
    worse than it; when the sweep prefers another model, one line says so.
    """
    args, m, c = run.args, run.metrics, run.args.criterion
    sweep = sweep_candidates(args, run.data)
    rows, name = sweep.rows, c.upper()
    key = (m["n_components"], m["covariance_type"])
    mine = next((r for r in rows if (r["n_components"], r["covariance_type"]) == key), None)
    lines = []
    degenerate = run.results("degenerate")
    if sweep.sample is None and mine is not None:
        if not degenerate and (mine["set_aside"] or mine["log_likelihood"] < m["log_likelihood"]):
            mine.update({v: m[v] for v in ("bic", "aic", "icl", "log_likelihood")})
            mine["set_aside"] = False
        elif mine[c] is not None and mine[c] < m[c] - 1:
            better = f"{name} {mine[c]:.3f} (this fit {m[c]:.3f})"
            lines.append(f"Note: the sweep found a better optimum of this same model: {better}")
    star = m[c] if sweep.sample is None else (mine and mine[c])
    best = min((r for r in rows if not r["set_aside"]), key=lambda r: r[c])
    if best is not mine and star is not None:
        scores = f"{name} {best[c]:.3f}; this model {star:.3f}"
        lines.append(f"{name} prefers {model_words(best)}{sweep.sample_note} ({scores})")
    found = sweep.found(star, best)
    found.lines = lines + found.lines
    return found


@option("--parameters", FLAG, "means, covariances, clusters against classes", SHOW)
def show_parameters(run):
    """--parameters: means, covariances and the clusters-by-classes table, as mclust prints."""
    lines, m, names = [], run.metrics, run.data.feature_names
    for j, (w, mu, cov) in enumerate(zip(m["weights"], m["means"], run.mixture.covariances)):
        lines.append(f"Component {j} (weight {w:.3f}): mean " + ", ".join(f"{v:.4g}" for v in mu))
        for name, row in zip(names, cov):
            lines.append(f"  covariance {name:>12.12}: " + " ".join(f"{v:11.4g}" for v in row))
    if "confusion" in m:
        width = max(8, *(len(c) for c in m["class_names"]))
        lines.append("Clusters (rows) by classes (columns), matched so that the diagonal agrees:")
        lines.append(" " * 10 + "".join(f"{c:>{width + 1}.{width}}" for c in m["class_names"]))
        for cluster, row in zip(m["confusion_clusters"], m["confusion"]):
            lines.append(f"cluster {cluster:<2}" + "".join(f"{v:>{width + 1}}" for v in row))
    return Found(lines=lines)


def confusion_table(table, class_names):
    """Clusters (rows of ``table``) against classes, the clusters in the order of the class
    each matches: the matching that maximises the agreement (Hungarian algorithm), so
    the diagonal counts the points on which clusters and classes agree."""
    rows, cols = matching(table)
    k = len(table)
    order = list(rows[np.argsort(cols)]) + [c for c in range(k) if c not in rows]
    return {
        "confusion": table[order].tolist(),
        "confusion_clusters": [int(c) for c in order],
        "class_names": list(class_names),
    }


def adjusted_rand_index(table):
    """The adjusted Rand index of two partitions from their table of counts (Hubert and
    Arabie): pairs of points together in both, against what chance gives."""
    pairs = lambda counts: float((counts * (counts - 1) / 2).sum())
    n = int(table.sum())
    both, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    chance = rows * cols / pairs(np.array([n])) if n > 1 else 0.0
    most = (rows + cols) / 2
    return 1.0 if most == chance else (both - chance) / (most - chance)


def matching(table):
    """The pairs (row, column) of a count table that agree on the most points (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(-table)


def points(text):
    """--predict: comma-separated finite coordinates."""
    cells = [v.strip() for v in text.split(",")]
    plain = all(PLAIN_NUMBER.fullmatch(v) for v in cells)  # as a CSV cell is read: 0-9 only
    values = [float(v) for v in cells] if plain else None
    if values is None or not all(map(math.isfinite, values)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated finite numbers, e.g. 1.5,2 (negative: --predict=-6,-6)"
        )
    return values


POINTS = {"type": points, "action": "append", "metavar": "X1,X2"}
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@option("--predict", POINTS, "assign a new point (repeatable; negative: --predict=-6,-6)", SHOW)
def show_predictions(run):
    """--predict: the cluster and posteriors of new points given in the data's units."""
    P = np.array(run.args.predict, dtype=float)
    if run.data.scaler is not None:
        P = run.data.scaler.z(P)
    _, posteriors = e_step(run.mixture, P)
    found = Found(results={"predictions": []}, marks={"predictions": P})
    for point, row in zip(run.args.predict, posteriors):
        cluster, where = int(row.argmax()), ",".join(f"{v:g}" for v in point)
        found.results["predictions"].append(
            {"point": point, "cluster": cluster, "probabilities": row.tolist()}
        )
        odds = ", ".join(f"{q:.3f}" for q in row)
        found.lines.append(f"Predict {where}: cluster {cluster} (posteriors {odds})")
    return found


@option("--compare-kmeans", FLAG, "KMeans with the same k and seed", SHOW, report=True)
def show_kmeans(run):
    """--compare-kmeans: KMeans with the same k and seed, for comparison."""
    from sklearn.cluster import KMeans

    X, y, seed = run.data.X, run.data.y, run.args.random_state
    km = KMeans(n_clusters=len(run.mixture.weights), n_init=1, random_state=seed).fit(X)
    result = {"silhouette": silhouette(X, km.labels_, seed)[0], "inertia": float(km.inertia_)}
    lines = [f"KMeans Silhouette Score: {number_text(result['silhouette'])}"]
    if y is not None:
        table = np.zeros((len(km.cluster_centers_), y.max() + 1))
        np.add.at(table, (km.labels_, y), 1)
        result["ari"] = adjusted_rand_index(table)
        lines.append(f"KMeans Adjusted Rand Index: {result['ari']:.5f}")
    lines.append(f"KMeans Inertia: {result['inertia']:.3f}")
    draw = functools.partial(plot_kmeans, km_labels=km.labels_, centers=km.cluster_centers_)
    panel = Panel(draw, plane=True, draw_1d=functools.partial(plot_kmeans_1d, km_labels=km.labels_))
    return Found(results={"kmeans": result}, lines=lines, panels=[panel])


@option(
    "--anomalies",
    number(PERCENT, None, "PCT"),
    "flag the PCT %% of lowest density",
    SHOW,
    report=True,
)
def show_anomalies(run):
    """--anomalies PCT: the PCT percent of points with the lowest fitted density."""
    percent = run.args.anomalies or REPORT_ANOMALY_PERCENT
    every = run.every_log_density  # a saved model's input: every row, beyond the sample drawn
    mask, threshold = find_anomalies(run.log_density if every is None else every, percent)
    count = int(mask.sum())
    if every is not None:  # the drawn sample's points at or below the threshold
        mask = run.log_density <= (-np.inf if threshold is None else threshold)
    below = f"log-density threshold {number_text(threshold, 4)}"
    return Found(
        results={"anomalies": {"count": count, "threshold": threshold, "percent": percent}},
        lines=[f"Anomalies: {count} points ({percent:g}% lowest density), {below}"],
        marks={"anomalies": run.data.X[mask]},
        panels=[Panel(plot_density, plane=True)],
    )


def find_anomalies(log_density, percent):
    """The ``percent`` % of points with the lowest density: (mask, threshold).

    Exactly round(n * percent / 100) points are flagged (ties broken by order);
    the threshold is the highest log-density among them.
    """
    n_flag = round(len(log_density) * percent / 100)
    mask = np.zeros(len(log_density), dtype=bool)
    if n_flag == 0:
        return mask, None
    order = np.argsort(log_density, kind="stable")[:n_flag]
    mask[order] = True
    return mask, float(log_density[order].max())


@option("--sample", upto(10**8), "draw N new points from the model", SHOW)
def show_samples(run):
    """--sample N: new points drawn from the fitted mixture (written by --sample-out)."""
    n, path = run.args.sample, run.args.sample_out
    X_new, component = draw_samples(run.mixture, n, run.args.random_state)
    if path:
        scaler = run.data.scaler  # the file is in the data's own units
        X_out = scaler.center + X_new * scaler.scale if scaler is not None else X_new
        write_atomically(path, lambda f: write_samples(f, X_out, component, run.data.feature_names))
        path = os.path.abspath(path)
    written = f", written to {path}" if path else ""
    return Found(
        results={"sample": {"n": n, "path": path}},
        lines=[f"Sampled: {n} new points from the model{written}"],
        marks={"samples": X_new},
    )


option(
    "--sample-out",
    PATH,
    "write the --sample points to a CSV",
    SHOW,
    requires={"--sample": "--sample-out needs --sample N"},
)


def draw_samples(mixture, n_samples, random_state):
    """n points drawn from the mixture: a component by its weight, then a point from it.

    As scikit-learn's ``GaussianMixture.sample`` draws them, then shuffled (it
    returns them grouped by component).
    """
    rng = np.random.RandomState(random_state)
    counts = rng.multinomial(n_samples, mixture.weights)
    diagonal = mixture.covariance_type in ("diag", "spherical")
    parts = []
    for mean, cov, count in zip(mixture.means, mixture.covariances, counts):
        if diagonal:
            parts.append(mean + rng.standard_normal((count, len(mean))) * np.sqrt(np.diag(cov)))
        else:
            parts.append(rng.multivariate_normal(mean, cov, count))
    X_new, component = np.vstack(parts), np.repeat(np.arange(len(counts)), counts)
    order = np.random.RandomState(random_state).permutation(n_samples)
    return X_new[order], component[order]


def write_samples(handle, X_new, component, feature_names):
    """The --sample-out CSV: the features, then each point's component (a name of its own)."""
    writer = csv.writer(handle)
    names = itertools.chain(["component"], (f"component_{i}" for i in itertools.count(2)))
    column = next(name for name in names if name not in feature_names)
    writer.writerow([*feature_names, column])
    for row, comp in zip(X_new, component):
        writer.writerow([*(repr(float(v)) for v in row), int(comp)])


# ==========================================================================
# Your results back: each row's cluster, the model saved, and applied again
# ==========================================================================
# Why this exists: a clustering is only useful if its answer can be joined
# back to the table it came from, and applied to next month's file.  R's
# mclust gives $classification, $z, $uncertainty and predict(); scikit-learn
# predict, predict_proba, score_samples and the fitted estimator.  Here:
# --assignments writes one line per data row of the input (in its order, the
# dropped rows with empty cells), --save-model the mixture as plain JSON in the
# data's own units, and --model applies such a file to new data, reading it
# batch by batch so that a file of any length fits in memory.

MODEL_FORMAT, MODEL_VERSION = "gmm_clustering mixture", 1


@option("--assignments", PATH, "write each row's cluster and posteriors to a CSV", SHOW)
def show_assignments(run):
    """--assignments PATH: every data row of the input, in its order, with its cluster."""
    data, path = run.data, run.args.assignments
    if run.results("assignments") is not None:  # a saved model wrote them as it read the file
        return Found()
    anomalies = run.results("anomalies")
    threshold = None if anomalies is None else anomalies["threshold"]  # None: no row flagged
    shift = data.scaler.log_scale if data.scaler is not None else 0.0  # to the data's own units
    kept = data.kept if data.kept is not None else np.ones(len(data.X), dtype=bool)
    classes = None
    if data.y is not None:
        classes = np.full(len(kept), "", dtype=object)
        classes[kept] = np.array(data.class_names, dtype=object)[data.y]

    def write(handle):
        out = Assignments(handle, len(run.mixture.weights), data, anomalies is not None)
        out.write(
            kept, run.log_density - shift, run.posteriors, classes, threshold, shift, data.row_ids
        )

    write_atomically(path, write)
    path = os.path.abspath(path)
    return Found(
        results={"assignments": path},
        lines=[f"Assignments: {len(kept):,} rows written to {path}"],
    )


class Assignments:
    """The --assignments CSV: a header, then one line per data row, written a batch at a time."""

    def __init__(self, handle, k, data, with_anomaly):
        """``data``: a Dataset, or a batch (Applied) of a saved mixture's input."""
        self.handle, self.k, self.row = handle, k, 0
        self.with_class = (
            getattr(data, "y", None) is not None or getattr(data, "classes", None) is not None
        )
        self.with_anomaly = with_anomaly
        header = ["row", "cluster", "uncertainty", "log_density"]
        header += [f"posterior_{j}" for j in range(k)]
        header += ["class"] * self.with_class + ["anomaly"] * with_anomaly
        handle.write(",".join(header) + "\n")

    def write(
        self, kept, log_density, posteriors, classes=None, threshold=None, shift=0.0, ids=None
    ):
        """Rows in file order: ``kept`` marks those with values (the others' cells are empty).

        The numbers are written in full (repr), column by column: a batch at a time.
        """
        n = len(kept)
        ids = range(self.row + 1, self.row + n + 1) if ids is None else ids
        self.row += n
        numbers = np.column_stack([1 - posteriors.max(axis=1), log_density, posteriors])
        clusters = map(str, posteriors.argmax(axis=1).tolist())
        # repr of a list of lists is C code: each float in full, the rows in one string
        text = repr(numbers.tolist())[2:-2].replace("], [", "\n").replace(", ", ",")
        filled = map(",".join, zip(clusters, text.split("\n") if len(numbers) else []))
        empty = "," * (2 + self.k)
        cells = np.full(n, empty, dtype=object)
        cells[kept] = list(filled)
        columns = [list(map(str if isinstance(ids, range) else quoted, ids)), cells]
        if self.with_class:
            columns.append(list(map(quoted, [""] * n if classes is None else classes)))
        if self.with_anomaly:
            column = np.full(n, "", dtype=object)
            flagged = False if threshold is None else log_density + shift <= threshold
            column[kept] = np.where(flagged, "1", "0")
            columns.append(column)
        for start in range(0, n, 10_000):  # a slice at a time: the text of a batch is large
            rows = zip(*(column[start : start + 10_000] for column in columns))
            self.handle.write("".join(",".join(row) + "\n" for row in rows))


def quoted(text):
    """A CSV cell: quoted when it holds a delimiter, a quote or a line break."""
    text = str(text)
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


@option("--save-model", PATH, "save the mixture as JSON (weights, means, covariances)", SHOW)
def show_saved_model(run):
    """--save-model PATH: the mixture in the data's own units, readable without this script."""
    data, mixture, m = run.data, run.mixture, run.metrics
    units = data.scaler if data.scaler is not None else Units(np.zeros(1), np.ones(1))
    shift = units.log_scale if data.scaler is not None else 0.0  # per point, to own units
    n = m["n_samples"]
    model = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "columns": data.feature_names,
        "covariance_type": mixture.covariance_type,
        "weights": mixture.weights.tolist(),
        "means": (units.center + mixture.means * units.scale).tolist(),
        "covariances": (mixture.covariances * np.outer(units.scale, units.scale)).tolist(),
        "n_samples": n,
        "log_likelihood": m["log_likelihood"] - shift,  # mean per sample, in the data's units
        "bic": None if m["bic"] is None else m["bic"] + 2 * n * shift,
        "source": data.source,
    }
    path = run.args.save_model
    write_atomically(path, lambda f: f.write(json.dumps(finite(model), indent=1) + "\n"))
    return Found(
        results={"model_file": os.path.abspath(path)},
        lines=[f"Model saved to {os.path.abspath(path)}"],
    )


ONE_MODEL = "--model applies a saved mixture: drop {}"


def read_model(path):
    """A mixture saved by --save-model, checked; (its Mixture, its columns)."""
    try:
        with open_input(path, "--model", "a model file") as handle:
            pieces = iter(lambda: handle.read(1 << 20), b"")  # (one read would reserve it all)
            text = b"".join(itertools.islice(pieces, MODEL_MAX_BYTES // (1 << 20) + 1))
        if len(text) > MODEL_MAX_BYTES:
            raise ValueError(f"larger than {MODEL_MAX_BYTES / 1e9:.0f} GB")
        model = json.loads(text.decode("utf-8"))
    except UsageError as exc:
        raise UsageError(f"--model {path}: {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise UsageError(
            f"--model {path}: not a model file saved by --save-model ({why})"
        ) from None
    try:
        if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
            raise ValueError(f'its "format" is not {MODEL_FORMAT!r}')
        if model.get("version") != MODEL_VERSION:
            raise ValueError(f"version {model.get('version')!r}; this script reads {MODEL_VERSION}")
        columns, cov = model["columns"], model["covariance_type"]
        weights, means, covariances = (
            numbers_of(model, key) for key in ("weights", "means", "covariances")
        )
        k, d = len(weights), len(columns)
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) < d or not d:
            raise ValueError('"columns" must be distinct names')
        if cov not in COVARIANCE_TYPES:
            raise ValueError(
                f'"covariance_type" {cov!r} is not one of {", ".join(COVARIANCE_TYPES)}'
            )
        if not k or means.shape != (k, d) or covariances.shape != (k, d, d):
            raise ValueError(
                f"weights, means and covariances do not fit {k} components of {d} columns"
            )
        if not (
            np.isfinite(weights).all()
            and np.isfinite(means).all()
            and np.isfinite(covariances).all()
        ):
            raise ValueError("a number is not finite")
        if (weights <= 0).any() or abs(weights.sum() - 1) > 1e-6:
            raise ValueError("the weights are not positive numbers summing to 1")
        np.linalg.cholesky(covariances)  # every covariance symmetric positive definite
        if not np.allclose(covariances, covariances.transpose(0, 2, 1)):
            raise ValueError("a covariance is not symmetric")
        variances = np.diagonal(covariances, axis1=1, axis2=2)
        shaped = {  # each type's covariances, as --save-model writes them
            "full": covariances,
            "tied": np.broadcast_to(covariances[0], covariances.shape),
            "diag": variances[:, :, None] * np.eye(d),
            "spherical": variances[:, :1, None] * np.eye(d),
        }[cov]
        if not np.allclose(covariances, shaped, rtol=1e-9, atol=0):
            raise ValueError(f"the covariances are not of the {cov} type")
        mixture = Mixture(  # applied, not fitted: no EM to report
            weights / weights.sum(), means, covariances, cov, None, None, "saved model"
        )
        units = Units.of_mixture(mixture)  # its own mean and sd: what its densities are computed in
        if not (np.isfinite(units.center).all() and np.isfinite(units.scale).all()):
            raise ValueError("its means and covariances are too large to compute with")
    except np.linalg.LinAlgError:
        raise UsageError(f"--model {path}: a covariance is not positive definite") from None
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UsageError(f"--model {path}: not a usable model ({what})") from None
    return mixture, columns


MODEL_MAX_BYTES = 2 * 10**9  # a saved model of 50 components of 1,000 columns is 0.5 GB


def numbers_of(model, key):
    """An array of the model's numbers under ``key``: JSON numbers only (not "1" or true)."""

    def check(value):
        if isinstance(value, list):
            for item in value:
                check(item)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f'"{key}" holds {value!r:.30}, not a number')

    check(model[key])
    try:
        return np.array(model[key], dtype=float)
    except OverflowError:
        raise ValueError(f'"{key}" holds a number too large for a float') from None
    except ValueError:
        raise ValueError(f'"{key}" is not a regular table (rows of unequal lengths)') from None


@dataclass
class Tally:
    """What the metrics need of every point, added up batch by batch."""

    k: int
    n: int = 0
    log_density: float = 0.0  # sum of log p(x)
    log_largest: float = 0.0  # sum of log max_j p(j | x), for ICL
    uncertain: int = 0
    sizes: np.ndarray = None
    by_class: dict = field(default_factory=dict)  # class: points of each cluster

    def add(self, log_density, posteriors, classes=None):
        largest, labels = posteriors.max(axis=1), posteriors.argmax(axis=1)
        self.n += len(log_density)
        self.log_density += float(log_density.sum())
        self.log_largest += float(np.log(np.maximum(largest, 1e-300)).sum())
        self.uncertain += int((largest < UNCERTAIN_BELOW).sum())
        counts = np.bincount(labels, minlength=self.k)
        self.sizes = counts if self.sizes is None else self.sizes + counts
        for name in np.unique(classes) if classes is not None else ():
            mine = np.bincount(labels[classes == name], minlength=self.k)
            self.by_class[name] = self.by_class.get(name, 0) + mine
        return self


option(
    "--model",
    PATH,
    "apply a mixture saved by --save-model instead of fitting",
    MODEL,
    excludes={
        flag: ONE_MODEL.format(flag)
        for flag in (
            "--select",
            "--bayesian",
            "--trace",
            "--n-init",
            "--n-components",
            "--covariance-type",
            "--init",
            "--columns",
            "--scale",
            "--report",
            "--compare-kmeans",
        )
    },
)


def apply_saved_model(args, output):
    """--model PATH: steps 1 to 4 of the lesson for a saved mixture, a batch of rows at a time.

    Each batch is read, put through the E-step, added to the tally and written
    out (--assignments); a random sample of the rows is kept for the figure and
    the silhouette.  With --anomalies and --assignments the file is read twice:
    the threshold is known only once every row has been seen.
    """
    mixture, columns = read_model(args.model)
    flagging = args.anomalies is not None and args.assignments
    if flagging and args.csv == "-":
        raise UsageError(
            "--model with --anomalies and --assignments reads the table twice: give a file, "
            "not standard input"
        )
    tally, kept_sample = Tally(len(mixture.weights)), Reservoir(PLOT_MAX_POINTS, args.random_state)
    densities, seen = [], []  # every row's log-density (for --anomalies); the input read

    def read(handle=None, threshold=None):
        out = None
        for part in applied_batches(args, mixture, columns):
            if handle is not None:
                out = out or Assignments(handle, len(mixture.weights), part, threshold is not None)
                out.write(
                    part.kept,
                    part.log_density,
                    part.posteriors,
                    part.classes,
                    threshold,
                    ids=part.ids,
                )
            if threshold is not None:
                continue  # the second reading: only the assignments
            kept = part.classes if part.classes is None else part.classes[part.kept]
            tally.add(part.log_density, part.posteriors, kept)
            kept_sample.add(part)
            if args.anomalies is not None:
                densities.append(part.log_density)
        seen[:] = [part.data]

    if args.assignments and not flagging:
        write_atomically(args.assignments, read)
    else:
        read()
    if tally.n == 0:
        listed = ", ".join(columns)
        raise UsageError(f"--model {args.model}: no complete row in its columns ({listed})")
    data, sample = seen[0], kept_sample.rows()
    every = np.concatenate(densities) if densities else None
    found = Found(results={"model": os.path.abspath(args.model), "degenerate": None})
    if flagging:
        threshold = find_anomalies(every, args.anomalies)[1]
        write_atomically(args.assignments, lambda f: read(f, threshold))
    if args.assignments:
        found.results["assignments"] = path = os.path.abspath(args.assignments)
        found.lines.append(f"Assignments: {data.n_rows:,} rows written to {path}")
    y = class_names = None
    if sample.classes is not None:
        class_names, y = np.unique(sample.classes, return_inverse=True)
        class_names = class_names.tolist()
    shown = Dataset(sample.X, columns, data.source, y, class_names, data.notes, data.dropped_rows)
    labels = sample.posteriors.argmax(axis=1)
    run = Run(
        args,
        output,
        shown,
        mixture,
        sample.log_density,
        sample.posteriors,
        labels,
        [found],
        tally,
        every_log_density=every,
    )
    run.metrics = measure(run)
    return run


@dataclass
class Applied:
    """One batch of rows through a saved mixture."""

    data: Dataset  # what is known of the input so far (source, notes, rows read and dropped)
    X: np.ndarray  # the complete rows
    kept: np.ndarray  # which rows of the batch are complete
    ids: list  # each row's name (R's row names) or number
    classes: np.ndarray | None  # each row's --labels class ("" for incomplete rows)
    log_density: np.ndarray = None
    posteriors: np.ndarray = None


def applied_batches(args, mixture, columns):
    """The input through the mixture, a batch at a time (generated data: one batch)."""
    if args.csv is None:
        data = load_data(args)
        if data.X.shape[1] != len(columns):
            raise UsageError(
                f"--model {args.model} has {len(columns)} columns ({', '.join(columns)}); the "
                f"data has {data.X.shape[1]} features: use --csv, or --n-features {len(columns)}"
            )
        data.n_rows = len(data.X)
        classes = None if data.y is None else np.array(data.class_names, dtype=object)[data.y]
        ids = range(1, len(data.X) + 1)
        parts = [Applied(data, data.X, np.ones(len(data.X), bool), ids, classes)]
    else:
        parts = streamed_rows(args, columns)
    for part in parts:
        part.log_density, part.posteriors = e_step(mixture, part.X)
        yield part


def streamed_rows(args, columns):
    """--csv through a saved mixture: its named columns, batch by batch, incomplete rows kept
    aside (and counted), R's row names or row numbers beside them."""
    source = CsvFile(args.csv, args.delimiter, columns, args.labels, args.encoding, "--model")
    data = Dataset(np.zeros((0, len(columns))), columns, source.source, notes=source.notes)
    data.n_rows, text_cells = 0, np.zeros(len(columns), dtype=int)
    with source.errors_named():
        for rows in source.batches():
            is_text = rows.X.view(np.int64) == _TEXT_BITS
            text_cells += is_text.sum(axis=0)
            kept = np.isfinite(rows.X).all(axis=1)
            classes = None
            if source.table.label_j is not None:
                classes = np.array([cell.strip() for cell in rows.labels], dtype=object)
                kept &= np.array([c.lower() not in MISSING_CELLS for c in classes], bool)
                classes[~kept] = ""
            ids = rows.names or range(data.n_rows + 1, data.n_rows + len(kept) + 1)
            data.n_rows += len(kept)
            data.dropped_rows += int((~kept).sum())
            ids = [name.strip() for name in ids] if rows.names else ids
            yield Applied(data, rows.X[kept], kept, ids, classes)
    for name, count in zip(columns, text_cells):
        if count:
            data.notes.append(f"column {name!r}: {count} cells are not numbers, read as missing")


class Reservoir:
    """A uniform random sample of at most ``size`` rows of a stream (reservoir sampling)."""

    def __init__(self, size, random_state):
        self.size, self.seen, self.rng = size, 0, np.random.RandomState(random_state)
        self.parts = []

    def add(self, part):
        n = len(part.X)
        index = np.arange(self.seen, self.seen + n)
        self.seen += n
        slots = np.where(index < self.size, index, self.rng.randint(0, index + 1))
        taken = slots < self.size
        classes = None if part.classes is None else part.classes[part.kept]
        fields = (part.X, part.log_density, part.posteriors, classes)
        self.parts.append((slots[taken], *(None if f is None else f[taken] for f in fields)))

    def rows(self):
        """The sample: the last row written to each slot wins."""
        slots = np.concatenate([p[0] for p in self.parts])
        last = np.unique(slots[::-1], return_index=True)[1]
        order = len(slots) - 1 - last
        pick = lambda i: (
            None if self.parts[0][i] is None else np.concatenate([p[i] for p in self.parts])[order]
        )
        return Applied(None, pick(1), None, None, pick(4), pick(2), pick(3))


# ==========================================================================
# The data
# ==========================================================================
# Every source gives a ``Dataset``: the matrix that is fitted, its column names,
# the true classes when known, and what happened on the way in.

CSV_ONLY = "--columns, --labels, --delimiter and --encoding apply to --csv only"
ONE_DATA = "--csv and --dataset both name the data; choose one"
for flag, how, help, excludes in [
    ("--dataset", choice("blobs", "iris", "wine"), "blobs (default), or one in scikit-learn", {}),
    ("--csv", PATH, "your table with a header row; - reads stdin", {"--dataset": ONE_DATA}),
]:
    option(flag, how, help, DATA, excludes=excludes)


def one_character(value):
    """--delimiter: one character ('tab' and 'space' spelled out), not a quote or line break."""
    value = {"\\t": "\t", "tab": "\t", "space": " "}.get(value, value)
    if len(value) != 1 or value in "\"'\r\n":
        raise argparse.ArgumentTypeError(
            f"{value!r} must be one character, not a quote or a line break "
            "('tab' and 'space' are understood)"
        )
    return value


def known_encoding(value):
    try:
        codecs.lookup(value)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an encoding Python knows; try utf-8, latin-1, cp1252 or utf-16"
        ) from None
    return value


for flag, how, help in [
    ("--delimiter", text("CHAR", one_character), "CSV delimiter (default: , ; tab or space)"),
    ("--encoding", text("NAME", known_encoding), "CSV encoding (default utf-8; latin-1, ...)"),
    ("--columns", text("A,B"), "CSV columns to fit (default: the numeric)"),
    ("--labels", text("COLUMN"), "CSV column of true classes (not fitted)"),
]:
    option(flag, how, help, DATA, requires={"--csv": CSV_ONLY})
for flag, how, help in [
    ("--n-samples", upto(10**9, 500), "blobs: number of points (default 500)"),
    ("--centers", upto(1000, 4), "blobs: number of true clusters (default 4)"),
    ("--n-features", upto(100_000, 2), "blobs: number of features (default 2)"),
    ("--cluster-std", number(POSITIVE, 1.0), "blobs: sd of each cluster (default 1)"),
    ("--scale", FLAG, "standardise every feature (mean 0, sd 1)"),
    ("--random-state", number(SEED, 42), "one seed for data, model, samples (default 42)"),
]:
    option(flag, how, help, DATA)


def load_data(args):
    """Generated blobs, a data set that ships with scikit-learn, or the user's CSV; checked."""
    if args.csv is not None:
        columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
        data = read_csv_table(args.csv, args.delimiter, columns, args.labels, args.encoding)
    elif args.dataset == "blobs":
        n, more = args.n_samples, "or more samples"
        if args.centers > n:
            raise UsageError(
                f"--centers {args.centers} exceeds --n-samples {n}; use fewer centers {more}"
            )
        if (args.n_components or 0) > n:
            k = args.n_components
            raise UsageError(
                f"--n-components {k} exceeds --n-samples {n}; use fewer components {more}"
            )
        check_memory(n * args.n_features * 8 * 6, "--n-samples x --n-features")
        data = make_blob_data(n, args.centers, args.n_features, args.cluster_std, args.random_state)
    else:
        data = load_builtin_dataset(args.dataset)
    check_fittable(data, args)
    return standardise(data) if args.scale else data


def load_builtin_dataset(name):
    """A real data set that ships inside scikit-learn (no download)."""
    from sklearn import datasets

    bunch = {"iris": datasets.load_iris, "wine": datasets.load_wine}[name]()
    X, names = np.asarray(bunch.data, dtype=float), list(bunch.feature_names)
    return Dataset(X, names, name, np.asarray(bunch.target), [str(c) for c in bunch.target_names])


def standardise(data):
    """--scale: every feature to mean 0 and sd 1 (computed without squaring huge values)."""
    data.scaler = Units.of(data.X)
    data.X = data.scaler.z(data.X)
    data.same_units = True
    return data


def describe_data(data, args):
    """The first entries of the JSON: where the data came from."""
    return {
        "source": data.source,
        "columns": data.feature_names,
        "dropped_rows": data.dropped_rows,
        "skipped_columns": data.skipped_columns,
        "scaled": data.scaler is not None,
        "random_state": args.random_state,
    }


def check_fittable(data, args):
    """Refuse, in one line, data that no mixture can be fitted to, naming the way out."""
    X, (n, d), names = data.X, data.X.shape, data.feature_names
    k = n_components_wanted(data, args)
    # A full or shared covariance needs more rows than features; the sweep tries both.
    own_matrix = args.covariance_type in ("full", "tied") or args.select or args.report
    if own_matrix and d > 500:
        why = "--select and --report try full covariances" if args.select or args.report else ""
        raise UsageError(
            f"{data.source}: a full covariance over {d} features has {d * (d + 1) // 2:,} "
            f"parameters{why and '; ' + why}; use --covariance-type diag or spherical"
        )
    if args.view == "pairs" and not args.no_plot and d > PAIRS_VIEW_MAX:
        raise UsageError(
            f"--view pairs: {d} features make {d * (d - 1) // 2:,} panels, more than anyone reads "
            f"pair by pair (at most {PAIRS_VIEW_MAX} features); use --view pca, or --columns"
        )
    if args.save and args.save.lower().endswith(".gif") and d < 2:
        raise UsageError(
            f"--save {args.save}: the EM animation needs two or more features; "
            "save the --trace figure as a png instead"
        )
    check_memory(8 * n * d * (k + 4), f"{n:,} rows x {d} features x {k} components")
    if args.sample:
        check_memory(8 * args.sample * d * 3, f"--sample {args.sample:,} x {d} features")
    if n < k or n < 2 or own_matrix and n < d + 1:
        raise UsageError(
            f"{data.source}: {n} usable rows for {d} features and {k} components; a Gaussian "
            "needs more rows than features: use more data, fewer components or --columns"
        )
    if np.all(X == X[0]):
        raise UsageError(
            f"{data.source}: all {n} rows are identical; there is no variance to model"
        )
    for point in args.predict or []:
        if len(point) != d:
            raise UsageError(
                f"--predict {','.join(f'{v:g}' for v in point)} has {len(point)} coordinates; "
                f"the data has {d} features ({', '.join(names)})"
            )
    spread = np.ptp(X, axis=0)
    if (spread == 0).any():
        j = int(np.argmax(spread == 0))
        read = [n for n in data.notes if n.startswith(f"column {names[j]!r}: ")]
        why = f" once {read[0].split(': ', 1)[1].split(' (first')[0]}" if read else ""
        raise UsageError(
            f"{data.source}: column {names[j]!r} is constant ({X[0, j]:g}){why}; it "
            "makes every covariance singular: leave it out with --columns"
        )
    sd = spread * (X / spread).std(axis=0)  # without squaring tiny or huge numbers
    extreme = (sd < 1e-150) | (np.abs(X).max(axis=0) > 1e150)  # a variance beyond float64
    if extreme.any() and not args.scale:
        j = int(np.argmax(extreme))
        raise UsageError(
            f"{data.source}: column {names[j]!r} has sd {sd[j]:.3g}: its variance is beyond "
            "what floating point holds; add --scale"
        )
    plain_own_matrix = args.covariance_type in ("full", "tied") and not args.select
    dependent = collinear_column(X) if plain_own_matrix or args.select else None
    if dependent is not None and args.select:  # diag and spherical can still be fitted
        data.notes.append(
            f"column {names[dependent]!r} is a linear combination of the others: every full "
            "and tied fit is singular (set aside); leave it out with --columns"
        )
    elif dependent is not None:
        raise UsageError(
            f"{data.source}: column {names[dependent]!r} is a linear combination of "
            "the others, so every covariance is singular: leave it out with --columns"
        )


def collinear_column(X):
    """The index of a column that the others determine exactly, or None."""
    from scipy.linalg import qr

    if len(X) > 20_000:  # columns that the others determine do so on any rows
        X = X[np.random.RandomState(0).choice(len(X), 20_000, replace=False)]
    Z = X / np.ptp(X, axis=0)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    _, R, order = qr(Z, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int((diag > 1e-9 * diag[0] * math.sqrt(len(X))).sum())
    return int(order[rank]) if rank < X.shape[1] else None


# ==========================================================================
# The figure: one function per panel
# ==========================================================================
# A panel is a function ``(ax, view)``.  A ``View`` is the run as the axes
# show it: with two features the data itself; with more, its first two
# principal components (a linear map of a Gaussian is Gaussian, so each
# covariance is projected exactly, W' S W); with 3 to 6 features the clusters
# panel becomes every pair of features (each ellipse from the 2 x 2 block of
# its covariance: the exact marginal).


@dataclass
class Panel:
    """One panel: how it is drawn on the view's plane, and with one feature."""

    draw: Callable  # (ax, view)
    plane: bool = False  # it draws the data's plane: equal aspect where the axes share units
    draw_1d: Callable | None = None  # with one feature; for a panel off the plane, ``draw``
    text: bool = False  # a text panel: drawn last
    animation: Callable | None = None  # (ax, view) -> a matplotlib animation, in a window
    lines: list[str] | None = None  # a text panel's lines, when made for its cell

    def __post_init__(self):
        if not self.plane and self.draw_1d is None:
            self.draw_1d = self.draw


@dataclass
class View:
    """What a panel draws: points, components and labels on the plane of its axes."""

    X2: np.ndarray  # the points drawn (a random subset above PLOT_MAX_POINTS)
    labels: np.ndarray
    largest: np.ndarray  # each drawn point's largest posterior
    means2: np.ndarray
    covs2: np.ndarray
    weights: np.ndarray
    xlabel: str
    ylabel: str
    center: np.ndarray | None = None  # the map from the data to the plane: (x - center) W
    W: np.ndarray | None = None
    equal: bool = False  # whether both axes share units (then a circle looks round)
    subset: np.ndarray | None = None
    subset_note: str = ""
    min_weight: float = 0.0  # components below this weight are not drawn
    run: Run | None = None  # for the panels that draw more than the clusters

    def points(self, X):
        return (np.asarray(X) - self.center) @ self.W

    def covariances(self, covs):
        return np.einsum("ji,kjl,lm->kim", self.W, covs, self.W)

    def label(self, ax, title):
        ax.set(title=title, xlabel=self.xlabel, ylabel=self.ylabel)


PAIRS_MAX_FEATURES = 6  # above this, the principal-component view (or --view pairs)
PAIRS_VIEW_MAX = 12  # --view pairs: 66 panels; the figure grows with the square of d


def make_views(run, with_pairs=True):
    """The main view (data, or principal components) and, for 3 to 6 features, the pairs."""
    X, names, args, mixture = run.data.X, run.data.feature_names, run.args, run.mixture
    (n, d), suffix = X.shape, " (standardised)" if run.data.scaler is not None else ""
    subset, note, total = None, "", run.metrics.get("n_samples", n)
    if n > PLOT_MAX_POINTS:
        rng = np.random.RandomState(args.random_state)
        subset = np.sort(rng.choice(n, PLOT_MAX_POINTS, replace=False))
    if min(n, PLOT_MAX_POINTS) < total:  # a random subset (a saved model's input: a sample)
        note = f" ({min(n, PLOT_MAX_POINTS):,} of {total:,} points shown)"
    shown = slice(None) if subset is None else subset
    labels, largest = run.labels[shown], run.posteriors[shown].max(axis=1)
    min_weight = BAYES_WEIGHT_FLOOR if run.mixture.estimator != "GaussianMixture" else 0.0

    def view(center, W, xlabel, ylabel, equal):
        """The run seen on the plane (x - center) W."""
        v = View(
            None, labels, largest, None, None, mixture.weights, xlabel + suffix, ylabel + suffix
        )
        v.center, v.W, v.equal, v.subset, v.subset_note, v.run = center, W, equal, subset, note, run
        v.X2, v.means2, v.covs2 = (
            v.points(X[shown]),
            v.points(mixture.means),
            v.covariances(mixture.covariances),
        )
        v.min_weight = min_weight
        return v

    if d == 1:
        return view(np.zeros(1), np.ones((1, 1)), names[0], "density", False), []
    if d == 2:
        main = view(np.zeros(2), np.eye(2), names[0], names[1], run.data.same_units)
    elif run.data.same_units:
        W, share = principal_axes(X, args.random_state)
        pcs = [f"PC{i + 1} ({share[i]:.0%} of variance)" for i in (0, 1)]
        main = view(X.mean(axis=0), W, *pcs, True)
    else:  # columns in different units: the components of the standardised columns
        units = Units.of(X)
        W, share = principal_axes(units.z(X), args.random_state)
        pcs = [f"PC{i + 1} (standardised, {share[i]:.0%})" for i in (0, 1)]
        main = view(units.center, W / units.scale[:, None], *pcs, True)
    pairs = []
    wants_pairs = args.view == "pairs" or args.view == "auto" and d <= PAIRS_MAX_FEATURES
    if with_pairs and d > 2 and wants_pairs:  # row i, column j: feature j across, i up
        plane = lambda i, j: view(
            np.zeros(d), np.eye(d)[:, [j, i]], names[j], names[i], run.data.same_units
        )
        pairs = [[plane(i, j) for j in range(d - 1)] for i in range(1, d)]
    return main, pairs


def principal_axes(X, random_state):
    """The first two principal directions (deterministic signs) and their shares of variance.

    scikit-learn's PCA; a randomized solver on a sample for wide data, where the
    exact one would take minutes.
    """
    from sklearn.decomposition import PCA

    if X.shape[1] > 500:
        rng = np.random.RandomState(random_state)
        sample = X[rng.choice(len(X), min(len(X), 2_000), replace=False)]
        pca = PCA(2, svd_solver="randomized", random_state=random_state).fit(sample)
    else:
        pca = PCA(2).fit(X)
    W = pca.components_.T.copy()
    W *= np.sign(W[np.abs(W).argmax(axis=0), [0, 1]])
    share = pca.explained_variance_ / X.var(axis=0, ddof=1).sum()
    return W, share


def cluster_colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


MARK_STYLES = {  # how each kind of extra point is drawn on a 2-D panel
    "samples": {"s": 10, "marker": "+", "c": "dimgray", "zorder": 2},
    "anomalies": {"s": 60, "facecolors": "none", "edgecolors": "red", "lw": 1.5, "zorder": 4},
    "predictions": {"s": 220, "marker": "*", "c": "gold", "edgecolors": "black", "zorder": 5},
}
STAR = {"marker": "*", "markersize": 18, "color": "gold", "markeredgecolor": "black", "ls": ""}


def draw_marks(ax, view, kinds=tuple(MARK_STYLES)):
    """Anomalies, predicted points (in their cluster's colour, numbered) and samples."""
    for name in kinds if view.run is not None else ():
        marked = view.run.marks(name)
        if marked is None:
            continue
        points, style = view.points(marked), dict(MARK_STYLES[name])
        if name == "predictions":
            clusters = [p["cluster"] for p in view.run.results("predictions")]
            style["c"] = [cluster_colors(len(view.weights))[c] for c in clusters]
            for (x, y), c in zip(points, clusters):
                ax.annotate(
                    f"cluster {c}",
                    (x, y),
                    xytext=(6, 6),
                    textcoords="offset points",
                    fontsize="small",
                    fontweight="bold",
                    zorder=6,
                )
        ax.scatter(*points.T, label=f"{name} ({len(points)})", **style)


def plot_uncertainty(ax, view):
    """Each point coloured by 1 - max posterior: where the clusters overlap."""
    top = 1 - 1 / len(view.weights) or 1  # the largest possible: every posterior 1/k
    sc = ax.scatter(*view.X2.T, c=1 - view.largest, cmap="magma_r", s=12, vmin=0, vmax=top)
    ax.figure.colorbar(sc, ax=ax, label="uncertainty = 1 - max posterior")
    n_unc = int((view.largest < UNCERTAIN_BELOW).sum())
    view.label(ax, f"Soft assignments: {n_unc} plotted points below {UNCERTAIN_BELOW}")


def plot_criterion(ax, view, rows, criterion, star, star_label):
    """BIC (or AIC, ICL) against k, one line per covariance type; the model marked."""
    marked = False
    for cov in COVARIANCE_TYPES:  # a candidate set aside is a gap in its curve, and an x
        mine = [row for row in rows if row["covariance_type"] == cov]
        values = [math.nan if row[criterion] is None else row[criterion] for row in mine]
        line = ax.plot([row["n_components"] for row in mine], values, marker="o", label=cov)[0]
        aside = [row for row in mine if row[f"set_aside_{criterion}"] is not None]
        if aside:
            k = [row["n_components"] for row in aside]
            label = None if marked else "set aside (spurious)"
            ax.plot(
                k,
                [row[f"set_aside_{criterion}"] for row in aside],
                "x",
                ms=9,
                mew=2,
                color=line.get_color(),
                label=label,
            )
            marked = True
    if star is not None:
        k = view.run.metrics["n_components"]
        ax.plot(k, star, label=star_label, zorder=5, **STAR)
    ax.xaxis.get_major_locator().set_params(integer=True)
    name = criterion.upper()
    title = f"{name} by number of components (lower is better)"
    ax.set(title=title, xlabel="number of components k", ylabel=name)
    ax.legend(fontsize="small")


def plot_kmeans(ax, view, km_labels, centers):
    """KMeans clusters, coloured like the GMM cluster they overlap most."""
    km_labels = km_labels if view.subset is None else km_labels[view.subset]
    overlap = np.zeros((len(centers), len(centers)))
    np.add.at(overlap, (km_labels, view.labels), 1)
    rows, cols = matching(overlap)
    colors = np.array(cluster_colors(len(centers)))[cols[np.argsort(rows)]]
    ax.scatter(*view.X2.T, c=colors[km_labels], s=12, linewidths=0)
    ax.scatter(*view.points(centers).T, marker="X", s=120, c="black", edgecolors="white")
    km = view.run.results("kmeans")
    ari = f", ARI {km['ari']:.3f}" if "ari" in km else ""
    view.label(ax, f"KMeans, same k and seed: silhouette {number_text(km['silhouette'], 3)}{ari}")


def plot_kmeans_1d(ax, view, km_labels):
    x, k = view.run.data.X[:, 0], int(km_labels.max()) + 1
    parts = [x[km_labels == c] for c in range(k)]
    ax.hist(parts, bins="auto", stacked=True, color=cluster_colors(k))
    ax.set(title="KMeans clusters", xlabel=view.xlabel, ylabel="count")


def plot_density(ax, view):
    """Contours of the fitted log-density on the plane shown (the exact projection)."""
    pad = 0.1 * np.ptp(view.X2, axis=0)
    data_lo, data_hi = view.X2.min(axis=0) - pad, view.X2.max(axis=0) + pad
    lo, hi = data_lo, data_hi
    if view.equal:  # equal axes widen one range to fit the panel: the grid reaches beyond
        middle, half = (lo + hi) / 2, (hi - lo).max()
        lo, hi = middle - half, middle + half
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
    plane = Mixture(view.weights, view.means2, view.covs2, "full")
    z = e_step(plane, np.c_[gx.ravel(), gy.ravel()])[0].reshape(gx.shape)
    levels = np.linspace(max(z.min(), z.max() - 12), z.max(), 13)
    cs = ax.contourf(gx, gy, z, levels=levels, cmap="Blues", extend="min")
    ax.figure.colorbar(cs, ax=ax, label="log-density")
    ax.scatter(*view.X2.T, s=4, c="black", alpha=0.4, linewidths=0)
    ax.dataLim.set_points(np.array([data_lo, data_hi]))  # the limits: the data's, not the grid's
    ax.autoscale_view()
    draw_marks(ax, view, ["anomalies"])
    anomalies = view.run.marks("anomalies") is not None
    view.label(ax, "Fitted log-density" + (" and lowest-density points" * anomalies))
    if anomalies:
        ax.legend(loc="best", fontsize="small")


def plot_convergence(ax, view, trace):
    """--trace: how far each iteration's mean log-likelihood is from the final one.

    On a log scale, so that the first steps (often thousands) and the last (below
    the tolerance that stops EM) are both seen at their true size.
    """
    gap = trace[-1] - np.array(trace[:-1])
    shown = gap > 0
    ax.semilogy(np.arange(len(gap))[shown], gap[shown], marker=".")
    ax.axhline(1e-3, color="gray", ls="--", lw=1, label="EM's tolerance (1e-3)")
    rise = f"{trace[0]:.4g} to {trace[-1]:.4g}"
    ax.set(
        title=f"EM convergence: {len(trace) - 1} iterations, {rise}",
        xlabel="iteration",
        ylabel="final - this mean log-likelihood",
    )
    ax.legend(fontsize="small")


def plot_em_steps(ax, view, frames):
    """--trace: the 1-sd ellipses at a few iterations, faint at the start, bold at the end."""
    shown = [f for f in frames[:-1] if f[0] in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)]
    shown.append(frames[-1])
    ax.scatter(*view.X2.T, s=6, c="lightgray", linewidths=0)
    colors = cluster_colors(len(view.weights))
    for step, (_, mixture) in enumerate(shown):
        alpha = min(1.0, 0.2 + 0.8 * step / max(1, len(shown) - 1))
        draw_ellipses(ax, view, mixture, colors, alpha=alpha)
        ax.scatter(*view.points(mixture.means).T, marker="x", c="black", s=20, alpha=alpha)
    view.label(ax, "EM step by step: iterations " + ", ".join(str(f[0]) for f in shown))


def draw_ellipses(ax, view, mixture, colors, alpha=1.0, sigmas=(1,)):
    parts = list(enumerate(zip(view.points(mixture.means), view.covariances(mixture.covariances))))
    return [
        ax.add_patch(ellipse(mu, cov, n, colors[j], alpha=alpha))
        for n in sigmas
        for j, (mu, cov) in parts
    ]


def animate_em(ax, view, frames, trace):
    """--trace: the ellipses moving iteration by iteration (matplotlib's animation)."""
    from matplotlib.animation import FuncAnimation

    frames = frames[:: max(1, len(frames) // 60)]
    colors, drawn = cluster_colors(len(view.weights)), []
    ax.scatter(*view.X2.T, s=6, c="lightgray", linewidths=0)
    if view.equal:
        ax.set_aspect("equal", adjustable="datalim")

    def update(frame):
        iteration, mixture = frame
        for artist in drawn:
            artist.remove()
        drawn[:] = draw_ellipses(ax, view, mixture, colors, sigmas=(1, 2))
        drawn.append(ax.scatter(*view.points(mixture.means).T, marker="X", c="black", s=60))
        ll = trace[min(iteration, len(trace) - 1)]
        view.label(ax, f"EM iteration {iteration}: mean log-likelihood {ll:.4f}")
        return drawn

    return FuncAnimation(ax.figure, update, frames=frames, interval=250, repeat=True)


def plot_starts(ax, view, scores):
    """--n-init with --report: each start's final log-likelihood, the kept one marked."""
    jitter = np.random.RandomState(0).uniform(-0.3, 0.3, len(scores))
    ax.scatter(scores, jitter, s=30, alpha=0.7, label="a start")
    ax.plot([max(scores)], [0], label="kept", **STAR)
    title = f"{len(scores)} starts: final mean log-likelihood"
    ax.set(title=title, xlabel="mean log-likelihood", yticks=[], ylim=(-1, 1))
    ax.legend(fontsize="small")


def plot_weights(ax, view, weights, used):
    """--bayesian: the weights; those the prior switched off are near zero."""
    ax.bar(range(len(weights)), weights, color=cluster_colors(len(weights)))
    ax.axhline(BAYES_WEIGHT_FLOOR, color="black", ls="--", label=f"{BAYES_WEIGHT_FLOOR:.0%}")
    ax.set(title=f"Bayesian mixture: {used} components in use", xlabel="component", ylabel="weight")
    ax.legend(fontsize="small")


def plot_histogram_1d(ax, view):
    """One feature: histogram, the mixture density and each weighted component."""
    from scipy.stats import norm

    run = view.run
    x, mixture = run.data.X[:, 0], run.mixture
    ax.hist(x, bins="auto", density=True, color="lightgray", edgecolor="white", label="data")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    sds = np.sqrt(mixture.covariances[:, 0, 0])
    parts = zip(mixture.weights, mixture.means[:, 0], sds)
    curves = [w * norm(mu, sd).pdf(grid) for w, mu, sd in parts]
    for j, (curve, color) in enumerate(zip(curves, cluster_colors(len(curves)))):
        ax.plot(grid, curve, color=color, label=f"component {j}")
    ax.plot(grid, sum(curves), color="black", linewidth=2, label="mixture density")
    for key, style in (("anomalies", "r|"), ("predictions", "k*"), ("samples", "c|")):
        marked = run.marks(key)
        if marked is not None:
            ax.plot(marked[:, 0], np.zeros(len(marked)), style, markersize=12, label=key)
    view.label(ax, figure_title(run))
    ax.legend(fontsize="small")


def figure_title(run):
    r = run.metrics
    model = f"GMM, {r['n_components']} components ({r['covariance_type']})"
    used = run.results("effective_components")
    if used is not None:
        model = f"Bayesian GMM, {used} of {r['n_components']} components in use"
    if run.args.model:
        model = f"saved mixture {os.path.basename(run.args.model)}, {r['n_components']} components"
    bic = "" if r["bic"] is None else f", BIC {r['bic']:.1f}"
    return (
        f"{model}\nlog-likelihood/sample {r['log_likelihood']:.3f}{bic}, silhouette "
        f"{number_text(r['silhouette'], 3)}"
    )


def figure_panels(run, pairs):
    """The run's panels in their order: the clusters (unless the pairs show them), what the
    options drew, text last; those that cannot be drawn with one feature left out."""
    d = run.data.X.shape[1]
    panels = [p for f in run.found for p in f.panels]
    panels = [p for p in panels if not p.text] + [p for p in panels if p.text]
    if not pairs:
        panels.insert(0, Panel(plot_clusters, plane=True, draw_1d=plot_histogram_1d))
    return [p for p in panels if (p.draw if d > 1 else p.draw_1d) is not None]


DPI = 100
SAVED_CELL = (6.4, 5.4)  # inches: a panel's cell in a saved figure
PAIR_CELL = 1.6  # inches, at least: a cell of the pairs plot (labels on the outer edges only)
CELL = (400, 290)  # pixels, at least: a panel's cell in a window (axes of about 250 x 180)
LAPTOP = (1366, 768)  # the screen assumed where the backend does not say
CHROME = (30, 150)  # pixels a window's frame, toolbar, title bar and the desktop's bars take
CHAR, LINE = 6.9, 13.9  # pixels of a monospace character and line at the summary's size


def build_figure(run, main, pairs):
    """Every panel on one figure (a saved file): the pairs on top, the rest three a row."""
    import matplotlib.pyplot as plt

    panels = figure_panels(run, pairs)
    ncols = min(len(panels), 3) or 1
    nrows = math.ceil(len(panels) / ncols)
    lines = summary_lines(run, SAVED_CELL[0] * DPI)
    heights = [SAVED_CELL[1]] * nrows
    if panels and panels[-1].text:  # the summary's row is as tall as its text
        heights[-1] = max(heights[-1], len(lines) * LINE / DPI + 0.6)
    pairs_height = max(PAIR_CELL, 3.2) * len(pairs)
    size = (max(SAVED_CELL[0] * ncols, pairs_height), sum(heights) + pairs_height)
    fig = plt.figure(figsize=size, layout="constrained", dpi=DPI)
    top = bottom = fig
    if pairs and panels:
        top, bottom = fig.subfigures(2, 1, height_ratios=[pairs_height, sum(heights)])
    if pairs:
        draw_pairs(top, pairs)
    if panels:
        grid = bottom.add_gridspec(nrows, ncols, height_ratios=heights)
        cells = [grid[i // ncols, i % ncols] for i in range(len(panels))]
        draw_panels(bottom, run, main, panels, cells, lines)
    title_figure(fig, run)
    return fig


def draw_panels(fig, run, main, panels, cells, lines=None):
    """Each panel on its cell of a grid; [(panel, axes)]."""
    d, drawn = run.data.X.shape[1], []
    for panel, cell in zip(panels, cells):
        ax = fig.add_subplot(cell)
        if panel.text:
            plot_summary(ax, panel.lines or lines)
        else:
            (panel.draw if d > 1 else panel.draw_1d)(ax, main)
            if main.equal and panel.plane and ax.get_aspect() == "auto":
                ax.set_aspect("equal", adjustable="datalim")
            wrap_title(ax)
        drawn.append((panel, ax))
    return drawn


def draw_pairs(fig, pairs):
    """Every pair of features, lower triangle; the legend once."""
    p = len(pairs)
    axes = fig.subplots(p, p, squeeze=False)
    for i, j in np.ndindex(p, p):
        ax = axes[i, j]
        if j > i:
            ax.set_visible(False)
            continue
        view = pairs[i][j]
        plot_clusters(ax, view)
        if view.equal:
            ax.set_aspect("equal", adjustable="datalim")
        xlabel, ylabel = view.xlabel if i == p - 1 else "", view.ylabel if j == 0 else ""
        ax.set(title="", xlabel=xlabel, ylabel=ylabel)  # labels on the outer edges only
        if (i, j) != (0, 0):
            ax.get_legend().remove()
    axes[0, 0].set_title("GMM clusters" + pairs[0][0].subset_note)


def plot_pair(ax, _main, view):
    """One pair of features as a panel of its own (a window too small for the whole grid)."""
    plot_clusters(ax, view)
    ax.set_title(f"{view.ylabel} against {view.xlabel}{view.subset_note}")


def title_figure(fig, run):
    if run.data.X.shape[1] > 1:
        fig.suptitle(figure_title(run))


def wrap_title(ax):
    """A title no wider than its panel: wrapped at the characters that fit."""
    import textwrap

    width = ax.bbox.width * DPI / ax.figure.dpi  # its cell, before the layout, in 100-dpi pixels
    title = ax.get_title()
    if title and len(title) * 7.5 > 0.8 * width:  # the layout may narrow the panel later
        ax.set_title(textwrap.fill(title, max(20, int(0.8 * width / 7.5))))


def summary_lines(run, width_px):
    """The summary's text, wrapped to ``width_px`` pixels."""
    import textwrap

    chars = max(30, int(width_px / CHAR) - 2)
    text = format_summary(run, explain=False)
    return [part for line in text.splitlines() for part in textwrap.wrap(line, chars) or [""]]


def plot_summary(ax, lines):
    ax.axis("off")
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize="small")


def screen_of(fig):
    """(width, height, pixels per figure pixel) of the screen the figure's window is on.

    A laptop's 1366 x 768 where the backend does not say.  Tk scales a figure's
    dpi by the screen's dots per inch over 96 when it shows the window.
    """
    window = getattr(fig.canvas.manager, "window", None)
    with contextlib.suppress(Exception):  # Tk
        scale = window.winfo_fpixels("1i") / 96
        return window.winfo_screenwidth(), window.winfo_screenheight(), scale
    with contextlib.suppress(Exception):  # Qt (its geometry is in its own logical pixels)
        geometry = window.screen().availableGeometry()
        return geometry.width(), geometry.height() + CHROME[1] // 2, 1.0
    return (*LAPTOP, 1.0)


def window_pages(run, main, pairs, area):
    """The panels in pages that fit a window of ``area`` pixels: [(panels, rows, cols)].

    A page holds as many cells of at least CELL pixels as fit; the pairs plot is
    a page of its own if its cells fit, else one panel per pair; the summary
    shares a page if its wrapped text fits a cell, else has pages of its own.
    """
    width, height = area
    cols, rows = max(1, width // CELL[0]), max(1, height // CELL[1])
    panels, pages = figure_panels(run, pairs), []
    if pairs:
        if len(pairs) * PAIR_CELL * DPI + 120 <= height:
            pages.append(("pairs", 1, 1))
        else:
            views = [pairs[i][j] for i in range(len(pairs)) for j in range(i + 1)]
            panels = [
                Panel(functools.partial(plot_pair, view=v), plane=True) for v in views
            ] + panels
    text = [p for p in panels if p.text]
    data = [p for p in panels if not p.text]
    per_page = cols * rows
    chunks = [data[i : i + per_page] for i in range(0, len(data), per_page)]
    if text:
        cell_lines = summary_lines(run, width / cols)
        if chunks and len(chunks[-1]) < per_page and len(cell_lines) * LINE + 40 < height / rows:
            chunks[-1].append(Panel(None, text=True, lines=cell_lines))
        else:  # pages of their own, as many lines as fit
            lines, fit = summary_lines(run, width - 40), max(5, int((height - 60) / LINE))
            chunks += [
                [Panel(None, text=True, lines=lines[i : i + fit])]
                for i in range(0, len(lines), fit)
            ]
    for chunk in chunks:
        c = min(cols, len(chunk))
        pages.append((chunk, math.ceil(len(chunk) / c), c))
    return pages


def show_in_window(run, main, pairs):
    """The figure in a window sized to the screen, in pages stepped through with keys."""
    import matplotlib.pyplot as plt

    fig = plt.figure(dpi=DPI, layout="constrained")
    width, height, scale = screen_of(fig)
    area = (width - CHROME[0], height - CHROME[1])
    pages = window_pages(run, main, pairs, area)
    if len(pages) == 1 and pages[0][0] != "pairs" and len(pages[0][0]) == 1:
        size = (min(SAVED_CELL[0] * DPI, area[0]), min(SAVED_CELL[1] * DPI, area[1]))  # its usual
    else:
        size = area
    fig.set_size_inches(size[0] / (DPI * scale), size[1] / (DPI * scale))
    shown = {"page": 0}

    def draw(page):
        fig.clear()
        if getattr(fig, "animation", None) is not None:
            fig.animation.event_source.stop()
            fig.animation = None
        panels, rows, cols = pages[page]
        if panels == "pairs":
            draw_pairs(fig, pairs)
        else:
            grid = fig.add_gridspec(rows, cols)
            cells = [grid[i // cols, i % cols] for i in range(len(panels))]
            for panel, ax in draw_panels(fig, run, main, panels, cells):
                if panel.animation is not None:  # --trace: in a window the EM steps play
                    ax.clear()
                    fig.animation = panel.animation(ax, main)
        title_figure(fig, run)
        if len(pages) > 1:
            fig.supxlabel(
                f"page {page + 1} of {len(pages)}: n or PageDown for the next, "
                "b or PageUp for the one before",
                fontsize="small",
            )
        fig.canvas.draw_idle()

    def key(event):
        step = {"n": 1, "pagedown": 1, "b": -1, "pageup": -1}.get(event.key)
        if step and 0 <= shown["page"] + step < len(pages):
            shown["page"] += step
            draw(shown["page"])

    fig.canvas.mpl_connect("key_press_event", key)
    draw(0)
    return fig


def show_or_save(run):
    """A window where one can open; otherwise the figure is saved and the output says where."""
    import matplotlib.pyplot as plt

    args, path = run.args, run.output.path
    if args.explore:  # the explorer's window is the figure
        return Found()
    if path is not None and path.lower().endswith(".gif"):  # --trace: the animation alone
        from matplotlib.animation import PillowWriter

        main = make_views(run, with_pairs=False)[0]
        fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
        em = next(p for f in run.found for p in f.panels if p.animation is not None)
        write = lambda f: em.animation(ax, main).save(f, writer=PillowWriter(fps=4), dpi=72)
    elif path is not None:  # a file: every panel at once
        fig = build_figure(run, *make_views(run))
        write = lambda f: fig.savefig(f, format=os.path.splitext(path)[1][1:].lower(), dpi=DPI)
    else:  # a window the size of the screen, in pages if need be (shown once all is printed)
        fig = show_in_window(run, *make_views(run))
    if fig.canvas.manager is not None:  # the window's title names the run
        m = run.metrics
        name = f"{run.data.source}, {m['covariance_type']}, k={m['n_components']}"
        fig.canvas.manager.set_window_title(f"gmm_clustering: {name}")
    if path is None:
        return Found()
    write_atomically(path, write, text=False)
    plt.close(fig)
    note = "" if args.save else f" (no display: matplotlib backend is {run.output.backend!r})"
    return Found(
        results={"figure": os.path.abspath(path)},
        lines=[f"Figure saved to {os.path.abspath(path)}{note}"],
    )


# ==========================================================================
# EM you can drive: --explore
# ==========================================================================
# Why this exists: EM clicks for a learner when they press the steps
# themselves.  The window holds the data (its first two features) and a
# mixture at a start; keys run the lesson's own ``e_step`` and ``m_step``
# (the formulas of the docstring), change k or the covariance type, restart;
# clicks add and remove points.  EM runs on the columns standardised once at
# the start (added points use the same units); everything shown is in the
# data's units.

EXPLORE_MAX_POINTS = 2_000  # a random sample above this: every key reruns an E-step
EXPLORE_MAX_K = 10  # the colours stay distinct
EXPLORE_TOL = 1e-3  # the change of the mean log-likelihood that ends a run (scikit-learn's tol)
EXPLORE_MAX_ITER = 500
EXPLORE_KEYS = (
    "e: E-step   m: M-step   space: one iteration   enter: run to convergence   q: close\n"
    "+/-: k   t: covariance type   r: random restart   k: k-means restart   "
    "click: add a point   right-click: remove the nearest"
)
EXPLORE_ACTIONS = {  # key: the Explorer's method
    "e": "e",
    "m": "m",
    " ": "iterate",
    "enter": "run",
    **dict.fromkeys(("+", "=", "up"), "more"),
    **dict.fromkeys(("-", "down"), "fewer"),
    "t": "next_type",
    "r": "random_start",
    "k": "k_means_start",
    "q": "close",
}
NO_WINDOW = (
    "--explore is interactive and no window can open here (matplotlib backend {!r}); "
    "run it on a desktop, or see EM replayed with --trace --save em.gif"
)


@option(
    "--explore",
    FLAG,
    "drive EM in the window: keys for E- and M-steps, k, restarts; clicks add points",
    SHOW,
    excludes={
        "--no-plot": "--explore opens a window: drop --no-plot",
        "--save": "--explore opens a window, it saves nothing: drop --save",
        "--model": ONE_MODEL.format("--explore"),
        "--report": "--explore shows the explorer's window, not --report's panels: drop one",
        "--trace": "--explore is EM step by step, driven by you: drop --trace",
    },
)
def explore(run):
    """--explore: the explorer's window, on the data's first two features."""
    data, args = run.data, run.args
    if data.X.shape[1] < 2:
        raise UsageError("--explore draws two features and the data has one; use --trace")
    X, found = data.X[:, :2], Found()
    names = data.feature_names[:2]
    if len(X) > EXPLORE_MAX_POINTS:
        keep = np.random.default_rng(args.random_state).choice(len(X), EXPLORE_MAX_POINTS, False)
        X = X[np.sort(keep)]
        found.notes.append(f"--explore runs EM on a random sample of {EXPLORE_MAX_POINTS:,} points")
    k = min(len(run.mixture.weights), EXPLORE_MAX_K, len(X))
    Explorer(X, names, k, args.covariance_type, args.random_state, equal=data.same_units)
    more = f" (of {data.X.shape[1]}; --columns chooses)" if data.X.shape[1] > 2 else ""
    found.lines.append(
        f"Explore: EM from a random start on {names[0]} and {names[1]}{more}; "
        "the keys are at the bottom of the window"
    )
    return found


class Explorer:
    """The window of --explore: a mixture, the learner's keys and clicks, what EM did.

    ``state`` is the mixture (in standardised units), the last E-step's
    posteriors, the iteration, and the mean log-likelihood after each step
    (``curve``).  Each key is one method; ``draw`` shows the state.
    """

    def __init__(self, X, names, k, covariance_type, random_state, equal=False, figure=None):
        import matplotlib.pyplot as plt

        self.equal = equal  # both features in one unit: circles drawn round
        self.units = Units.of(X, covariance_type)  # an added point is in the same units
        self.Z, self.names, self.k, self.type = self.units.z(X), names, k, covariance_type
        self.rng = np.random.default_rng(random_state)
        self.fig = figure or plt.figure(dpi=DPI, layout="constrained")
        width, height, scale = screen_of(self.fig)
        size = (min(1100, width - CHROME[0]), min(640, height - CHROME[1]))
        self.fig.set_size_inches(size[0] / (DPI * scale), size[1] / (DPI * scale))
        grid = self.fig.add_gridspec(1, 2, width_ratios=(2.4, 1))
        self.ax, self.curve_ax = self.fig.add_subplot(grid[0]), self.fig.add_subplot(grid[1])
        self.fig.supxlabel(EXPLORE_KEYS, fontsize="small")
        self.timer = self.fig.canvas.new_timer(interval=120)
        self.timer.add_callback(self.guarded(lambda _event=None: self.tick()))
        self.running = False
        manager = self.fig.canvas.manager
        if getattr(manager, "key_press_handler_id", None) is not None:  # our keys, not pan/zoom's
            self.fig.canvas.mpl_disconnect(manager.key_press_handler_id)
        self.fig.canvas.mpl_connect("key_press_event", self.guarded(self.key))
        self.fig.canvas.mpl_connect("button_press_event", self.guarded(self.click))
        if manager is not None:
            manager.set_window_title("gmm_clustering: explore EM")
        self.fig.explorer = self  # kept alive as long as its window
        self.restart("random")
        self.draw()

    # -- the state ---------------------------------------------------------

    def restart(self, how):
        """A new start: k random points as means, each with the data's own spread; or
        the first M-step from k-means' clusters."""
        from sklearn.cluster import KMeans

        X = self.units.center + self.Z * self.units.scale  # the points, in the data's units
        self.units = Units.of(X, self.type)  # spherical: one scale for all columns
        self.Z = self.units.z(X)
        Z, k = self.Z, min(self.k, len(self.Z))
        distinct = len(np.unique(Z, axis=0))
        if how == "k-means" and distinct < k:  # k-means would leave a cluster empty
            self.restart("random")
            self.message = f"k-means needs k = {k} distinct points and there are {distinct}: "
            self.message += "a random start instead"
            return
        if how == "k-means":
            seed = int(self.rng.integers(2**31))
            labels = KMeans(k, n_init=1, random_state=seed).fit(Z).labels_
            weights, means, covariances = m_step(Z, np.eye(k)[labels], self.type)
        else:  # the spread: one M-step with every point in one component
            _, _, spread = m_step(Z, np.ones((len(Z), 1)), self.type)
            means = Z[self.rng.choice(len(Z), k, replace=False)]
            weights, covariances = np.full(k, 1 / k), np.repeat(spread, k, axis=0)
        self.mixture = Mixture(weights, means, covariances, self.type)
        self.posteriors, self.iteration, self.running = None, 0, False
        self.curve, self.changes = [self.evaluate()], []
        self.message = f"{how} start: press e for the E-step"

    def evaluate(self):
        """The mean log-likelihood of the current mixture on the data, in the data's units.

        Its E-step is kept (``fresh``): the next ``e`` shows it rather than redo it.
        """
        log_density, self.fresh = e_step(self.mixture, self.Z)
        return float(log_density.mean()) - self.units.log_scale

    def criteria(self):
        n, d = self.Z.shape
        ll, k = self.curve[-1] * n, len(self.mixture.weights)
        return criteria(ll, 0.0, n, k, self.type, d)

    # -- the keys ----------------------------------------------------------

    def e(self):
        """E-step: each point's posteriors under the current mixture (computed with its
        log-likelihood: every change of the mixture or the data is evaluated at once)."""
        self.posteriors = self.fresh
        self.message = "E-step: each point coloured by its posteriors (faded: uncertain)"

    def m(self):
        """M-step: weights, means and covariances from the posteriors."""
        if self.posteriors is None:
            self.message = "the M-step needs posteriors: press e (the E-step) first"
            return False
        if not (self.posteriors.sum(axis=0) > 0).all():  # a component no point reaches
            self.message = "a component holds no point: restart (r or k) or change k"
            return False
        weights, means, covariances = m_step(self.Z, self.posteriors, self.type)
        self.mixture = Mixture(weights, means, covariances, self.type)
        self.iteration += 1
        self.curve.append(self.evaluate())
        self.message = "M-step: weights, means and covariances from the posteriors"
        return True

    def iterate(self):
        """One EM iteration (E then M); whether it has converged."""
        self.e()
        if not self.m():
            return True  # nothing more EM can do from here: a run stops
        self.message = f"iteration {self.iteration}: an E-step and an M-step"
        converged = abs(self.curve[-1] - self.curve[-2]) < EXPLORE_TOL
        if converged:
            self.message = f"converged: the log-likelihood moved by less than {EXPLORE_TOL:g}"
        return converged

    def tick(self):
        """One iteration of a run to convergence (the timer's callback)."""
        if self.iterate() or self.iteration >= EXPLORE_MAX_ITER:
            self.stop()
        self.draw()

    def stop(self):
        self.running = False
        self.timer.stop()

    def guarded(self, handler):
        """A key or click whose arithmetic fails says so in the window, not in a traceback."""

        def handle(event=None):  # (a timer calls it with none)
            try:
                handler(event)
            except (ValueError, np.linalg.LinAlgError) as exc:
                self.stop()
                self.message = f"that step failed ({' '.join(str(exc).split())[:80]}); press r"
                self.draw()

        return handle

    def key(self, event):
        """The key's action (EXPLORE_ACTIONS), then the picture; any key stops a run."""
        if self.running:
            self.stop()
            self.message = f"stopped at iteration {self.iteration}"
        elif event.key in EXPLORE_ACTIONS:
            getattr(self, EXPLORE_ACTIONS[event.key])()
            if EXPLORE_ACTIONS[event.key] == "close":
                return
        else:
            return
        self.draw()

    def run(self):
        self.running = True
        self.message = "running EM to convergence: any key stops it"
        self.timer.start()

    def more(self, step=1):
        k = self.k + step
        if not 1 <= k <= min(EXPLORE_MAX_K, len(self.Z)):
            self.message = f"k stays {self.k}: from 1 to {min(EXPLORE_MAX_K, len(self.Z))}"
            return
        self.k = k
        self.restart("random")

    def fewer(self):
        self.more(-1)

    def next_type(self):
        self.type = COVARIANCE_TYPES[(COVARIANCE_TYPES.index(self.type) + 1) % 4]
        self.restart("random")

    def random_start(self):
        self.restart("random")

    def k_means_start(self):
        self.restart("k-means")

    def close(self):
        import matplotlib.pyplot as plt

        plt.close(self.fig)

    def click(self, event):
        """A left click adds a point there; a right click removes the nearest one."""
        if event.inaxes is not self.ax or event.xdata is None or self.running:
            return
        z = self.units.z(np.array([event.xdata, event.ydata]))
        if event.button == 1:
            self.Z = np.vstack([self.Z, z])
            what = f"added a point at ({event.xdata:.3g}, {event.ydata:.3g})"
        elif event.button == 3 and len(self.Z) > self.k:
            nearest = int(np.argmin(((self.Z - z) ** 2).sum(axis=1)))
            gone = self.units.center + self.Z[nearest] * self.units.scale
            self.Z = np.delete(self.Z, nearest, axis=0)
            what = f"removed the point at ({gone[0]:.3g}, {gone[1]:.3g})"
        else:
            return
        self.curve.append(self.evaluate())  # the log-likelihood (and E-step) on the new data
        self.e()
        self.changes.append(len(self.curve) - 1)
        self.message = f"{what}: n = {len(self.Z)}; EM continues on the new data"
        self.draw()

    # -- the picture -------------------------------------------------------

    def draw(self):
        ax, units, mixture = self.ax, self.units, self.mixture
        ax.clear()
        X = units.center + self.Z * units.scale
        k = len(mixture.weights)
        colors = np.array(cluster_colors(k))
        if self.posteriors is None or len(self.posteriors) != len(X):
            face = np.array([[0.6, 0.6, 0.6, 0.8]] * len(X))
        else:  # each point's colour: its components' colours mixed by its posteriors
            face = self.posteriors @ colors
            largest = self.posteriors.max(axis=1)
            face[:, 3] = 0.15 + 0.85 * (largest - 1 / k) / (1 - 1 / k) if k > 1 else 1.0
        ax.scatter(*X.T, s=12, c=face, linewidths=0)
        means = units.center + mixture.means * units.scale
        covariances = mixture.covariances * np.outer(units.scale, units.scale)
        for j in range(k):
            for n_sigma in (1, 2):  # add_artist: the axes stay on the data while EM moves
                ax.add_artist(ellipse(means[j], covariances[j], n_sigma, colors[j]))
            ax.annotate(
                f"{mixture.weights[j]:.2f}",
                means[j],
                xytext=(6, 6),
                textcoords="offset points",
                fontsize="small",
                bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0},
            )
        ax.scatter(*means.T, **MEAN_STYLE)
        bic = self.criteria()["bic"]
        ax.set_title(
            f"{self.type}, k={k}, n={len(X)}   iteration {self.iteration}   "
            f"mean log-likelihood {self.curve[-1]:.5f}   BIC {bic:.1f}\n{self.message}",
            fontsize="medium",
        )
        ax.set(xlabel=self.names[0], ylabel=self.names[1])
        if self.equal:
            ax.set_aspect("equal", adjustable="datalim")
        self.draw_curve()
        self.fig.canvas.draw_idle()

    def draw_curve(self):
        """The mean log-likelihood after every step: EM never lowers it (on the same data)."""
        ax = self.curve_ax
        ax.clear()
        ax.plot(range(len(self.curve)), self.curve, marker="o", ms=3)
        for at in self.changes:
            ax.axvline(at, color="gray", ls=":", lw=1)
        ax.set(title="convergence", xlabel="step", ylabel="mean log-likelihood")
        ax.set_xlim(-0.5, max(10, len(self.curve)) - 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)


# ==========================================================================
# The command line
# ==========================================================================
# The parser, the check of contradictions and --report are built from the
# options' records; ``main`` turns every failure into one line.

NO_PLOT = "--no-plot and --save/--report contradict each other; drop one"
for flag, how, help, excludes in [
    ("--view", choice("auto", "pairs", "pca"), "3+ features: pairs (auto: up to 6) or PCA", {}),
    ("--save", PATH, "save the figure (png, pdf, svg, ...)", {}),
    ("--no-plot", FLAG, "metrics only: no figure", {"--save": NO_PLOT, "--report": NO_PLOT}),
    ("--json", FLAG, "one JSON object instead of the text summary", {}),
    ("--quiet", FLAG, "no progress messages on stderr", {}),
]:
    option(flag, how, help, OUTPUT, excludes=excludes)


class Parser(argparse.ArgumentParser):
    def print_help(self, file=None):  # --help on a full disk: one line and exit 1, as a run
        try:  # (argparse's own writer ignores a failed write)
            (file or sys.stdout).write(self.format_help())
            (file or sys.stdout).flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputLost(exc.strerror or exc) from None

    def error(self, message):  # one line and exit 2, instead of usage + message
        if "--predict: expected one argument" in message:  # --predict -6,-6
            message += " (a value that starts with '-' is written with '=': --predict=-6,-6)"
        raise UsageError(f"{message}; see --help")


def build_parser():
    """One argument per option record, in the groups of --help."""
    parser = Parser(
        prog="gmm_clustering.py",
        description="Fit a Gaussian mixture, print its metrics and draw its clusters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__
        and "examples:\n" + __doc__.split("Usage::")[1].split("Where")[0].strip("\n"),
    )
    groups = {title: parser.add_argument_group(title) for title in GROUPS}
    for o in sorted(OPTIONS, key=lambda o: GROUPS.index(o.group)):
        groups[o.group].add_argument(o.flag, help=o.help, **o.how)
    return parser


def check_contradictions(args):
    """Options that need another, or exclude one: refused before any work."""
    for o in OPTIONS:
        if not given(args, o.flag):
            continue
        for other, message in o.requires.items():
            if not given(args, other):
                raise UsageError(message)
        for other, message in o.excludes.items():
            if given(args, other):
                raise UsageError(message)


@dataclass
class Output:
    """Decided before any work: where the figure goes (None: a window, or no figure)."""

    path: str | None = None
    backend: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit status: 0, 2 for bad input, 1 when stdout fails."""
    if sys.stderr is None:  # started with stderr closed: messages go nowhere, not to stdout
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    if sys.stdout is None:  # started with stdout closed: results would vanish
        return fail("standard output is closed; nothing to write the results to", 1)
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a name: escapes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # its notes (a config folder it
    # cannot write, PostScript's transparency) are not the user's business: ours say what matters
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {
            sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        signal.signal(signal.SIGINT, ctrl_c)  # Ctrl-C: KeyboardInterrupt, and remembered
        unraisable_hook, sys.unraisablehook = sys.unraisablehook, quiet_unraisable
        INTERRUPTED.clear()
        signal.signal(signal.SIGTERM, ended_by_signal)  # a temporary file is never left behind
        signal.signal(signal.SIGHUP, ended_by_signal)
    try:
        if address_space_too_small():  # BLAS would end the process, or spin
            total, where = memory_limit()
            need = f"the libraries alone need about {gigabytes(ADDRESS_SPACE_NEEDED)}"
            return fail(f"not enough memory: {where} {gigabytes(total)} and {need}", 1)
        if np is None:
            raise ModuleNotFoundError(name="numpy")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the program's own notes say what matters
            return run_and_print(argv)
    except ModuleNotFoundError as exc:
        name = {"sklearn": "scikit-learn"}.get(exc.name, exc.name)
        install = "install the requirements: python3 -m pip install -r requirements.txt"
        return fail(f"the package {name!r} is not installed; {install}", 1)
    except UsageError as exc:
        return fail(str(exc), 1 if isinstance(exc, NotDelivered) else EXIT_USAGE)
    except KeyboardInterrupt:
        print("gmm_clustering.py: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        total, where = memory_limit()
        room = f" ({where} {gigabytes(total)})" if total else ""
        return fail(f"not enough memory{room}; use smaller data or fewer components", 1)
    except (BrokenPipeError, OutputLost) as exc:  # `... | head -c 100`, or a full disk
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush
        reader_left = isinstance(exc, BrokenPipeError)  # nothing to say: the reader has gone
        return 1 if reader_left else fail(f"cannot write the output ({exc})", 1)
    except Exception as exc:  # noqa: BLE001  (a bug of ours: one line, never a traceback)
        tb, line = exc.__traceback__, 0
        while tb:  # the innermost line of this file
            line = tb.tb_lineno if tb.tb_frame.f_code.co_filename == __file__ else line
            tb = tb.tb_next
        what = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        return fail(f"internal error ({what}, gmm_clustering.py line {line}); please report it", 1)
    finally:
        for sig, handler in handlers.items():  # as they were (main may be called again)
            # The script interrupted: the rest of a burst of Ctrl-C is ignored as it ends.
            ending = sig == signal.SIGINT and INTERRUPTED and handler is interrupted_while_loading
            signal.signal(sig, signal.SIG_IGN if ending else handler)
        if handlers:
            sys.unraisablehook = unraisable_hook


INTERRUPTED = []  # Ctrl-C was pressed (its KeyboardInterrupt may have been swallowed)


def ctrl_c(*_):
    """Raise KeyboardInterrupt, and remember it: Python swallows an exception raised
    in a callback it runs on its own (a lock's or a weak reference's, during an
    import), and ``check_interrupted`` then raises it again where the run goes on."""
    if INTERRUPTED:  # a burst of them: the first is being handled
        return
    INTERRUPTED.append(True)
    raise KeyboardInterrupt


def check_interrupted():
    if INTERRUPTED:
        raise KeyboardInterrupt


def quiet_unraisable(unraisable):
    """Python's "Exception ignored in ..." report: kept for our own code; not for a Ctrl-C
    (it is handled) or a library's callback (threadpoolctl 3.0 scanning its libraries
    after the working folder was deleted): the run's own line says what matters."""
    tb, ours = unraisable.exc_traceback, False
    while tb is not None:
        ours |= tb.tb_frame.f_code.co_filename == __file__
        tb = tb.tb_next
    if ours and not issubclass(unraisable.exc_type, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


class OutputLost(Exception):
    """Standard output could not be written: exit 1."""


def fail(message, status):
    """One line on stderr: control characters in it (a name with a line break) escaped."""
    with contextlib.suppress(OSError):  # stderr full or gone: the status still says it
        print(f"gmm_clustering.py: error: {printable(message)}", file=sys.stderr)
    return status


def printable(line):
    """A line as a terminal should show it: control characters (a line break, ESC, BEL)
    written as Python escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def run_and_print(argv):
    """Parse and check everything, run the lesson, print (and show the window last)."""
    args = build_parser().parse_args(argv)
    check_contradictions(args)
    output = Output() if args.no_plot else prepare_display(args)
    check_outputs(args, output)
    show_progress(args.quiet)
    with native_threads():
        check_interrupted()
        run = lesson(args, output)
    check_interrupted()
    for found in run.found:
        for warning in found.warnings:
            with contextlib.suppress(OSError):  # stderr full: the results still go out
                print(f"gmm_clustering.py: warning: {printable(warning)}", file=sys.stderr)
    if args.json:
        results = {**describe_data(run.data, args)}
        for found in run.found[:1] + [Found(results=run.metrics)] + run.found[1:]:
            results.update(found.results)
        results["notes"] = run.data.notes + [note for f in run.found for note in f.notes]
        text = json.dumps(finite(results), allow_nan=False)
    else:
        text = format_summary(run)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # the reader has gone (`| head`): nothing more to say
        raise
    except OSError as exc:
        raise OutputLost(exc.strerror or exc) from None
    if output.path is None and not args.no_plot:  # a window: after the summary, until closed
        show_until_closed()
    return 0


def show_until_closed():
    """``plt.show()``, but Ctrl-C in the terminal closes the windows (and exits 130).

    A window's event loop runs in C: a timer hands control back to Python every
    0.2 s, so that the signal is seen, and the handler closes every figure.
    """
    import matplotlib.pyplot as plt

    interrupted = []

    def interrupt(*_):
        interrupted.append(True)
        plt.close("all")

    previous = signal.signal(signal.SIGINT, interrupt)
    timers = [plt.figure(num).canvas.new_timer(interval=200) for num in plt.get_fignums()]
    for timer in timers:
        timer.add_callback(lambda: None)
        timer.start()
    try:
        plt.show()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def show_progress(quiet):
    """How far a long sweep has come: on stderr, when it is a terminal, unless --quiet."""
    if quiet or not sys.stderr.isatty():
        return
    started = time.perf_counter()

    class Elapsed(logging.Formatter):
        def format(self, record):
            return f"[{time.perf_counter() - started:6.1f} s] {record.getMessage()}"

    progress.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Elapsed())
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)


def finite(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


# ==========================================================================
# Machinery: model selection you can trust on real data
# ==========================================================================
# Why this exists: EM finds a local optimum, and which one depends on the
# start.  A BIC curve drawn from unlucky starts is jagged where the truth is
# smooth, and BIC then picks the wrong model.  R's mclust starts every
# candidate from one model-based hierarchical clustering; this sweep starts
# from the same kind of tree (``hierarchical_starts``), then hands each
# candidate's best partition to its neighbours: the other covariance types at
# the same k, one cluster split for k + 1, two merged for k - 1.  A handed-on
# start that is still behind its candidate's best after PRUNE_AT iterations
# stops there.  Each candidate keeps its best fit that is not spurious.
#
# EM here is the lesson's E- and M-steps for many fits at once (``Fits``), on
# standardised columns: scikit-learn's estimator costs milliseconds a call,
# and a sweep makes hundreds of fits.  The winner is handed to scikit-learn's
# GaussianMixture, which continues EM on all the data.

# EM ends when an iteration gains less than SELECT_TOL per point.  A gain is the same
# in any units (a change of units shifts every log-likelihood by one constant), so
# the rule is too; mclust's, relative to |log L|, stops early wherever |log L| is large.
SELECT_TOL = 1e-5
SELECT_MAX_ITER = 1000
SELECT_MAX_SAMPLES = 4_000  # candidates are fitted on a random sample above this
HC_MAX_SAMPLES = 2_000  # the hierarchical start is made on a random sample above this (mclust's)
PRUNE_AT = 5  # iterations after which a handed-on start behind its candidate's best stops
LOG_2PI = math.log(2 * math.pi)


@dataclass
class Selection:
    """Every candidate's row, the best one that is not set aside, and how the sweep ran."""

    rows: list[dict]
    best: dict
    criterion: str
    max_k: int
    sweep: Sweep
    sample: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sample_note(self):
        on = f" (on a random sample of {SELECT_MAX_SAMPLES:,} points)"
        return on if self.sample is not None else ""

    def winner_mixture(self, X, random_state):
        """The best candidate, EM continued on all of X; its row then holds its final values."""
        best = self.best
        k, cov = best["n_components"], best["covariance_type"]
        mixture = self.sweep.mixture((k, cov), X, random_state)
        if self.sample is None:
            log_density, posteriors = e_step(mixture, X)
            t = Tally(k).add(log_density, posteriors)
            best.update(criteria(t.log_density, t.log_largest, t.n, k, cov, X.shape[1]))
        return mixture

    def found(self, star, best=None):
        """The JSON keys, the notes and the criterion panel (``star``: this model's value)."""
        best, c = best or self.best, self.criterion
        at_edge = self.max_k > 1 and best["n_components"] == self.max_k
        best_key = {
            "covariance_type": best["covariance_type"],
            "n_components": best["n_components"],
        }
        found = Found(
            results={
                "selection": self.rows,
                "criterion": c,
                "selection_sample_size": None if self.sample is None else SELECT_MAX_SAMPLES,
                "selection_at_edge": at_edge,
                "selection_best": {**best_key, c: best[c]},
            },
            notes=self.notes,
        )
        if at_edge:
            found.lines.append(
                f"Note: the best k is the largest tried ({self.max_k}); try a larger --max-components"
            )
        better = [
            r
            for r in self.rows
            if r["set_aside_" + c] is not None and r["set_aside_" + c] < best[c]
        ]
        if better:
            r = min(better, key=lambda r: r["set_aside_" + c])
            found.lines.append(
                f"Note: a spurious fit had a better {c.upper()} and was set aside: "
                f"{r['covariance_type']} k={r['n_components']} ({r['reason']})"
            )
        label = "selected" if best is self.best and star == best[c] else "this model"
        draw = functools.partial(
            plot_criterion, rows=self.rows, criterion=c, star=star, star_label=label
        )
        found.panels.append(Panel(draw))
        return found


def sweep_candidates(args, data):
    """Fit every candidate up to --max-components (capped at what the rows hold)."""
    n = len(data.X)
    max_k = min(args.max_components, max(1, n // 2))
    selection = select(data.X, max_k, args.criterion, args.random_state, data.feature_names)
    if max_k < args.max_components:
        hold = f"{n} rows hold at most {max_k} components of two points"
        selection.notes.append(f"--max-components capped at {max_k}: {hold}")
    return selection


def select(X, max_k, criterion="bic", random_state=0, names=None):
    """Every (k, covariance type) for k up to ``max_k``: the rows, and the best usable one.

    Above SELECT_MAX_SAMPLES points the candidates are fitted on a random sample.
    """
    sample = None
    if len(X) > SELECT_MAX_SAMPLES:
        rng = np.random.RandomState(random_state)
        sample = np.sort(rng.choice(len(X), SELECT_MAX_SAMPLES, replace=False))
    names = names or [f"column {j + 1}" for j in range(X.shape[1])]
    sweep = Sweep(X if sample is None else X[sample], max_k, random_state, names)
    rows = sweep.rows()
    usable = [row for row in rows if not row["set_aside"]]
    if not usable:
        raise UsageError("every candidate was spurious; use --scale or a smaller --max-components")
    best = min(usable, key=lambda row: row[criterion])
    return Selection(rows, best, criterion, max_k, sweep, sample)


class Sweep:
    """Every (k, covariance type) candidate from many starts, fitted together; see the section."""

    def __init__(self, X, max_k, random_state, names):
        starts = hierarchical_starts(Units.of(X).z(X), max_k, random_state)
        self.units = Units.within(X, starts[:, max_k - 1])  # see Units.within
        self.Z, self.max_k, self.names = self.units.z(X), max_k, names
        self.best, self.spurious, self.tried, self.waiting, self.queue = {}, {}, {}, {}, []
        n = len(X)
        sizes = sorted({min(max_k, 3 * math.ceil(k / 3)) for k in range(1, max_k + 1)})
        self.sizes = sizes if n >= 200 else [max_k]  # small data: one padded batch is faster
        self.batches = {(f, K): Fits(self, f, K) for f in ("full", "diag") for K in self.sizes}
        for k, cov in itertools.product(range(1, max_k + 1), COVARIANCE_TYPES):
            self.offer(k, cov, starts[:, k - 1], handed_on=False)
        self.run()

    def offer(self, k, cov, labels, handed_on=True):
        """Queue EM from a partition not tried before (handed-on: once the candidate has a fit)."""
        tried = self.tried.setdefault((k, cov), set())
        clusters, key = partition_key(labels)
        if clusters != k or key in tried:
            return
        tried.add(key)
        start = ({"k": k, "cov": cov, "age": 0, "handed_on": handed_on}, np.eye(k)[labels])
        waits = handed_on and (k, cov) not in self.best and (k, cov) not in self.spurious
        (self.waiting.setdefault((k, cov), []) if waits else self.queue).append(start)

    def run(self):
        started, shown = time.perf_counter(), 0.0
        while self.queue or self.waiting or any(b.fits for b in self.batches.values()):
            if not self.queue and not any(b.fits for b in self.batches.values()):
                self.queue = [start for starts in self.waiting.values() for start in starts]
                self.waiting = {}
            joining = {}
            for fit, posteriors in self.queue:
                family = "full" if fit["cov"] in ("full", "tied") else "diag"
                size = next(K for K in self.sizes if K >= fit["k"])
                joining.setdefault((family, size), []).append((fit, posteriors))
            for key, starts in joining.items():
                self.batches[key].add(starts)
            self.queue = []
            for batch in self.batches.values():
                if batch.fits:
                    batch.iterate()
            check_interrupted()
            if time.perf_counter() - started > shown + 1:  # a long sweep says how far it is
                shown += 1
                done = len(self.best.keys() | self.spurious.keys())
                progress.info(f"model selection: {done} of {self.max_k * 4} candidates fitted")

    def record(self, fit):
        """Keep a finished fit if it is its candidate's best; hand its partition on."""
        k, cov = fit["k"], fit["cov"]
        table = self.spurious if fit["reason"] else self.best
        if (k, cov) in table and table[k, cov]["ll"] >= fit["ll"]:
            return
        table[k, cov] = fit
        self.queue += self.waiting.pop((k, cov), [])
        if fit["reason"]:
            return
        labels = fit["posteriors"].argmax(axis=1)
        # A spherical fit's partition depends on the columns' relative units (its circles
        # are round in one unit only): handed to the other types, it would make their fits
        # depend on units too.  Theirs do not, and go to every type.
        for other in COVARIANCE_TYPES if cov != "spherical" else ["spherical"]:
            self.offer(k, other, labels)
        if k < self.max_k:
            self.offer(k + 1, cov, split_largest(self.Z, labels, k + 1))
        if k > 1:
            self.offer(k - 1, cov, merge_closest(fit["posteriors"]))

    def rows(self):
        """One row per candidate: its criteria in the data's units, or why it was set aside."""
        rows = []
        for cov, k in itertools.product(COVARIANCE_TYPES, range(1, self.max_k + 1)):
            fit, spurious = self.best.get((k, cov)), self.spurious.get((k, cov))
            row = {"covariance_type": cov, "n_components": k}  # the keys in a fixed order:
            row.update(dict.fromkeys(("bic", "aic", "icl", "log_likelihood")))
            row.update(set_aside=fit is None, reason=None)
            row.update(dict.fromkeys(("set_aside_bic", "set_aside_aic", "set_aside_icl")))
            if fit:
                row.update(self.criteria(fit))
            if spurious and (fit is None or spurious["ll"] > fit["ll"]):
                values = self.criteria(spurious)
                row.update({f"set_aside_{c}": values[c] for c in ("bic", "aic", "icl")})
                row["reason"] = spurious["reason"]
            elif fit is None:
                row["reason"] = "every start ended with a covariance that is not positive definite"
            rows.append(row)
        return rows

    def criteria(self, fit):
        ll = fit["ll"] - len(self.Z) * self.units.log_scale  # in the data's own units
        log_largest = float(np.log(np.maximum(fit["posteriors"].max(axis=1), 1e-300)).sum())
        return criteria(ll, log_largest, len(self.Z), fit["k"], fit["cov"], self.Z.shape[1])

    def mixture(self, key, X, random_state):
        """The candidate as scikit-learn's ``GaussianMixture``, EM continued on all of X."""
        from sklearn.mixture import GaussianMixture

        (k, cov), fit = key, self.best[key]
        units = self.units if cov != "spherical" else self.units.shared()
        covs = fit["covs"] * self.units.ratio if cov == "spherical" else fit["covs"]
        stored = {"full": covs, "tied": covs[0], "diag": covs, "spherical": covs[:, 0]}[cov]
        model = GaussianMixture(
            k,
            covariance_type=cov,
            weights_init=fit["weights"] / fit["weights"].sum(),
            means_init=fit["means"] * self.units.scale / units.scale,
            precisions_init=1 / stored if cov in ("diag", "spherical") else np.linalg.inv(stored),
            tol=1e-6,
            max_iter=SELECT_MAX_ITER,
            random_state=random_state,
        )
        return as_mixture(fitted(model, units.z(X)), units)


class Fits:
    """Fits of one family (full and tied, or diag and spherical), padded to K components.

    One ``iterate`` is an M-step and an E-step for all of them at once: the
    lesson's ``m_step`` and ``e_step``, batched.  The full family keeps each
    point's x x' (upper triangle) so that scatter matrices and Mahalanobis
    distances are matrix products.
    """

    def __init__(self, sweep, family, K):
        self.sweep, self.family, self.K = sweep, family, K
        Z = sweep.Z
        self.upper = np.triu_indices(Z.shape[1])
        self.twice = np.where(self.upper[0] == self.upper[1], 1.0, 2.0)  # off-diagonal pairs
        self.ZZ = Z[:, self.upper[0]] * Z[:, self.upper[1]] if family == "full" else Z * Z
        self.fits, self.posteriors = [], np.zeros((0, len(Z), K))
        self.previous, self.age = np.zeros(0), np.zeros(0, dtype=int)
        # SQUAREM (see ``accelerate``): each fit's step in its cycle of three, the cycle's
        # first posteriors, and the plain EM step kept in case the leap falls short.
        self.step, self.first = np.zeros(0, dtype=int), np.zeros((0, len(Z), K))
        self.plain, self.plain_ll = np.zeros((0, len(Z), K)), np.zeros(0)
        self.gain = np.zeros(0)  # each fit's last gain in log-likelihood
        self.reach = np.zeros(0)  # the longest leap allowed, |a|: 1 at first, x4 while it holds
        self.k, self.shared, self.handed_on = (
            np.zeros(0, dtype=int),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )

    def add(self, starts):
        """New fits, each from its start's posteriors (fit, posteriors)."""
        fits = [fit for fit, _ in starts]
        padded = np.zeros((len(starts), len(self.sweep.Z), self.K))
        for row, (fit, posteriors) in zip(padded, starts):
            row[:, : fit["k"]] = posteriors
        self.fits += fits
        self.posteriors = np.concatenate([self.posteriors, padded])
        self.first = np.concatenate([self.first, padded])  # set at each cycle's first step
        self.plain = np.concatenate([self.plain, padded])  # set before each leap

        def more(array, values):
            return np.concatenate([array, np.asarray(values, dtype=array.dtype)])

        m = len(fits)
        self.step, self.plain_ll = more(self.step, [0] * m), more(self.plain_ll, [-np.inf] * m)
        self.reach, self.gain = more(self.reach, [1.0] * m), more(self.gain, [np.inf] * m)
        self.previous, self.age = more(self.previous, [-np.inf] * m), more(self.age, [0] * m)
        self.k = more(self.k, [fit["k"] for fit in fits])
        self.shared = more(self.shared, [fit["cov"] in ("tied", "spherical") for fit in fits])
        self.handed_on = more(self.handed_on, [fit["handed_on"] for fit in fits])

    def iterate(self):
        Z, R, ratio = self.sweep.Z, self.posteriors, self.sweep.units.ratio
        self.first[self.step == 0] = R[self.step == 0]
        (s, n, K), d = R.shape, Z.shape[1]
        active, shared = np.arange(K) < self.k[:, None], self.shared
        nk = R.sum(axis=1)  # M-step: weights, means, covariances
        safe = np.where(active, np.maximum(nk, 1e-300), 1.0)
        RT = R.transpose(0, 2, 1)
        means = RT @ Z / safe[..., None]
        second = RT @ self.ZZ / safe[..., None]
        if self.family == "full":
            covs = np.empty((s, K, d, d))
            covs[..., self.upper[0], self.upper[1]] = second
            covs[..., self.upper[1], self.upper[0]] = second
            covs -= means[..., :, None] * means[..., None, :]
            if shared.any():  # tied: the components' scatter pooled
                pooled = (covs[shared] * nk[shared][..., None, None]).sum(axis=1) / n
                covs[shared] = pooled[:, None]
            covs += REG_COVAR * np.eye(d)
            covs[~active] = np.eye(d)
            try:
                L = np.linalg.cholesky(covs)  # E-step: log N(z | mean, covariance)
            except np.linalg.LinAlgError:  # rounding made a covariance indefinite
                self.indefinite(covs)
                return
            narrowest = (np.diagonal(L, axis1=-2, axis2=-1) ** 2).min(axis=-1)  # >= the smallest
            # eigenvalue: below COLLAPSED x reg_covar here, the component has surely collapsed
            Linv = np.linalg.inv(L)
            P = Linv.swapaxes(-1, -2) @ Linv
            Pmu = (P @ means[..., None])[..., 0]
            linear = (P[..., self.upper[0], self.upper[1]] * self.twice).reshape(s * K, -1)
            maha = self.ZZ @ linear.T - 2 * Z @ Pmu.reshape(s * K, d).T
            quad = (Pmu * means).sum(axis=-1)
            logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
        else:
            covs = second - means**2
            if shared.any():  # spherical: one variance in the data's common unit
                common = (covs[shared] * ratio).mean(axis=-1, keepdims=True)
                covs[shared] = common / ratio
            covs += REG_COVAR * np.where(shared[:, None, None], 1 / ratio, 1.0)
            covs[~active] = 1.0
            narrowest = np.where(shared[:, None, None], covs * ratio, covs).min(axis=-1)
            precision = 1 / covs
            maha = self.ZZ @ precision.reshape(s * K, d).T
            maha -= 2 * Z @ (means * precision).reshape(s * K, d).T
            quad = (means**2 * precision).sum(axis=-1)
            logdet = np.log(covs).sum(axis=-1)
        log_joint = maha.reshape(n, s, K).transpose(1, 0, 2)
        log_joint += (quad + logdet)[:, None, :]
        log_joint *= -0.5
        log_weights = np.log(np.where(active, nk / n, 1.0)) - np.where(active, 0.0, np.inf)
        log_joint += (log_weights - 0.5 * d * LOG_2PI)[:, None, :]
        top = log_joint.max(axis=2, keepdims=True)  # log-sum-exp, in place
        np.exp(log_joint - top, out=log_joint)
        total = log_joint.sum(axis=2, keepdims=True)
        log_joint /= total
        self.posteriors, before = log_joint, R
        ll = (np.log(total[..., 0]) + top[..., 0]).sum(axis=1)
        self.finish(ll, nk, means, covs, active, narrowest, before)

    def finish(self, ll, nk, means, covs, active, narrowest, before):
        """Record the fits that converged; stop those that collapsed or fell behind."""
        sweep, fits = self.sweep, self.fits
        self.age += 1
        # A collapsed component stays collapsed (no other point can reach it): stop there.
        collapsed = np.where(active, narrowest, np.inf).min(axis=1) < COLLAPSED * REG_COVAR
        leap = self.step == 2  # this step started from a leap (``accelerate``)
        missed = leap & (collapsed | ~(ll >= self.plain_ll))  # it fell short: undone below
        done = ~leap & (np.abs(ll - self.previous) <= SELECT_TOL * len(sweep.Z))
        done |= ~leap & collapsed | (self.age >= SELECT_MAX_ITER) & ~missed
        kept_ll = np.where(missed, self.plain_ll, ll)  # a leap that fell short is undone
        behind = np.zeros(len(fits), bool)
        for i in np.flatnonzero(self.handed_on & (self.age == PRUNE_AT) & ~done):
            best = sweep.best.get((fits[i]["k"], fits[i]["cov"]))
            behind[i] = best is not None and kept_ll[i] < best["ll"]
        for i in np.flatnonzero(done):
            f, k = fits[i], fits[i]["k"]
            f["age"] = int(self.age[i])
            fit = {**f, "weights": nk[i, :k] / len(sweep.Z), "means": means[i, :k]}
            fit.update(covs=covs[i, :k], posteriors=self.posteriors[i, :, :k], ll=float(ll[i]))
            if self.family == "full":
                full = covs[i, :k]
            else:
                scale = sweep.units.ratio if f["cov"] == "spherical" else 1.0
                full = (covs[i, :k] * scale)[:, :, None] * np.eye(covs.shape[-1])
            fit["reason"] = spurious_component(nk[i, :k], full, f["cov"], sweep.names)
            sweep.record(fit)
        gain, self.previous = kept_ll - self.previous, kept_ll
        self.reach = np.where(missed, np.maximum(self.reach / 4, 1), self.reach)
        self.posteriors[missed] = self.plain[missed]
        self.accelerate(before, ~(done | behind), gain)
        self.keep(~(done | behind))

    def indefinite(self, covs):
        """Fits whose covariance rounding made indefinite: a leap's goes back to its plain
        step (``accelerate``); any other stops there, unrecorded."""
        bad = np.zeros(len(covs), bool)
        for i, matrices in enumerate(covs):
            try:
                np.linalg.cholesky(matrices)
            except np.linalg.LinAlgError:
                bad[i] = True
        if not bad.any():  # the batch failed and no fit alone: stop them all, not loop
            bad[:] = True
        back = bad & (self.step == 2)
        self.posteriors[back], self.previous[back] = self.plain[back], self.plain_ll[back]
        self.step[back], self.reach[back] = 0, np.maximum(self.reach[back] / 4, 1)
        self.keep(~bad | back)

    def accelerate(self, before, going, gain):
        """SQUAREM (Varadhan and Roland, 2008): from three posteriors in a row, R0, R1 and
        R2 (two EM steps), leap to R0 - 2a r + a^2 v, with r = R1 - R0, v = R2 - 2 R1 + R0
        and a = -|r| / |v|, and take one EM step from there; where the leap's likelihood
        falls short of R2's, EM goes on from R2 instead.  |a| is capped, at 1 (no leap) at
        first, 4 times more after each leap that reached the cap, 4 times less after one
        that fell short (the SQUAREM package's defaults).
        EM leaps only in its slow tail: where a step gained at least TAIL_RATE of the
        step before.  Below that rate the gains still to come add up to less than the
        last one and plain EM ends soon; above it they can add up to many more, and
        EM's path there is already set (a leap earlier on can carry a fit to another
        optimum).  The likelihood never goes down from one kept step to the next.
        """
        second, leaping = (self.step == 1) & going, self.step == 2
        with np.errstate(all="ignore"):  # the tail: each gain at least TAIL_RATE of the last
            tail = gain >= TAIL_RATE * self.gain
        self.gain = gain
        self.first[second & ~tail] = before[second & ~tail]  # not yet: R1, R2 the next R0, R1
        second &= tail
        self.step[leaping] = 0
        self.step[(self.step == 0) & ~leaping] = 1
        if not second.any():
            return
        R0, R1, R2 = self.first[second], before[second], self.posteriors[second]
        r, v = R1 - R0, R2 - 2 * R1 + R0
        size = np.sqrt((v**2).sum(axis=(1, 2)))
        a = -np.sqrt((r**2).sum(axis=(1, 2))) / np.where(size > 0, size, np.inf)
        reach = self.reach[second]
        a = np.clip(a, -reach, -1.0)  # -1: R2 itself, no leap
        self.reach[second] = np.where(a == -reach, 4 * reach, reach)
        a = a[:, None, None]
        leapt = np.clip(R0 - 2 * a * r + a**2 * v, 0, None)  # rows still sum to 1, but for
        leapt /= np.maximum(leapt.sum(axis=2, keepdims=True), 1e-300)  # what the clip took
        self.plain[second], self.plain_ll[second] = R2, self.previous[second]
        self.posteriors[second] = leapt
        self.step[second] = 2

    def keep(self, kept):
        self.fits = [f for f, k in zip(self.fits, kept) if k]
        self.step, self.first, self.reach = self.step[kept], self.first[kept], self.reach[kept]
        self.gain = self.gain[kept]
        self.plain, self.plain_ll = self.plain[kept], self.plain_ll[kept]
        self.posteriors, self.previous, self.age = (
            self.posteriors[kept],
            self.previous[kept],
            self.age[kept],
        )
        self.k, self.shared, self.handed_on = self.k[kept], self.shared[kept], self.handed_on[kept]


TAIL_RATE = 0.5  # see Fits.accelerate
COLLAPSED = 10  # a variance under 10 x reg_covar is the regulariser's, not the data's


def spurious_component(n_points, covariances, covariance_type, names):
    """Why a fit is spurious (a component named, and what it lacks), or None.

    Two things make a component model its own few points rather than a
    population, and its likelihood (so its BIC) look excellent for no reason:
    - fewer points than the parameters it owns need: a full covariance needs
      d + 1 points, a diagonal or spherical variance 2; a tied component owns
      no covariance of its own;
    - a collapse onto repeated values: in some direction its points share one
      value, and the variance there is the regulariser's (less than COLLAPSED
      x reg_covar, in units of the column's spread).  Rounded data make such
      values common; points merely close together (a narrow but real spread)
      are not this.
    ``covariances`` are full matrices in standardised units.
    """
    d = covariances.shape[-1]
    need = {"full": d + 1, "tied": 0, "diag": 2, "spherical": 2}[covariance_type]
    j = int(np.argmin(n_points))
    if round(float(n_points[j])) < need:
        return (
            f"component {j} holds {n_points[j]:.1f} points; a {covariance_type} covariance "
            f"in {d} dimensions needs {need}"
        )
    variances, directions = np.linalg.eigh(covariances)
    j = int(np.argmin(variances[:, 0]))
    if variances[j, 0] >= COLLAPSED * REG_COVAR:
        return None
    u = np.abs(directions[j, :, 0])
    top = np.argsort(u)[::-1]
    along = names[top[0]] if u[top[0]] > 0.9 or d == 1 else f"a combination of {names[top[0]]}"
    if along.startswith("a combination"):
        along += f" and {names[top[1]]}"
    return f"component {j} collapsed onto repeated values (no spread in {along})"


def hierarchical_starts(Z, max_k, random_state):
    """Partitions for k = 1 .. max_k (column k - 1), from one model-based hierarchical tree.

    Above HC_MAX_SAMPLES points the tree is grown on a random sample and every
    other point joins the nearest of its clusters.  Above TREE_MAX_FEATURES
    columns (where a d x d determinant per pair costs too much) the tree is
    Ward's, scipy's: the same merges for round clusters of equal size.
    """
    grow = model_based_tree if Z.shape[1] <= TREE_MAX_FEATURES else ward_tree
    if len(Z) <= HC_MAX_SAMPLES:
        return grow(svd_transform(Z), max_k)
    sample = np.random.RandomState(random_state).choice(len(Z), HC_MAX_SAMPLES, replace=False)
    cut = grow(svd_transform(Z[sample]), max_k)
    starts = np.empty((len(Z), max_k), dtype=int)
    for k in range(1, max_k + 1):
        centres = np.array([Z[sample][cut[:, k - 1] == j].mean(axis=0) for j in range(k)])
        starts[:, k - 1] = (-2 * Z @ centres.T + (centres**2).sum(axis=1)).argmin(axis=1)
    return starts


TREE_MAX_FEATURES = 50


def ward_tree(Z, max_k):
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(Z, method="ward")
    return np.column_stack(
        [fcluster(tree, k, criterion="maxclust") - 1 for k in range(1, max_k + 1)]
    )


def svd_transform(Z):
    """mclust's data for its tree: standardised, rotated onto the principal axes, each
    divided by the square root of its singular value."""
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0, ddof=1)
    _, s, Vt = np.linalg.svd(Z, full_matrices=False)
    keep = s > s[0] * 1e-12
    return Z @ Vt[keep].T / np.sqrt(s[keep])


def model_based_tree(Z, max_k, beta=1.0):
    """Agglomerative clustering that merges, at each step, the two clusters whose union
    costs the least in a regularised Gaussian classification likelihood (unconstrained
    covariances): Fraley's algorithm, the criterion of mclust's ``hcVVV``.

    A cluster of l points with scatter W costs l log(|W / l| + beta (tr W + alpha) / l)
    once l > d, and l log(beta (tr W + alpha) / l) before; alpha is the mean
    variance of the data.  Returns partitions for k = 1 .. max_k.
    """
    n, d = Z.shape
    alpha = max(((Z - Z.mean(axis=0)) ** 2).sum() / (n * d), np.finfo(float).eps)
    size, mean, W, trace = np.ones(n), Z.copy(), np.zeros((n, d, d)), np.zeros(n)

    def cost(l, W, trace):
        base = np.log(beta * (trace + alpha) / l)
        big = l > d
        if big.any():
            sign, logdet = np.linalg.slogdet(W[big] / l[big, None, None])
            usable = (sign > 0) & (trace[big] > 0)
            base[big] = np.where(
                usable, np.logaddexp(np.where(usable, logdet, 0), base[big]), base[big]
            )
        return l * base

    def merged(a, js):
        l = size[a] + size[js]
        gap = mean[js] - mean[a]
        shift = (size[a] * size[js] / l)[:, None, None] * gap[:, :, None] * gap[:, None, :]
        return l, W[a] + W[js] + shift, trace[a] + trace[js] + np.trace(shift, axis1=1, axis2=2)

    own = cost(size, W, trace)  # log(alpha beta) each
    # The cost of merging each pair of single points: their scatter W = v v' / 2 (v their
    # difference) has trace |v|^2 / 2, and |W / 2| = 0 unless d = 1.
    half = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=-1) / 2 if n * n * d < 5e7 else None
    if half is None:  # too many pairs at once: the same, a row at a time
        half = np.array([((Z - z) ** 2).sum(axis=1) / 2 for z in Z])
    pair = np.log(beta * (half + alpha) / 2)
    if d == 1:
        pair = np.where(half > 0, np.logaddexp(np.log(np.maximum(half, 1e-300) / 2), pair), pair)
    D = 2 * pair - 2 * own[0]
    np.fill_diagonal(D, np.inf)
    partner = D.argmin(axis=1)
    best = D[np.arange(n), partner]
    labels, alive = np.arange(n), np.ones(n, dtype=bool)
    # Ties (repeated values make many) are broken as mclust breaks them, so that the
    # tree is mclust's: clusters sit in slots, the last of its scan order among the
    # cheapest pairs merges into the earlier slot, and the last slot's cluster moves
    # into the slot that emptied.
    slot, occupant = np.arange(n), np.arange(n)
    cuts = np.zeros((n, max_k), dtype=int)
    for clusters in range(n, 0, -1):
        if clusters <= max_k:
            cuts[:, clusters - 1] = np.unique(labels, return_inverse=True)[1]
        if clusters == 1:
            break
        cheapest = best.min()
        rows = np.flatnonzero(best == cheapest)  # a tied pair joins two of these rows
        r, c = np.nonzero(D[np.ix_(rows, rows)] == cheapest)
        r, c = rows[r], rows[c]
        first, last = np.minimum(slot[r], slot[c]), np.maximum(slot[r], slot[c])
        pick = np.argmax(last * n + first)
        a, b = occupant[first[pick]], occupant[last[pick]]
        occupant[last[pick]] = occupant[clusters - 1]
        slot[occupant[last[pick]]] = last[pick]
        gap, l = mean[b] - mean[a], size[a] + size[b]
        shift = size[a] * size[b] / l * np.outer(gap, gap)
        W[a] += W[b] + shift
        trace[a] += trace[b] + np.trace(shift)
        mean[a] = (size[a] * mean[a] + size[b] * mean[b]) / l
        size[a] = l
        own[a] = cost(size[a : a + 1], W[a : a + 1], trace[a : a + 1])[0]
        alive[b], D[b], D[:, b], best[b] = False, np.inf, np.inf, np.inf
        labels[labels == b] = a
        js = np.flatnonzero(alive)
        js = js[js != a]
        if not len(js):
            continue
        D[a, js] = D[js, a] = costs = cost(*merged(a, js)) - own[a] - own[js]
        partner[a], best[a] = js[costs.argmin()], costs.min()
        stale = js[(partner[js] == a) | (partner[js] == b)]
        partner[stale] = D[stale].argmin(axis=1)
        best[stale] = D[stale, partner[stale]]
        closer = (costs < best[js]) & (partner[js] != a)
        partner[js[closer]], best[js[closer]] = a, costs[closer]
    return cuts


def partition_key(labels):
    """The number of clusters, and the same bytes for two labelings that group the points
    alike (clusters renamed)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return len(first), np.argsort(np.argsort(first))[inverse].astype(np.int16).tobytes()


def split_largest(Z, labels, k):
    """k clusters from k - 1: the cluster with the largest scatter cut along its main axis."""
    clusters = [Z[labels == j] for j in range(k - 1)]
    scatter = [((c - c.mean(axis=0)) ** 2).sum() if len(c) else 0.0 for c in clusters]
    members = np.flatnonzero(labels == int(np.argmax(scatter)))
    centred = Z[members] - Z[members].mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    labels = labels.copy()
    labels[members[centred @ axis > 0]] = k - 1
    return labels


def merge_closest(posteriors):
    """k - 1 clusters from k: the two components that share the most posterior mass merged."""
    overlap = posteriors.T @ posteriors
    np.fill_diagonal(overlap, -1)
    a, b = np.unravel_index(overlap.argmax(), overlap.shape)
    labels = posteriors.argmax(axis=1)
    labels[labels == b] = a
    return np.unique(labels, return_inverse=True)[1]


def far_point_posteriors(mixture, X, posteriors):
    """Posteriors of points whose every density underflows: all on the nearest component.

    Far out along the direction u = x / s (s huge), the Mahalanobis distance to
    component k is s**2 u'P_k u - 2 s u'P_k mu_k + ...: the s**2 term decides,
    and where components tie on it (tied or equal covariances) the s term does.
    """
    far = ~np.isfinite(posteriors).all(axis=1)
    u = X[far] / np.abs(X[far]).max(axis=1, keepdims=True)
    precisions = np.linalg.inv(mixture.covariances)
    quadratic = np.einsum("ni,kij,nj->kn", u, precisions, u)
    linear = -np.einsum("ni,kij,kj->kn", u, precisions, mixture.means)
    ties = np.isclose(quadratic, quadratic.min(axis=0), rtol=1e-9)
    posteriors = posteriors.copy()
    posteriors[far] = np.eye(len(mixture.weights))[np.where(ties, linear, np.inf).argmin(axis=0)]
    return posteriors


# ==========================================================================
# Machinery: fits that do not depend on units
# ==========================================================================
# Why this exists: a Gaussian mixture's maximum-likelihood fit is equivariant:
# a column in millimetres instead of kilometres, or offset by 1e9, moves the
# means and covariances with it and shifts the log-likelihood by the log of the
# Jacobian, and nothing else.  EM in floating point is not: scikit-learn adds
# reg_covar (1e-6) to every variance, k-means starts see raw distances, and a
# column of 1e9 + x loses its digits in x x'.  So EM runs on columns centred and
# scaled to sd 1, and the mixture is mapped back: reg_covar is then relative to
# each column's spread.  A spherical fit has one scale for every column (any
# other would make its circles ellipses).

REG_COVAR = 1e-6  # scikit-learn's default, added to every variance (in standardised units)
EM_SPREAD_MAX = 1_000  # the largest ratio of a column's sd to the unit EM runs in


@dataclass
class Units:
    """The units EM works in: z = (x - center) / scale, column by column."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, X, covariance_type="full"):
        """Each column's mean and sd (spherical: one shared sd), without squaring huge values."""
        power = 2.0 ** np.floor(np.log2(np.abs(X).max(axis=0) + 1e-300))  # exact in binary
        scaled = X / power
        sd = scaled.std(axis=0) * power
        units = cls(scaled.mean(axis=0) * power, np.where(sd > 0, sd, 1.0))
        return units.shared() if covariance_type == "spherical" else units

    @classmethod
    def of_mixture(cls, mixture):
        """The mixture's own mean and sd per column."""
        center = mixture.weights @ mixture.means
        spread = np.diagonal(mixture.covariances, axis1=1, axis2=2) + (mixture.means - center) ** 2
        sd = np.sqrt(mixture.weights @ spread)
        return cls(center, np.where(sd > 0, sd, 1.0))

    @classmethod
    def within(cls, X, labels):
        """Each column's spread inside the clusters of ``labels``, pooled: the unit EM runs in.

        reg_covar is added to every variance in these units, so it must be small
        beside the clusters' own spread, not only beside the whole column's: two
        tight clusters 1,000 of their standard deviations apart would otherwise
        look collapsed to it.  The unit is at least the column's sd / EM_SPREAD_MAX:
        the batched EM of the sweep (``Fits``) works with z z', which keeps
        |z|^2 x 2.2e-16 of precision, far below reg_covar while |z| < 1e4 or so.
        A column constant inside every cluster keeps its sd.
        """
        overall = cls.of(X)
        Z = overall.z(X)
        k = labels.max() + 1
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, Z[:, j], minlength=k) for j in range(Z.shape[1])], 1)
        centred = Z - (sums / np.maximum(counts, 1)[:, None])[labels]
        pooled = np.sqrt((centred**2).mean(axis=0))
        pooled = np.where(pooled > 0, pooled, 1.0)
        return cls(overall.center, overall.scale * np.maximum(pooled, 1 / EM_SPREAD_MAX))

    def shared(self):
        """One scale for every column: the root mean square of the columns' own."""
        common = math.sqrt(float(np.mean(self.scale**2)))
        return Units(self.center, np.full(len(self.scale), common))

    def z(self, X):
        return (X - self.center) / self.scale

    @functools.cached_property
    def ratio(self):  # each column's variance over the shared one (EM asks at every step)
        return self.scale**2 / np.mean(self.scale**2)

    @property
    def log_scale(self):  # log |det| of the map x -> z, with the sign that ll(x) = ll(z) - n * this
        return float(np.log(self.scale).sum())


# ==========================================================================
# Machinery: fits that fail say why in one sentence
# ==========================================================================


def fitted(model, X):
    """``model.fit(X)``; its convergence is reported by the summary, a failure in one line."""
    try:
        return model.fit(X)
    except ValueError as exc:
        detail = " ".join(str(exc).split())  # scikit-learn's own words, on one line
        why = ""
        if "covariance" in detail or "singular" in detail:
            why = (
                ": a component's covariance became singular (too few distinct points, or "
                "features on extreme scales)"
            )
        raise UsageError(
            f"the {model.covariance_type!r} mixture with {model.n_components} components could "
            f"not be fitted{why}; use fewer components, another --covariance-type, or --scale "
            f"[scikit-learn: {detail}]"
        ) from None


# ==========================================================================
# Machinery: speed
# ==========================================================================


def native_threads():
    """One BLAS/OpenMP thread: with few features the matrices are tiny, and extra
    threads only spin (measured: a 1e6-point fit in half the time, a sweep several
    times faster).  scikit-learn is imported first: a limit reaches only the native
    libraries already loaded."""
    import sklearn.mixture  # noqa: F401  (loads scipy's BLAS and scikit-learn's OpenMP)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def check_memory(n_bytes, what):
    """Refuse, before any work, a size the machine (or the process's limit) cannot hold."""
    total, where = memory_limit()
    if total is not None and n_bytes > total:
        raise UsageError(
            f"{what} needs about {gigabytes(n_bytes)} of memory and {where} "
            f"{gigabytes(total)}; use smaller numbers"
        )


# ==========================================================================
# Machinery: output files that never destroy anything
# ==========================================================================
# Why this exists: a figure or sample file written over the input, over a device,
# or half-written after a failure loses data.  Every output is checked before
# any work and written to a temporary file beside it, then renamed into place.


def prepare_display(args):
    """Decide, before any work, whether a window opens or which file the figure goes to."""
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    no_socket = not wayland.startswith("/") and not os.path.isdir(
        os.environ.get("XDG_RUNTIME_DIR", "")
    )
    if wayland and no_socket:  # Wayland finds its socket in XDG_RUNTIME_DIR: without it no
        # window can open, and the C library matplotlib probes would say so in its own words
        del os.environ["WAYLAND_DISPLAY"]
    try:
        return choose_display(args)
    finally:
        if wayland:
            os.environ["WAYLAND_DISPLAY"] = wayland


def choose_display(args):
    """prepare_display's work: the backend loaded, the output decided."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt

        plt.switch_backend(matplotlib.get_backend())  # loads the backend: a bad one fails here
    except ModuleNotFoundError as exc:
        if exc.name == "matplotlib":  # main says what to install
            raise
        raise display_problem(args, exc) from None
    except (ValueError, ImportError, RuntimeError) as exc:  # (webagg without tornado)
        raise display_problem(args, exc) from None
    backend = matplotlib.get_backend().lower()
    tex = matplotlib.rcParams["pgf.texsystem"]
    if backend == "pgf" and not shutil.which(tex):  # found only once the figure is written
        raise UsageError(
            f"MPLBACKEND=pgf needs LaTeX ({tex}), which is not installed here; "
            "unset it or set MPLBACKEND=Agg"
        )
    can_show = not args.save and backend_can_show(backend)
    if args.explore and not can_show:
        raise UsageError(NO_WINDOW.format(backend))
    if args.save and args.save.lower().endswith(".gif"):
        if not args.trace:
            raise UsageError(
                "--save: a .gif is the --trace animation; add --trace or save png, pdf or svg"
            )
    elif args.save:
        from matplotlib.backend_bases import FigureCanvasBase

        ext = os.path.splitext(args.save)[1].lstrip(".").lower()
        supported = FigureCanvasBase.get_supported_filetypes()
        if ext not in supported:
            raise UsageError(
                f"--save {args.save}: matplotlib cannot write {ext or 'a file without extension'!r}"
                f"; use one of {', '.join(sorted(supported))}"
            )
        if ext == "pgf" and not shutil.which(tex):
            raise UsageError(
                f"--save {args.save}: a .pgf figure needs LaTeX ({tex}), which is not "
                "installed here; save png, pdf or svg"
            )
    return Output(args.save or (None if can_show else DEFAULT_FIGURE), backend)


def display_problem(args, exc):
    """A backend matplotlib cannot load: the one line that names the way out."""
    if "MPLBACKEND" in os.environ:
        return UsageError(
            f"MPLBACKEND={os.environ['MPLBACKEND']!r} is not a backend matplotlib "
            "can use; unset it or set MPLBACKEND=Agg"
        )
    if args.explore:
        return UsageError(NO_WINDOW.format(f"none: {' '.join(str(exc).split())[:120]}"))
    return UsageError(f"matplotlib cannot start ({exc}); use --no-plot")


def backend_can_show(backend):
    """Whether matplotlib's resolved backend opens windows (as matplotlib lists them)."""
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        windows = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        from matplotlib.rcsetup import interactive_bk as windows
    return backend in map(str.lower, windows) or "inline" in backend or "ipympl" in backend


def check_outputs(args, output):
    """Refuse an output that is the input, another output, or not a regular file."""
    outputs = [("--save", args.save), ("--sample-out", args.sample_out)]
    outputs += [("--assignments", args.assignments), ("--save-model", args.save_model)]
    if output.path is not None and not args.save:
        outputs.append(("the figure", output.path))
    seen = []
    for option, path in [(option, path) for option, path in outputs if path]:
        problem = output_problem(path, [args.csv, args.model], seen)
        if problem:
            way_out = "" if option.startswith("--") else "; use --save PATH or --no-plot"
            raise UsageError(f"{option} {path}{problem}{way_out}")
        seen.append((option, path))


def output_problem(path, inputs, seen):
    """What makes ``path`` unusable as an output (the words after its name), or None.

    A symlink is followed, as ``cp`` follows it: its target is the file written.
    """
    try:
        real = os.path.realpath(path)
        folder = os.path.dirname(real)
    except OSError:  # the working folder was deleted
        return ": the working folder is gone"
    if os.path.exists(folder) and not os.path.isdir(folder):
        return f": {folder} is a file, not a folder; choose another path"
    if not os.path.isdir(folder):
        return f": folder {folder} does not exist; create it or choose another path"
    mode = os.stat(real).st_mode if os.path.exists(real) else None  # None: a new file
    if mode is not None and stat.S_ISDIR(mode):
        return ": is a directory; give a file name"
    for given_input in inputs:
        if mode is not None and is_input(real, given_input):
            return f" is the input file ({given_input}); choose another path"
    writable = mode is None or mode & stat.S_IWUSR and os.access(real, os.W_OK)  # whose file
    if not writable and stat.S_ISREG(mode):
        return (
            f" is read-only (mode {stat.S_IMODE(mode):o}); make it writable or choose another path"
        )
    if mode is not None and not stat.S_ISREG(mode):
        return ": is a device, FIFO or socket, not a file; choose another path"
    name, limit = os.fsencode(os.path.basename(real)), NAME_MAX
    with contextlib.suppress(OSError, ValueError):
        limit = os.pathconf(folder, "PC_NAME_MAX")
    if len(name) > limit:
        return (
            f": its name is {len(name)} bytes, longer than the {limit} this file system "
            "allows; choose a shorter one"
        )
    for other_option, other in seen:
        same = mode is not None and os.path.exists(other) and os.path.samefile(real, other)
        if same or os.path.realpath(other) == real:
            return f" is the same file as {other_option} {other}; choose two paths"
    try:  # ask the file system, not the permission bits (root, read-only mounts)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return f": cannot write in {folder} ({exc.strerror})"
    return None


NAME_MAX = 255  # a file name's bytes, where the file system does not say


def is_input(path, csv_path):
    """Whether ``path`` is the --csv file, by any name (standard input: the file behind it)."""
    if csv_path is None:
        return False
    if csv_path == "-":
        stdin = os.fstat(0)
        return stat.S_ISREG(stdin.st_mode) and os.path.samestat(stdin, os.stat(path))
    return os.path.exists(csv_path) and os.path.samefile(path, csv_path)


PENDING = set()  # temporary files being written: removed if a signal ends the run


def write_atomically(path, write, text=True):
    """Write through ``write(handle)`` to a temporary file beside ``path``, then rename it.

    ``text``: a text handle, UTF-8; else ``write`` gets a binary buffer, or (a gif,
    which its writer needs by name) the temporary file's path.  A failure, or a
    signal that ends the run, leaves any earlier file at ``path`` as it was.
    """
    folder = None
    try:
        target = os.path.realpath(path)  # through a symlink, as cp writes
        folder, suffix = os.path.dirname(target), os.path.splitext(target)[1]
        suffix = suffix if len(suffix) <= 10 else ""  # a temporary name within NAME_MAX
        fd, tmp = tempfile.mkstemp(prefix=".gmm-", suffix=suffix, dir=folder)
    except OSError as exc:  # the folder was deleted or made read-only since the checks
        why = "its folder is gone" if folder is None or not os.path.isdir(folder) else exc.strerror
        raise NotDelivered(
            f"{path}: cannot write ({why}); nothing was written; choose another path"
        ) from None
    PENDING.add(tmp)
    try:
        umask = os.umask(0)  # mkstemp makes the file private: give it a new file's mode,
        os.umask(umask)  # or the mode (and owner) of the file it replaces, as cp keeps them
        old = os.stat(target) if os.path.exists(target) else None
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o666 & ~umask)
        if old and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.chown(tmp, old.st_uid, old.st_gid)
        if text:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                write(handle)
        elif path.lower().endswith(".gif"):
            os.close(fd)
            write(tmp)
        else:  # through memory: a writer never sees the temporary name (svgz would keep it)
            buffer = io.BytesIO()
            write(buffer)
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getbuffer())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):  # (its folder may be gone)
            os.unlink(tmp)
        raise NotDelivered(
            f"{path}: cannot write ({exc.strerror or exc}); the old file, if any, is unchanged"
        ) from None
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, (KeyboardInterrupt, UsageError, MemoryError)):
            raise
        raise UsageError(
            f"{path}: matplotlib could not write it ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})"
        ) from None
    finally:
        PENDING.discard(tmp)


def ended_by_signal(signum, _frame):
    """SIGTERM or SIGHUP: the temporary file being written removed, one line, 128 + signum.

    A second signal (``timeout`` forwards its own copy) finds the first one ending the run."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    for tmp in list(PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    name = {signal.SIGTERM: "terminated"}.get(signum, "hung up")
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), f"gmm_clustering.py: {name}\n".encode())
    os._exit(128 + signum)


# ==========================================================================


# ==========================================================================
# Machinery: reading the CSV files people bring
# ==========================================================================
# Why this exists: real files are not numpy's idea of a table.  R writes row
# names, quoted headers, NA, decimal commas (write.csv2) and space-separated
# tables (write.table); spreadsheets write #N/A and stray text; pipes cannot be
# read twice.  The file is read once, front to back, in chunks that end where
# a record ends; numbers go through numpy's C parser a batch at a time, and
# what it cannot take is taught to it batch by batch.  A model applied to a
# file (--model) reads it the same way and never holds more than a batch.

MISSING_VALUES = {"", "na", "nan", "n/a", "null", "none", "-"}
SPREADSHEET_ERRORS = {"#n/a", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!"}
MISSING_CELLS = MISSING_VALUES | SPREADSHEET_ERRORS  # compared stripped and lower-cased
BATCH_CHARS = 1 << 20  # text parsed at a time: memory stays bounded (a --model's too)
SNIFF_CHARS = 65_536  # what the encoding and the delimiter are guessed from
MAX_CLASSES = 50  # a --labels column with more distinct values is not one of classes
_NUMBER_START = frozenset("0123456789+-.iInN")  # float() accepts nothing else first
_TEXT_BITS = 0x7FF8_0000_0000_7E47  # a NaN of its own marks text cells: one comparison counts them
_TEXT = struct.unpack("<d", struct.pack("<Q", _TEXT_BITS))[0]
_END = "\0end\0"  # fed to csv last: inside an open quote it ends up in the cell
LOADTXT = {"quotechar": '"', "comments": None, "ndmin": 2}


@dataclass
class Rows:
    """A batch of data rows: the wanted columns as numbers, and the text kept beside them."""

    X: np.ndarray  # rows x wanted columns: NaN when missing, _TEXT when text
    labels: list[str]  # the --labels cells
    names: list[str]  # R's row names, when the file has them
    lines: np.ndarray  # the line each row starts on


def read_csv_table(path, delimiter=None, columns=None, label_column=None, encoding=None):
    """Read a CSV with a header row (``path`` "-" is standard input) into a ``Dataset``."""
    table = CsvFile(path, delimiter, columns, label_column, encoding)
    with table.errors_named():
        batches = list(table.batches())
        labels, names = [], []
        for b in batches:
            labels += b.labels
            names += b.names
        X = np.concatenate([b.X for b in batches])
        rows = Rows(X, labels, names, np.concatenate([b.lines for b in batches]))
        del batches
        return _assemble(table, rows)


class CsvFile:
    """A CSV file with a header row, read once from the front: its columns, then its rows."""

    def __init__(
        self,
        path,
        delimiter=None,
        columns=None,
        label_column=None,
        encoding=None,
        asked_by="--columns",
    ):
        self.source = "standard input" if path == "-" else path
        self.notes, self.columns = [], columns
        with self.errors_named():
            self.chunks = _text_chunks(open_input(path), encoding, self.notes)
            self.text = next(self.chunks, "").removeprefix("\ufeff")
            if not self.text or self.text.isspace():
                raise UsageError("the file is empty; a header row and data rows are needed")
            self.delimiter = delimiter or _sniff_delimiter(self.text)
            self.names, self.pos, self.line, row_names = _read_header(
                self.text, self.delimiter, self.notes
            )
            sniffed = _sniff_delimiter(self.text)
            if delimiter and len(self.names) == 1 and sniffed != delimiter:
                raise UsageError(
                    f"with --delimiter {delimiter!r} the header is one column "
                    f"({self.names[0][:40]!r}); the file looks {sniffed!r}-separated: "
                    "drop --delimiter, or give that one"
                )
            wanted, label_j = _choose_columns(self.names, columns, label_column, asked_by)
            self.table = _Table(self.names, wanted, label_j, self.delimiter, row_names)
            self.table.name_j = 0 if self.names[0] == "" else None  # R's row names

    @contextlib.contextmanager
    def errors_named(self):
        """Each error message starts with the file's name."""
        try:
            yield
        except UsageError as exc:
            raise UsageError(f"{self.source}: {exc}") from None

    def batches(self):
        """Rows, batch by batch: numpy where it can, the csv module where it must."""
        misses, text, pos, line = 0, self.text, self.pos, self.line
        self.text = None
        while text is not None:
            while pos < len(text):
                end = text.find("\n", pos + BATCH_CHARS) + 1 or len(text)
                got = _fast_batch(text, pos, end, line, self.table) if misses < 3 else None
                if got is None:  # after a few misses numpy is not tried again
                    misses += 1
                    got = _csv_batch(text, pos, end, line, self.table)
                rows, pos, line = got
                yield rows
            text, pos = next(self.chunks, None), 0


def open_input(path, flag="--csv", kind="a CSV file"):
    """The bytes of an input (--csv, --model): standard input, a file or a named pipe;
    never a device or a folder."""
    if path == "-" and flag == "--csv":
        if sys.stdin is None or sys.stdin.closed:
            raise UsageError("it is closed; give a file, or pipe the table in")
        return sys.stdin.buffer
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without writer: no hang
    except FileNotFoundError:
        raise UsageError(f"no such file; check the {flag} path") from None
    except IsADirectoryError:
        raise UsageError(f"is a directory, not {kind}; give the file inside it") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read ({exc.strerror}); check the path and its permissions"
        ) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "a device"
        stdin = " (or - for standard input)" if flag == "--csv" else ""
        raise UsageError(f"is {what}, not {kind}; give a file{stdin}")
    os.set_blocking(fd, True)  # a FIFO: no writer, end of file at once; a writer: its data
    return open(fd, "rb")  # closed by _text_chunks


def _text_chunks(stream, encoding, notes):
    """The text, UTF-8 unless told, in chunks that end where a record ends (line endings
    made "\\n"), each at least BATCH_CHARS long but the last."""
    try:
        try:
            head = stream.read(SNIFF_CHARS)
        except OSError as exc:
            raise UsageError(f"cannot read ({exc.strerror})") from None
        encoding, bom = _encoding_of(head, encoding, notes)
        decode = codecs.getincrementaldecoder(encoding)().decode
        pending, consumed, block = "", bom, head[bom:]  # consumed: bytes before this block
        while True:
            try:
                text = decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"not {encoding if encoding != 'utf-8' else 'UTF-8'} text ({exc.reason} at "
                    f"byte {consumed + exc.start}); give its encoding, e.g. --encoding latin-1"
                ) from None
            except (UnicodeError, ValueError, TypeError) as exc:  # a codec that is not for text
                raise not_readable_as(encoding, exc) from None
            consumed += len(block)
            text = (pending + text).replace("\r\n", "\n")
            if block and text.endswith("\r"):  # its "\n" may start the next block
                text, pending = text[:-1], "\r"
            else:
                pending = ""
            text = text.replace("\r", "\n")
            if not block:  # the end: what is left, ending with a line break
                if text and not text.endswith("\n"):
                    text += "\n"
                if text:
                    yield text
                return
            cut = _record_end(text, BATCH_CHARS)
            if cut:
                yield text[:cut]
                text = text[cut:]
            pending = text + pending
            block = stream.read(BATCH_CHARS)
    finally:
        if stream is not getattr(sys.stdin, "buffer", None):
            stream.close()


def _record_end(text, at_least):
    """Where the last whole record in ``text`` ends, past ``at_least`` characters, or 0.

    A record ends at a line break with the quotes before it balanced (a quoted
    field may hold line breaks); far past the batch size an unbalanced quote is
    an unclosed one, which the csv module reports with its line.
    """
    cut = text.rfind("\n", at_least)
    if cut < 0 or text.count('"', 0, cut) % 2 and len(text) < 16 * at_least:
        return 0
    return cut + 1


def _encoding_of(head, encoding, notes):
    """(the encoding to read with, the length of a UTF-8 byte-order mark to skip)."""
    if encoding is None and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        notes.append("read as UTF-16 (the file starts with a UTF-16 byte-order mark)")
        return "utf-16", 0
    if encoding is None:  # every other byte NUL: UTF-16 English text
        odd, even = head[1::2], head[::2]
        for name, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if len(zeros) > 1 and zeros.count(0) >= 0.9 * len(zeros) and not others.count(0):
                raise UsageError(
                    f"looks like UTF-16 text without a byte-order mark; read it with --encoding {name}"
                )
    try:
        sample = head.decode(encoding or "utf-8", "replace")
    except LookupError:
        raise UsageError(
            f"unknown encoding {encoding!r} (--encoding); try utf-8, latin-1 or utf-16"
        ) from None
    except (UnicodeError, ValueError, TypeError) as exc:  # utf-16 without its mark, idna, ...
        raise not_readable_as(encoding, exc) from None
    # More than 1% control characters: a stray NUL in a cell is not enough.
    if len(re.findall("[\0-\x08\x0e-\x1f]", sample)) > max(8, len(sample) // 100):
        raise UsageError("looks binary (NUL or control bytes), not a CSV text file; check the path")
    bom = 3 if encoding is None and head.startswith(codecs.BOM_UTF8) else 0
    return encoding or "utf-8", bom


def not_readable_as(encoding, exc):
    why = " ".join(str(exc).split())[:100]
    return UsageError(
        f"cannot be read as {encoding} text ({why}); give the file's encoding with --encoding "
        "(utf-8, latin-1, cp1252, utf-16-le, ...)"
    )


def _records(text, pos, line, delimiter):
    """(first line, cells, end, last line) of each non-blank record from ``pos``, after ``line``."""
    at = [pos]  # how far csv has read

    def lines():
        while at[0] < len(text):
            start, at[0] = at[0], text.find("\n", at[0]) + 1 or len(text)
            yield text[start : at[0]]
        yield _END

    reader = csv.reader(lines(), delimiter=delimiter)
    last = line
    try:
        for row in reader:
            start, last = last + 1, line + reader.line_num
            if row == [_END]:
                return
            if row and row[-1].endswith(_END):
                raise UsageError(
                    f"line {start}: a quote opened here is never closed; close the quote"
                )
            if any(row) and (len(row) > 1 or row[0].strip()):
                yield start, row, at[0], last
    except csv.Error as exc:
        why = f"{exc}; check the quoting"
        if "field limit" in str(exc):  # an open quote swallowing the rest, most likely
            why = "a quote opened here is never closed (or a cell is longer than "
            why += f"{csv.field_size_limit():,} characters); close the quote"
        raise UsageError(f"line {last + 1}: {why}") from None


def _sniff_delimiter(text):
    """Comma, semicolon, tab or space, as ``csv.Sniffer`` sees the first lines (else comma)."""
    try:
        return csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=",;\t ").delimiter
    except csv.Error:
        return ","


def _read_header(text, delimiter, notes):
    """(column names, where the data start, lines before them, R's write.table layout?)."""
    records = _records(text, 0, 0, delimiter)
    first, data_row = next(records, None), next(records, None)
    if first is None:
        raise UsageError(
            "holds only delimiters, quotes and blank lines; a header row and data rows are needed"
        )
    names = [cell.strip() for cell in first[1]]
    if all(not math.isnan(_cell_float(name, delimiter == ";")) for name in names):
        notes.append(
            "the first row is all numbers: read as data, the columns named column 1 to "
            f"column {len(names)}"
        )
        return [f"column {j + 1}" for j in range(len(names))], 0, 0, False
    if data_row is None:
        raise UsageError("has a header but no data rows")
    where = {}
    for j, name in enumerate(names, start=1):
        where.setdefault(name, []).append(str(j))
    twice = [f"{n!r} (columns {', '.join(js)})" for n, js in where.items() if n and js[1:]]
    if twice:
        listed = "; ".join(twice)
        raise UsageError(f"duplicate column names: {listed}; rename them so that each is unique")
    row_names = len(data_row[1]) == len(names) + 1 and delimiter in "\t "
    if row_names:  # R's write.table: each row starts with its name, the header does not
        names = ["", *names]
    return names, first[2], first[3], row_names


def _choose_columns(names, columns, label_column, asked_by="--columns"):
    """(the columns to read as numbers, the label column or None)."""
    by_name = {name: j for j, name in enumerate(names) if name}
    asked = [(asked_by, name) for name in columns or []]
    for option, name in asked + ([("--labels", label_column)] if label_column else []):
        if name not in by_name:
            listed = ", ".join(by_name)
            raise UsageError(f"no column named {name!r} for {option}; columns are {listed}")
    if columns and len(set(columns)) < len(columns):
        raise UsageError("--columns names a column twice; name each once")
    if columns and label_column in columns:
        raise UsageError(
            f"{label_column!r} is both in {asked_by} and the --labels column; "
            "labels are never fitted"
        )
    label_j = by_name.get(label_column)
    others = [j for j in by_name.values() if j != label_j]
    return ([by_name[name] for name in columns] if columns else others), label_j


def _cell_float(cell, comma=False):
    """A cell as a float: NaN when missing, ``_TEXT`` (a NaN too) when text."""
    cell = cell.strip()
    if cell.lower() in MISSING_CELLS:
        return math.nan
    cell = cell.replace(",", ".") if comma else cell
    # A number is what numpy's parser reads: ASCII digits, no "_" (float() takes both).
    if cell[:1] not in _NUMBER_START or not cell.isascii() or "_" in cell:
        return _TEXT
    try:
        return float(cell)
    except ValueError:
        return _TEXT


@dataclass
class _Table:
    """The columns, and what numpy has been taught about their cells so far."""

    names: list[str]  # "" for R's row names
    wanted: list[int]  # the columns read as numbers
    label_j: int | None
    delimiter: str
    row_names: bool  # R's write.table layout: each row starts with its name
    name_j: int | None = None  # the column of row names (R's: unnamed, first), if any
    comma: bool = False  # decimal commas met (and read)
    missing: set = field(default_factory=set)  # missing-value spellings: replaced before numpy
    text_cols: set = field(default_factory=set)  # columns with text: converted cell by cell
    first_text: dict = field(default_factory=dict)  # column -> its first text cell


def _cell_reader(table, j, firsts):
    """A converter for column ``j``: notes its first text in ``firsts``, and decimal commas."""
    comma_ok = table.delimiter == ";"

    @functools.lru_cache(maxsize=10_000)  # text columns repeat their words: each parsed once
    def convert(cell):
        value = _cell_float(cell, comma_ok)
        if value is _TEXT:  # the very object: a text cell
            firsts.setdefault(j, cell)
        elif math.isnan(value) and cell.strip().lower() in MISSING_CELLS:
            table.missing.add(cell)  # replaced by nan before numpy reads the next batch
        elif comma_ok and "," in cell:
            table.comma = True
        return value

    return convert


def _fast_batch(text, pos, end, line, table):
    """The lines from ``pos`` to ``end`` through numpy's C parser, or None if it cannot.

    numpy alone reads the columns known to hold numbers; when a cell stops it, the
    batch is read again with a forgiving converter on every column, which learns
    what the file holds (missing-value words, decimal commas, columns with text)
    so that the next batches go through numpy alone again.
    """
    d, n_cols, batch = table.delimiter, len(table.names), text[pos:end]
    n_lines, padded = batch.count("\n"), "\n" + batch  # each field between two separators
    if f"\n{d * (n_cols - 1)}\n" in padded or batch.count('"') % 2:
        return None  # rows of nothing, or an open quote: for the csv module
    for cell in table.missing:
        padded = _replace_field(padded, cell, d, n_cols)
    if table.comma:
        padded = padded.replace(",", ".")
    for forgiving in (False, True):
        labels, names, firsts = [], [], {}  # kept if numpy reads the batch
        readers = {j: len for j in range(n_cols) if j not in table.wanted}  # skipped
        if table.label_j is not None:
            readers[table.label_j] = labels.append  # keeps the labels (numpy stores None as NaN)
        if table.name_j is not None:
            readers[table.name_j] = names.append
        lenient = table.wanted if forgiving else table.text_cols
        readers.update({j: _cell_reader(table, j, firsts) for j in lenient})
        rows = io.StringIO(padded)
        try:  # encoding=None: str, not bytes, before numpy 2
            X = np.loadtxt(rows, delimiter=d, converters=readers, encoding=None, **LOADTXT)
        except ValueError:
            if forgiving:
                return None  # not a cell it could not convert: ragged rows, for the csv module
            continue
        if X.shape != (n_lines, n_cols):
            return None  # blank lines skipped, quoted line breaks, ragged rows: line numbers lost
        table.text_cols |= set(firsts)
        table.first_text = {**firsts, **table.first_text}  # earlier batches win
        if table.comma and (labels or names):  # the text lost its commas with the numbers
            rows = list(csv.reader(io.StringIO(batch), delimiter=d))
            labels = [row[table.label_j] for row in rows] if labels else labels
            names = [row[table.name_j] for row in rows] if names else names
        block = X if table.wanted == list(range(n_cols)) else X[:, table.wanted]  # no copy
        lines = np.arange(line + 1, line + 1 + n_lines)
        return Rows(block, labels, names, lines), end, line + n_lines
    return None


def _replace_field(text, cell, d, n_cols):
    """Every field that is exactly ``cell``, bare or quoted, replaced by nan."""
    edge = f"[{re.escape(d)}\n]"  # a field lies between delimiters and line ends
    for form in (cell, f'"{cell}"'):
        if form:  # the cell first, then a look around it: re finds a fixed start fast
            token = re.escape(form)
            text = re.sub(f"{token}(?={edge})(?<={edge}{token})", "nan", text)
        elif n_cols > 1:  # an empty cell (in one column it is a blank line: skipped)
            after = (d + "nan").replace("\\", "\\\\")
            text = re.sub(f"{re.escape(d)}(?={edge})", after, text).replace("\n" + d, "\nnan" + d)
    return text


def _csv_batch(text, pos, end, line, table):
    """The records from ``pos`` to (at least) ``end`` through the csv module."""
    n_cols, rows, starts, resume = len(table.names), [], [], (len(text), line)
    for start, row, after, last in _records(text, pos, line, table.delimiter):
        if len(row) != n_cols:
            raise UsageError(
                f"line {start} has {len(row)} fields, the header has {n_cols - table.row_names}"
                + (" and each row a row name first" if table.row_names else "")
                + "; check the delimiter (--delimiter) or quoting"
            )
        rows.append(row)
        starts.append(start)
        if after >= end:
            resume = after, last
            break
    block = np.empty((len(rows), len(table.wanted)))
    for col, j in enumerate(table.wanted):
        cells = [row[j] for row in rows]
        try:  # every cell a number: numpy alone
            block[:, col] = np.array(cells, dtype=float)
        except ValueError:
            block[:, col] = list(map(_cell_reader(table, j, table.first_text), cells))
    labels = [row[table.label_j] for row in rows] if table.label_j is not None else []
    names = [row[table.name_j] for row in rows] if table.name_j is not None else []
    return Rows(block, labels, names, np.array(starts, dtype=np.int64)), *resume


def _assemble(csv_file, rows):
    """The Dataset: the numeric (or named) columns, rows with a missing value dropped."""
    table, columns, notes = csv_file.table, csv_file.columns, csv_file.notes
    X, labels, lines = rows.X, rows.labels, rows.lines
    names, wanted, label_j = table.names, table.wanted, table.label_j
    is_text = X.view(np.int64) == _TEXT_BITS if table.first_text else np.zeros(X.shape, bool)
    n_text, n_numbers = np.count_nonzero(is_text, axis=0), np.count_nonzero(~np.isnan(X), axis=0)
    numeric = [c for c, n in enumerate(n_numbers) if n and n >= n_text[c]]  # half with a value
    if table.comma:
        notes.append("decimal commas read as decimal points")
    for c, j in enumerate(wanted):
        count, cell = n_text[c], table.first_text.get(j)
        line = lines[is_text[:, c].argmax()] if count else 0
        if columns and c not in numeric:
            why = f"value {cell!r} on line {line}" if count else "it has no numbers"
            raise UsageError(
                f"column {names[j]!r} is not numeric ({why}); choose numeric columns with --columns"
            )
        if c in numeric and count:
            cells = "1 cell is not a number" if count == 1 else f"{count} cells are not numbers"
            notes.append(
                f"column {names[j]!r}: {cells}, read as missing (first: line {line}, {cell!r})"
            )
    used = [wanted[c] for c in numeric]
    if not used:
        commas = [c for c in table.first_text.values() if re.fullmatch(r"\s*-?\d+,\d+\s*", c)]
        foreign = [c for c in table.first_text.values() if any(d.isdigit() for d in c)]
        hint = ""
        if foreign and not commas:
            hint = f"; {foreign[0]!r} is not a number: write numbers with the digits 0-9"
            hint += ", a point for decimals"
        if commas:
            hint = f"; {commas[0]!r} looks like a decimal comma: write decimal points "
            hint += "(decimal commas are read only with ';' between fields)"
        listed = ", ".join(name for name in names if name)
        raise UsageError(f"no numeric column to fit (columns: {listed}){hint}")
    X = X[:, numeric] if len(used) < len(wanted) else X
    keep = np.isfinite(X).all(axis=1)  # no infinity: not finite is missing
    if not keep.all() and np.isinf(X).any():
        i, col = np.argwhere(np.isinf(X))[0]
        raise UsageError(
            f"infinite value in row {i + 1} (line {lines[i]}), column {names[used[col]]!r}; "
            "remove or fix it"
        )
    y = class_names = None
    if label_j is not None:
        labels = np.array([cell.strip() for cell in labels])
        present = np.array([label.lower() not in MISSING_CELLS for label in labels], dtype=bool)
        name, n_rows, n_distinct = names[label_j], present.sum(), len(set(labels[present]))
        if not n_rows:
            raise UsageError(
                f"the labels are missing: column {name!r} has no value in any row; "
                "choose another --labels column"
            )
        if n_distinct > MAX_CLASSES or n_distinct > n_rows / 2:
            raise UsageError(
                f"column {name!r} has {n_distinct} distinct values in {n_rows} rows: "
                "--labels needs a column of classes"
            )
        keep &= present
        class_names, y = np.unique(labels[keep], return_inverse=True)
        class_names = class_names.tolist()
    rest = [j for j in range(len(names)) if not columns and j not in used and j != label_j]
    skipped = [names[j] or ("(row names)" if j == 0 else f"(unnamed column {j + 1})") for j in rest]
    X = X if keep.all() else X[keep]
    dropped = int((~keep).sum())
    row_ids = [name.strip() for name in rows.names] if table.name_j is not None else None
    return Dataset(
        X,
        [names[j] for j in used],
        csv_file.source,
        y,
        class_names,
        notes,
        dropped,
        skipped,
        kept=keep,
        row_ids=row_ids,
    )


if __name__ == "__main__":
    raise SystemExit(main())
