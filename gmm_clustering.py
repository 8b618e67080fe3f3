"""Gaussian-mixture clustering, shown and measured.

A Gaussian mixture model (GMM) says that each point was drawn from one of k
Gaussian "components", chosen with probabilities (the weights).  Fitting it
with EM finds the weights, the means and the covariances; each point then gets
a posterior probability for each component (a soft assignment).  This script
generates (or reads) data, fits scikit-learn's ``GaussianMixture``, prints the
metrics (log-likelihood, silhouette, BIC/AIC, agreement with known labels) and
draws the clusters with their Gaussian ellipses.  On request it teaches the
rest: choosing k and the covariance shape, KMeans beside it, EM step by step,
how much the answer depends on the start, a Bayesian mixture, density and
anomalies, sampling, your own CSV.

Usage::

    python gmm_clustering.py                        # 500 blobs, 4 components
    python gmm_clustering.py --covariance-type tied --save tied.png
    python gmm_clustering.py --select               # choose k and covariance by BIC
    python gmm_clustering.py --dataset iris --compare-kmeans --parameters
    python gmm_clustering.py --trace --save em.gif  # EM step by step, animated
    python gmm_clustering.py --n-init 10 --init random --report
    python gmm_clustering.py --bayesian --n-components 10
    python gmm_clustering.py --csv data.csv --labels species --report
    python gmm_clustering.py --predict=-6,-6 --anomalies 2 --sample 200 --sample-out new.csv
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
import ast
import codecs
import contextlib
import csv
import functools
import io
import itertools
import json
import math
import re
import stat
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

try:
    import numpy as np
except ModuleNotFoundError:  # main() says what to install, in one line
    np = None

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEFAULT_N_COMPONENTS = 4  # when the data has no known labels to count
UNCERTAIN_BELOW = 0.9  # a point is "uncertain" when its largest posterior is below this
ELLIPSE_SIGMAS = (1, 2, 3)  # Mahalanobis radii of the drawn ellipses
DEFAULT_FIGURE = "gmm_clustering.png"  # where a run with no display saves its figure
SILHOUETTE_MAX_SAMPLES = 5_000  # silhouette is quadratic in n: a random sample above this
PLOT_MAX_POINTS = 20_000  # scatter a random subset above this
EXIT_USAGE = 2
MAX_COMPONENTS = 50  # the largest --max-components


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


# ==========================================================================
# The lesson: the default run, top to bottom
# ==========================================================================
# ``lesson`` is the whole default run.  Each option the user asks for is one
# step from the STEPS table (section "What else to show"), run after the fit.


def lesson(args) -> Run:
    """Make or read the data, fit a GMM, measure it, draw it; return what was found."""
    data = load_data(args)  # 1. the points (and their true labels, when known)
    check_fittable(data, args)
    run = Run(args=args, data=data, result=describe_data(data, args))

    run.model = fit_model(run)  # 2. EM: fit_gmm below, unless an option fits another way
    run.log_density, run.posteriors = e_step(run.model, data.X)  # 3. soft assignments
    run.labels = run.posteriors.argmax(axis=1)  # hard assignment: the likeliest component
    run.result.update(measure(run))  # 4. log-likelihood, silhouette, BIC, AIC, ICL, ARI

    for name, wanted, step in STEPS:  # 5. whatever else was asked for
        if wanted(args):
            step(run)

    if not args.no_plot:  # 6. the figure: clusters and their Gaussian ellipses
        show_or_save(run)
    return run


@dataclass
class Dataset:
    X: np.ndarray  # (n_samples, n_features), as fitted
    feature_names: list[str]
    source: str
    y: np.ndarray | None = None  # true class codes 0..c-1, when known
    class_names: list[str] | None = None  # the name of each class code
    dropped_rows: int = 0
    skipped_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one-line remarks on how it was read
    scaler: object = None  # under --scale: the fitted scaler (ends in a StandardScaler)
    same_units: bool = False  # whether the axes share units (equal aspect on the plot)


@dataclass
class Run:
    """Everything one run has found so far; each step reads it and adds to it."""

    args: argparse.Namespace
    data: Dataset
    result: dict
    model: object = None
    log_density: np.ndarray | None = None
    posteriors: np.ndarray | None = None
    labels: np.ndarray | None = None
    panels: list[str] = field(default_factory=lambda: ["clusters"])  # figure panels, in order
    marks: dict = field(default_factory=dict)  # extra points to draw, in the fitted units
    extra: dict = field(default_factory=dict)  # what a step leaves for its panel


def make_blob_data(n_samples, centers, n_features, cluster_std, random_state):
    """Isotropic Gaussian blobs with known labels (scikit-learn's ``make_blobs``)."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples, n_features, centers=centers, cluster_std=cluster_std, random_state=random_state
    )
    names = [f"feature {j + 1}" for j in range(n_features)]
    classes = [f"blob {j}" for j in range(centers)]
    return Dataset(X, names, "make_blobs", y=y, class_names=classes, same_units=True)


def fit_gmm(run, random_state=None):
    """EM for a Gaussian mixture: scikit-learn's ``GaussianMixture``, as the options ask.

    EM starts from a partition (k-means by default, --init), then alternates the
    E-step (each point's posterior for each component, ``e_step`` below) and the
    M-step (each component's weight, mean and covariance re-estimated from those
    posteriors) until the mean log-likelihood gains less than ``tol`` (1e-3) in an
    iteration.  ``fitted`` turns a failed fit into one line.
    """
    from sklearn.mixture import GaussianMixture

    args = run.args
    model = GaussianMixture(
        n_components=n_components_wanted(run.data, args),
        covariance_type=args.covariance_type,
        init_params=args.init,
        random_state=args.random_state if random_state is None else random_state,
    )
    return fitted(model, run.data.X)


def e_step(model, X):
    """Bayes' rule, the E-step: the posterior of each component for each point.

    p(k | x) = w_k N(x | mu_k, S_k) / sum_j w_j N(x | mu_j, S_j).  Returns the
    log-density of each point (the log of the denominator) and the posteriors.
    """
    try:
        log_joint = np.log(model.weights_) + component_log_densities(model, X)
    except (np.linalg.LinAlgError, ValueError):  # a component too flat for scipy's check
        return model.score_samples(X), model.predict_proba(X)  # the same, by scikit-learn
    top = log_joint.max(axis=1, keepdims=True)  # taken out first, so exp cannot underflow to 0
    far = ~np.isfinite(top[:, 0])  # ... unless every density underflows (a point far away)
    top[far] = 0
    joint = np.exp(log_joint - top)  # w_k N(x | k), divided by the largest
    evidence = joint.sum(axis=1, keepdims=True)  # sum_j w_j N(x | j), divided likewise
    posteriors = joint / np.where(far[:, None], 1, evidence)
    if far.any():
        posteriors[far] = nearest_component(model, X[far])
    return np.log(evidence[:, 0]) + top[:, 0], posteriors


def component_log_densities(model, X):
    """log N(x | mu_k, S_k): one column per component (scipy.stats' Gaussian densities)."""
    from scipy.stats import multivariate_normal, norm

    if model.covariance_type in ("diag", "spherical"):  # independent features: 1-D densities
        k, d = model.means_.shape
        sds = np.sqrt(np.broadcast_to(model.covariances_.reshape(k, -1), (k, d)))
        parts = zip(model.means_, sds)
        return np.column_stack([norm(mu, sd).logpdf(X).sum(axis=1) for mu, sd in parts])
    parts = zip(model.means_, full_covariances(model))
    return np.column_stack(
        [np.atleast_1d(multivariate_normal(mu, cov).logpdf(X)) for mu, cov in parts]
    )


def measure(run):
    """The numbers the summary prints about the fitted mixture."""
    model, data, labels = run.model, run.data, run.labels
    (n, d), k = data.X.shape, model.n_components
    certainty = run.posteriors.max(axis=1)
    score, sample_size = silhouette(data.X, labels, run.args.random_state)
    metrics = {
        "n_samples": n,
        "n_features": d,
        "n_components": int(k),
        "covariance_type": model.covariance_type,
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        **criteria(float(run.log_density.sum()), certainty, k, model.covariance_type, d),
        "silhouette": score,
        "silhouette_sample_size": sample_size,
        "uncertain": int((certainty < UNCERTAIN_BELOW).sum()),
        "uncertain_threshold": UNCERTAIN_BELOW,
        "cluster_sizes": np.bincount(labels, minlength=k).tolist(),
        "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
        "covariances": full_covariances(model).tolist() if d <= 100 else None,  # JSON size
    }
    if run.args.bayesian:  # a prior, not maximum likelihood: BIC's parameter count does not apply
        metrics.update(bic=None, aic=None, icl=None)
    if data.y is not None:
        from sklearn.metrics import adjusted_rand_score

        metrics["ari"] = float(adjusted_rand_score(data.y, labels))
        metrics.update(confusion_table(labels, data.y, k, data.class_names))
    return metrics


def silhouette(X, labels, random_state):
    """Silhouette score (on a random sample above SILHOUETTE_MAX_SAMPLES), sample size."""
    from sklearn import config_context
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(X):
        return None, None  # undefined for one cluster, or one point per cluster
    size = SILHOUETTE_MAX_SAMPLES if len(X) > SILHOUETTE_MAX_SAMPLES else None
    with config_context(working_memory=64):  # bounds the pairwise-distance chunks (MiB)
        score = silhouette_score(X, labels, sample_size=size, random_state=random_state)
    return float(score), size


def criteria(total_log_likelihood, certainty, n_components, covariance_type, n_features):
    """Mean log-likelihood, BIC, AIC and ICL, in scikit-learn's sign (lower is better).

    BIC and AIC are -2 log L + a penalty for the p free parameters: k - 1 weights,
    k * d mean coordinates and the covariances' entries.  ICL (mclust's) adds
    -2 sum_i log(max_k p(k | x_i)): a penalty for points between components.
    """
    n, log_l, k, d = len(certainty), total_log_likelihood, n_components, n_features
    covariance = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d}
    p = int(covariance.get(covariance_type, k) + k * d + k - 1)  # spherical: k variances
    bic = -2 * log_l + p * math.log(n)
    icl = bic - 2 * float(np.log(np.maximum(certainty, 1e-300)).sum())
    return {"log_likelihood": log_l / n, "bic": bic, "aic": -2 * log_l + 2 * p, "icl": icl}


def full_covariances(model):
    """Every component's full (d x d) covariance, whatever the covariance type."""
    k, d = model.means_.shape
    return expand_covariances(model.covariances_, model.covariance_type, k, d)


def expand_covariances(covs, covariance_type, k, d):
    """Full (k, d, d) matrices from covariances stored the way each type stores them."""
    expand = {
        "full": lambda: covs,  # one (d, d) matrix per component
        "tied": lambda: np.broadcast_to(covs, (k, d, d)),  # one matrix shared by all
        "diag": lambda: covs[:, :, None] * np.eye(d),  # one variance per feature
        "spherical": lambda: covs[:, None, None] * np.eye(d),  # one variance per component
    }
    return np.array(expand[covariance_type]())


def plot_clusters(ax, view):
    """Points coloured by cluster (faded where uncertain), the means and the ellipses."""
    colors = cluster_colors(len(view.weights))
    point_colors = np.array([colors[c] for c in view.labels]).reshape(-1, 4)
    chance = 1 / len(view.weights)  # opacity 1 for a sure point, 0.15 at chance
    certainty = (view.confidence - chance) / (1 - chance) if chance < 1 else 1.0
    point_colors[:, 3] = 0.15 + 0.85 * np.clip(certainty, 0, 1)
    ax.scatter(view.X2[:, 0], view.X2[:, 1], c=point_colors, s=12, linewidths=0)
    shown = np.flatnonzero(view.weights >= view.min_weight)  # Bayesian: switched-off ones not
    for j in shown:
        mu, cov = view.means2[j], view.covs2[j]
        for n_sigma, style in zip(ELLIPSE_SIGMAS, ("-", "--", ":")):
            label = f"{n_sigma} sd" if j == shown[0] else None
            ax.add_patch(ellipse(mu, cov, n_sigma, edgecolor=colors[j], ls=style, label=label))
    ax.scatter(*view.means2[shown].T, label="component means", **MEAN_STYLE)
    draw_marks(ax, view)
    ax.set(title="GMM clusters" + view.subset_note, xlabel=view.xlabel, ylabel=view.ylabel)
    ax.legend(fontsize="small", title="ellipses: Mahalanobis radius", title_fontsize="small")


