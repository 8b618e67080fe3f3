"""Benchmark of gmm_clustering.py: stage times, peak memory and the targets.

Run from anywhere with the project's interpreter::

    python tests/benchmark.py              # everything: several minutes on 2 busy cores
    python tests/benchmark.py --quick      # a smoke run: small sizes, one run of each
    python tests/benchmark.py --repeats 5  # more runs per median
    python tests/benchmark.py --only t2 t3 # some sections only (stages t1 t2 t3 sweep csv
                                           # mclust apply)

``--quick`` runs everything once, on smaller data: stage rows up to n = 1e5, the
sweep on 10,000 rows, the CSV files at 100,000 rows, the applied model on 200,000
rows (T1 keeps its 1e6 points).  The name keeps pytest from collecting it.  What
it prints:

1. Stage times (import, data, fit, e-step, metrics, figure) and peak memory for
   n = 1e3 .. 1e6 blobs, each run in a fresh child process that calls the
   script's own functions in the order ``lesson`` runs them, set up as
   ``run_and_print`` sets them up (``build_parser().parse_args`` +
   ``check_contradictions``, ``prepare_display``, ``check_outputs``,
   ``native_threads``; then ``load_data`` with its ``check_fittable``,
   ``fit_model``, ``e_step``, ``Tally`` + ``measure``, ``show_or_save`` with
   ``--save big.png``), beside a bare ``make_blobs`` + ``GaussianMixture(4).fit``
   child.
2. The targets, each from whole-process runs interleaved A, B, A, B, ...
   in one session (the machine is shared and noisy: medians, side by side):

   - T1: ``--n-samples 1000000 --save big.png --json`` vs the bare fit,
     time ratio <= 1.5 and peak-memory ratio <= 2;
   - T2: the default run, headless, vs the original tutorial script (kept
     here as TUTORIAL and written to the temporary directory; skipped, with a
     line that says so, if that file is missing or does not run),
     time ratio <= 1.15;
   - T3: ``--select --max-components 9 --no-plot --json`` on the 272 x 2
     Old Faithful data (tests/data/faithful.csv; a generated stand-in when
     that file is missing) vs ``python -c "import sklearn.mixture,
     sklearn.metrics"``, difference <= 1.0 s (aim 0.5 s).
3. The selection sweep: ``--select --max-components 9 --no-plot --json`` on
   100,000 x 2 and 100,000 x 10 blobs beside the bare ``GaussianMixture(4).fit``
   on the same data, times side by side and their ratio (no target).  Above
   4,000 rows the candidates are fitted on a random sample of 4,000 and the
   winner is refitted on all the rows.
4. ``read_csv_table`` (``CsvFile``'s batches, assembled; ``load_data`` if it is
   gone) on 1,000,000 x 10 CSV files: all numeric (80 MB as float64), 9 numeric
   columns + 1 text column, and all numeric with 1% "NA" cells; the last two as
   a ratio to the all-numeric time (target <= 2 each), and ``numpy.loadtxt`` on
   the numeric file for reference.
5. mclust (only where ``Rscript`` runs and ``library(mclust)`` loads; one line
   saying it is skipped otherwise): R's ``Mclust(X, G = 1:9)`` after
   ``read.csv``, whole process, vs ``--csv FILE --select --max-components 9
   --no-plot --json`` on Old Faithful and three more of R's data sets
   (tests/data, tests/data/mclust), interleaved: each time, the ratio, and
   whether the selected models agree (VVV full, EEE tied, VVI diag, VII
   spherical; mclust's other models are named, not compared), with each BIC.
   Floors beside them: ``Rscript -e 'library(mclust)'`` and ``python -c
   "import sklearn.mixture, matplotlib"``, and the ratio over the floors.
   Then the sweeps alone, the same four structures, on every data set of
   tests/data/mclust/tables.json: R's ``mclustBIC(X, G = 1:9, modelNames = c("VII",
   "VVI", "EEE", "VVV"))`` against the script's ``select`` (what ``--select``
   runs), each timed in-process after a warm-up; target: at most 2x on each.
6. apply: a model fitted on 20,000 rows and saved (``--save-model m.json``),
   then ``--model m.json --csv big.csv --assignments out.csv --no-plot`` on a
   2,000,000 x 4 CSV (it streams): time, peak RSS and its ratio to the CSV's
   size, beside an imports-only child; out.csv must have as many data rows as
   big.csv.

Each Python child runs through a tiny wrapper that writes its own peak
RSS at exit (``RUSAGE_CHILDREN`` in the parent would be a maximum over all
children so far); wall time is measured around the child.  The peak is VmHWM
from /proc where it exists, ``ru_maxrss`` elsewhere: on Linux ``ru_maxrss``
survives exec, so a child's value never drops below its parent's RSS at spawn,
and the parent here imports nothing heavy for the same reason.  R runs as it
is, its peak from ``os.wait4`` (``ru_maxrss``, with that floor).  Every child
runs without a display (DISPLAY, WAYLAND_DISPLAY and MPLBACKEND unset) in a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "gmm_clustering.py")
REAL_FAITHFUL = os.path.join(HERE, "data", "faithful.csv")  # R's faithful, write.csv
FAITHFUL_ROWS = 272

SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000, 100_000)
BIG_N = 1_000_000  # stage rows at this size use at most BIG_RUNS runs
BIG_RUNS = 3
CSV_ROWS, QUICK_CSV_ROWS, CSV_COLS = 1_000_000, 100_000, 10
CSV_NA_SHARE = 0.01  # of the cells of the "NA" file
SWEEP_N, QUICK_SWEEP_N = 100_000, 10_000
SWEEP_FEATURES = (2, 10)
SELECT_SAMPLE = 4_000  # gmm_clustering.SELECT_MAX_SAMPLES: the sweep's sample above this
CHILD_TIMEOUT = 900  # seconds; a child that takes longer is a finding, not a hang

T1_MAX_TIME_RATIO, T1_MAX_MEMORY_RATIO = 1.5, 2.0
T2_MAX_TIME_RATIO = 1.15
T3_MAX_DIFFERENCE, T3_AIM = 1.0, 0.5
CSV_MAX_RATIO = 2.0

MCLUST_DATA = ("faithful", "iris", "quakes", "mclust_thyroid")  # tests/data, tests/data/mclust
MCLUST_TYPES = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}
APPLY_ROWS, QUICK_APPLY_ROWS, APPLY_COLS = 2_000_000, 200_000, 4
APPLY_FIT_ROWS = 20_000  # the smaller file the saved model is fitted on

SECTIONS = ("stages", "t1", "t2", "t3", "sweep", "csv", "mclust", "apply")

# Runs a script file (or code) as __main__ and writes, in KiB, its own peak RSS
# and that of its waited-for children (multiprocessing workers) to a file.
# Its own peak is VmHWM where /proc has it: on Linux ru_maxrss survives exec,
# so a child's ru_maxrss is never below its parent's RSS at spawn time.
WRAPPER = """
import os, resource, runpy, sys
rss_path, kind, target = sys.argv[1:4]

