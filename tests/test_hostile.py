"""Hostile input: nothing lost, nothing hidden.

The script never ends in a traceback, a hang, a damaged file or a silent wrong answer.
Plain bad values are rows of the bad-input table (test_bad_input.py); here are the cases
about files and processes, each asserting the one outcome the script gives:

1. Outputs never destroy anything: an output that is the input (by name, symlink or
   hard link), the automatic figure when it is the input, a FIFO, /dev/null or a
   folder as --sample-out, --save and --sample-out naming one file, a failed write,
   --save x.pgf without LaTeX, an output in an unwritable or deleted folder.  Each
   refusal is checked three ways: the exit status and the one line, that no work was
   started (the ``no_work`` tripwire), and that no file changed (the folder is listed
   and every file checksummed before and after).
2. Numbers at the edges: far-away --predict points, strict JSON, extreme scales.
3. Quiet and clean: no warning text, a bad MPLBACKEND, an ASCII-only locale, stderr
   closed, stdout closed or full (exit 1), Ctrl-C (exit 130).
4. The second round: SIGTERM and SIGHUP mid-save, the working folder deleted, a home
   matplotlib cannot use, ``ulimit -v`` too small for the libraries or for --sample,
   standard input closed, a read-only target, .svgz and PostScript, a sample column
   named like a feature, /dev/zero and /dev/urandom, digits of other scripts, a line
   break in a path, clusters far apart at a large offset (beyond ~300,000 sd: strict xfail).
5. Wide data draws in seconds.

In-process ``main([...])`` wherever possible; a real process only where the case needs
one (an environment variable read at import, stdout closed or full, a signal).  The real
processes all start together when the module starts (``real_runs``) and run beside the
in-process tests, which keeps the module to about 10 to 15 s on a slow 2-core machine.
"""

import csv
import errno
import gzip
import importlib.util
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    ERROR,
    PNG_MAGIC,
    SCRIPT,
    SEED,
    snapshot,
    three_blobs,
    write_file,
    write_table,
)

import gmm_clustering

SMALL = ("--n-samples", "60")  # enough for the default 4 blobs, and fast
DEFAULT = "gmm_clustering.png"  # where the figure goes when no window can open


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def strict_json(text):
    """json.loads that refuses NaN, Infinity and -Infinity (not JSON)."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def all_finite(value):
    """Every number in a parsed JSON value is finite (and none is null)."""
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is not None


def environment(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUTF8", "MPLBACKEND")}
    env.update(changes, PYTHONDONTWRITEBYTECODE="1")
    return env


def stderr_lines(raw):
    return raw.decode("utf-8", "backslashreplace").splitlines()


class RealRuns:
    """Real processes (about 1 to 4 s each here, mostly imports): all started when the
    module starts, so that they run beside the in-process tests, and each collected by
    the test that checks it.  Any still running at the end is killed."""

    def __init__(self, root):
        self.root, self.procs, self.timers = root, {}, []

    def start(self, name, argv, env=None, stdout=subprocess.PIPE, files=None, sigint_after=None):
        """Run ``python gmm_clustering.py argv`` (or ``argv`` itself when it is a shell
        command list) in a fresh folder of its own."""
        folder = self.root / name
        folder.mkdir()
        for file_name, (X, names) in (files or {}).items():
            write_table(folder / file_name, X, names)
        command = argv if argv[0] == "bash" else [sys.executable, SCRIPT, *argv]
        if argv[0] == "-c":  # python -c CODE ...
            command = [sys.executable, *argv]
        proc = subprocess.Popen(
            command, cwd=folder, env=env or environment(), stdout=stdout, stderr=subprocess.PIPE
        )
        self.procs[name] = (folder, proc)
        if sigint_after is not None:
            timer = threading.Timer(sigint_after, proc.send_signal, [signal.SIGINT])
            timer.start()
            self.timers.append(timer)

    def result(self, name):
        """(folder, exit status, stdout bytes, stderr bytes) of a run, once it ends."""
        folder, proc = self.procs[name]
        out, err = proc.communicate(timeout=60)
        return folder, proc.returncode, out or b"", err

    def stop(self):
        for timer in self.timers:
            timer.cancel()
        for _, proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


# A run far longer than any delay below, on any machine: a sweep over 50 k and 20 starts
LONG_RUN = ["--no-plot", "--select", "--max-components", "50"]
SIGINT_DELAYS = {"sigint-while-loading": None, "sigint-1.5s-at-work": 1.5}
# Ctrl-C the moment the script starts to import numpy, while its libraries load.  (Before
# the script runs, Python is still starting: what it does then is Python's own affair.)
EARLY_SIGINT = """
import importlib.abc, os, runpy, signal, sys
class CtrlCAtNumpy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numpy":
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, CtrlCAtNumpy())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# SIGTERM, SIGHUP or SIGINT, in a burst, while the figure is being written: its first bytes
# are out, the rename is not done.  (A wrapper replaces Figure.savefig, then runs the script.)
SIGNALS_MID_SAVE = {
    "SIGTERM": (143, "terminated"),
    "SIGHUP": (129, "hung up"),
    "SIGINT": (130, "interrupted"),
}
OLD_FIGURE = b"the old figure, which must survive"
SIGNAL_MID_SAVE = """
import os, runpy, signal, sys, time
import matplotlib.figure
import threading
sig = getattr(signal, sys.argv[1])
def burst():  # a burst, as timeout forwarding its own copy or a held Ctrl-C sends
    for _ in range(20):
        os.kill(os.getpid(), sig)
        time.sleep(0.001)
def savefig(self, target, *args, **kwargs):
    target.write(b"\\x89PNG half a figure")
    threading.Thread(target=burst, daemon=True).start()
    time.sleep(30)
matplotlib.figure.Figure.savefig = savefig
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# The working folder removed (by another program) just before the temporary file is made.
FOLDER_DELETED_AT_SAVE = """
import os, runpy, sys, tempfile
make = tempfile.mkstemp
def mkstemp(*args, **kwargs):
    os.rmdir(os.getcwd())
    return make(*args, **kwargs)