MEAN_STYLE = {"marker": "X", "s": 120, "c": "black", "edgecolors": "white", "zorder": 3}


def ellipse(mean2, cov2, n_sigma, **style):
    """The n_sigma contour of a 2-D Gaussian, as a matplotlib ``Ellipse`` (drawn above points).

    Its axes point along the eigenvectors of the covariance; each half-axis is
    n_sigma times the square root of its eigenvalue (``Ellipse`` takes full widths).
    """
    from matplotlib.patches import Ellipse

    eigval, eigvec = np.linalg.eigh(cov2)
    angle = math.degrees(math.atan2(eigvec[1, 1], eigvec[0, 1]))  # of the major axis
    width, height = 2 * n_sigma * np.sqrt(np.maximum(eigval[::-1], 0))
    return Ellipse(mean2, width, height, angle=angle, fill=False, lw=1.5, zorder=3, **style)


# The summary: one line each, in this order; a line is printed when its key is in
# the results.  (Label, key, how the value is written.)
SUMMARY_LINES = [
    ("Model", "model", "{}"),
    ("EM converged", "converged_text", "{}"),
    ("Log Likelihood", "log_likelihood", "{:.5f}"),
    ("Silhouette Score", "silhouette", "{:.5f}"),
    ("BIC", "bic", "{:.3f}"),
    ("AIC", "aic", "{:.3f}"),
    ("ICL", "icl", "{:.3f}"),
    ("Adjusted Rand Index", "ari", "{:.5f}"),
    ("Uncertain points", "uncertain_text", "{}"),
    ("Cluster sizes", "cluster_sizes", "{}"),
    ("Weights", "weights", "{}"),
]

CRITERIA_NOTE = (
    "Note: Log Likelihood is the mean log-likelihood per sample (higher is better); BIC, AIC and "
    "ICL are -2 log L + penalty (lower is better); ICL also penalises overlapping clusters."
)


def format_summary(result, explain=True):
    """The text summary: the data, one metric a line, notes, then what the options found."""
    r = dict(result)
    model = f"n_components={r['n_components']}, covariance_type='{r['covariance_type']}'"
    r["model"] = f"{r['estimator']}({model})"
    r["converged_text"] = f"{'yes' if r['converged'] else 'NO'} after {r['n_iter']} iterations"
    r["uncertain_text"] = (
        f"{r['uncertain']} of {r['n_samples']:,} (max posterior < {UNCERTAIN_BELOW})"
    )
    r["cluster_sizes"] = ", ".join(map(str, r["cluster_sizes"]))
    r["weights"] = ", ".join(f"{w:.3f}" for w in r["weights"])
    scaled = " (standardised)" if r["scaled"] else ""
    lines = [
        f"Data: {r['source']}, {r['n_samples']:,} samples x {r['n_features']} features{scaled}"
    ]
    if r["source"] != "make_blobs":
        lines.append(f"Columns used: {', '.join(r['columns'])}")
    if r.get("skipped_columns"):
        lines.append(
            f"Skipped columns (text, empty or row names): {', '.join(r['skipped_columns'])}"
        )
    if r.get("dropped_rows"):
        lines.append(f"Dropped rows with missing values: {r['dropped_rows']}")
    lines += [f"Note: {note}" for note in r.get("data_notes", [])] + r.get("selection_lines", [])
    for label, key, fmt in SUMMARY_LINES:
        if key in r:
            lines.append(f"{label}: {'n/a' if r[key] is None else fmt.format(r[key])}")
    if explain:
        sample = r["silhouette_sample_size"]
        lines += [
            CRITERIA_NOTE,
            "Note: Silhouette runs from -1 to 1 (higher is better)"
            + (f", computed on a random sample of {sample:,} points" if sample else "")
            + ("; ARI compares with the true labels (1 = identical, 0 = chance)" * ("ari" in r))
            + ".",
        ]
        if r["scaled"]:
            lines.append(
                "Note: All numbers are on the standardised scale (each feature mean 0, sd 1)."
            )
    lines += r.get("step_lines", [])
    if r.get("figure"):
        note = f" ({r['figure_note']})" if r.get("figure_note") else ""
        lines.append(f"Figure saved to {r['figure']}{note}")
    return "\n".join(lines)


# ==========================================================================
# The data
# ==========================================================================
# Every source gives a ``Dataset``: the matrix that is fitted, its column names,
# the true labels when known, and what happened on the way in.


def load_data(args):
    """Generated blobs, a data set that ships with scikit-learn, or the user's CSV."""
    if args.csv is not None:
        columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
        data = read_csv_table(args.csv, args.delimiter, columns, args.labels, args.encoding)
    elif args.dataset == "blobs":
        check_memory(args.n_samples * args.n_features * 8 * 6, "--n-samples x --n-features")
        data = make_blob_data(
            args.n_samples, args.centers, args.n_features, args.cluster_std, args.random_state
        )
    else:
        data = load_builtin_dataset(args.dataset)
    return standardise(data) if args.scale else data


def load_builtin_dataset(name):
    """A real data set that ships inside scikit-learn (no download)."""
    from sklearn import datasets

    bunch = {"iris": datasets.load_iris, "wine": datasets.load_wine}[name]()
    X, names = np.asarray(bunch.data, dtype=float), list(bunch.feature_names)
    return Dataset(X, names, name, np.asarray(bunch.target), [str(c) for c in bunch.target_names])


def standardise(data):
    """--scale: every feature to mean 0 and sd 1 with scikit-learn's ``StandardScaler``.

    Features are first divided by their largest magnitude so that data on extreme
    scales (1e-200, 1e300) is not squared into underflow or overflow.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    power = 2.0 ** np.floor(np.log2(np.abs(data.X).max(axis=0) + 1e-300))  # exact in binary
    magnitude = FunctionTransformer(lambda X: X / power, lambda X: X * power)
    data.scaler = make_pipeline(magnitude, StandardScaler())
    data.X = data.scaler.fit_transform(data.X)
    data.same_units = True
    return data


def describe_data(data, args):
    """The first entries of the results: where the data came from."""
    return {
        "source": data.source,
        "columns": data.feature_names,
        "dropped_rows": data.dropped_rows,
        "skipped_columns": data.skipped_columns,
        "data_notes": data.notes,
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
    if args.save and args.save.lower().endswith(".gif") and d < 2:
        raise UsageError(f"--save {args.save}: the EM animation needs two or more features")
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
        raise UsageError(
            f"{data.source}: column {names[j]!r} is constant ({X[0, j]:g}); it "
            "makes every covariance singular: leave it out with --columns"
        )
    sd = spread * (X / spread).std(axis=0)  # without squaring tiny or huge numbers
    extreme = ((sd < 1e-2) | (np.abs(X).max(axis=0) > 1e150)) & (not args.scale)
    if extreme.any():
        j = int(np.argmax(extreme))
        raise UsageError(
            f"{data.source}: column {names[j]!r} has sd {sd[j]:.3g}, a scale on which "
            "EM's regularisation (1e-6) or floating point fails; add --scale"
        )
    dependent = collinear_column(X) if own_matrix else None
    if dependent is not None:
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


def n_components_wanted(data, args):
    """--n-components, else the number of known classes, else DEFAULT_N_COMPONENTS."""
    n_known = len(np.unique(data.y)) if data.y is not None else None
    return 1 if args.select else args.n_components or n_known or DEFAULT_N_COMPONENTS


# ==========================================================================
# The model: as asked, or chosen
# ==========================================================================
# One way of fitting per option; the first whose option is given makes the model.


def fit_model(run):
    fit = next(fit for name, wanted, fit in MODEL_STEPS if wanted(run.args))
    model = fit(run)
    run.result["estimator"] = type(model).__name__
    run.result["degenerate"] = warn_if_degenerate(run, model)
    return model


def fit_starts(run):
    """--n-init N: N starts with seeds random_state, random_state + 1, ...; the best kept.

    Each start is a separate fit, so that any one of them can be repeated alone.
    """
    args, X = run.args, run.data.X
    starts, best = [], None
    for i in range(args.n_init):
        model = fit_gmm(run, args.random_state + i)
        score = float(model.score(X))
        start = {"random_state": args.random_state + i, "log_likelihood": score}
        starts.append({**start, "n_iter": int(model.n_iter_), "converged": bool(model.converged_)})
        if best is None or score > best[0]:
            best = (score, model)
    run.result["starts"] = starts
    if args.trace:  # trace the kept start again, iteration by iteration
        return fit_traced(run, seed=best[1].random_state)
    return best[1]


def fit_traced(run, seed=None):
    """--trace: EM one iteration at a time (``warm_start``), recording each step.

    ``max_iter=0`` makes scikit-learn's start and stops there, so that it can be
    drawn; then each ``fit`` with ``max_iter=1`` and ``warm_start=True`` is one EM
    iteration from where the last one ended.  EM never lowers the likelihood.
    """
    from sklearn.mixture import GaussianMixture

    args, X = run.args, run.data.X
    k = n_components_wanted(run.data, args)
    seed = args.random_state if seed is None else seed
    model = GaussianMixture(
        k,
        covariance_type=args.covariance_type,
        init_params=args.init,
        max_iter=0,
        warm_start=True,
        random_state=seed,
    )
    fitted(model, X)  # max_iter=0: scikit-learn's start, and no EM step yet
    frames = [(0, model.weights_, model.means_, full_covariances(model))]
    model.set_params(max_iter=1)  # from now on, each fit is one EM iteration
    trace = []
    for iteration in range(1, TRACE_MAX_ITER + 1):
        fitted(model, X)  # one E-step and one M-step
        trace.append(float(model.lower_bound_))  # the log-likelihood before this M-step
        frames.append((iteration, model.weights_, model.means_, full_covariances(model)))
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < model.tol:
            break
    trace.append(float(model.score(X)))  # ... and of the final parameters
    model.n_iter_, model.converged_ = iteration, iteration < TRACE_MAX_ITER
    run.result["trace"] = trace
    run.extra["frames"] = frames
    run.panels += ["em steps", "convergence"]
    return model


def fit_bayesian(run):
    """--bayesian: a Dirichlet-process mixture; --n-components is only an upper bound.

    Its prior pushes the weights of components the data does not need towards
    zero: the number that keep a real weight is the answer to "how many?".
    """
    from sklearn.mixture import BayesianGaussianMixture

    args = run.args
    k = n_components_wanted(run.data, args)
    model = BayesianGaussianMixture(
        n_components=k,
        covariance_type=args.covariance_type,
        init_params=args.init,
        weight_concentration_prior_type="dirichlet_process",
        max_iter=500,
        n_init=args.n_init,
        random_state=args.random_state,
    )
    model = fitted(model, run.data.X)
    run.result["effective_components"] = int((model.weights_ > BAYES_WEIGHT_FLOOR).sum())
    run.result["effective_threshold"] = BAYES_WEIGHT_FLOOR
    run.panels.append("weights")
    return model


BAYES_WEIGHT_FLOOR = 0.01  # a Bayesian component "counts" above this weight
TRACE_MAX_ITER = 1000

MODEL_STEPS = [  # (name, when, how); the first that applies fits the model
    ("select", lambda a: a.select, lambda run: select_step(run, choose=True)),
    ("bayesian", lambda a: a.bayesian, fit_bayesian),
    ("starts", lambda a: a.n_init > 1, fit_starts),
    ("trace", lambda a: a.trace, fit_traced),
    ("plain", lambda a: True, fit_gmm),
]


def warn_if_degenerate(run, model):
    """A component on a handful of points, or narrower than the data's rounding: warn."""
    if run.args.select or run.args.bayesian:
        return None  # the sweep never selects a degenerate candidate; the prior empties some
    X = run.data.X
    reason = degeneracy(
        model.weights_, full_covariances(model), len(X), rounding_variance(X), model.covariance_type
    )
    if reason:
        run.result.setdefault("warnings", []).append(
            f"the fit is degenerate: {reason}; use fewer components or --select"
            + ("" if run.args.scale else ", or --scale")
        )
    return reason