def own_peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss // 1024 if sys.platform == "darwin" else maxrss

try:
    if kind == "code":
        sys.argv = ["-c"]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = [target, *sys.argv[4:]]
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")
finally:
    own = own_peak_kib()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if sys.platform == "darwin":
        kids //= 1024
    with open(rss_path, "w") as handle:
        handle.write(f"{own} {kids}")
"""

# The same data as the script's blobs (make_blobs, cluster_std 1, seed 42), fitted bare.
BARE_FIT = """\
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

X, _ = make_blobs(n_samples={n}, centers=4, n_features={d}, random_state=42)
GaussianMixture(n_components=4, random_state=42).fit(X)
"""

# The original tutorial, as published: plt.show() does nothing headless.
TUTORIAL = """\
import matplotlib.pyplot as plt
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

X, _ = make_blobs(n_samples=500, centers=4, n_features=2, random_state=42)
gmm = GaussianMixture(n_components=4, random_state=42)
gmm.fit(X)
labels = gmm.predict(X)
print("Log Likelihood:", gmm.score(X))
print("Silhouette Score:", silhouette_score(X, labels))
plt.scatter(X[:, 0], X[:, 1], c=labels, cmap="viridis", s=40)
plt.title("Gaussian Mixture Model Clustering")
plt.xlabel("Feature 1")
plt.ylabel("Feature 2")
plt.show()
"""

IMPORT_BASELINE = "import sklearn.mixture, sklearn.metrics"
PYTHON_FLOOR = "import sklearn.mixture, matplotlib"  # the mclust section's python floor

# R's model-based clustering with its defaults (all 14 models), on the CSV's numeric
# columns; prints the best model's name, its number of components and its BIC.
R_MCLUST = (
    "library(mclust); X <- read.csv(commandArgs(trailingOnly = TRUE)[1]); "
    "m <- Mclust(X[sapply(X, is.numeric)], G = 1:9); "
    "cat(m$modelName, m$G, sprintf('%.4f', m$bic), '\\n')"
)
R_FLOOR = "library(mclust)"
# The sweep alone, the same four structures: mclustBIC's elapsed seconds, one warm-up and
# then RUNS timed calls in one R process (args: CSV, RUNS), printed on one line.
R_SWEEP = (
    "library(mclust); a <- commandArgs(trailingOnly = TRUE); X <- read.csv(a[1]); "
    "X <- X[sapply(X, is.numeric)]; m <- c('VII', 'VVI', 'EEE', 'VVV'); "
    "invisible(mclustBIC(X, G = 1:9, modelNames = m)); "
    "cat(sapply(seq_len(as.integer(a[2])), function(i) "
    "system.time(mclustBIC(X, G = 1:9, modelNames = m))[['elapsed']]), '\\n')"
)
SWEEP_MAX_RATIO = 2.0  # the sweep against mclustBIC, on each data set


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def peak_rss_mb():
    """This process's peak RSS in MiB: VmHWM on Linux, else ru_maxrss.

    ru_maxrss would do on Linux too but for one thing: it survives exec, so a
    child's value is never below its parent's RSS when it was spawned.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def median(values):
    return statistics.median(values) if values else float("nan")