tempfile.mkstemp = mkstemp
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# Known limitation: EM's unit is at least a column's sd / 1,000 (Units.within), so clusters
# more than about 300,000 of their own sd apart look collapsed to its regulariser.
FAR_APART = "clusters 1e6 sd apart: EM's unit is at least the column's sd / 1,000"
FIVE_ROWS = [[1, 2], [2, 1], [3, 3], [4, 1], [5, 5]]  # 4 components: a spurious fit, warned
# Address-space limits (KiB): too small for the libraries; room for them but not the sample.
ULIMITS = {
    "ulimit-200MB": (200_000, "--no-plot"),
    "ulimit-2GB-huge-sample": (2_000_000, "--no-plot --n-features 5 --sample 100000000"),
}


@pytest.fixture(scope="module", autouse=True)
def real_runs(tmp_path_factory):
    runs = RealRuns(tmp_path_factory.mktemp("real-runs"))
    runs.start("sigint-1.5s-at-work", [*LONG_RUN, "--n-samples", "20000"], sigint_after=1.5)
    runs.start("sigint-while-loading", ["-c", EARLY_SIGINT, SCRIPT, *LONG_RUN])
    runs.start("bad-mplbackend", [*SMALL], env=environment(MPLBACKEND="nonsense"))
    runs.start(  # a backend module that cannot be imported: found when it is loaded
        "missing-backend-module", [*SMALL], env=environment(MPLBACKEND="module://no_such_module")
    )
    wayland = environment(WAYLAND_DISPLAY="wayland-9")  # and no XDG_RUNTIME_DIR
    wayland.pop("XDG_RUNTIME_DIR", None), wayland.pop("DISPLAY", None)
    runs.start("wayland-without-runtime-dir", [*SMALL], env=wayland)
    runs.start("webagg-without-tornado", [*SMALL], env=environment(MPLBACKEND="webagg"))
    runs.start("pgf-without-latex", [*SMALL], env=environment(MPLBACKEND="pgf"))
    runs.start(  # stderr closed: progress and warnings must not land on stdout or crash
        "stderr-closed",
        [
            "bash",
            "-c",
            'exec "$0" "$1" --no-plot --select --max-components 3 2>&-',
            sys.executable,
            SCRIPT,
        ],
    )
    runs.start(  # bash's >&- closes descriptor 1 (subprocess.DEVNULL would leave it open)
        "stdout-closed",
        ["bash", "-c", 'exec "$0" "$1" --no-plot --n-samples 60 >&-', sys.executable, SCRIPT],
    )
    runs.start(  # an ASCII-only terminal, column names that are not ASCII
        "ascii-locale",
        ["--csv", "umlaut.csv", "--no-plot", "--n-components", "3"],
        env=environment(LC_ALL="C", LANG="C", PYTHONIOENCODING="ascii"),
        files={"umlaut.csv": (three_blobs(), ("größe", "länge"))},
    )
    if os.path.exists("/dev/full"):  # standard output on a full disk
        with open("/dev/full", "wb") as full:
            runs.start("dev-full", ["--no-plot", *SMALL], stdout=full)
            runs.start("help-dev-full", ["--help"], stdout=full)
    for name in SIGNALS_MID_SAVE:  # the signal arrives while the figure is being written
        runs.start(name, ["-c", SIGNAL_MID_SAVE, name, SCRIPT, *SMALL, "--save", "fig.png"])
        (runs.root / name / "fig.png").write_bytes(OLD_FIGURE)
    runs.start(  # the working folder deleted after the checks, before the figure is written
        "folder-deleted", ["-c", FOLDER_DELETED_AT_SAVE, SCRIPT, *SMALL, "--save", "fig.png"]
    )
    for name, home in (("home-missing", "/nonexistent/home"), ("home-is-a-file", "/dev/null")):
        runs.start(name, [*SMALL, "--save", "fig.png"], env=environment(HOME=home))
    for name, (limit, argv) in ULIMITS.items():  # bash's ulimit -v: the address space, in KiB
        command = f'ulimit -v {limit} && exec "$0" "$1" {argv}'
        runs.start(name, ["bash", "-c", command, sys.executable, SCRIPT])
    runs.start(  # docstrings stripped: the help's examples come from the module's docstring
        "python-OO",
        ["bash", "-c", 'exec "$0" -OO "$1" --no-plot --n-samples 60', sys.executable, SCRIPT],
    )
    if os.path.exists("/dev/full"):  # a warning that cannot be written loses nothing
        runs.start(
            "stderr-full",
            [
                "bash",
                "-c",
                'exec "$0" "$1" --csv five.csv --no-plot 2>/dev/full',
                sys.executable,
                SCRIPT,
            ],
            files={"five.csv": (FIVE_ROWS, ("x", "y"))},
        )
    runs.start(  # <&- closes descriptor 0: sys.stdin is None
        "stdin-closed",
        ["bash", "-c", 'exec "$0" "$1" --csv - --no-plot <&-', sys.executable, SCRIPT],
    )
    yield runs
    runs.stop()