# ==========================================================================
# What else to show: one function per option
# ==========================================================================
# Each step reads the run (data, model, posteriors), adds its numbers to the
# results and its text lines to ``step_lines``, and names the panels it wants.


def say(run, line):
    run.result.setdefault("step_lines", []).append(line)


def step_parameters(run):
    """--parameters: means, covariances and the clusters-by-classes table, as mclust prints."""
    r, names = run.result, run.data.feature_names
    for j, (w, mu, cov) in enumerate(zip(r["weights"], r["means"], full_covariances(run.model))):
        say(run, f"Component {j} (weight {w:.3f}): mean " + ", ".join(f"{v:.4g}" for v in mu))
        for name, row in zip(names, cov):
            say(run, f"  covariance {name:>12.12}: " + " ".join(f"{v:11.4g}" for v in row))
    if "confusion" in r:
        width = max(8, *(len(c) for c in r["class_names"]))
        say(run, "Clusters (rows) by classes (columns), matched so that the diagonal agrees:")
        say(run, " " * 10 + "".join(f"{c:>{width + 1}.{width}}" for c in r["class_names"]))
        for cluster, row in zip(r["confusion_clusters"], r["confusion"]):
            say(run, f"cluster {cluster:<2}" + "".join(f"{v:>{width + 1}}" for v in row))


def step_predict(run):
    """--predict: the cluster and posteriors of new points given in the data's units."""
    P = np.array(run.args.predict, dtype=float)
    if run.data.scaler is not None:
        P = run.data.scaler.transform(P)
    _, posteriors = e_step(run.model, P)
    run.result["predictions"] = []
    for point, row in zip(run.args.predict, posteriors):
        cluster, where = int(row.argmax()), ",".join(f"{v:g}" for v in point)
        run.result["predictions"].append(
            {"point": point, "cluster": cluster, "probabilities": row.tolist()}
        )
        odds = ", ".join(f"{q:.3f}" for q in row)
        say(run, f"Predict {where}: cluster {cluster} (posteriors {odds})")
    run.marks["predictions"] = P


def step_kmeans(run):
    """--compare-kmeans: KMeans with the same k and seed, for comparison."""
    from sklearn.cluster import KMeans

    X, y = run.data.X, run.data.y
    seed = run.args.random_state
    km = KMeans(n_clusters=run.model.n_components, n_init=1, random_state=seed).fit(X)
    result = {"silhouette": silhouette(X, km.labels_, seed)[0], "inertia": float(km.inertia_)}
    if y is not None:
        from sklearn.metrics import adjusted_rand_score

        result["ari"] = float(adjusted_rand_score(y, km.labels_))
    run.result["kmeans"] = result
    run.extra["kmeans"] = (km.labels_, km.cluster_centers_)
    say(run, f"KMeans Silhouette Score: {fmt_number(result['silhouette'])}")
    if "ari" in result:
        say(run, f"KMeans Adjusted Rand Index: {result['ari']:.5f}")
    say(run, f"KMeans Inertia: {result['inertia']:.3f}")
    run.panels.append("kmeans")


def step_anomalies(run):
    """--anomalies PCT: the PCT percent of points with the lowest fitted density."""
    percent = run.args.anomalies or REPORT_ANOMALY_PERCENT
    mask, threshold = find_anomalies(run.log_density, percent)
    run.result["anomalies"] = {"count": int(mask.sum()), "threshold": threshold, "percent": percent}
    below = f"log-density threshold {fmt_number(threshold, 4)}"
    say(run, f"Anomalies: {int(mask.sum())} points ({percent:g}% lowest density), {below}")
    run.marks["anomalies"] = run.data.X[mask]
    run.panels.append("density")


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


def step_sample(run):
    """--sample N: new points drawn from the fitted model (written by --sample-out)."""
    X_new, component = draw_samples(run.model, run.args.sample, run.args.random_state)
    run.marks["samples"] = X_new
    path = run.args.sample_out
    if path:
        scaler = run.data.scaler  # the file is in the data's own units
        X_out = scaler.inverse_transform(X_new) if scaler is not None else X_new
        write_atomically(path, lambda f: write_samples(f, X_out, component, run.data.feature_names))
        path = os.path.abspath(path)
    run.result["sample"] = {"n": run.args.sample, "path": path}
    written = f", written to {path}" if path else ""
    say(run, f"Sampled: {run.args.sample} new points from the model{written}")


def draw_samples(model, n_samples, random_state):
    """n new points from the model, shuffled (``sample`` returns them grouped by component)."""
    model.random_state = random_state
    X_new, component = model.sample(n_samples)
    order = np.random.RandomState(random_state).permutation(n_samples)
    return X_new[order], component[order]


def write_samples(handle, X_new, component, feature_names):
    writer = csv.writer(handle)
    writer.writerow([*feature_names, "component"])
    for row, comp in zip(X_new, component):
        writer.writerow([*(repr(float(v)) for v in row), int(comp)])


def step_starts(run):
    """--n-init N: how much the answer depends on the start."""
    scores = np.array([s["log_likelihood"] for s in run.result["starts"]])
    distinct = len(np.unique(np.round(scores, 4)))
    spread = f"best {scores.max():.5f}, worst {scores.min():.5f}; {distinct} distinct end points"
    say(run, f"Starts: {len(scores)}; mean log-likelihood {spread}; the best is kept")
    if run.args.report:
        run.panels.append("starts")


def step_trace(run):
    """--trace: how far EM climbed, and in how many iterations."""
    trace = run.result["trace"]
    start, end = f"{trace[0]:.5f} at the start", f"{trace[-1]:.5f} at the end"
    say(run, f"EM trace: {len(trace) - 1} iterations, mean log-likelihood {start}, {end}")


def step_bayesian(run):
    """--bayesian: how many components the prior left with a real weight."""
    used, k = run.result["effective_components"], run.result["n_components"]
    above = f"have weight above {BAYES_WEIGHT_FLOOR:.0%}"
    say(run, f"Bayesian mixture: {used} of {k} components {above}")


def step_report(run):
    """--report: every panel on one figure."""
    for panel in ("uncertainty", "criterion", "kmeans", "density", "summary"):
        if panel not in run.panels and (panel != "criterion" or "selection" in run.result):
            run.panels.append(panel)


REPORT_ANOMALY_PERCENT = 2.0  # --report marks this share when --anomalies is absent

STEPS = [  # (name, when, what): run in this order after the fit
    # --report without --select: the same sweep, drawn beside the model asked for
    ("sweep", lambda a: a.report and not a.select and not a.bayesian, lambda r: select_step(r)),
    ("parameters", lambda a: a.parameters, step_parameters),
    ("predict", lambda a: a.predict, step_predict),
    ("kmeans", lambda a: a.compare_kmeans or a.report, step_kmeans),
    ("anomalies", lambda a: a.anomalies is not None or a.report, step_anomalies),
    ("sample", lambda a: a.sample, step_sample),
    ("starts", lambda a: a.n_init > 1 and not a.select and not a.bayesian, step_starts),
    ("trace", lambda a: a.trace, step_trace),
    ("bayesian", lambda a: a.bayesian, step_bayesian),
    ("report", lambda a: a.report, step_report),
]


def confusion_table(labels, y, n_components, class_names):
    """Clusters against classes, the clusters put in the order of the class each matches.

    The matching is the one that maximises the agreement (Hungarian algorithm),
    so the diagonal counts the points on which clusters and classes agree.
    """
    from scipy.optimize import linear_sum_assignment

    n_classes = int(y.max()) + 1
    counts = np.bincount(labels * n_classes + y, minlength=n_components * n_classes)
    table = counts.reshape(n_components, n_classes)
    rows, cols = linear_sum_assignment(-table)
    order = list(rows[np.argsort(cols)]) + [c for c in range(n_components) if c not in rows]
    return {
        "confusion": table[order].tolist(),
        "confusion_clusters": [int(c) for c in order],
        "class_names": list(class_names or [str(c) for c in range(n_classes)]),
    }


def fmt_number(value, digits=5):
    return "n/a" if value is None else f"{value:.{digits}f}"


# ==========================================================================
# The figure: one function per panel
# ==========================================================================
# Every panel is a function ``(ax, view)`` in the PANELS table.  A ``View`` is
# the run as the axes show it: with two features the data itself; with more,
# its first two principal components (a linear map of a Gaussian is Gaussian,
# so each covariance is projected exactly, W^T S W); with 3 to 6 features the
# clusters panel becomes every pair of features (each ellipse from the 2 x 2
# block of its covariance: the exact marginal).


@dataclass
class View:
    """What a panel draws: points, components and labels on the plane of its axes."""

    X2: np.ndarray  # the points drawn (a random subset above PLOT_MAX_POINTS)
    labels: np.ndarray
    confidence: np.ndarray  # each drawn point's largest posterior
    means2: np.ndarray
    covs2: np.ndarray
    weights: np.ndarray
    xlabel: str
    ylabel: str
    equal: bool = False  # whether both axes share units (then a circle looks round)
    subset_note: str = ""
    center: np.ndarray | None = None  # the map from the data to the plane: (x - center) W
    W: np.ndarray | None = None
    run: Run | None = None  # for the panels that draw more than the clusters
    subset: np.ndarray | None = None
    min_weight: float = 0.0  # components below this weight are not drawn

    def points(self, X):
        return (np.asarray(X) - self.center) @ self.W

    def covariances(self, covs):
        return np.einsum("ji,kjl,lm->kim", self.W, covs, self.W)

    def label(self, ax, title):
        ax.set(title=title, xlabel=self.xlabel, ylabel=self.ylabel)


def make_views(run, with_pairs=True):
    """The main view (data, or principal components) and, for 3 to 6 features, the pairs."""
    X, names, model, args = run.data.X, run.data.feature_names, run.model, run.args
    (n, d), suffix = X.shape, " (standardised)" if run.data.scaler is not None else ""
    subset, note = None, ""
    if n > PLOT_MAX_POINTS:
        rng = np.random.RandomState(args.random_state)
        subset = np.sort(rng.choice(n, PLOT_MAX_POINTS, replace=False))
        note = f" ({PLOT_MAX_POINTS:,} of {n:,} points shown)"
    shown = slice(None) if subset is None else subset
    labels, sure, same_units = run.labels[shown], run.posteriors[shown].max(1), run.data.same_units

    def view(center, W, xlabel, ylabel, equal):
        """The run seen on the plane (x - center) W."""
        v = View(None, labels, sure, None, None, model.weights_, xlabel + suffix, ylabel + suffix)
        v.equal, v.subset_note, v.center, v.W, v.run, v.subset = equal, note, center, W, run, subset
        v.X2, v.means2 = v.points(X[shown]), v.points(model.means_)
        v.covs2 = v.covariances(full_covariances(model))
        v.min_weight = BAYES_WEIGHT_FLOOR if args.bayesian else 0.0
        return v

    if d == 2:
        main = view(np.zeros(2), np.eye(2), names[0], names[1], same_units)
    else:
        W, share = principal_axes(X, args.random_state)
        pcs = [f"PC{i + 1} ({share[i]:.0%} of variance)" for i in (0, 1)]
        main = view(X.mean(axis=0), W, *pcs, True)
    pairs = []
    wants_pairs = args.view == "pairs" or args.view == "auto" and d <= PAIRS_MAX_FEATURES
    if with_pairs and d > 2 and wants_pairs:  # row i, column j: feature j across, i up
        plane = lambda i, j: view(np.zeros(d), np.eye(d)[:, [j, i]], names[j], names[i], same_units)
        pairs = [[plane(i, j) for j in range(d - 1)] for i in range(1, d)]
    return main, pairs