def spread(values):
    """'min-max' of a list, to show how noisy a median is."""
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def table(headers, rows, note=None):
    """A plain-text table, right-aligned, with an optional note underneath."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    if note:
        lines.append(note)
    print("\n".join(lines) + "\n", flush=True)


def load_average():
    if not hasattr(os, "getloadavg"):
        return "?"
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def heading(text):
    print(f"\n{text}\n{'=' * len(text)}", flush=True)


def log(message):
    print(f"  .. {message}", file=sys.stderr, flush=True)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def headless_env():
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
        env.pop(name, None)
    return env


# --------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------


def run_process(argv, cwd, label):
    """Run one child: (wall seconds, peak RSS in MB, stdout).

    Python children (``script_child``, ``code_child``) run through WRAPPER;
    others (``exec_child``: Rscript) run as they are, see ``run_exec``.
    """
    if argv[0] == "exec":
        return run_exec(argv[1:], cwd, label)
    rss_file = os.path.join(cwd, ".peak-rss")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, rss_file, *argv],
        cwd=cwd,
        env=headless_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{label} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    with open(rss_file) as handle:
        own, kids = (int(v) for v in handle.read().split())
    os.unlink(rss_file)
    peak = max(own, kids) / 1024
    log(f"{label}: {wall:.2f} s, {peak:.0f} MB")
    return wall, peak, proc.stdout


def run_exec(argv, cwd, label):
    """A child that is not Python, as it is: (wall seconds, peak RSS in MB, stdout).

    Its peak is wait4's ``ru_maxrss`` (of it and its waited-for children):
    that survives exec, so it is never below this parent's RSS (kept small).
    """
    out_path, err_path = (os.path.join(cwd, f".exec-{name}") for name in ("out", "err"))
    with open(out_path, "w+") as out, open(err_path, "w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=headless_env(), stdout=out, stderr=err)
        timer = threading.Timer(CHILD_TIMEOUT, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    os.unlink(out_path)
    os.unlink(err_path)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} exited {proc.returncode}:\n{stderr[-2000:]}")
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    log(f"{label}: {wall:.2f} s, {peak:.0f} MB")
    return wall, peak, stdout


def script_child(path, *args):
    return ["path", path, *args]


def exec_child(*argv):
    return ["exec", *argv]


def code_child(code):
    return ["code", code]


def run_worker(kind, *args, cwd):
    """Run this file as an in-process stage worker; its JSON report."""
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", kind, *map(str, args)],
        cwd=cwd,
        env=headless_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} {args} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleave(children, repeats, cwd, outputs=None):
    """Run the named children in turn, ``repeats`` rounds; lists of times and MBs.

    ``outputs``, a dict, receives each child's last standard output.
    """
    times = {name: [] for name in children}
    memory = {name: [] for name in children}
    for round_no in range(1, repeats + 1):
        for name, argv in children.items():
            wall, mb, stdout = run_process(argv, cwd, f"{name} #{round_no}")
            times[name].append(wall)
            memory[name].append(mb)
            if outputs is not None:
                outputs[name] = stdout
    return times, memory


# --------------------------------------------------------------------------
# Workers (run in child processes by run_worker)
# --------------------------------------------------------------------------


class StageClock:
    """Seconds and peak RSS (max so far) at the end of each named stage."""

    def __init__(self):
        self.last = time.perf_counter()
        self.report = {"seconds": {}, "peak_mb": {}}

    def stage(self, name):
        now = time.perf_counter()
        self.report["seconds"][name] = now - self.last
        self.report["peak_mb"][name] = peak_rss_mb()
        self.last = now


def worker_pipeline(n, outdir):
    """The script's default run on n blobs, stage by stage, as ``lesson`` runs it.

    Set up as ``run_and_print`` sets it up (parse, check_contradictions,
    prepare_display, check_outputs, the thread limit; ``main``'s warnings off),
    with ``--save big.png`` so that the figure is drawn and written whatever the
    display.  No progress handler: ``show_progress`` adds one only on a terminal.
    """
    clock = StageClock()
    import numpy as np

    for name in (
        "matplotlib.pyplot",
        "scipy.special",
        "scipy.stats",
        "sklearn.datasets",
        "sklearn.metrics",
        "sklearn.mixture",
        "threadpoolctl",
    ):
        importlib.import_module(name)  # here, so that no stage pays for it

    sys.path.insert(0, ROOT)
    import gmm_clustering as g

    argv = ["--n-samples", str(n), "--save", os.path.join(outdir, "big.png")]
    args = g.build_parser().parse_args(argv)
    g.check_contradictions(args)
    output = g.Output() if args.no_plot else g.prepare_display(args)
    g.check_outputs(args, output)
    clock.stage("import")
    with warnings.catch_warnings(), np.errstate(all="ignore"), g.native_threads():
        warnings.simplefilter("ignore")
        data = g.load_data(args)  # generated blobs, then check_fittable
        clock.stage("data")
        mixture, fitting = g.fit_model(args, data)
        clock.stage("fit")
        log_density, posteriors = g.e_step(mixture, data.X)
        labels = posteriors.argmax(axis=1)
        clock.stage("e-step")
        classes = None if data.y is None else np.array(data.class_names)[data.y]
        tally = g.Tally(len(mixture.weights)).add(log_density, posteriors, classes)
        run = g.Run(args, output, data, mixture, log_density, posteriors, labels, [fitting], tally)
        run.metrics = g.measure(run)
        for step in g.steps_wanted(args):  # none is asked for here, as in the default run
            run.found.append(step(run))
        clock.stage("metrics")
        drawn = g.show_or_save(run)
        clock.stage("figure")
    figure = drawn.results.get("figure")
    if not figure or not os.path.isfile(figure):
        raise RuntimeError(f"show_or_save wrote no figure: {figure!r}")
    return clock.report


def worker_bare(n):
    """make_blobs + GaussianMixture(4).fit, nothing else."""
    clock = StageClock()
    from sklearn.datasets import make_blobs
    from sklearn.mixture import GaussianMixture

    clock.stage("import")
    X, _ = make_blobs(n_samples=n, centers=4, n_features=2, random_state=42)
    clock.stage("generate")
    GaussianMixture(n_components=4, random_state=42).fit(X)
    clock.stage("fit")
    return clock.report


def worker_read_csv(path):
    clock = StageClock()
    sys.path.insert(0, ROOT)
    import gmm_clustering as g

    clock.stage("import")
    if hasattr(g, "read_csv_table"):  # the whole table: CsvFile's batches, assembled
        data = g.read_csv_table(path)
        clock.report["reader"] = "read_csv_table"
    else:  # renamed or gone: the lesson's own way in (CsvFile, then check_fittable)
        data = g.load_data(g.build_parser().parse_args(["--csv", path, "--no-plot"]))
        clock.report["reader"] = "load_data"
    clock.stage("read")
    clock.report["shape"] = list(data.X.shape)
    return clock.report


def worker_loadtxt(path):
    clock = StageClock()
    import numpy as np

    clock.stage("import")
    X = np.loadtxt(path, delimiter=",", skiprows=1)
    clock.stage("read")
    clock.report["shape"] = list(X.shape)
    return clock.report


def worker_select(path, runs):
    """The script's sweep, as --select runs it (k = 1..9), on a CSV's numeric columns:
    one warm-up, then ``runs`` timed calls of ``select``."""
    import numpy as np

    sys.path.insert(0, ROOT)
    import gmm_clustering as g

    X = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    max_k = min(9, max(1, len(X) // 2))
    g.select(X, max_k, "bic", 42)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        g.select(X, max_k, "bic", 42)
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "shape": list(X.shape)}


def worker_info():
    """Library versions and thread pools, as the children see them."""
    import matplotlib
    import numpy
    import scipy
    import sklearn

    for name in ("matplotlib.pyplot", "sklearn.mixture", "sklearn.metrics"):
        importlib.import_module(name)  # a warm-up for the children that follow
    info = {
        "libraries": f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}, "
        f"matplotlib {matplotlib.__version__}, scipy {scipy.__version__}",
        "threads": "?",
    }
    try:
        importlib.import_module("scipy.linalg")  # scipy's own BLAS, for threadpoolctl
        from threadpoolctl import threadpool_info

        info["threads"] = "; ".join(
            f"{p['internal_api']} {p.get('version') or ''} x{p['num_threads']} ({p['prefix']})"
            for p in threadpool_info()
        )
    except ImportError:
        pass
    return info


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def write_file(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def write_faithful_standin(path, seed=1):
    """272 rows like Old Faithful: two correlated bivariate-normal clusters, rounded.

    Pure Python, so that the parent process stays small (see peak_rss_mb).
    """
    rng = random.Random(seed)
    rho = 0.3  # within-cluster correlation of eruptions and waiting
    n_short = round(0.35 * FAITHFUL_ROWS)
    clusters = ((n_short, 2.04, 0.27, 54.5, 5.9), (FAITHFUL_ROWS - n_short, 4.29, 0.41, 80.0, 5.9))
    rows = []
    for n, m_erupt, s_erupt, m_wait, s_wait in clusters:
        for _ in range(n):
            z1, z2 = rng.gauss(0, 1), rng.gauss(0, 1)
            eruptions = m_erupt + s_erupt * z1
            waiting = m_wait + s_wait * (rho * z1 + math.sqrt(1 - rho**2) * z2)
            rows.append((f"{eruptions:.3f}", f"{round(waiting):d}"))
    rng.shuffle(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["eruptions", "waiting"])
        writer.writerows(rows)
    return path


def worker_write_csv(folder, rows=CSV_ROWS, cols=CSV_COLS, seed=0):
    """Three CSV files of the same standard-normal numbers (6 significant digits).

    numeric: a header x0..x9 and numbers only; text: the last column replaced
    by a word (column "group"); na: CSV_NA_SHARE of the cells replaced by NA.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    paths = {kind: os.path.join(folder, f"{kind}.csv") for kind in ("numeric", "text", "na")}
    header = [f"x{j}" for j in range(cols)]
    np.savetxt(paths["numeric"], X, delimiter=",", header=",".join(header), comments="", fmt="%.6g")
    del X
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    group = rng.integers(len(words), size=rows).tolist()
    na_cells = rng.random((rows, cols)) < CSV_NA_SHARE
    na_rows = {
        int(i): np.flatnonzero(na_cells[i]).tolist() for i in np.flatnonzero(na_cells.any(1))
    }
    with (
        open(paths["numeric"]) as numeric,
        open(paths["text"], "w") as text,
        open(paths["na"], "w") as na,
    ):
        next(numeric)
        text.write(",".join([*header[:-1], "group"]) + "\n")
        na.write(",".join(header) + "\n")
        for i, line in enumerate(numeric):
            text.write(f"{line.rsplit(',', 1)[0]},{words[group[i]]}\n")
            if i in na_rows:
                cells = line.rstrip("\n").split(",")
                for j in na_rows[i]:
                    cells[j] = "NA"
                line = ",".join(cells) + "\n"
            na.write(line)
    return {"paths": paths, "na_cells": int(na_cells.sum()), "na_rows": len(na_rows)}


def worker_write_apply_csv(folder, rows=APPLY_ROWS, cols=APPLY_COLS, seed=0):
    """big.csv (``rows`` x ``cols``) and fit.csv (APPLY_FIT_ROWS), 6 significant digits.

    Both are four Gaussian blobs (sd 1, centres uniform in [-10, 10]^cols), the
    same centres; big.csv is written 100,000 rows at a time (bounded memory).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10, 10, size=(4, cols))
    header = ",".join(f"x{j}" for j in range(cols))
    paths = {name: os.path.join(folder, f"{name}.csv") for name in ("big", "fit")}
    for name, n in (("big", rows), ("fit", APPLY_FIT_ROWS)):
        with open(paths[name], "w") as handle:
            handle.write(header + "\n")
            for start in range(0, n, 100_000):
                size = min(100_000, n - start)
                X = centers[rng.integers(4, size=size)] + rng.normal(size=(size, cols))
                np.savetxt(handle, X, delimiter=",", fmt="%.6g")
    return {"paths": paths}


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def print_machine(tmp):
    """The machine and libraries; the info child also warms the page cache."""
    info = run_worker("info", cwd=tmp)
    heading("Machine")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"platform    {platform.platform()} ({platform.machine()})")
    print(f"cpus        {os.cpu_count()} (usable by this process: {affinity})")
    print(f"load avg    {load_average()} (1 / 5 / 15 min, at start)")
    print(f"python      {platform.python_version()} ({sys.executable})")
    print(f"libraries   {info['libraries']}")
    print(f"threads     {info['threads']}")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if name in os.environ:
            print(f"env         {name}={os.environ[name]}")


def section_stages(sizes, repeats, big_repeats, tmp):
    heading("1. Stages of the script vs the bare fit (in-process, one fresh child per run)")
    stages = ("data", "fit", "e-step", "metrics", "figure")
    stage_rows, memory_rows = [], []
    for n in sizes:
        runs = big_repeats if n >= BIG_N else repeats
        pipe, bare = [], []
        for round_no in range(1, runs + 1):
            pipe.append(run_worker("pipeline", n, tmp, cwd=tmp))
            bare.append(run_worker("bare", n, cwd=tmp))
            log(f"stages n={n:,} #{round_no}: fit {pipe[-1]['seconds']['fit']:.2f} s")

        def sec(reports, stage):
            return median([r["seconds"][stage] for r in reports])

        def mb(reports, stage):
            return median([r["peak_mb"][stage] for r in reports])

        total = median([sum(r["seconds"][s] for s in stages) for r in pipe])
        bare_total = median([r["seconds"]["generate"] + r["seconds"]["fit"] for r in bare])
        stage_rows.append(
            [
                f"{n:,}",
                runs,
                *(f"{sec(pipe, s):.3f}" for s in ("import", *stages)),
                f"{total:.3f}",
                f"{sec(bare, 'generate'):.3f}",
                f"{sec(bare, 'fit'):.3f}",
                f"{bare_total:.3f}",
                f"{total / bare_total:.2f}",
            ]
        )
        memory_rows.append(
            [
                f"{n:,}",
                f"{n * 2 * 8 / 1e6:.1f}",
                *(f"{mb(pipe, s):.0f}" for s in ("import", *stages)),
                f"{mb(bare, 'import'):.0f}",
                f"{mb(bare, 'fit'):.0f}",
                f"{mb(pipe, 'figure') / mb(bare, 'fit'):.2f}",
            ]
        )
    table(
        [
            "n",
            "runs",
            "import",
            *stages,
            "script",
            "bare gen",
            "bare fit",
            "bare",
            "script/bare",
        ],
        stage_rows,
        "Seconds, median over runs (runs = fresh child processes, script and bare interleaved);\n"
        f"n = {BIG_N:,} uses {big_repeats} run(s), see T1 for whole-process medians at that size.\n"
        "script = data+fit+e-step+metrics+figure, as lesson() runs them: data = load_data\n"
        "(make_blob_data + check_fittable), fit = fit_model, e-step = e_step + argmax, metrics\n"
        "= Tally + measure (and steps_wanted, none here), figure = show_or_save --save big.png\n"
        "(build_figure + PNG at dpi 100 with Agg); bare = make_blobs + GaussianMixture(4).fit.\n"
        "Imports (sklearn, scipy.stats, matplotlib, the script) and the argument checks\n"
        "(parse_args, check_contradictions, prepare_display, check_outputs) are timed apart\n"
        "and left out of both totals.",
    )
    table(
        [
            "n",
            "data MB",
            "import",
            *stages,
            "bare import",
            "bare fit",
            "peak ratio",
        ],
        memory_rows,
        "Peak RSS in MB (VmHWM, the maximum so far at the end of each stage); data MB is\n"
        "n x 2 float64.  peak ratio = script peak (after figure) / bare peak (after fit).",
    )


def section_t1(repeats, tmp):
    heading("2. T1: --n-samples 1000000 --save big.png --json vs bare generate + fit")
    bare = write_file(tmp, "bare_fit_1e6.py", BARE_FIT.format(n=1_000_000, d=2))
    children = {
        "script": script_child(SCRIPT, "--n-samples", "1000000", "--save", "big.png", "--json"),
        "bare": script_child(bare),
    }
    times, memory = interleave(children, repeats, tmp)
    time_ratio = median(times["script"]) / median(times["bare"])
    memory_ratio = median(memory["script"]) / median(memory["bare"])
    pair_ratios = [a / b for a, b in zip(times["script"], times["bare"])]
    table(
        ["process", "runs", "median s", "range s", "median peak MB"],
        [
            [name, len(times[name]), f"{median(times[name]):.2f}", spread(times[name])]
            + [f"{median(memory[name]):.0f}"]
            for name in children
        ],
        f"time ratio   {time_ratio:.2f} (target <= {T1_MAX_TIME_RATIO})  "
        f"{verdict(time_ratio <= T1_MAX_TIME_RATIO)}   per-pair ratios {spread(pair_ratios)}\n"
        f"memory ratio {memory_ratio:.2f} (target <= {T1_MAX_MEMORY_RATIO})  "
        f"{verdict(memory_ratio <= T1_MAX_MEMORY_RATIO)}",
    )
    return [
        ("T1 time ratio", time_ratio, f"<= {T1_MAX_TIME_RATIO}", time_ratio <= T1_MAX_TIME_RATIO),
        (
            "T1 memory ratio",
            memory_ratio,
            f"<= {T1_MAX_MEMORY_RATIO}",
            memory_ratio <= T1_MAX_MEMORY_RATIO,
        ),
    ]


def section_t2(repeats, tmp):
    heading("3. T2: default run (headless) vs the original tutorial script")
    tutorial = write_file(tmp, "tutorial.py", TUTORIAL)
    children = {"script": script_child(SCRIPT), "tutorial": script_child(tutorial)}
    if not os.path.isfile(tutorial):
        print(f"T2 skipped: the tutorial script {tutorial} does not exist.\n", flush=True)
        return []
    run_process(children["script"], tmp, "warm-up script")  # font cache, page cache
    try:
        run_process(children["tutorial"], tmp, "warm-up tutorial")
    except RuntimeError as exc:  # the published code no longer runs with these libraries
        print(f"T2 skipped: the tutorial script fails here ({exc}).\n", flush=True)
        return []
    times, memory = interleave(children, repeats, tmp)
    ratio = median(times["script"]) / median(times["tutorial"])
    pair_ratios = [a / b for a, b in zip(times["script"], times["tutorial"])]
    table(
        ["process", "runs", "median s", "range s", "median peak MB"],
        [
            [name, len(times[name]), f"{median(times[name]):.2f}", spread(times[name])]
            + [f"{median(memory[name]):.0f}"]
            for name in children
        ],
        f"time ratio {ratio:.2f} (target <= {T2_MAX_TIME_RATIO})  "
        f"{verdict(ratio <= T2_MAX_TIME_RATIO)}   per-pair ratios {spread(pair_ratios)}\n"
        "(one untimed warm-up run of each first; cwd a temporary directory, no display)",
    )
    return [("T2 time ratio", ratio, f"<= {T2_MAX_TIME_RATIO}", ratio <= T2_MAX_TIME_RATIO)]


def section_t3(repeats, tmp):
    heading("4. T3: --select --max-components 9 --no-plot --json on 272 x 2 vs bare imports")
    select = ["--columns", "eruptions,waiting", "--select", "--max-components", "9"]
    select += ["--no-plot", "--json"]
    if os.path.exists(REAL_FAITHFUL):
        name, path = "faithful", REAL_FAITHFUL
        about = f"faithful = {os.path.relpath(REAL_FAITHFUL, ROOT)}, R's faithful data"
    else:
        name, path = "stand-in", write_faithful_standin(os.path.join(tmp, "faithful.csv"))
        about = (
            f"stand-in = generated 272 x 2 Old-Faithful-like data ({REAL_FAITHFUL} is\n"
            "missing here): 35%/65% clusters, r = 0.3, rounded like the original"
        )
    children = {
        f"select {name}": script_child(SCRIPT, "--csv", path, *select),
        "imports only": code_child(IMPORT_BASELINE),
    }
    run_process(children["imports only"], tmp, "warm-up imports")
    times, memory = interleave(children, repeats, tmp)
    base = median(times["imports only"])
    diff = median(times[f"select {name}"]) - base
    ok = diff <= T3_MAX_DIFFERENCE
    rows = [
        [
            child,
            len(times[child]),
            f"{median(times[child]):.2f}",
            spread(times[child]),
            f"{median(memory[child]):.0f}",
            "-" if child == "imports only" else f"{diff:+.2f}",
            "" if child == "imports only" else verdict(ok),
        ]
        for child in children
    ]
    table(
        ["process", "runs", "median s", "range s", "peak MB", "minus imports s", "target"],
        rows,
        f"target: median(select) - median(imports only) <= {T3_MAX_DIFFERENCE} s "
        f"(aim {T3_AIM} s: {'met' if diff <= T3_AIM else 'not met'});\n{about}.\n"
        "Peak MB is the larger of the process and its forked workers (RUSAGE_CHILDREN).",
    )
    return [(f"T3 difference, {name} (s)", diff, f"<= {T3_MAX_DIFFERENCE}", ok)]


def section_sweep(n, repeats, tmp):
    heading(
        f"5. Sweep: --select --max-components 9 --no-plot --json on {n:,} blobs vs the bare "
        f"fit (candidates on a random {SELECT_SAMPLE:,}-row sample, the winner refitted on all)"
    )
    rows, outputs = [], {}
    for d in SWEEP_FEATURES:
        bare = write_file(tmp, f"bare_fit_{n}x{d}.py", BARE_FIT.format(n=n, d=d))
        select = ["--n-samples", str(n), "--n-features", str(d), "--select"]
        select += ["--max-components", "9", "--no-plot", "--json"]
        children = {f"select {d}": script_child(SCRIPT, *select), f"bare {d}": script_child(bare)}
        times, memory = interleave(children, repeats, tmp, outputs)
        result = json.loads(outputs[f"select {d}"].strip().splitlines()[-1])
        script_s, bare_s = median(times[f"select {d}"]), median(times[f"bare {d}"])
        sample = result.get("selection_sample_size")
        rows.append(
            [
                f"{n:,} x {d}",
                repeats,
                f"{script_s:.2f}",
                spread(times[f"select {d}"]),
                f"{bare_s:.2f}",
                spread(times[f"bare {d}"]),
                f"{script_s / bare_s:.2f}",
                f"{median(memory[f'select {d}']):.0f}",
                f"{median(memory[f'bare {d}']):.0f}",
                f"{result['covariance_type']} k={result['n_components']}",
                f"{sample:,}" if sample else "all rows",
            ]
        )
    table(
        [
            "data",
            "runs",
            "select s",
            "range s",
            "bare fit s",
            "range s",
            "ratio",
            "select MB",
            "bare MB",
            "selected",
            "swept on",
        ],
        rows,
        "Whole processes, interleaved, medians; select = the script with the options above,\n"
        "bare fit = make_blobs + GaussianMixture(4).fit on the same data (no thread limit);\n"
        "ratio = select / bare fit.  No target: the numbers only.  selected and swept on are\n"
        "from the script's JSON (selection_sample_size).",
    )


CSV_FILES = {  # kind: what the file holds
    "numeric": "all numeric",
    "text": "9 numeric + 1 text",
    "na": f"{CSV_NA_SHARE:.0%} NA cells",
}


def section_csv(rows_n, repeats, tmp):
    heading(f"6. read_csv_table on {rows_n:,} x {CSV_COLS} CSV files")
    start = time.perf_counter()
    written = run_worker("write_csv", tmp, rows_n, cwd=tmp)  # in a child: the parent stays small
    paths = written["paths"]
    seconds = time.perf_counter() - start
    log(f"wrote {', '.join(paths.values())} in {seconds:.1f} s")
    readers = {f"read_csv_table, {CSV_FILES[kind]}": ("read_csv", paths[kind]) for kind in paths}
    readers["numpy.loadtxt, all numeric"] = ("loadtxt", paths["numeric"])
    reports = {name: [] for name in readers}
    for round_no in range(1, repeats + 1):
        for name, (kind, path) in readers.items():
            reports[name].append(run_worker(kind, path, cwd=tmp))
            log(f"{name} #{round_no}: {reports[name][-1]['seconds']['read']:.2f} s")
    base_name = f"read_csv_table, {CSV_FILES['numeric']}"
    reader = reports[base_name][-1].get("reader", "?")
    base = median([r["seconds"]["read"] for r in reports[base_name]])
    rows, results = [], []
    for name, runs in reports.items():
        secs = [r["seconds"]["read"] for r in runs]
        n_rows, n_cols = runs[-1]["shape"]
        peak = median([r["peak_mb"]["read"] for r in runs])
        added = median([r["peak_mb"]["read"] - r["peak_mb"]["import"] for r in runs])
        ratio = median(secs) / base
        checked = name.startswith("read_csv_table") and name != base_name
        rows.append(
            [
                name,
                len(runs),
                f"{median(secs):.2f}",
                spread(secs),
                f"{n_rows:,} x {n_cols}",
                f"{peak:.0f}",
                f"{added:.0f}",
                f"{added / (n_rows * n_cols * 8 / 1e6):.1f}x",
                f"{ratio:.2f}",
                verdict(ratio <= CSV_MAX_RATIO) if checked else "",
            ]
        )
        if checked:
            label = f"CSV {name.split(', ')[1]} / numeric"
            results.append((label, ratio, f"<= {CSV_MAX_RATIO}", ratio <= CSV_MAX_RATIO))
    sizes = ", ".join(f"{kind} {os.path.getsize(p) / 1e6:.0f}" for kind, p in paths.items())
    table(
        [
            "reader, file",
            "runs",
            "median s",
            "range s",
            "rows x cols read",
            "peak MB",
            "peak - import MB",
            "vs data",
            "/ numeric",
            "target",
        ],
        rows,
        f"Files on disk (MB): {sizes}: the same standard-normal numbers, 6 significant\n"
        f"digits, written once in {seconds:.1f} s; the text file's last column is a word; the NA "
        f"file\nhas {written['na_cells']:,} NA cells in {written['na_rows']:,} rows, which "
        "read_csv_table drops.\n"
        "/ numeric = median time / that of read_csv_table on the all-numeric file (target <= "
        f"{CSV_MAX_RATIO}\nfor the text and NA files); vs data = (peak - import) / the float64 "
        "size of what was read.\nEach run is a fresh child process; numpy.loadtxt is a "
        f"reference reader.  The script's reader here: {reader}.",
    )
    return results


def mclust_unavailable():
    """Why R's mclust cannot be timed here (one line), or None when it can."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript is not on PATH"
    try:  # also the warm-up of R and mclust
        proc = subprocess.run(
            [rscript, "-e", R_FLOOR], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Rscript does not run ({exc})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return f"library(mclust) does not load ({last})"
    return None


def mclust_files():
    """(name, path) of the CSVs of MCLUST_DATA found in tests/data, then tests/data/mclust."""
    folders = (os.path.join(HERE, "data"), os.path.join(HERE, "data", "mclust"))
    found = []
    for name in MCLUST_DATA:
        paths = [os.path.join(folder, f"{name}.csv") for folder in folders]
        path = next((p for p in paths if os.path.isfile(p)), None)
        if path is not None:
            found.append((name, path))
    return found


def section_mclust(repeats, tmp):
    heading(
        "7. mclust: R's Mclust(X, G = 1:9) vs --select --max-components 9 --no-plot --json "
        "(whole processes)"
    )
    why = mclust_unavailable() or (None if mclust_files() else "no CSV of MCLUST_DATA found")
    if why:
        print(f"mclust skipped: {why}.\n", flush=True)
        return []
    rscript = shutil.which("Rscript")
    floors = {
        "R start-up": exec_child(rscript, "-e", R_FLOOR),
        "python imports": code_child(PYTHON_FLOOR),
    }
    run_process(floors["python imports"], tmp, "warm-up python imports")
    floor_times, floor_memory = interleave(floors, repeats, tmp)
    r_floor, py_floor = (median(floor_times[name]) for name in floors)
    table(
        ["floor", "runs", "median s", "range s", "median peak MB"],
        [
            [name, repeats, f"{median(floor_times[name]):.2f}", spread(floor_times[name])]
            + [f"{median(floor_memory[name]):.0f}"]
            for name in floors
        ],
        f"R start-up = Rscript -e '{R_FLOOR}'; python imports = python -c \"{PYTHON_FLOOR}\".",
    )
    select = ["--select", "--max-components", "9", "--no-plot", "--json"]
    time_rows, model_rows = [], []
    for name, path in mclust_files():
        children = {
            "R": exec_child(rscript, "-e", R_MCLUST, path),
            "script": script_child(SCRIPT, "--csv", path, *select),
        }
        outputs = {}
        times, memory = interleave(children, repeats, tmp, outputs)
        r_model, r_k, r_bic = outputs["R"].split()[:3]
        result = json.loads(outputs["script"].strip().splitlines()[-1])
        ours = (result["covariance_type"], int(result["n_components"]))
        theirs = MCLUST_TYPES.get(r_model)
        if theirs is None:
            agree = f"- ({r_model} is none of the four)"
        else:
            agree = "yes" if (theirs, int(r_k)) == ours else "no"
        r_s, py_s = median(times["R"]), median(times["script"])
        r_over, py_over = r_s - r_floor, py_s - py_floor
        over_ratio = f"{py_over / r_over:.1f}" if r_over > 0.01 else "-"
        shape = f"{result['n_samples']} x {result['n_features']}"
        time_rows.append(
            [
                name,
                shape,
                repeats,
                f"{r_s:.2f}",
                spread(times["R"]),
                f"{py_s:.2f}",
                spread(times["script"]),
                f"{py_s / r_s:.1f}",
                f"{r_over:+.2f}",
                f"{py_over:+.2f}",
                over_ratio,
            ]
        )
        model_rows.append(
            [
                name,
                os.path.relpath(path, ROOT),
                f"{r_model} k={r_k}" + (f" ({theirs})" if theirs else ""),
                f"{ours[0]} k={ours[1]}",
                agree,
                f"{-float(r_bic):.1f}",
                "-" if result.get("bic") is None else f"{result['bic']:.1f}",
                f"{median(memory['R']):.0f}",
                f"{median(memory['script']):.0f}",
            ]
        )
    table(
        [
            "data",
            "n x d",
            "runs",
            "R s",
            "range s",
            "script s",
            "range s",
            "script/R",
            "R - floor",
            "script - floor",
            "ratio over floors",
        ],
        time_rows,
        "Whole processes, interleaved, medians.  R = Rscript -e: read.csv, then Mclust(X, G =\n"
        "1:9) on the numeric columns with mclust's defaults (all 14 models); script = python\n"
        "gmm_clustering.py --csv FILE --select --max-components 9 --no-plot --json (four\n"
        f"covariance types).  floor = the medians above: R {r_floor:.2f} s, python "
        f"{py_floor:.2f} s;\nratio over floors = (script - floor) / (R - floor), '-' where R's "
        "part is under 0.01 s.",
    )
    table(
        [
            "data",
            "file",
            "mclust's best",
            "script's",
            "agree",
            "mclust BIC",
            "script BIC",
            "R MB",
            "script MB",
        ],
        model_rows,
        "mclust's model names: VVV = full, EEE = tied, VVI = diag, VII = spherical (compared);\n"
        "its ten others have no scikit-learn covariance type, so they are named, not compared.\n"
        "BIC in the script's sign (-2 log L + p log n, lower is better): mclust's negated.\n"
        "R MB is wait4's ru_maxrss (never below this parent's "
        f"{peak_rss_mb():.0f} MB at spawn); script MB is VmHWM.",
    )
    return section_mclust_sweeps(repeats, tmp)


def section_mclust_sweeps(repeats, tmp):
    """The sweeps alone, in-process, the same four structures, on every table kept."""
    folder = os.path.join(HERE, "data", "mclust")
    with open(os.path.join(folder, "tables.json")) as handle:  # the data sets with tables
        names = sorted(json.load(handle)["tables"])
    runs = max(3, repeats)
    rows, ratios = [], []
    for name in names:
        path = os.path.join(folder, f"{name}.csv")
        r_seconds = [
            float(v)
            for v in run_exec(
                [shutil.which("Rscript"), "-e", R_SWEEP, path, str(runs)], tmp, f"mclustBIC {name}"
            )[2].split()
        ]
        ours = run_worker("select", path, runs, cwd=tmp)
        r_s, py_s = median(r_seconds), median(ours["seconds"])
        ratio = py_s / max(r_s, 1e-3)  # R's timer counts milliseconds
        ratios.append((ratio, name))
        shape = " x ".join(map(str, ours["shape"]))
        rows.append([name, shape, runs, f"{r_s:.3f}", f"{py_s:.3f}", f"{ratio:.1f}"])
    table(
        ["data", "n x d", "runs", "mclustBIC s", "select s", "ratio"],
        rows,
        "In-process, medians after a warm-up: R's system.time(mclustBIC(X, G = 1:9, modelNames =\n"
        "c('VII', 'VVI', 'EEE', 'VVV'))) against the script's select(X, 9) (what --select runs),\n"
        f"on every data set of {os.path.relpath(folder, ROOT)}/tables.json.  Target: ratio <= {SWEEP_MAX_RATIO} on each.",
    )
    worst, name = max(ratios)
    total = f"worst of {len(ratios)}: {name}"
    return [
        (f"sweep / mclustBIC, {total}", worst, f"<= {SWEEP_MAX_RATIO}", worst <= SWEEP_MAX_RATIO)
    ]


def count_data_rows(path):
    """Lines after the header, read 1 MiB at a time (the parent stays small)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines - 1 + (last != b"\n")


def section_apply(rows_n, repeats, tmp):
    heading(
        f"8. apply: --model m.json --csv on {rows_n:,} x {APPLY_COLS} rows --assignments "
        "out.csv --no-plot (streamed)"
    )
    start = time.perf_counter()
    paths = run_worker("write_apply_csv", tmp, rows_n, cwd=tmp)["paths"]
    written = time.perf_counter() - start
    csv_mb = os.path.getsize(paths["big"]) / 1e6
    log(f"wrote {paths['big']} ({csv_mb:.0f} MB) and {paths['fit']} in {written:.1f} s")
    fit_argv = ["--csv", paths["fit"], "--save-model", "m.json", "--no-plot", "--json"]
    fit_s, fit_mb, stdout = run_process(script_child(SCRIPT, *fit_argv), tmp, "fit + save")
    fitted = json.loads(stdout.strip().splitlines()[-1])
    out_csv = os.path.join(tmp, "out.csv")
    apply_argv = ["--model", "m.json", "--csv", paths["big"], "--assignments", out_csv]
    plain_read = f"import numpy; numpy.loadtxt({paths['big']!r}, delimiter=',', skiprows=1)"
    children = {
        "apply": script_child(SCRIPT, *apply_argv, "--no-plot"),
        "plain read (numpy.loadtxt)": code_child(plain_read),
        "imports only": code_child(IMPORT_BASELINE),
    }
    times, memory = interleave(children, repeats, tmp)
    in_rows, out_rows = count_data_rows(paths["big"]), count_data_rows(out_csv)
    rows_ok = out_rows == in_rows == rows_n
    out_mb = os.path.getsize(out_csv) / 1e6
    os.unlink(out_csv)
    apply_mb, floor_mb = median(memory["apply"]), median(memory["imports only"])
    table(
        [
            "process",
            "runs",
            "median s",
            "range s",
            "median peak MB",
            "peak / CSV",
            "over imports / CSV",
            "rows/s",
        ],
        [
            [
                "apply",
                repeats,
                f"{median(times['apply']):.2f}",
                spread(times["apply"]),
                f"{apply_mb:.0f}",
                f"{apply_mb / csv_mb:.2f}",
                f"{(apply_mb - floor_mb) / csv_mb:.2f}",
                f"{in_rows / median(times['apply']):,.0f}",
            ],
            [
                "plain read (numpy.loadtxt)",
                repeats,
                f"{median(times['plain read (numpy.loadtxt)']):.2f}",
                spread(times["plain read (numpy.loadtxt)"]),
                f"{median(memory['plain read (numpy.loadtxt)']):.0f}",
                f"{median(memory['plain read (numpy.loadtxt)']) / csv_mb:.2f}",
                f"{(median(memory['plain read (numpy.loadtxt)']) - floor_mb) / csv_mb:.2f}",
                f"{in_rows / median(times['plain read (numpy.loadtxt)']):,.0f}",
            ],
            [
                "imports only",
                repeats,
                f"{median(times['imports only']):.2f}",
                spread(times["imports only"]),
                f"{floor_mb:.0f}",
                "-",
                "-",
                "-",
            ],
        ],
        f"big.csv: {in_rows:,} data rows x {APPLY_COLS}, {csv_mb:.0f} MB (written in "
        f"{written:.1f} s); out.csv: {out_rows:,} data rows, {out_mb:.0f} MB;\n"
        f"rows written = rows read: {verdict(rows_ok)}.  peak / CSV = apply's peak RSS / the "
        "CSV's size; over imports\n= (apply's peak - the imports-only peak) / the CSV's size.  "
        f"The model: {fitted['covariance_type']} k={fitted['n_components']},\n"
        f"fitted on {APPLY_FIT_ROWS:,} rows of the same blobs (--save-model: {fit_s:.2f} s, "
        f"{fit_mb:.0f} MB).\nWhole processes, apply and imports only (python -c "
        f'"{IMPORT_BASELINE}")\ninterleaved, medians.',
    )
    return [("apply: out.csv rows / input rows", out_rows / in_rows, "= 1", rows_ok)]


def print_summary(results):
    heading("Targets")
    table(
        ["target", "measured", "goal", "result"],
        [[name, f"{value:.2f}", goal, verdict(ok)] for name, value, goal, ok in results],
    )


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

WORKERS = {
    "pipeline": lambda args: worker_pipeline(int(args[0]), args[1]),
    "bare": lambda args: worker_bare(int(args[0])),
    "read_csv": lambda args: worker_read_csv(args[0]),
    "loadtxt": lambda args: worker_loadtxt(args[0]),
    "write_csv": lambda args: worker_write_csv(args[0], int(args[1])),
    "write_apply_csv": lambda args: worker_write_apply_csv(args[0], int(args[1])),
    "info": lambda args: worker_info(),
    "select": lambda args: worker_select(args[0], int(args[1])),
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: smaller sizes, one run of each"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs per median (default 3; CSV reading and apply 1; --quick 1)",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker[0]](args.worker[1:])))
        return 0
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = QUICK_SIZES if args.quick else SIZES
    big_repeats = min(repeats, BIG_RUNS)
    csv_repeats = args.repeats or 1
    sweep_n = QUICK_SWEEP_N if args.quick else SWEEP_N
    csv_rows = QUICK_CSV_ROWS if args.quick else CSV_ROWS
    apply_rows = QUICK_APPLY_ROWS if args.quick else APPLY_ROWS
    sections = args.only or SECTIONS

    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="gmm-bench-")
    results = []
    try:
        print_machine(tmp)
        if "stages" in sections:
            section_stages(sizes, repeats, big_repeats, tmp)
        if "t1" in sections:
            results += section_t1(repeats, tmp)
        if "t2" in sections:
            results += section_t2(repeats, tmp)
        if "t3" in sections:
            results += section_t3(repeats, tmp)
        if "sweep" in sections:
            section_sweep(sweep_n, repeats, tmp)
        if "csv" in sections:
            results += section_csv(csv_rows, csv_repeats, tmp)
        if "mclust" in sections:
            results += section_mclust(repeats, tmp)
        if "apply" in sections:
            results += section_apply(apply_rows, csv_repeats, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if results:
        print_summary(results)
    elapsed = time.perf_counter() - started
    print(f"Total benchmark time {elapsed:.0f} s; load avg at end {load_average()}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