# --------------------------------------------------------------------------
# 1. Outputs never destroy anything
# --------------------------------------------------------------------------


def _input(folder, name="in.csv"):
    write_table(folder / name, three_blobs())
    return name


def _save_is_a_symlink_to_the_input(folder):
    os.symlink(_input(folder), folder / "fig.png")
    return ["--csv", "in.csv", "--save", "fig.png"], "--save fig.png is the input file (in.csv)"


def _save_is_a_hard_link_to_the_input(folder):
    os.link(folder / _input(folder), folder / "fig.png")
    return ["--csv", "in.csv", "--save", "fig.png"], "--save fig.png is the input file (in.csv)"


def _save_is_the_input(folder):
    _input(folder, "data.png")
    return ["--csv", "data.png", "--save", "data.png"], "--save data.png is the input file"


def _automatic_figure_is_the_input(folder):
    _input(folder, "gmm_clustering.png")
    return (  # and how to put the figure elsewhere
        ["--csv", "gmm_clustering.png"],
        (
            "the figure gmm_clustering.png is the input file (gmm_clustering.png); "
            "choose another path; use --save PATH or --no-plot"
        ),
    )


def _sample_out_is(spelling):
    def setup(folder):
        _input(folder)
        target = {"dot": "./in.csv", "absolute": str(folder / "in.csv")}.get(spelling, "in.csv")
        if spelling == "symlink":
            target = "link.csv"
            os.symlink(folder / "in.csv", folder / target)
        elif spelling == "hard link":
            target = "hard.csv"
            os.link(folder / "in.csv", folder / target)
        argv = ["--csv", "in.csv", "--no-plot", "--sample", "10", "--sample-out", target]
        return argv, f"--sample-out {target} is the input file (in.csv); choose another path"

    setup.__name__ = f"sample_out_is_the_input_by_{spelling.replace(' ', '_')}"
    return setup