PAIRS_MAX_FEATURES = 6  # above this, the principal-component view (or --view pairs)


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
    """Anomalies, predicted points and samples, when asked for."""
    for name in kinds:
        if view.run is not None and name in view.run.marks:
            points = view.points(view.run.marks[name])
            ax.scatter(*points.T, label=f"{name} ({len(points)})", **MARK_STYLES[name])


def plot_uncertainty(ax, view):
    """Each point coloured by 1 - max posterior: where the clusters overlap."""
    top = 1 - 1 / len(view.weights) or 1  # the largest possible: every posterior 1/k
    sc = ax.scatter(*view.X2.T, c=1 - view.confidence, cmap="magma_r", s=12, vmin=0, vmax=top)
    ax.figure.colorbar(sc, ax=ax, label="uncertainty = 1 - max posterior")
    n_unc = int((view.confidence < UNCERTAIN_BELOW).sum())
    view.label(ax, f"Soft assignments: {n_unc} plotted points below {UNCERTAIN_BELOW}")


def plot_criterion(ax, view):
    """BIC (or AIC, ICL) against k, one line per covariance type; the model marked."""
    r = view.run.result
    name = r["criterion"]
    for cov in COVARIANCE_TYPES:  # a rejected candidate is NaN: a gap in its curve
        rows = [row for row in r["selection"] if row["covariance_type"] == cov]
        values = [math.nan if row[name] is None else row[name] for row in rows]
        ax.plot([row["n_components"] for row in rows], values, marker="o", label=cov)
    label = "selected" if view.run.args.select else "this model"
    if r.get("selection_star") is not None:
        ax.plot(r["n_components"], r["selection_star"], label=label, zorder=5, **STAR)
    ax.xaxis.get_major_locator().set_params(integer=True)
    title = f"{name.upper()} by number of components (lower is better)"
    ax.set(title=title, xlabel="number of components k", ylabel=name.upper())
    ax.legend(fontsize="small")


def plot_kmeans(ax, view):
    """KMeans clusters, coloured like the GMM cluster they overlap most."""
    from scipy.optimize import linear_sum_assignment

    km_labels, centers = view.run.extra["kmeans"]
    km_labels = km_labels if view.subset is None else km_labels[view.subset]
    overlap = np.zeros((len(centers), len(centers)))
    np.add.at(overlap, (km_labels, view.labels), 1)
    rows, cols = linear_sum_assignment(-overlap)
    colors = np.array(cluster_colors(len(centers)))[cols[np.argsort(rows)]]
    ax.scatter(*view.X2.T, c=colors[km_labels], s=12, linewidths=0)
    ax.scatter(*view.points(centers).T, marker="X", s=120, c="black", edgecolors="white")
    km = view.run.result["kmeans"]
    ari = f", ARI {km['ari']:.3f}" if "ari" in km else ""
    view.label(ax, f"KMeans, same k and seed: silhouette {fmt_number(km['silhouette'], 3)}{ari}")


def plot_density(ax, view):
    """Contours of the fitted log-density on the plane shown (the exact projection)."""
    from scipy.stats import multivariate_normal

    pad = 0.1 * np.ptp(view.X2, axis=0)
    lo, hi = view.X2.min(axis=0) - pad, view.X2.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
    grid = np.c_[gx.ravel(), gy.ravel()]
    parts = zip(view.weights, view.means2, view.covs2)
    density = sum(
        w * multivariate_normal(mu, cov, allow_singular=True).pdf(grid) for w, mu, cov in parts
    )
    z = np.log(np.maximum(density, 1e-300)).reshape(gx.shape)
    levels = np.linspace(max(z.min(), z.max() - 12), z.max(), 13)
    cs = ax.contourf(gx, gy, z, levels=levels, cmap="Blues", extend="min")
    ax.figure.colorbar(cs, ax=ax, label="log-density")
    ax.scatter(*view.X2.T, s=4, c="black", alpha=0.4, linewidths=0)
    draw_marks(ax, view, ["anomalies"])
    anomalies = "anomalies" in view.run.marks
    view.label(ax, "Fitted log-density" + (" and lowest-density points" * anomalies))
    if anomalies:
        ax.legend(loc="best", fontsize="small")


def plot_summary(ax, view):
    ax.axis("off")
    text = format_summary(view.run.result, explain=False)
    ax.text(0, 1, text, va="top", family="monospace", fontsize="small", wrap=True)


def plot_convergence(ax, view):
    """--trace: the mean log-likelihood after each EM iteration."""
    trace = view.run.result["trace"]
    ax.plot(range(len(trace)), trace, marker=".")
    title = f"EM convergence: {len(trace) - 1} iterations"
    ax.set(title=title, xlabel="iteration", ylabel="mean log-likelihood")


def plot_em_steps(ax, view):
    """--trace: the 1-sd ellipses at a few iterations, faint at the start, bold at the end."""
    frames = view.run.extra["frames"]
    shown = [f for f in frames[:-1] if f[0] in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)]
    shown.append(frames[-1])
    ax.scatter(*view.X2.T, s=6, c="lightgray", linewidths=0)
    colors = cluster_colors(len(view.weights))
    for step, (_, _, means, covs) in enumerate(shown):
        alpha = min(1.0, 0.2 + 0.8 * step / max(1, len(shown) - 1))
        draw_ellipses(ax, view, means, covs, colors, alpha=alpha)
        ax.scatter(*view.points(means).T, marker="x", c="black", s=20, alpha=alpha)
    view.label(ax, "EM step by step: iterations " + ", ".join(str(f[0]) for f in shown))
    view.run.extra["em_ax"] = ax


def draw_ellipses(ax, view, means, covs, colors, alpha=1.0, sigmas=(1,)):
    parts = list(enumerate(zip(view.points(means), view.covariances(covs))))
    return [
        ax.add_patch(ellipse(mu, cov, n, edgecolor=colors[j], alpha=alpha))
        for n in sigmas
        for j, (mu, cov) in parts
    ]


def plot_starts(ax, view):
    """--n-init with --report: each start's final log-likelihood, the kept one marked."""
    scores = [s["log_likelihood"] for s in view.run.result["starts"]]
    jitter = np.random.RandomState(0).uniform(-0.3, 0.3, len(scores))
    ax.scatter(scores, jitter, s=30, alpha=0.7, label="a start")
    ax.plot([max(scores)], [0], label="kept", **STAR)
    title = f"{len(scores)} starts: final mean log-likelihood"
    ax.set(title=title, xlabel="mean log-likelihood", yticks=[], ylim=(-1, 1))
    ax.legend(fontsize="small")


def plot_weights(ax, view):
    """--bayesian: the weights; those the prior switched off are near zero."""
    weights = view.run.model.weights_
    ax.bar(range(len(weights)), weights, color=cluster_colors(len(weights)))
    ax.axhline(BAYES_WEIGHT_FLOOR, color="black", ls="--", label=f"{BAYES_WEIGHT_FLOOR:.0%}")
    used = view.run.result["effective_components"]
    ax.set(title=f"Bayesian mixture: {used} components in use", xlabel="component", ylabel="weight")
    ax.legend(fontsize="small")


def plot_histogram_1d(ax, view):
    """One feature: histogram, the mixture density and each weighted component."""
    from scipy.stats import norm

    run = view.run
    x, model = run.data.X[:, 0], run.model
    ax.hist(x, bins="auto", density=True, color="lightgray", edgecolor="white", label="data")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    sds = np.sqrt(full_covariances(model)[:, 0, 0])
    curves = [
        w * norm(mu, sd).pdf(grid) for w, mu, sd in zip(model.weights_, model.means_[:, 0], sds)
    ]
    for j, (curve, color) in enumerate(zip(curves, cluster_colors(len(curves)))):
        ax.plot(grid, curve, color=color, label=f"component {j}")
    ax.plot(grid, sum(curves), color="black", linewidth=2, label="mixture density")
    for key, style in (("anomalies", "r|"), ("predictions", "k*"), ("samples", "c|")):
        if key in run.marks:
            points = run.marks[key][:, 0]
            ax.plot(points, np.zeros(len(points)), style, markersize=12, label=key)
    view.label(ax, figure_title(run))
    ax.legend(fontsize="small")


def plot_kmeans_1d(ax, view):
    km_labels, centers = view.run.extra["kmeans"]
    x, colors = view.run.data.X[:, 0], cluster_colors(len(centers))
    parts = [x[km_labels == c] for c in range(len(centers))]
    ax.hist(parts, bins="auto", stacked=True, color=colors)
    ax.set(title="KMeans clusters", xlabel=view.xlabel, ylabel="count")


PANELS = {  # panel name: how it is drawn with two axes, and with one feature (None: skipped)
    "clusters": (plot_clusters, plot_histogram_1d),
    "em steps": (plot_em_steps, None),
    "convergence": (plot_convergence, plot_convergence),
    "uncertainty": (plot_uncertainty, None),  # the histogram shows both of these
    "density": (plot_density, None),
    "criterion": (plot_criterion, plot_criterion),
    "kmeans": (plot_kmeans, plot_kmeans_1d),
    "starts": (plot_starts, plot_starts),
    "weights": (plot_weights, plot_weights),
    "summary": (plot_summary, plot_summary),
}
SAME_UNITS_PANELS = ("clusters", "em steps", "uncertainty", "density", "kmeans")


def figure_title(run):
    r = run.result
    model = f"GMM, {r['n_components']} components ({r['covariance_type']})"
    if "effective_components" in r:
        used = f"{r['effective_components']} of {r['n_components']} components in use"
        model = f"Bayesian GMM, {used}"
    bic = "" if r["bic"] is None else f", BIC {r['bic']:.1f}"
    return (
        f"{model}\nlog-likelihood/sample {r['log_likelihood']:.3f}{bic}, silhouette "
        f"{fmt_number(r['silhouette'], 3)}"
    )


def build_figure(run):
    """Lay out the panels the run asked for on one figure; return it."""
    import matplotlib.pyplot as plt

    d = run.data.X.shape[1]
    column = 0 if d > 1 else 1
    names = [p for p in dict.fromkeys(run.panels) if PANELS[p][column] is not None]
    if d > 1:
        main, pairs = make_views(run)
    else:  # one feature: a histogram, drawn from the run itself
        suffix = " (standardised)" if run.data.scaler is not None else ""
        xlabel = run.data.feature_names[0] + suffix
        main, pairs = View(None, None, None, None, None, None, xlabel, "density", run=run), []
    run.extra["main_view"] = main
    if pairs:
        names.remove("clusters")  # the pairs show the clusters
    ncols = min(len(names), 3) or 1
    nrows = math.ceil(len(names) / ncols)
    size = (max(6.4 * ncols, 3.2 * len(pairs)), 5.4 * nrows + 3.2 * len(pairs))
    one_panel = len(names) == 1 and not pairs  # fixed margins: no second layout pass
    fig = plt.figure(figsize=size, layout=None if one_panel else "constrained")
    if one_panel:
        fig.subplots_adjust(left=0.11, right=0.97, bottom=0.1, top=0.83 if d > 1 else 0.88)
    top = bottom = fig
    if pairs and names:
        top, bottom = fig.subfigures(2, 1, height_ratios=[3.2 * len(pairs), 5.4 * nrows])
    if pairs:
        draw_pairs(top, pairs)
    axes = list(bottom.subplots(nrows, ncols, squeeze=False).flat) if names else []
    for ax, name in zip(axes, names):
        PANELS[name][column](ax, main)
        if main.equal and name in SAME_UNITS_PANELS:
            ax.set_aspect("equal", adjustable="datalim")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    if d > 1:
        fig.suptitle(figure_title(run))
    return fig


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


def show_or_save(run):
    """A window where one can open; otherwise the figure is saved and the output says where."""
    import matplotlib.pyplot as plt

    args, result = run.args, run.result
    path = args.figure_path
    if path is not None and path.lower().endswith(".gif"):  # --trace: the animation alone
        from matplotlib.animation import PillowWriter

        fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
        write = lambda f: animate_em(run, ax).save(f, writer=PillowWriter(fps=4), dpi=72)
    else:
        fig = build_figure(run)
        write = lambda f: fig.savefig(f, format=os.path.splitext(path)[1][1:].lower(), dpi=100)
    if fig.canvas.manager is not None:  # the window's title names the run
        name = f"{result['source']}, {result['covariance_type']}, k={result['n_components']}"
        fig.canvas.manager.set_window_title(f"gmm_clustering: {name}")
    if path is None:  # a window, shrunk to fit a 1366 x 768 screen (saved files keep their size)
        width, height = fig.get_size_inches()
        shrink = min(1, 13 / width, 6.8 / height)
        fig.set_size_inches(width * shrink, height * shrink)
        if "em_ax" in run.extra:  # --trace: in a window the EM steps play
            run.extra["em_ax"].clear()
            run.extra["animation"] = animate_em(run, run.extra["em_ax"])
        run.extra["show"] = fig  # shown once the summary is printed
        return
    write_atomically(path, write, text=False)
    plt.close(fig)
    result["figure"] = os.path.abspath(path)
    if not args.save:
        result["figure_note"] = f"no display: matplotlib backend is {args.backend!r}"