@pytest.mark.parametrize(
    "setup",
    [
        _save_is_a_symlink_to_the_input,
        _save_is_a_hard_link_to_the_input,
        _save_is_the_input,
        _automatic_figure_is_the_input,
        *[_sample_out_is(how) for how in ("name", "dot", "absolute", "symlink", "hard link")],
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_an_output_over_the_input_is_refused(refused, tmp_path, setup):
    argv, says = setup(tmp_path)
    assert says in refused(*argv)


def _fifo(folder):
    os.mkfifo(folder / "pipe")
    return "pipe", ": is a device, FIFO or socket, not a file; choose another path"


def _dev_null(folder):
    return os.devnull, ": is a device, FIFO or socket, not a file; choose another path"


def _folder(folder):
    (folder / "out").mkdir()
    return "out", ": is a directory; give a file name"


@pytest.mark.parametrize(
    "make_target", [_fifo, _dev_null, _folder], ids=["fifo", "dev-null", "folder"]
)
def test_sample_out_that_is_not_a_regular_file_is_refused(refused, tmp_path, make_target):
    target, says = make_target(tmp_path)
    null_before = os.stat(os.devnull)
    line = refused("--no-plot", *SMALL, "--sample", "5", "--sample-out", target)
    assert f"--sample-out {target}{says}" in line
    null_after = os.stat(os.devnull)  # /dev/null is still the device, not a file
    assert stat.S_ISCHR(null_after.st_mode)
    assert (null_after.st_ino, null_after.st_rdev) == (null_before.st_ino, null_before.st_rdev)


def _same_name(folder):
    return "out.png", "out.png"


def _same_name_existing(folder):
    (folder / "out.png").write_bytes(b"an old figure")
    return "out.png", "out.png"


def _same_file_spelled_with_dot(folder):
    return "out.png", os.path.join(".", "out.png")


def _symlink_to_the_figure(folder):
    (folder / "out.png").write_bytes(b"an old figure")
    os.symlink("out.png", folder / "link.png")
    return "out.png", "link.png"


def _symlink_to_the_samples(folder):
    (folder / "samples.csv").write_text("x1,x2,component\n1.0,2.0,0\n")
    os.symlink("samples.csv", folder / "fig.png")
    return "fig.png", "samples.csv"


def _hard_link_to_the_figure(folder):
    (folder / "out.png").write_bytes(b"an old figure")
    os.link(folder / "out.png", folder / "also.png")
    return "out.png", "also.png"


@pytest.mark.parametrize(
    "setup",
    [
        _same_name,
        _same_name_existing,
        _same_file_spelled_with_dot,
        _symlink_to_the_figure,
        _symlink_to_the_samples,
        _hard_link_to_the_figure,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_save_and_sample_out_naming_one_file_is_refused(refused, tmp_path, setup):
    save, sample_out = setup(tmp_path)
    line = refused(*SMALL, "--sample", "5", "--save", save, "--sample-out", sample_out)
    assert f"--sample-out {sample_out} is the same file as --save {save}; choose two paths" in line


def _disk_full_after_a_few_bytes(self, fname, *args, **kwargs):
    """Figure.savefig on a disk that fills up: a few bytes written, then ENOSPC."""
    if hasattr(fname, "write"):  # a file object, as savefig accepts
        fname.write(b"\x89PNG partial")
    else:
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG partial")
    raise OSError(errno.ENOSPC, "No space left on device")


class _DiskFullAfter5Rows:
    """A csv writer whose disk fills up after five rows."""

    def __init__(self, writer):
        self._writer, self._left = writer, 5

    def writerow(self, row):
        if self._left == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= 1
        return self._writer.writerow(row)


@pytest.mark.parametrize(
    "output, argv, old",
    [
        ("fig.png", [*SMALL, "--save", "fig.png"], b"the old figure, which must survive"),
        ("gmm_clustering.png", [*SMALL], b"the old figure, which must survive"),
        ("out.csv", ["--no-plot", "--sample", "100", "--sample-out", "out.csv"], b"old,1\n2,3\n"),
        ("out.csv", ["--no-plot", "--sample", "100", "--sample-out", "out.csv"], None),
    ],
    ids=["save", "automatic figure", "sample-out", "new sample-out"],
)
def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    cli, tmp_path, monkeypatch, output, argv, old
):
    if old is not None:
        (tmp_path / output).write_bytes(old)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _disk_full_after_a_few_bytes)
    real_writer = csv.writer
    monkeypatch.setattr(csv, "writer", lambda *a, **k: _DiskFullAfter5Rows(real_writer(*a, **k)))
    before = snapshot(tmp_path)  # the old file, if any, and nothing else
    line = cli.undelivered(*argv)  # exit 1: the input was fine, the output was not delivered
    assert line == (
        f"{ERROR}{output}: cannot write (No space left on device); "
        "the old file, if any, is unchanged"
    )
    assert snapshot(tmp_path) == before  # as it was, and no .gmm-* temporary left


def test_pgf_without_latex_is_refused_before_any_work(refused, tmp_path):
    if shutil.which(matplotlib.rcParams["pgf.texsystem"]):
        pytest.skip("LaTeX is installed here: .pgf would work")
    assert refused(*SMALL, "--save", "x.pgf") == (
        f"{ERROR}--save x.pgf: a .pgf figure needs LaTeX (xelatex), which is not installed "
        "here; save png, pdf or svg"
    )
    assert list(tmp_path.iterdir()) == []


def _read_only_folder(tmp_path, where):
    if where == "/sys":
        folder = "/sys"
        if not os.path.isdir(folder):
            pytest.skip("no /sys here")
    else:
        folder = str(tmp_path / "locked")
        os.mkdir(folder)
        os.chmod(folder, 0o555)
    probe = os.path.join(folder, ".hostile-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        return folder
    os.unlink(probe)
    pytest.skip(f"{folder} is writable here (running as root?)")


@pytest.mark.parametrize("where", ["read-only folder", "/sys"])
@pytest.mark.parametrize("output", ["automatic figure", "sample-out"])
def test_an_output_in_an_unwritable_folder_is_refused(
    refused, tmp_path, monkeypatch, where, output
):
    folder = _read_only_folder(tmp_path, where)
    before = sorted(os.listdir(folder))
    try:
        if output == "automatic figure":  # the figure goes to the current folder
            monkeypatch.chdir(folder)
            line = refused(*SMALL)
            says = f"the figure {DEFAULT}: cannot write in {folder} ("
            way_out = "; use --save PATH or --no-plot"
        else:
            target = os.path.join(folder, "s.csv")
            line = refused("--no-plot", "--sample", "5", "--sample-out", target)
            says, way_out = f"--sample-out {target}: cannot write in {folder} (", ")"
    finally:
        os.chdir(tmp_path)
        if where != "/sys":
            os.chmod(folder, 0o755)
    assert line.startswith(ERROR + says) and line.endswith(way_out), line
    assert sorted(os.listdir(folder)) == before


def test_automatic_figure_in_a_deleted_folder_says_save_or_no_plot(refused, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    try:
        gone.rmdir()
        line = refused(*SMALL)
    finally:
        os.chdir(tmp_path)
    assert line == (
        f"{ERROR}the figure {DEFAULT}: the working folder is gone; use --save PATH or --no-plot"
    )


# --------------------------------------------------------------------------
# 2. Numbers at the edges
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("where", ["1e200,1e200", "-1e300,1e300"])
def test_far_away_predict_gives_finite_posteriors_summing_to_one(
    cli, tmp_path, covariance_type, where
):
    argv = ["--no-plot", "--json", *SMALL, "--covariance-type", covariance_type]
    out = cli.output(*argv, f"--predict={where}")
    assert list(tmp_path.iterdir()) == []
    [prediction] = strict_json(out)["predictions"]
    probabilities = prediction["probabilities"]
    assert all_finite(probabilities), probabilities
    assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-9)
    assert min(probabilities) >= 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--n-samples", "3", "--centers", "3", "--n-components", "3"],
        ["--bayesian", "--n-components", "10", *SMALL],
        ["--select", "--max-components", "3", *SMALL],
        ["--anomalies", "50", "--sample", "5", "--predict=1e300,-1e300", *SMALL],
        ["--n-features", "1", *SMALL],
    ],
    ids=" ".join,
)
def test_json_never_contains_nan_or_infinity(cli, tmp_path, argv):
    rc, out, err = cli.run("--no-plot", "--json", *argv)
    assert rc == 0, err
    strict_json(out)  # NaN, Infinity or -Infinity would raise here
    assert list(tmp_path.iterdir()) == []


def test_extreme_scales_with_scale_are_fitted_with_finite_means(cli, tmp_path):
    # A column around 1e-200 and one around 1e306: three blobs, exactly written.  (Without
    # --scale it is refused: a row of the bad-input table.)
    write_table(tmp_path / "extreme.csv", three_blobs(200) * [1e-200, 1e306], ("tiny", "huge"))
    before = snapshot(tmp_path)
    out = cli.output("--csv", "extreme.csv", "--no-plot", "--json", "--scale")
    assert snapshot(tmp_path) == before
    result = strict_json(out)
    assert all_finite(result["means"]), result["means"]
    assert all_finite(result["log_likelihood"])
    assert sum(result["cluster_sizes"]) == result["n_samples"] == 200
    # Standardised: every fitted mean is within a few sd of 0 on both axes.
    assert max(abs(v) for mean in result["means"] for v in mean) < 5


# --------------------------------------------------------------------------
# 3. Quiet and clean
# --------------------------------------------------------------------------

# Three points in three components: each holds one point, and the script's own warning
# (never a library's) says so.
ONE_POINT_EACH = (
    "gmm_clustering.py: warning: the fit is spurious: component 0 holds 1.0 points; a full "
    "covariance in 2 dimensions needs 3; use fewer components or --select\n"
)


@pytest.mark.parametrize(
    "argv, stderr",
    [
        ([], ""),
        (["--select", "--max-components", "3"], ""),
        (["--bayesian"], ""),
        (["--n-samples", "3", "--centers", "3", "--n-components", "3"], ONE_POINT_EACH),
    ],
    ids=["default", "select", "bayesian", "three points in three components"],
)
def test_ordinary_runs_print_no_library_warning(cli, tmp_path, argv, stderr):
    rc, _out, err = cli.run(*argv)
    assert rc == 0, err
    assert err == stderr  # nothing from a library: no "Warning", "warn(" or traceback
    assert (tmp_path / "gmm_clustering.png").read_bytes()[:8] == PNG_MAGIC


# The real processes, started by ``real_runs`` when the module starts.


@pytest.mark.parametrize(
    "name, backend",
    [
        ("bad-mplbackend", "nonsense"),
        ("missing-backend-module", "module://no_such_module"),
        ("webagg-without-tornado", "webagg"),
    ],
)
def test_bad_mplbackend_is_one_line_naming_it(real_runs, name, backend):
    if backend == "webagg" and importlib.util.find_spec("tornado"):
        pytest.skip("tornado is installed here: webagg would work")
    folder, rc, out, err = real_runs.result(name)
    assert (rc, out) == (2, b""), err
    assert stderr_lines(err) == [
        (
            f"{ERROR}MPLBACKEND={backend!r} is not a backend matplotlib can use; "
            "unset it or set MPLBACKEND=Agg"
        )
    ]
    assert list(folder.iterdir()) == []


def test_wayland_without_its_runtime_folder_saves_the_figure_quietly(real_runs):
    folder, rc, out, err = real_runs.result("wayland-without-runtime-dir")
    assert (rc, err) == (0, b""), err  # nothing from the C library matplotlib probes
    assert b"Figure saved to" in out
    assert (folder / DEFAULT).read_bytes()[:8] == PNG_MAGIC


def test_pgf_backend_without_latex_is_one_line(real_runs):
    if shutil.which("xelatex"):
        pytest.skip("LaTeX is installed here: the pgf backend would work")
    folder, rc, out, err = real_runs.result("pgf-without-latex")
    assert (rc, out) == (2, b""), err
    assert stderr_lines(err) == [
        (
            f"{ERROR}MPLBACKEND=pgf needs LaTeX (xelatex), which is not installed here; "
            "unset it or set MPLBACKEND=Agg"
        )
    ]
    assert list(folder.iterdir()) == []


def test_stderr_closed_still_prints_the_results(real_runs):
    _folder, rc, out, _err = real_runs.result("stderr-closed")
    assert rc == 0
    assert b"Selected: " in out and b"the best k is the largest tried (3)" in out
    assert b"internal error" not in out and b"gmm_clustering.py:" not in out


def test_ascii_only_locale_escapes_non_ascii_column_names(real_runs):
    folder, rc, out, err = real_runs.result("ascii-locale")
    assert rc == 0, err
    assert b"Traceback" not in err
    text = out.decode("ascii")  # nothing but ASCII reached the terminal
    assert "gr\\xf6\\xdfe" in text and "l\\xe4nge" in text
    assert sorted(p.name for p in folder.iterdir()) == ["umlaut.csv"]


def test_stdout_closed_is_one_line_exit_1(real_runs):
    folder, rc, _, err = real_runs.result("stdout-closed")
    assert rc == 1, err
    assert stderr_lines(err) == [
        f"{ERROR}standard output is closed; nothing to write the results to"
    ]
    assert list(folder.iterdir()) == []


def test_stdout_on_a_full_device_is_one_line_exit_1(real_runs):
    if "dev-full" not in real_runs.procs:
        pytest.skip("no /dev/full here")
    folder, rc, _, err = real_runs.result("dev-full")
    assert rc == 1, err
    assert stderr_lines(err) == [f"{ERROR}cannot write the output (No space left on device)"]
    assert list(folder.iterdir()) == []


def test_help_on_a_full_device_is_one_line_exit_1(real_runs):
    if "help-dev-full" not in real_runs.procs:
        pytest.skip("no /dev/full here")
    _folder, rc, _, err = real_runs.result("help-dev-full")
    assert rc == 1, err
    assert stderr_lines(err) == [f"{ERROR}cannot write the output (No space left on device)"]


@pytest.mark.parametrize("name", SIGINT_DELAYS)
def test_ctrl_c_is_exit_130_and_one_line(real_runs, name):
    folder, rc, out, err = real_runs.result(name)
    assert (rc, out) == (130, b""), err
    assert stderr_lines(err) == ["gmm_clustering.py: interrupted"]
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------
# 4. The second round: signals, folders, home, limits, streams, devices, digits, names
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SIGNALS_MID_SAVE)
def test_a_signal_mid_save_keeps_the_old_file_and_leaves_no_temporary(real_runs, name):
    folder, rc, _out, err = real_runs.result(name)
    status, says = SIGNALS_MID_SAVE[name]
    assert rc == status, err
    assert stderr_lines(err) == [f"gmm_clustering.py: {says}"]
    assert [p.name for p in folder.iterdir()] == ["fig.png"]  # no .gmm-* temporary
    assert (folder / "fig.png").read_bytes() == OLD_FIGURE