def animate_em(run, ax):
    """--trace: the ellipses moving iteration by iteration (matplotlib's animation)."""
    from matplotlib.animation import FuncAnimation

    view = run.extra.get("main_view") or make_views(run, with_pairs=False)[0]
    frames = run.extra["frames"][:: max(1, len(run.extra["frames"]) // 60)]
    colors, trace, drawn = cluster_colors(len(view.weights)), run.result["trace"], []
    ax.scatter(*view.X2.T, s=6, c="lightgray", linewidths=0)
    if view.equal:
        ax.set_aspect("equal", adjustable="datalim")

    def update(frame):
        iteration, _, means, covs = frame
        for artist in drawn:
            artist.remove()
        drawn[:] = draw_ellipses(ax, view, means, covs, colors, sigmas=(1, 2))
        drawn.append(ax.scatter(*view.points(means).T, marker="X", c="black", s=60))
        ll = trace[min(iteration, len(trace) - 1)]
        view.label(ax, f"EM iteration {iteration}: mean log-likelihood {ll:.4f}")
        return drawn

    return FuncAnimation(ax.figure, update, frames=frames, interval=250, repeat=True)


# ==========================================================================
# The command line
# ==========================================================================
# The options are one table: (option, how argparse reads it, help), by group.


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, instead of usage + message
        if "--predict: expected one argument" in message:  # --predict -6,-6
            message += " (a value that starts with '-' is written with '=': --predict=-6,-6)"
        raise UsageError(f"{message}; see --help")


def checked(convert, accept, requirement):
    """An argparse type: convert the text, then accept the value or say what is needed."""
    kind = ("a whole number" if convert is int else "a number") + f" {requirement}"

    def parse(text):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {requirement}")
        return value

    return parse


def point(text):
    """--predict: comma-separated finite coordinates."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = None
    if values is None or not all(map(math.isfinite, values)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated finite numbers, e.g. 1.5,2 (negative: --predict=-6,-6)"
        )
    return values


def upto(limit, default=None):
    """A count from 1 to ``limit``."""
    return number(checked(int, lambda v: 1 <= v <= limit, f"from 1 to {limit:,}"), default)


def number(kind, default=None, metavar="N"):
    return {"type": kind, "default": default, "metavar": metavar}


def choice(*choices):
    return {"choices": choices, "default": choices[0]}


SEED_MAX = 2**32 - 1  # numpy's seeds
SEED = checked(int, lambda v: 0 <= v <= SEED_MAX, f"from 0 to {SEED_MAX} (numpy's seed range)")
POSITIVE = checked(float, lambda v: 0 < v < 1e100, "a positive number below 1e100")
PERCENT = checked(float, lambda v: 0 < v < 100, "a percentage above 0 and below 100")
FLAG = {"action": "store_true"}
POINT = {"type": point, "action": "append", "metavar": "X1,X2"}
INITS = ("kmeans", "k-means++", "random", "random_from_data")  # scikit-learn's init_params

OPTIONS = {
    "data": [
        ("--dataset", choice("blobs", "iris", "wine"), "blobs (default), or one in scikit-learn"),
        ("--csv", {"metavar": "PATH"}, "your table with a header row; - reads stdin"),
        ("--delimiter", {"metavar": "CHAR"}, "CSV delimiter (default: , ; tab or space)"),
        ("--encoding", {"metavar": "NAME"}, "CSV encoding (default utf-8; latin-1, ...)"),
        ("--columns", {"metavar": "A,B"}, "CSV columns to fit (default: the numeric)"),
        ("--labels", {"metavar": "COLUMN"}, "CSV column of true classes (not fitted)"),
        ("--n-samples", upto(10**9, 500), "blobs: number of points (default 500)"),
        ("--centers", upto(1000, 4), "blobs: number of true clusters (default 4)"),
        ("--n-features", upto(100_000, 2), "blobs: number of features (default 2)"),
        ("--cluster-std", number(POSITIVE, 1.0), "blobs: sd of each cluster (default 1)"),
        ("--scale", FLAG, "standardise every feature (mean 0, sd 1)"),
        ("--random-state", number(SEED, 42), "one seed for data, model, samples (default 42)"),
    ],
    "model": [
        ("--n-components", upto(1000), "components (default: classes, or 4)"),
        ("--covariance-type", choice(*COVARIANCE_TYPES), "shape of each component (default full)"),
        ("--init", choice(*INITS), "how EM starts (default kmeans)"),
        ("--n-init", upto(1000, 1), "EM starts, seeds SEED, SEED+1, ...: the best kept"),
        ("--select", FLAG, "choose k and covariance type by --criterion"),
        ("--max-components", upto(MAX_COMPONENTS, 10), "largest k tried (default 10)"),
        ("--criterion", choice("bic", "aic", "icl"), "selection criterion (default bic)"),
        ("--bayesian", FLAG, "Dirichlet-process mixture: k is an upper bound"),
    ],
    "what else to show": [
        ("--parameters", FLAG, "means, covariances, clusters against classes"),
        ("--trace", FLAG, "EM step by step (an animation with --save x.gif)"),
        ("--predict", POINT, "assign a new point (repeatable; negative: --predict=-6,-6)"),
        ("--compare-kmeans", FLAG, "KMeans with the same k and seed"),
        ("--anomalies", number(PERCENT, None, "PCT"), "flag the PCT %% of lowest density"),
        ("--sample", upto(10**8), "draw N new points from the model"),
        ("--sample-out", {"metavar": "PATH"}, "write the --sample points to a CSV"),
        ("--report", FLAG, "every panel: uncertainty, BIC, KMeans, density"),
    ],
    "output": [
        ("--view", choice("auto", "pairs", "pca"), "3+ features: pairs (auto: up to 6) or PCA"),
        ("--save", {"metavar": "PATH"}, "save the figure (png, pdf, svg, ...)"),
        ("--no-plot", FLAG, "metrics only: no figure, no matplotlib"),
        ("--json", FLAG, "one JSON object instead of the text summary"),
        ("--quiet", FLAG, "no progress messages on stderr"),
    ],
}


def build_parser():
    """The options of OPTIONS; each option's work is one entry of MODEL_STEPS or STEPS."""
    parser = Parser(
        prog="gmm_clustering.py",
        description="Fit a Gaussian mixture, print its metrics and draw its clusters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + __doc__.split("Usage::")[1].split("Where")[0].strip("\n"),
    )
    for title, options in OPTIONS.items():
        group = parser.add_argument_group(title)
        for name, how, help in options:
            group.add_argument(name, help=help, **how)
    return parser


CONFLICTS = {  # options that cannot go together: what is wrong, and the way out
    "data": "--csv and --dataset both name the data; choose one",
    "csv": "--columns, --labels, --delimiter and --encoding apply to --csv only",
    "labels": "--labels needs a column name, not an empty string",
    "no plot": "--no-plot and --save/--report contradict each other; drop one",
    "sample out": "--sample-out needs --sample N",
    "select or bayesian": "--select and --bayesian are two ways of choosing k; use one",
    "select k": "--select chooses the number of components: drop --n-components",
    "select init": "--select makes its own starts: drop --init",
    "trace": "--trace follows one GaussianMixture fit: not with --select or --bayesian",
    "gif": "--save: a .gif is the --trace animation; add --trace or save png, pdf or svg",
}


def validate(args):
    """Checks that need more than one option, or more than one value: before any work."""
    csv_options = args.columns or args.labels is not None or args.delimiter or args.encoding
    broken = {
        "data": args.csv is not None and args.dataset != "blobs",
        "csv": csv_options and args.csv is None,
        "labels": args.labels == "",
        "no plot": args.no_plot and (args.save or args.report),
        "sample out": args.sample_out and not args.sample,
        "select or bayesian": args.select and args.bayesian,
        "select k": args.select and args.n_components,
        "select init": args.select and args.init != "kmeans",
        "trace": args.trace and (args.select or args.bayesian),
        "gif": (args.save or "").lower().endswith(".gif") and not args.trace,
    }
    for name, is_broken in broken.items():
        if is_broken:
            raise UsageError(CONFLICTS[name])
    blobs, n, more = args.dataset == "blobs" and args.csv is None, args.n_samples, "or more samples"
    if blobs and args.centers > n:
        raise UsageError(
            f"--centers {args.centers} exceeds --n-samples {n}; use fewer centers {more}"
        )
    if blobs and (args.n_components or 0) > n:
        k = args.n_components
        raise UsageError(f"--n-components {k} exceeds --n-samples {n}; use fewer components {more}")
    for option in ("csv", "save", "sample_out", "encoding", "columns"):
        if getattr(args, option) == "":
            raise UsageError(f"--{option.replace('_', '-')} needs a value, not an empty string")
    if args.delimiter is not None:
        spelled = {"\\t": "\t", "tab": "\t", "space": " "}
        args.delimiter = spelled.get(args.delimiter, args.delimiter)
        if len(args.delimiter) != 1 or args.delimiter in "\"'\r\n":
            raise UsageError(
                f"--delimiter {args.delimiter!r} must be one character, not a quote "
                "or a line break ('tab' and 'space' are understood)"
            )
    if args.encoding:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise UsageError(
                f"--encoding {args.encoding!r} is not an encoding Python knows; "
                "try utf-8, latin-1, cp1252 or utf-16"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit status: 0, 2 for bad input, 1 when stdout fails."""
    if sys.stderr is None:  # started with stderr closed: messages go nowhere, not to stdout
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    if sys.stdout is None:  # started with stdout closed: results would vanish
        return fail("standard output is closed; nothing to write the results to", 1)
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a name: escapes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt
    try:
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
        return fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        print("gmm_clustering.py: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return fail("not enough memory; use a smaller --n-samples or --n-features", EXIT_USAGE)
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


class OutputLost(Exception):
    """Standard output could not be written: exit 1."""


def fail(message, status):
    print(f"gmm_clustering.py: error: {message}", file=sys.stderr)
    return status


def run_and_print(argv):
    """Parse and check everything, run the lesson, print (and show the window last)."""
    args = build_parser().parse_args(argv)
    validate(args)
    if not args.no_plot:
        prepare_display(args)
    check_outputs(args)
    started = time.perf_counter()

    def progress(message):  # how far a long sweep has come: on a terminal, unless --quiet
        if not args.quiet and sys.stderr.isatty():
            elapsed = time.perf_counter() - started
            print(f"[{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)

    args.progress = progress
    with native_threads():
        run = lesson(args)
    result = run.result
    for warning in result.pop("warnings", []):
        print(f"gmm_clustering.py: warning: {warning}", file=sys.stderr)
    hidden = ("figure_note", "step_lines", "selection_star", "selection_lines", "data_notes")
    public = {k: v for k, v in result.items() if k not in hidden}
    public["notes"] = result["data_notes"]
    text = json.dumps(finite(public), allow_nan=False) if args.json else format_summary(result)
    try:
        print(text, flush=True)
    except OSError as exc:
        raise OutputLost(exc.strerror or exc) from None
    if run.extra.get("show") is not None:  # a window: after the summary, until it is closed
        import matplotlib.pyplot as plt

        plt.show()
    return 0


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
# smooth, and BIC then picks the wrong model.  So every (k, covariance type)
# candidate is run to convergence from many starts, and the best valid one is
# kept: scikit-learn's own start (k-means on the raw data, same seed), a Ward
# hierarchical cut and k-means on whitened data (close to R's mclust), the
# previous k's best solutions with one cluster split, the next k's with two
# merged, and the best partition of each other covariance type at the same k.
# EM here is written out with numpy and runs all the starts of a candidate at
# once: scikit-learn's estimator costs about 5 ms a call, and a sweep makes
# hundreds.  Its M-step and E-step are scikit-learn's formulas (reg_covar 1e-6).

REG_COVAR = 1e-6  # scikit-learn's default, added to every variance
SELECT_TOL = 1e-5  # relative change of the log-likelihood that ends EM (mclust's rule)
SELECT_MAX_ITER = 1000
SELECT_MAX_SAMPLES = 4_000  # candidates are fitted on a random sample above this
PARALLEL_MIN_WORK = 2_000  # rows x largest k below which one core is faster
LOG_2PI = math.log(2 * math.pi)


def select_step(run, choose=False):
    """Fit every candidate; with ``choose``, return the best as the model (--select)."""
    args, X, result, c = run.args, run.data.X, run.result, run.args.criterion
    n, name = len(X), c.upper()
    max_k = min(args.max_components, max(1, n // 2))
    if max_k < args.max_components:
        hold = f"{n} rows hold at most {max_k} components of two points"
        note = f"--max-components capped at {max_k}: {hold}"
        say(run, f"Note: {note}")
        result["data_notes"].append(note)
    rows, model, sample = select_model(
        X, max_k, c, args.n_init, args.random_state, args.progress, choose
    )
    model = model or run.model
    key = (model.n_components, model.covariance_type)
    mine = next((r for r in rows if (r["n_components"], r["covariance_type"]) == key), None)
    result["selection_star"] = mine and mine[c]  # the model, marked on its own curve
    if not choose and sample is None:  # --report: this fit is one more start of its candidate
        result["selection_star"] = result[c]
        if (
            mine
            and not result["degenerate"]
            and (mine["rejected"] or mine["log_likelihood"] < result["log_likelihood"])
        ):
            mine.update({m: result[m] for m in ("bic", "aic", "icl", "log_likelihood")})
            mine.update(rejected=False, reason=None)
        elif mine and mine[c] is not None and mine[c] < result[c] - 1:
            better = f"{name} {mine[c]:.3f} (this fit {result[c]:.3f})"
            say(run, f"Note: the sweep found a better optimum of this same model: {better}")
    valid = [r for r in rows if not r["rejected"]]
    best = mine if choose else min(valid, key=lambda r: r[c])  # ties: the model's
    on_sample = (
        f" (on a random sample of {SELECT_MAX_SAMPLES:,} points)" if sample is not None else ""
    )
    best_key = {"covariance_type": best["covariance_type"], "n_components": best["n_components"]}
    result.update(
        selection=rows,
        criterion=c,
        selection_sample_size=None if sample is None else SELECT_MAX_SAMPLES,
        selection_at_edge=max_k > 1 and best["n_components"] == max_k,
        selection_best={**best_key, c: best[c]},
    )
    if choose:
        result["selection_lines"] = selection_table(rows, valid, best, name, on_sample)
    elif best is not mine and result["selection_star"] is not None:
        shape = f"{best['covariance_type']} with {best['n_components']} components{on_sample}"
        scores = f"{name} {best[c]:.3f}; this model {result['selection_star']:.3f}"
        say(run, f"{name} prefers {shape} ({scores})")
    run.panels.append("criterion")
    if result["selection_at_edge"]:
        say(run, f"Note: the best k is the largest tried ({max_k}); try a larger --max-components")
    return model


def selection_table(rows, valid, best, name, on_sample):
    """The text of --select: the five best candidates, the rejected ones, the choice."""
    lines = [
        f"Model selection by {name} (lower is better) over {len(rows)} candidates{on_sample}:",
        f"  {'covariance':<10} {'k':>3} {'BIC':>12} {'AIC':>12} {'ICL':>12}",
    ]
    for r in sorted(valid, key=lambda r: r[name.lower()])[:5]:
        numbers = "".join(f" {r[c]:>12.3f}" for c in ("bic", "aic", "icl"))
        lines.append(f"  {r['covariance_type']:<10} {r['n_components']:>3}{numbers}")
    rejected = [f"{r['covariance_type']} k={r['n_components']}" for r in rows if r["rejected"]]
    if rejected:
        lines.append("  rejected as degenerate: " + ", ".join(rejected))
    lines.append(f"Selected: {best['covariance_type']} with {best['n_components']} components")
    return lines


def select_model(X, max_k, criterion, n_init, random_state, progress=None, choose=True):
    """Every candidate up to ``max_k``: (rows, the best as a GaussianMixture, sample or None).

    Above SELECT_MAX_SAMPLES points the candidates are fitted on a random sample
    and the winner is then refitted on all the data.
    """
    sample = None
    if len(X) > SELECT_MAX_SAMPLES:
        rng = np.random.RandomState(random_state)
        sample = np.sort(rng.choice(len(X), SELECT_MAX_SAMPLES, replace=False))
    X_sweep = X if sample is None else X[sample]
    with worker_pool(len(X_sweep) * max_k) as pool:
        sweep = Sweep(X_sweep, max_k, random_state, n_init, progress, pool)
    rows = sweep.rows()
    valid = [row for row in rows if not row["rejected"]]
    if not valid:
        raise UsageError(
            "every candidate was degenerate; try --scale or a smaller --max-components"
        )
    best = min(valid, key=lambda row: row[criterion])
    if not choose:
        return rows, None, sample
    k, cov = best["n_components"], best["covariance_type"]
    model = sweep.model((k, cov), X, random_state)
    if sample is None:  # the winner's row: its values after the final EM steps
        log_density, posteriors = e_step(model, X)  # one pass, the summary's own formulas
        best.update(criteria(float(log_density.sum()), posteriors.max(axis=1), k, cov, X.shape[1]))
    return rows, model, sample


class Sweep:
    """The best valid fit of every (k, covariance type) from many starts; see the section."""

    def __init__(self, X, max_k, random_state, n_kmeans=1, progress=None, pool=None):
        from scipy.cluster.hierarchy import fcluster, linkage
        from sklearn.cluster import KMeans

        self.center = X.mean(axis=0)
        self.X = X = X - self.center  # EM is translation-equivariant; centring keeps precision
        self.noise = rounding_variance(X)
        self.best, self.tried, self.rejected, self.known, self.pool = {}, {}, {}, {}, pool
        whitened = whiten(X)
        tree = linkage(whitened, method="ward")
        for k in range(1, max_k + 1):
            if progress and k > 1:
                progress(f"model selection: k = {k} of {max_k}")
            starts = [fcluster(tree, k, criterion="maxclust") - 1]
            starts += [KMeans(k, n_init=1, random_state=random_state).fit(X).labels_]
            for i in range(n_kmeans):
                starts += [KMeans(k, n_init=1, random_state=random_state + i).fit(whitened).labels_]
            starts += [split_largest(X, self.partition(k - 1, cov), k) for cov in self.found(k - 1)]
            self.run_all(k, starts)
        for k in range(max_k - 1, 0, -1):  # downwards: the next k's solutions, two clusters merged
            self.run_all(
                k, [merge_closest(self.best[k + 1, cov]["resp"]) for cov in self.found(k + 1)]
            )

    def found(self, k):
        """The covariance types with a valid fit at k."""
        return [cov for cov in COVARIANCE_TYPES if self.best.get((k, cov))]

    def partition(self, k, cov):
        return self.best[k, cov]["resp"].argmax(axis=1)

    def run_all(self, k, starts):
        self.run_types(k, starts)
        # Each covariance type's best partition is a start for the others.
        self.run_types(k, [self.partition(k, cov) for cov in self.found(k)])

    def run_types(self, k, partitions):
        """EM from every partition not tried before, for the four types (on both cores)."""
        jobs = []
        for cov in COVARIANCE_TYPES:
            tried = self.tried.setdefault((k, cov), set())
            new = {partition_key(p): p for p in partitions if len(np.unique(p)) == k}
            new = {key: p for key, p in new.items() if key not in tried}
            tried.update(new)
            if new:
                resp = np.stack([np.eye(k)[labels] for labels in new.values()])
                jobs.append((cov, (self.X, resp, cov, self.known.setdefault((k, cov), {}))))
        tasks = [task for _, task in jobs]
        results = self.pool.map(em_each, tasks) if self.pool else map(em_each, tasks)
        for (cov, _), fits in zip(jobs, results):
            self.record(k, cov, fits)

    def record(self, k, cov, fits):
        """Keep the best valid fit of the candidate; remember where each start went."""
        tried, known = self.tried[k, cov], self.known[k, cov]
        self.best.setdefault((k, cov), None)
        for fit in fits:
            key = partition_key(fit["resp"].argmax(axis=1))
            tried.add(key)  # where EM went: no start from there again
            known[key] = max(known.get(key, -np.inf), fit["ll"])
            current = self.best[k, cov]
            if current is None or fit["ll"] > current["ll"]:
                covs = expand_covariances(fit["covs"], cov, k, self.X.shape[1])
                reason = degeneracy(fit["weights"], covs, len(self.X), self.noise, cov)
                if reason is None:
                    self.best[k, cov] = fit
                else:
                    self.rejected.setdefault((k, cov), reason)

    def rows(self):
        """One row per candidate: its criteria, or why it was rejected."""
        (n, d), max_k, rows = self.X.shape, max(k for k, _ in self.tried), []
        for cov, k in itertools.product(COVARIANCE_TYPES, range(1, max_k + 1)):
            fit = self.best.get((k, cov))
            why = None if fit else self.rejected.get((k, cov), "a covariance became singular")
            row = {"covariance_type": cov, "n_components": k}  # the keys in a fixed order:
            row.update(dict.fromkeys(("bic", "aic", "icl", "log_likelihood")))
            row.update(rejected=fit is None, reason=why)
            if fit:
                row.update(criteria(fit["ll"] * n, fit["resp"].max(axis=1), k, cov, d))
            rows.append(row)
        return rows

    def model(self, key, X, random_state):
        """The candidate as a scikit-learn ``GaussianMixture``, EM continued on all of X."""
        from sklearn.mixture import GaussianMixture

        (k, cov), fit = key, self.best[key]
        model = GaussianMixture(
            k,
            covariance_type=cov,
            weights_init=fit["weights"] / fit["weights"].sum(),
            means_init=fit["means"] + self.center,
            precisions_init=precisions_of(fit["covs"], cov),
            tol=1e-6,
            init_params="random_from_data",
            max_iter=SELECT_MAX_ITER,
            random_state=random_state,
        )
        return fitted(model, X)


def em_each(task):
    """``em`` for a batch of starts; one by one when a covariance turns singular."""
    X, resp, cov, known = task
    try:
        return em(X, resp, cov, known)
    except np.linalg.LinAlgError:
        fits = []
        for one in resp:
            try:
                fits += em(X, one[None], cov, known)
            except np.linalg.LinAlgError:
                pass
        return fits


@contextlib.contextmanager
def worker_pool(work):
    """Two worker processes for the sweep where that pays, forked (they start in
    milliseconds, with the libraries loaded); none elsewhere.  Ctrl-C: they ignore
    it, and the parent ends them."""
    if work < PARALLEL_MIN_WORK or (os.cpu_count() or 1) < 2 or sys.platform != "linux":
        yield None
        return
    import multiprocessing

    pool = multiprocessing.get_context("fork").Pool(
        2, signal.signal, (signal.SIGINT, signal.SIG_IGN)
    )
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def whiten(X):
    """Principal components scaled to unit variance (what mclust starts from)."""
    U, s, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    return U[:, s > 1e-12 * s[0]] * math.sqrt(len(X))


def partition_key(labels):
    """The same bytes for two labelings that group the points alike (clusters renamed)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int16).tobytes()


def split_largest(X, labels, k):
    """k clusters from k - 1: the cluster with the largest scatter cut along its main axis."""
    scatter = [((X[labels == j] - X[labels == j].mean(axis=0)) ** 2).sum() for j in range(k - 1)]
    members = np.flatnonzero(labels == int(np.argmax(scatter)))
    Z = X[members] - X[members].mean(axis=0)
    axis = np.linalg.svd(Z, full_matrices=False)[2][0]
    labels = labels.copy()
    labels[members[Z @ axis > 0]] = k - 1
    return labels


def merge_closest(resp):
    """k - 1 clusters from k: the two components that share the most posterior mass merged."""
    overlap = resp.T @ resp
    np.fill_diagonal(overlap, -1)
    a, b = np.unravel_index(overlap.argmax(), overlap.shape)
    labels = resp.argmax(axis=1)
    labels[labels == b] = a
    return np.unique(labels, return_inverse=True)[1]


def em(X, resp, cov, known=None, tol=SELECT_TOL, max_iter=SELECT_MAX_ITER):
    """EM from s starting responsibilities (s, n, k) at once; a start leaves when converged.

    Returns one dict per start: weights, means, covs, ll (mean log-likelihood of
    those parameters) and resp (their posteriors).  A start stops early when it
    reaches a point another start, or a fit in ``known`` ({partition: ll}), has
    reached: from the same point EM follows the same path.
    """
    XX = (X[:, :, None] * X[:, None, :]).reshape(len(X), -1)  # x x^T of each row
    out, active, previous = [None] * len(resp), np.arange(len(resp)), np.full(len(resp), -np.inf)
    for iteration in range(1, max_iter + 1):
        weights, means, covs = m_step(X, XX, resp, cov)
        log_joint = log_prob(X, XX, means, covs, cov) + np.log(weights)[:, None, :]
        top = log_joint.max(axis=2, keepdims=True)
        resp = np.exp(log_joint - top)
        total = resp.sum(axis=2, keepdims=True)
        resp /= total
        ll = (np.log(total[..., 0]) + top[..., 0]).mean(axis=1)
        done = (np.abs(ll - previous) <= tol * np.abs(ll)) | (iteration == max_iter)
        if iteration % 5 == 0:
            done |= duplicates(resp, ll, done, known or {})
        for i in np.flatnonzero(done):
            fit = {"weights": weights[i], "means": means[i], "covs": covs[i], "resp": resp[i]}
            out[active[i]] = {**fit, "ll": float(ll[i])}
        if done.all():
            return out
        active, resp, previous = active[~done], resp[~done], ll[~done]


def duplicates(resp, ll, done, known):
    """Starts at the point another has reached: the same partition, the same likelihood."""
    seen, repeated = dict(known), np.zeros(len(ll), dtype=bool)
    for i in np.argsort(-ll):  # the best of each group goes on
        key = partition_key(resp[i].argmax(axis=1))
        if key in seen and abs(seen[key] - ll[i]) <= 1e-8 * abs(ll[i]):
            repeated[i] = not done[i]
        seen.setdefault(key, ll[i])
    return repeated


def m_step(X, XX, resp, cov):
    """Weights (s, k), means (s, k, d) and covariances from responsibilities (s, n, k)."""
    n, d = X.shape
    s, _, k = resp.shape
    nk = resp.sum(axis=1) + 10 * np.finfo(float).eps
    respT = resp.transpose(0, 2, 1)
    means = respT @ X / nk[..., None]
    if cov in ("full", "tied"):
        second = (respT.reshape(s * k, n) @ XX).reshape(s, k, d, d)
        scatter = second - nk[..., None, None] * means[..., :, None] * means[..., None, :]
        if cov == "full":
            covs = scatter / nk[..., None, None]
        else:
            covs = scatter.sum(axis=1) / nk.sum(axis=1)[:, None, None]
        covs = covs + REG_COVAR * np.eye(d)
    else:
        covs = respT @ (X * X) / nk[..., None] - means**2 + REG_COVAR
        if cov == "spherical":
            covs = covs.mean(axis=-1)
    return nk / n, means, covs


def log_prob(X, XX, means, covs, cov):
    """log N(x_i | mu_k, S_k) for s parameter sets at once: shape (s, n, k)."""
    n, d = X.shape
    s, k, _ = means.shape
    if cov in ("full", "tied"):
        L = np.linalg.cholesky(covs)  # LinAlgError when a covariance is singular
        Linv = np.linalg.inv(L)
        P = Linv.swapaxes(-1, -2) @ Linv  # the precision matrices
        logdet = np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
        if cov == "tied":
            P = np.broadcast_to(P[:, None], (s, k, d, d))
            logdet = np.broadcast_to(logdet[:, None], (s, k))
        Pmu = (P @ means[..., None])[..., 0]
        maha = XX @ P.reshape(s * k, d * d).T - 2 * X @ Pmu.reshape(s * k, d).T
        maha = maha.reshape(n, s, k).transpose(1, 0, 2) + (Pmu * means).sum(axis=-1)[:, None, :]
    else:  # one variance per feature (spherical: the same for every feature)
        variances = np.broadcast_to(covs.reshape(s, k, -1), (s, k, d))
        prec = 1 / variances
        maha = (X * X) @ prec.swapaxes(1, 2) - 2 * X @ (means * prec).swapaxes(1, 2)
        maha += (means**2 * prec).sum(axis=-1)[:, None, :]
        logdet = 0.5 * np.log(variances).sum(axis=-1)
    return -0.5 * (d * LOG_2PI + maha) - logdet[:, None, :]


def precisions_of(covs, cov):
    return 1 / covs if cov in ("diag", "spherical") else np.linalg.inv(covs)


def rounding_variance(X):
    """Per-feature variance of rounding: q**2 / 12 for a feature recorded in steps of q.

    q is the smallest gap between distinct values when every gap is a whole
    number of such steps; for continuous data there is no step (0).
    """
    q = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        gaps = np.diff(np.unique(X[:, j]))
        if gaps.size:  # rounded data: every gap is a whole number of steps
            steps = gaps / gaps.min()
            q[j] = gaps.min() if np.all(np.abs(steps - np.round(steps)) < 1e-3) else 0.0
    return q**2 / 12


def degeneracy(weights, covariances, n_samples, noise_variance, covariance_type="full"):
    """Why a fitted mixture is degenerate, or None.

    - a component with fewer than d + 1 points (what a full covariance of its
      own needs; 3 at most for diagonal ones) models those points, not a population;
    - a component narrower in some direction than the data's rounding (or the
      regulariser: a variance within ten times reg_covar is the regulariser's)
      sits on repeated values: its likelihood, and so its BIC, look excellent
      for no real reason.
    """
    noise_variance = np.maximum(noise_variance, 10 * REG_COVAR)
    d = covariances.shape[-1]
    # Tiny clusters make spurious BIC optima; diagonal ones need no (d + 1) in wide data.
    need = d + 1 if covariance_type in ("full", "tied") else min(d + 1, 3)
    sizes = np.asarray(weights) * n_samples
    if sizes.min() < need - 1e-6:
        j = int(sizes.argmin())
        return f"component {j} holds {sizes[j]:.1f} points (< {need})"
    # Generalised eigenvalues of (covariance, noise): below 1, some direction is narrower.
    scale = 1 / np.sqrt(np.maximum(noise_variance, np.finfo(float).tiny))
    if covariance_type in ("diag", "spherical"):  # diagonal: the eigenvalues are the diagonal
        ratios = (np.diagonal(covariances, axis1=1, axis2=2) * scale**2).min(axis=-1)
    else:
        ratios = np.linalg.eigvalsh(covariances * scale[:, None] * scale[None, :]).min(axis=-1)
    if ratios.min() < 1:
        return (
            f"component {int(ratios.argmin())} is narrower than the data's rounding (or reg_covar)"
        )
    return None


def nearest_component(model, X):
    """Posteriors of points whose every density underflows: all on the nearest component.

    Far out along the direction u = x / s (s huge), the Mahalanobis distance to
    component k is s**2 u'P_k u - 2 s u'P_k mu_k + ...: the s**2 term decides,
    and where components tie on it (tied or equal covariances) the s term does.
    """
    u = X / np.abs(X).max(axis=1, keepdims=True)
    precisions = np.linalg.inv(full_covariances(model))
    quadratic = np.einsum("ni,kij,nj->kn", u, precisions, u)
    linear = -np.einsum("ni,kij,kj->kn", u, precisions, model.means_)
    ties = np.isclose(quadratic, quadratic.min(axis=0), rtol=1e-9)
    return np.eye(model.n_components)[np.where(ties, linear, np.inf).argmin(axis=0)]


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
    """Refuse, before any work, a size the machine cannot hold."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if n_bytes > total:
        raise UsageError(
            f"{what} needs about {n_bytes / 1e9:.1f} GB of memory and this machine "
            f"has {total / 1e9:.1f} GB; use smaller numbers"
        )


# ==========================================================================
# Machinery: output files that never destroy anything
# ==========================================================================
# Why this exists: a figure or sample file written over the input, over a device,
# or half-written after a failure loses data.  Every output is checked before
# any work and written to a temporary file beside it, then renamed into place.


def prepare_display(args):
    """Decide, before any work, whether a window opens or which file the figure goes to."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt

        plt.switch_backend(matplotlib.get_backend())  # loads the backend: a bad one fails here
    except (ValueError, ImportError) as exc:
        if "MPLBACKEND" in os.environ:
            raise UsageError(
                f"MPLBACKEND={os.environ['MPLBACKEND']!r} is not a backend matplotlib "
                "can use; unset it or set MPLBACKEND=Agg"
            ) from None
        raise UsageError(f"matplotlib cannot start ({exc}); use --no-plot") from None
    args.backend = matplotlib.get_backend().lower()
    args.can_show = not args.save and backend_can_show(args.backend)
    args.figure_path = args.save or (None if args.can_show else DEFAULT_FIGURE)
    if args.save and not args.save.lower().endswith(".gif"):
        from matplotlib.backend_bases import FigureCanvasBase

        ext = os.path.splitext(args.save)[1].lstrip(".").lower()
        supported = FigureCanvasBase.get_supported_filetypes()
        if ext not in supported:
            raise UsageError(
                f"--save {args.save}: matplotlib cannot write {ext or 'a file without extension'!r}"
                f"; use one of {', '.join(sorted(supported))}"
            )


def backend_can_show(backend):
    """Whether matplotlib's resolved backend opens windows (as matplotlib lists them)."""
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        windows = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        from matplotlib.rcsetup import interactive_bk as windows
    return backend in map(str.lower, windows) or "inline" in backend or "ipympl" in backend


def check_outputs(args):
    """Refuse an output that is the input, another output, or not a regular file."""
    outputs = [("--save", args.save), ("--sample-out", args.sample_out)]
    if not args.no_plot and not args.save and not getattr(args, "can_show", False):
        outputs.append(("the figure", DEFAULT_FIGURE))
    seen = []
    for option, path in [(option, path) for option, path in outputs if path]:
        problem = output_problem(path, args.csv, seen)
        if problem:
            way_out = "" if option.startswith("--") else "; use --save PATH or --no-plot"
            raise UsageError(f"{option} {path}{problem}{way_out}")
        seen.append((option, path))


def output_problem(path, csv_path, seen):
    """What makes ``path`` unusable as an output (the words after its name), or None."""
    try:
        folder = os.path.dirname(os.path.abspath(path))
    except OSError:  # the working folder was deleted
        return ": the working folder is gone"
    if not os.path.isdir(folder):
        return f": folder {folder} does not exist; create it or choose another path"
    mode = os.stat(path).st_mode if os.path.exists(path) else None  # None: a new file
    if mode is not None and stat.S_ISDIR(mode):
        return ": is a directory; give a file name"
    if mode is not None and not stat.S_ISREG(mode):
        return ": is a device, FIFO or socket, not a file; choose another path"
    if mode is not None and is_input(path, csv_path):
        return f" is the input file ({csv_path}); choose another path"
    for other_option, other in seen:
        same = mode is not None and os.path.exists(other) and os.path.samefile(path, other)
        if same or os.path.abspath(other) == os.path.abspath(path):
            return f" is the same file as {other_option} {other}; choose two paths"
    try:  # ask the file system, not the permission bits (root, read-only mounts)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return f": cannot write in {folder} ({exc.strerror})"
    return None


def is_input(path, csv_path):
    """Whether ``path`` is the --csv file, by any name (standard input: the file behind it)."""
    if csv_path is None:
        return False
    if csv_path == "-":
        stdin = os.fstat(0)
        return stat.S_ISREG(stdin.st_mode) and os.path.samestat(stdin, os.stat(path))
    return os.path.exists(csv_path) and os.path.samefile(path, csv_path)


def write_atomically(path, write, text=True):
    """Write through ``write(handle)`` to a temporary file beside ``path``, then rename it.

    A failure leaves any earlier file at ``path`` as it was.  Text is UTF-8.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gmm-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        umask = os.umask(0)  # mkstemp makes the file private: give it a new file's mode
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if text:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                write(handle)
        else:  # matplotlib writes by file name (an animation cannot take a handle)
            os.close(fd)
            write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise UsageError(
            f"{path}: cannot write ({exc.strerror or exc}); the old file, if any, is unchanged"
        ) from None
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, (KeyboardInterrupt, UsageError, MemoryError)):
            raise
        raise UsageError(
            f"{path}: matplotlib could not write it ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})"
        ) from None


# ==========================================================================
# Machinery: reading the CSV files people bring
# ==========================================================================
# Why this exists: real files are not numpy's idea of a table.  R writes row
# names, quoted headers, NA, decimal commas (write.csv2) and space-separated
# tables (write.table); spreadsheets write #N/A and stray text; pipes cannot be
# read twice.  The text is read once; numbers go through numpy's C parser a
# batch at a time, and what it cannot take is taught to it batch by batch.

MISSING_VALUES = {"", "na", "nan", "n/a", "null", "none", "-"}
SPREADSHEET_ERRORS = {"#n/a", "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!"}
MISSING_CELLS = MISSING_VALUES | SPREADSHEET_ERRORS  # compared stripped and lower-cased
BATCH_CHARS = 4 << 20  # text parsed at a time: memory stays bounded
SNIFF_CHARS = 65_536  # what the encoding and the delimiter are guessed from
MAX_CLASSES = 50  # a --labels column with more distinct values is not one of classes
_NUMBER_START = frozenset("0123456789+-.iInN")  # float() accepts nothing else first
_TEXT_BITS = 0x7FF8_0000_0000_7E47  # a NaN of its own marks text cells: one comparison counts them
_TEXT = struct.unpack("<d", struct.pack("<Q", _TEXT_BITS))[0]
_END = "\0end\0"  # fed to csv last: inside an open quote it ends up in the cell
LOADTXT = {"quotechar": '"', "comments": None, "ndmin": 2}
_NUMPY_FAILED = re.compile(r"could not convert string (.*) to float64 at row \d+, column (\d+)\.")


def read_csv_table(path, delimiter=None, columns=None, label_column=None, encoding=None):
    """Read a CSV with a header row (``path`` "-" is standard input) into a ``Dataset``."""
    source = "standard input" if path == "-" else path
    notes = []
    try:  # each error message starts with the file's name, added here
        text = _read_text(path, encoding, notes)
        if not text or text.isspace():
            raise UsageError("the file is empty; a header row and data rows are needed")
        if "\r" in text:  # one line ending from here on, and at the end too
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.endswith("\n"):
            text += "\n"
        delimiter = delimiter or _sniff_delimiter(text)
        names, pos, line, row_names = _read_header(text, delimiter, notes)
        wanted, label_j = _choose_columns(names, columns, label_column)
        table = _Table(names, wanted, label_j, delimiter, row_names)
        blocks, labels, lines, misses = [], [], [], 0
        while pos < len(text):  # batch by batch: numpy where it can, the csv module where it must
            end = text.find("\n", pos + BATCH_CHARS) + 1 or len(text)
            got = _fast_batch(text, pos, end, line, table) if misses < 3 else None
            if got is None:  # after a few misses numpy is not tried again
                misses += 1
                got = _csv_batch(text, pos, end, line, table)
            block, batch_labels, batch_lines, pos, line = got
            blocks.append(block)
            labels += batch_labels
            lines.append(batch_lines)
        del text  # the numbers are in the blocks now: free the text before building X
        X = np.concatenate(blocks)  # rows x wanted columns: NaN when missing, _TEXT when text
        del blocks
        return _assemble(table, X, labels, np.concatenate(lines), columns, notes, source)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def _read_text(path, encoding, notes):
    """All the text at once (standard input and pipes cannot be read twice), UTF-8 unless told."""
    if path == "-":
        data = sys.stdin.buffer.read()
    elif os.path.isdir(path):
        raise UsageError("is a directory, not a CSV file")
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without writer: no hang
            os.set_blocking(fd, True)  # no writer: EOF at once; a writer: wait for its data
            with open(fd, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise UsageError("no such file; check the --csv path") from None
        except OSError as exc:
            raise UsageError(f"cannot read ({exc.strerror})") from None
    if encoding is None and data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        notes.append("read as UTF-16 (the file starts with a UTF-16 byte-order mark)")
        encoding = "utf-16"
    elif encoding is None:  # every other byte NUL: UTF-16 English text
        odd, even = data[1:SNIFF_CHARS:2], data[:SNIFF_CHARS:2]
        for name, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if len(zeros) > 1 and zeros.count(0) >= 0.9 * len(zeros) and not others.count(0):
                raise UsageError(
                    "looks like UTF-16 text without a byte-order mark; "
                    f"read it with --encoding {name}"
                )
    bom = 3 if encoding is None and data.startswith(codecs.BOM_UTF8) else 0
    try:
        head = data[:SNIFF_CHARS].decode(encoding or "utf-8", "replace")
        # More than 1% control characters: a stray NUL in a cell is not enough.
        if len(re.findall("[\0-\x08\x0e-\x1f]", head)) > max(8, len(head) // 100):
            raise UsageError("looks binary (NUL or control bytes), not a CSV text file")
        text = str(memoryview(data)[bom:], encoding or "utf-8")  # no copy of the bytes
    except LookupError:
        raise UsageError(
            f"unknown encoding {encoding!r} (--encoding); try utf-8, latin-1 or utf-16"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"not {encoding or 'UTF-8'} text ({exc.reason} at byte {exc.start + bom}); "
            "give its encoding, e.g. --encoding latin-1"
        ) from None
    return text.removeprefix("\ufeff")


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


def _choose_columns(names, columns, label_column):
    """(the columns to read as numbers, the label column or None)."""
    by_name = {name: j for j, name in enumerate(names) if name}
    asked = [("--columns", name) for name in columns or []]
    for option, name in asked + ([("--labels", label_column)] if label_column else []):
        if name not in by_name:
            listed = ", ".join(by_name)
            raise UsageError(f"no column named {name!r} for {option}; columns are {listed}")
    if columns and len(set(columns)) < len(columns):
        raise UsageError("--columns names a column twice; name each once")
    if columns and label_column in columns:
        raise UsageError(
            f"{label_column!r} is both in --columns and the --labels column; "
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
    if cell[:1] not in _NUMBER_START:  # spares float() a costly exception for plain text
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
        elif comma_ok and "," in cell and not math.isnan(value):
            table.comma = True
        return value

    return convert


def _fast_batch(text, pos, end, line, table):
    """The lines from ``pos`` to ``end`` through numpy's C parser, or None if it cannot.

    Each failure teaches it a missing-value word, decimal commas or a column with text.
    """
    d, n_cols, batch = table.delimiter, len(table.names), text[pos:end]
    n_lines, padded = batch.count("\n"), "\n" + batch  # each field between two separators
    if f"\n{d * (n_cols - 1)}\n" in padded or batch.count('"') % 2:
        return None  # rows of nothing, or an open quote: for the csv module
    for cell in table.missing:
        padded = _replace_field(padded, cell, d, n_cols)
    if table.comma:
        padded = padded.replace(",", ".")
    for _ in range(n_cols + 8):
        labels, firsts = [], {}  # kept if numpy reads the batch
        readers = {j: len for j in range(n_cols) if j not in table.wanted}  # skipped
        if table.label_j is not None:
            readers[table.label_j] = labels.append  # keeps the labels (numpy stores None as NaN)
        readers.update({j: _cell_reader(table, j, firsts) for j in table.text_cols})
        rows = io.StringIO(padded)
        try:  # encoding=None: str, not bytes, before numpy 2
            X = np.loadtxt(rows, delimiter=d, converters=readers, encoding=None, **LOADTXT)
        except ValueError as exc:
            cell, j = _numpy_failure(exc)
            if j not in table.wanted:
                return None  # not a cell it could not convert
            if cell.strip().lower() in MISSING_CELLS and cell not in table.missing:
                table.missing.add(cell)
                padded = _replace_field(padded, cell, d, n_cols)
            elif d == ";" and "," in cell and not math.isnan(_cell_float(cell, True)):
                table.comma = True
                padded = padded.replace(",", ".")
            else:
                table.text_cols.add(j)
            continue
        if X.shape != (n_lines, n_cols):
            return None  # blank lines skipped, quoted line breaks, ragged rows: line numbers lost
        table.first_text = {**firsts, **table.first_text}  # earlier batches win
        if table.comma and labels:  # the labels lost their commas with the numbers
            labels = [row[table.label_j] for row in csv.reader(io.StringIO(batch), delimiter=d)]
        for j in list(table.text_cols):
            if np.count_nonzero(X[:, j].view(np.int64) == _TEXT_BITS) < n_lines / 2:
                table.text_cols.discard(j)  # mostly numbers: numpy alone first next time
        block = X if table.wanted == list(range(n_cols)) else X[:, table.wanted]  # no copy
        return block, labels, np.arange(line + 1, line + 1 + n_lines), end, line + n_lines
    return None


def _numpy_failure(exc):
    """(the cell, its column) numpy could not convert, or (None, None) for other failures."""
    found = _NUMPY_FAILED.fullmatch(str(exc))
    if not found:
        return None, None
    try:
        cell = ast.literal_eval(found[1])  # numpy quotes it with repr()...
    except (ValueError, SyntaxError):
        cell = found[1]  # ...cut at 100 characters: text
    return cell, int(found[2]) - 1


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
    return block, labels, np.array(starts, dtype=np.int64), *resume


def _assemble(table, X, labels, lines, columns, notes, source):
    """The Dataset: the numeric (or named) columns, rows with a missing value dropped."""
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
        hint = ""
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
    return Dataset(X, [names[j] for j in used], source, y, class_names, dropped, skipped, notes)


if __name__ == "__main__":
    raise SystemExit(main())