def test_working_folder_deleted_before_the_save_is_one_line_exit_1(real_runs):
    folder, rc, _out, err = real_runs.result("folder-deleted")
    assert rc == 1, err
    assert stderr_lines(err) == [
        (
            f"{ERROR}fig.png: cannot write (its folder is gone); nothing was written; "
            "choose another path"
        )
    ]
    assert not folder.exists()


@pytest.mark.parametrize("name", ["home-missing", "home-is-a-file"])
def test_a_home_matplotlib_cannot_use_prints_nothing_extra(real_runs, name):
    folder, rc, out, err = real_runs.result(name)
    assert (rc, err) == (0, b""), err  # no note about a config or cache folder
    assert b"Log Likelihood:" in out
    assert (folder / "fig.png").read_bytes()[:8] == PNG_MAGIC


def test_an_address_space_too_small_for_the_libraries_is_one_line(real_runs):
    _folder, rc, out, err = real_runs.result("ulimit-200MB")
    assert (rc, out) == (1, b""), err
    assert stderr_lines(err) == [
        (
            f"{ERROR}not enough memory: ulimit -v allows 0.20 GB and the libraries alone "
            "need about 0.81 GB"
        )
    ]


def test_a_sample_larger_than_the_limit_names_sample(real_runs):
    _folder, rc, out, err = real_runs.result("ulimit-2GB-huge-sample")
    assert (rc, out) == (2, b""), err
    assert stderr_lines(err) == [
        (
            f"{ERROR}--sample 100,000,000 x 5 features needs about 12.0 GB of memory "
            "and ulimit -v allows 2.0 GB; use smaller numbers"
        )
    ]


def test_closed_standard_input_is_one_line(real_runs):
    _folder, rc, out, err = real_runs.result("stdin-closed")
    assert (rc, out) == (2, b""), err
    assert stderr_lines(err) == [
        f"{ERROR}standard input: it is closed; give a file, or pipe the table in"
    ]


def test_a_read_only_target_is_refused_not_replaced(refused, tmp_path):
    (tmp_path / "ro.png").write_bytes(OLD_FIGURE)
    os.chmod(tmp_path / "ro.png", 0o444)
    line = refused(*SMALL, "--save", "ro.png")  # refused() also checks nothing changed
    assert line == (
        f"{ERROR}--save ro.png is read-only (mode 444); make it writable or choose another path"
    )


def test_compressed_svg_does_not_name_the_temporary_file(cli, tmp_path):
    cli.output(*SMALL, "--save", "fig.svgz")
    raw = (tmp_path / "fig.svgz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip
    assert not raw[3] & 0x08 and b".gmm-" not in raw[:64]  # no file name in the header
    assert b"<svg" in gzip.decompress(raw)


@pytest.mark.parametrize("suffix", ["ps", "eps"])
def test_postscript_prints_no_library_warning(cli, tmp_path, suffix):
    rc, _out, err = cli.run(*SMALL, "--save", f"fig.{suffix}")
    assert (rc, err) == (0, "")
    assert (tmp_path / f"fig.{suffix}").read_bytes()[:4] == b"%!PS"


def test_a_sample_from_a_table_with_a_component_column_reads_back(cli, tmp_path):
    write_table(tmp_path / "in.csv", three_blobs(), ("component", "x"))
    cli.output(
        "--csv",
        "in.csv",
        "--no-plot",
        "--n-components",
        "3",
        "--sample",
        "30",
        "--sample-out",
        "s.csv",
    )
    with open(tmp_path / "s.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["component", "x", "component_2"] and len(rows) == 31
    assert {int(r[2]) for r in rows[1:]} <= {0, 1, 2}
    # read back, the drawn component as the known classes the fit is compared with
    argv = ["--csv", "s.csv", "--no-plot", "--n-components", "3", "--labels", "component_2"]
    out = cli.output(*argv)
    assert "Columns used: component, x" in out and "Adjusted Rand Index" in out


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_are_refused_at_once(cli, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    assert cli.error("--csv", device, "--no-plot") == (
        f"{ERROR}{device}: is a device, not a CSV file; give a file (or - for standard input)"
    )


def test_digits_of_other_scripts_are_text_in_every_cell(cli, tmp_path):
    rows = ["a,b"] + [f"{v},{v * v % 7}" for v in range(1, 9)]
    rows += ["\u0661\u0662,3", "\uff14\uff15,4"]  # Arabic-Indic 12, full-width 45
    write_file(tmp_path / "digits.csv", "\n".join(rows) + "\n")
    rc, out, err = cli.run("--csv", "digits.csv", "--no-plot", "--n-components", "2")
    assert rc == 0, err
    assert "Note: column 'a': 2 cells are not numbers, read as missing" in out + err
    assert "Data: digits.csv, 8 samples x 2 features" in out


def test_a_path_with_a_line_break_is_one_line(cli):
    line = cli.error("--csv", "no\nsuch.csv", "--no-plot")
    assert "\n" not in line and "no\\nsuch.csv" in line


@pytest.mark.parametrize(
    "apart",
    [
        1e2,
        1e5,
        pytest.param(1e6, marks=pytest.mark.xfail(strict=True, reason=FAR_APART)),
    ],
)
def test_two_clusters_far_apart_at_an_offset_are_both_found(cli, tmp_path, apart):
    X = np.random.default_rng(SEED).normal(size=(40, 2))
    X = np.vstack([X, X + apart]) + 1e9  # far apart, at a timestamp's offset
    write_table(tmp_path / "far.csv", X)
    found = cli.json("--csv", "far.csv", "--select", "--max-components", "3")
    assert found["n_components"] == 2


def test_a_symlinked_output_is_written_through_as_cp_would(cli, tmp_path):
    (tmp_path / "w.png").write_bytes(OLD_FIGURE)
    os.symlink("w.png", tmp_path / "link.png")
    os.symlink("target.png", tmp_path / "dangling.png")
    cli.output(*SMALL, "--save", "link.png")
    cli.output(*SMALL, "--save", "dangling.png")
    assert os.readlink(tmp_path / "link.png") == "w.png"  # still the link
    assert (tmp_path / "w.png").read_bytes()[:8] == PNG_MAGIC  # its target written
    assert (tmp_path / "target.png").read_bytes()[:8] == PNG_MAGIC


def test_two_outputs_one_file_through_a_symlinked_folder_are_refused(refused, tmp_path):
    (tmp_path / "d").mkdir()
    os.symlink("d", tmp_path / "e")
    argv = ["--no-plot", *SMALL, "--save-model", "d/m.json", "--assignments", "e/m.json"]
    assert refused(*argv) == (
        f"{ERROR}--save-model d/m.json is the same file as --assignments e/m.json; choose two paths"
    )


def test_a_name_too_long_is_refused_before_any_work(refused):
    long = "a" * 300 + ".png"
    assert refused(*SMALL, "--save", long) == (
        f"{ERROR}--save {long}: its name is 304 bytes, longer than the 255 this file system "
        "allows; choose a shorter one"
    )


def test_a_long_legal_name_is_written(cli, tmp_path):
    legal = "x." + "b" * 250  # 252 bytes: legal, and its temporary name must be too
    cli.output("--no-plot", *SMALL, "--assignments", legal)
    assert (tmp_path / legal).read_text().startswith("row,cluster,")


def test_an_output_under_a_file_says_it_is_a_file(refused, tmp_path):
    (tmp_path / "afile").write_text("x")
    assert refused(*SMALL, "--save", "afile/x.png") == (
        f"{ERROR}--save afile/x.png: {tmp_path / 'afile'} is a file, not a folder; "
        "choose another path"
    )


def test_names_with_line_breaks_and_escapes_print_on_one_line(cli, tmp_path):
    write_file(tmp_path / "nl.csv", '"a\nb","c\td",e\x1b[31m\n1,2,3\n2,3,1\n3,1,2\n4,4,4\n5,1,3\n')
    out = cli.output("--csv", "nl.csv", "--n-components", "1", "--save", "f\ng.png")
    assert "Columns used: a\\nb, c\\td, e\\x1b[31m\n" in out
    assert f"Figure saved to {tmp_path}/f\\ng.png\n" in out
    assert "\x1b" not in out and "\t" not in out


def test_an_interrupted_main_gives_back_the_ctrl_c_handler_it_found(cli, monkeypatch):
    before = signal.getsignal(signal.SIGINT)

    def interrupted(*_):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while the lesson runs

    monkeypatch.setattr(gmm_clustering, "lesson", interrupted)
    assert cli.run("--no-plot") == (130, "", "gmm_clustering.py: interrupted\n")
    assert signal.getsignal(signal.SIGINT) is before


def test_a_folder_deleted_while_a_file_is_written_is_one_line_exit_1(cli, tmp_path, monkeypatch):
    (tmp_path / "gone").mkdir()
    real_write = gmm_clustering.write_samples

    def write_then_lose_the_folder(handle, *args):
        real_write(handle, *args)
        shutil.rmtree(tmp_path / "gone")

    monkeypatch.setattr(gmm_clustering, "write_samples", write_then_lose_the_folder)
    line = cli.undelivered("--no-plot", *SMALL, "--sample", "10", "--sample-out", "gone/s.csv")
    assert line.startswith(f"{ERROR}gone/s.csv: cannot write (")
    assert line.endswith("); the old file, if any, is unchanged")


def test_python_oo_runs(real_runs):
    _folder, rc, out, err = real_runs.result("python-OO")
    assert (rc, err) == (0, b""), err
    assert b"Log Likelihood:" in out


def test_a_warning_on_a_full_stderr_keeps_the_results(real_runs):
    if "stderr-full" not in real_runs.procs:
        pytest.skip("no /dev/full here")
    _folder, rc, out, _err = real_runs.result("stderr-full")
    assert rc == 0
    assert b"Cluster sizes:" in out


def test_a_replaced_output_keeps_its_mode(cli, tmp_path):
    (tmp_path / "m.json").write_text("old")
    os.chmod(tmp_path / "m.json", 0o600)  # private: it must stay so
    cli.output("--no-plot", *SMALL, "--save-model", "m.json")
    assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == 0o600
    assert json.loads((tmp_path / "m.json").read_text())["format"] == "gmm_clustering mixture"


def test_silhouette_does_not_move_with_an_offset(cli, tmp_path):
    X = three_blobs()
    write_table(tmp_path / "near.csv", X)
    write_table(tmp_path / "far.csv", X + 1e12)
    argv = ["--n-components", "3", "--covariance-type", "spherical"]
    near = cli.json("--csv", "near.csv", *argv)["silhouette"]
    far = cli.json("--csv", "far.csv", *argv)["silhouette"]
    assert far == pytest.approx(near, abs=1e-3)


# --------------------------------------------------------------------------
# 5. Wide data draws in seconds
# --------------------------------------------------------------------------


@pytest.mark.slow  # about 8 s: a third of this module
def test_wide_diagonal_data_draws_within_a_minute(cli, tmp_path):
    start = time.perf_counter()
    argv = "--n-features 3000 --n-samples 300 --covariance-type diag --n-components 2"
    cli.output(*argv.split(), "--save", "wide.png")
    elapsed = time.perf_counter() - start
    assert (tmp_path / "wide.png").read_bytes()[:8] == PNG_MAGIC
    assert elapsed < 60, f"{elapsed:.1f} s"
