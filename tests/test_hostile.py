"""Hostile input: nothing lost, nothing hidden.

Every bad input ends with exit status 2 and ONE line on stderr that names the value
and the way out: never a traceback, a hang, a damaged file or a silent wrong answer.
Each refusal here is checked three ways: the exit status and the one line, that no
work was started (a tripwire on make_blobs, the fit and savefig), and that no file
changed (the folder is listed and every file checksummed before and after).

1. Outputs never destroy anything: an output that is the input (by name, symlink or
   hard link), the automatic figure when it is the input, a FIFO, /dev/null or a
   folder as --sample-out, --save and --sample-out naming one file, a failed write,
   --save x.pgf without LaTeX, the automatic figure in an unwritable or deleted folder.
2. Every number option has a range, checked before any work.
3. --delimiter, --labels and --encoding values that cannot work.
4. Numbers at the edges: far-away --predict points, strict JSON, extreme scales.
5. Quiet and clean: no warning text, a bad MPLBACKEND, an ASCII-only locale, stdout
   closed or full, Ctrl-C.
6. Wide data draws in seconds.

In-process ``main([...])`` wherever possible; a real process only where the case needs
one (an environment variable read at import, stdout closed or full, a signal).  The real
processes all start together when the module starts (``real_runs``) and run beside the
in-process tests, which keeps the module to about 10 to 15 s on a slow 2-core machine.
"""

import errno
import hashlib
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

import matplotlib.figure
import numpy as np
import pytest
import sklearn.datasets
import sklearn.mixture
from cli_helpers import assert_one_line_error, run
from sklearn.datasets import make_blobs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "gmm_clustering.py")
SMALL = ("--n-samples", "60")  # enough for the default 4 blobs, and fast
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def snapshot(folder):
    """Every entry of a folder: symlinks by target, files by inode and checksum,
    folders recursively, anything else (a FIFO) by type only (never opened)."""
    state = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                state[entry.name] = ("symlink", os.readlink(entry.path))
            elif stat.S_ISREG(st.st_mode):
                state[entry.name] = ("file", st.st_ino, st.st_nlink, digest(entry.path))
            elif stat.S_ISDIR(st.st_mode):
                state[entry.name] = ("folder", snapshot(entry.path))
            else:
                state[entry.name] = ("special", stat.S_IFMT(st.st_mode))
    return state


def write_csv(path, X, names=("x1", "x2")):
    """A CSV with a header row; floats written with repr (an exact round trip)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(names) + "\n")
        handle.writelines(",".join(repr(float(v)) for v in row) + "\n" for row in X)
    return str(path)


def blobs(n=60, scale=(1.0, 1.0)):
    X, _ = make_blobs(n_samples=n, centers=3, n_features=2, random_state=0)
    return X * np.asarray(scale)


@pytest.fixture
def no_work(monkeypatch):
    """A tripwire: generating data, fitting or drawing records itself and fails."""
    started = []

    def tripwire(what):
        def refuse(*args, **kwargs):
            started.append(what)
            raise RuntimeError(f"the test forbids any work here ({what})")

        return refuse

    monkeypatch.setattr(sklearn.datasets, "make_blobs", tripwire("make_blobs"))
    for cls in (sklearn.mixture.GaussianMixture, sklearn.mixture.BayesianGaussianMixture):
        monkeypatch.setattr(cls, "fit", tripwire(f"{cls.__name__}.fit"))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", tripwire("savefig"))
    return started


def refused(capsys, folder, *argv, started=None):
    """Run argv; assert one line and exit 2, no work begun, the folder unchanged."""
    before = snapshot(folder)
    rc, out, err = run(capsys, *argv)
    assert started in (None, []), f"work began before the refusal: {started}"
    assert_one_line_error(rc, out, err)
    assert snapshot(folder) == before
    return err


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
            write_csv(folder / file_name, X, names)
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


@pytest.fixture(scope="module", autouse=True)
def real_runs(tmp_path_factory):
    runs = RealRuns(tmp_path_factory.mktemp("real-runs"))
    runs.start("sigint-1.5s-at-work", [*LONG_RUN, "--n-samples", "20000"], sigint_after=1.5)
    runs.start("sigint-while-loading", ["-c", EARLY_SIGINT, SCRIPT, *LONG_RUN])
    runs.start("bad-mplbackend", [*SMALL], env=environment(MPLBACKEND="nonsense"))
    runs.start(  # a backend module that cannot be imported: found when it is loaded
        "missing-backend-module", [*SMALL], env=environment(MPLBACKEND="module://no_such_module")
    )
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
        files={"umlaut.csv": (blobs(), ("größe", "länge"))},
    )
    if os.path.exists("/dev/full"):  # standard output on a full disk
        with open("/dev/full", "wb") as full:
            runs.start("dev-full", ["--no-plot", *SMALL], stdout=full)
    yield runs
    runs.stop()


# --------------------------------------------------------------------------
# 1. Outputs never destroy anything
# --------------------------------------------------------------------------


def _save_is_a_symlink_to_the_input(folder):
    write_csv(folder / "in.csv", blobs())
    os.symlink("in.csv", folder / "fig.png")
    return ["--csv", "in.csv", "--save", "fig.png"], "fig.png"


def _save_is_a_hard_link_to_the_input(folder):
    write_csv(folder / "in.csv", blobs())
    os.link(folder / "in.csv", folder / "fig.png")
    return ["--csv", "in.csv", "--save", "fig.png"], "fig.png"


def _save_is_the_input(folder):
    write_csv(folder / "data.png", blobs())
    return ["--csv", "data.png", "--save", "data.png"], "data.png"


def _automatic_figure_is_the_input(folder):
    write_csv(folder / "gmm_clustering.png", blobs())
    return ["--csv", "gmm_clustering.png"], "gmm_clustering.png"


@pytest.mark.parametrize(
    "setup",
    [
        _save_is_a_symlink_to_the_input,
        _save_is_a_hard_link_to_the_input,
        _save_is_the_input,
        _automatic_figure_is_the_input,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_figure_over_the_input_is_refused(capsys, tmp_path, no_work, setup):
    argv, target = setup(tmp_path)
    err = refused(capsys, tmp_path, *argv, started=no_work)
    assert target in err
    if "--save" not in argv:  # the automatic figure: say how to put it elsewhere
        assert "--save" in err and "--no-plot" in err


def _fifo(folder):
    os.mkfifo(folder / "pipe")
    return "pipe"


def _folder(folder):
    (folder / "out").mkdir()
    return "out"


@pytest.mark.parametrize(
    "make_target", [_fifo, lambda folder: os.devnull, _folder], ids=["fifo", "dev-null", "folder"]
)
def test_sample_out_that_is_not_a_regular_file_is_refused(capsys, tmp_path, no_work, make_target):
    target = make_target(tmp_path)
    null_before = os.stat(os.devnull)
    argv = ["--no-plot", *SMALL, "--sample", "5", "--sample-out", target]
    err = refused(capsys, tmp_path, *argv, started=no_work)
    assert target in err
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
def test_save_and_sample_out_naming_one_file_is_refused(capsys, tmp_path, no_work, setup):
    save, sample_out = setup(tmp_path)
    argv = [*SMALL, "--sample", "5", "--save", save, "--sample-out", sample_out]
    err = refused(capsys, tmp_path, *argv, started=no_work)
    assert "--save" in err and "--sample-out" in err


def _disk_full_after_a_few_bytes(self, fname, *args, **kwargs):
    """Figure.savefig on a disk that fills up: a few bytes written, then ENOSPC."""
    if hasattr(fname, "write"):
        fname.write(b"\x89PNG partial")
    else:
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG partial")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("figure", ["fig.png", "gmm_clustering.png"], ids=["save", "automatic"])
def test_failed_figure_write_keeps_the_old_file_and_leaves_no_temporary(
    capsys, tmp_path, monkeypatch, figure
):
    (tmp_path / figure).write_bytes(b"the old figure, which must survive")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _disk_full_after_a_few_bytes)
    before = snapshot(tmp_path)
    argv = [*SMALL, "--save", figure] if figure == "fig.png" else [*SMALL]
    rc, out, err = run(capsys, *argv)
    assert_one_line_error(rc, out, err)  # exit 2: the way out is another place to write
    assert figure in err and "No space left on device" in err
    assert snapshot(tmp_path) == before  # the old figure as it was, no .gmm-* left
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pgf_without_latex_is_one_line_and_no_file(capsys, tmp_path):
    if any(shutil.which(tex) for tex in ("latex", "xelatex", "pdflatex", "lualatex")):
        pytest.skip("LaTeX is installed here: .pgf would work")
    rc, out, err = run(capsys, *SMALL, "--save", "x.pgf")
    assert_one_line_error(rc, out, err)
    assert "x.pgf" in err
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
def test_automatic_figure_in_an_unwritable_folder_says_save_or_no_plot(
    capsys, tmp_path, monkeypatch, no_work, where
):
    folder = _read_only_folder(tmp_path, where)
    try:
        monkeypatch.chdir(folder)
        before = sorted(os.listdir(folder))
        rc, out, err = run(capsys, *SMALL)
        after = sorted(os.listdir(folder))
    finally:
        os.chdir(tmp_path)
        if where != "/sys":
            os.chmod(folder, 0o755)
    assert no_work == []
    assert_one_line_error(rc, out, err)
    assert "--save PATH" in err and "--no-plot" in err
    assert after == before


def test_automatic_figure_in_a_deleted_folder_says_save_or_no_plot(capsys, tmp_path, no_work):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    try:
        gone.rmdir()
        rc, out, err = run(capsys, *SMALL)
    finally:
        os.chdir(tmp_path)
    assert no_work == []
    assert_one_line_error(rc, out, err)
    assert "--save PATH" in err and "--no-plot" in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# 2. Every number option has a range, checked before any work
# --------------------------------------------------------------------------

RANGE_CASES = [
    # argv, the value named, and one of these names the range (or the memory) as the way out
    (["--random-state", "4294967296"], "4294967296", ["4294967295"]),
    (["--random-state", "-1"], "-1", ["4294967295"]),
    (["--n-samples", "1e20"], "1e20", ["GB", "1,000,000,000", "1000000000"]),
    (["--n-samples", "100000000000"], "100000000000", ["GB", "1,000,000,000", "1000000000"]),
    (["--n-samples", "1000000000", "--n-features", "100000"], "--n-samples", ["GB"]),
    (["--sample", "1e20"], "1e20", ["GB", "100,000,000", "100000000"]),
    (["--n-init", str(10**20)], str(10**20), ["1,000", "1000"]),
    (["--max-components", "500"], "500", ["50"]),
    (["--n-features", "8000000"], "8000000", ["GB", "100,000", "100000"]),
    (["--cluster-std", "inf"], "inf", ["positive"]),
    (["--cluster-std", "nan"], "nan", ["positive"]),
    (["--cluster-std", "0"], "'0'", ["positive"]),
]


@pytest.mark.parametrize(
    "argv, named, way_out", RANGE_CASES, ids=[" ".join(case[0]) for case in RANGE_CASES]
)
def test_number_out_of_range_is_one_line_before_any_work(
    capsys, tmp_path, no_work, argv, named, way_out
):
    start = time.perf_counter()
    err = refused(capsys, tmp_path, "--no-plot", *argv, started=no_work)
    assert time.perf_counter() - start < 2
    assert argv[0] in err and named in err
    assert any(words in err for words in way_out), f"no range or memory named: {err}"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# 3. CSV options that cannot work
# --------------------------------------------------------------------------

CSV_OPTION_CASES = [
    (["--delimiter", '"'], "--delimiter"),
    (["--delimiter", "'"], "--delimiter"),
    (["--delimiter", "\n"], "--delimiter"),
    (["--delimiter", "ab"], "--delimiter"),
    (["--labels", ""], "--labels"),
    (["--encoding", "nonsense"], "nonsense"),
]


@pytest.mark.parametrize(
    "argv, named", CSV_OPTION_CASES, ids=[repr(" ".join(c[0])) for c in CSV_OPTION_CASES]
)
def test_csv_option_that_cannot_work_is_one_line(capsys, tmp_path, no_work, argv, named):
    write_csv(tmp_path / "in.csv", blobs())
    err = refused(capsys, tmp_path, "--csv", "in.csv", "--no-plot", *argv, started=no_work)
    assert named in err


# --------------------------------------------------------------------------
# 4. Numbers at the edges
# --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("where", ["1e200,1e200", "-1e300,1e300"])
def test_far_away_predict_gives_finite_posteriors_summing_to_one(
    capsys, tmp_path, covariance_type, where
):
    argv = ["--no-plot", "--json", *SMALL, "--covariance-type", covariance_type]
    rc, out, err = run(capsys, *argv, f"--predict={where}")
    assert rc == 0, err
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
def test_json_never_contains_nan_or_infinity(capsys, tmp_path, argv):
    rc, out, err = run(capsys, "--no-plot", "--json", *argv)
    assert rc == 0, err
    strict_json(out)  # NaN, Infinity or -Infinity would raise here
    assert list(tmp_path.iterdir()) == []


def extreme_scales_csv(folder):
    """A column around 1e-200 and one around 1e306: three blobs, exactly written."""
    return write_csv(folder / "extreme.csv", blobs(200, (1e-200, 1e306)), ("tiny", "huge"))


def test_extreme_scales_without_scale_fit_finite_or_advise_scale(capsys, tmp_path):
    extreme_scales_csv(tmp_path)
    before = snapshot(tmp_path)
    rc, out, err = run(capsys, "--csv", "extreme.csv", "--no-plot", "--json")
    # EM's regularisation (1e-6) swamps a variance of 1e-400: refused, with the way out.
    assert_one_line_error(rc, out, err)
    assert "'tiny'" in err and "--scale" in err, err
    assert snapshot(tmp_path) == before


def test_extreme_scales_with_scale_are_fitted_with_finite_means(capsys, tmp_path):
    extreme_scales_csv(tmp_path)
    before = snapshot(tmp_path)
    rc, out, err = run(capsys, "--csv", "extreme.csv", "--no-plot", "--json", "--scale")
    assert rc == 0, err
    assert snapshot(tmp_path) == before
    result = strict_json(out)
    assert all_finite(result["means"]), result["means"]
    assert all_finite(result["log_likelihood"])
    assert sum(result["cluster_sizes"]) == result["n_samples"] == 200
    # Standardised: every fitted mean is within a few sd of 0 on both axes.
    assert max(abs(v) for mean in result["means"] for v in mean) < 5


# --------------------------------------------------------------------------
# 5. Quiet and clean
# --------------------------------------------------------------------------

WARNING_TEXT = ("Warning", "warnings.warn", "warn(", "Traceback")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--select", "--max-components", "3"],
        ["--bayesian"],
        ["--n-samples", "3", "--n-components", "3"],
        ["--n-samples", "3", "--centers", "3", "--n-components", "3"],
    ],
    ids=lambda argv: " ".join(argv) or "default",
)
def test_ordinary_runs_print_no_warning_text(capsys, tmp_path, argv):
    rc, out, err = run(capsys, *argv)
    assert not [w for w in WARNING_TEXT if w in err], err
    if rc != 0:  # e.g. the default 4 centres do not fit in 3 samples: said in one line
        assert_one_line_error(rc, out, err)
        return
    for line in err.splitlines():  # only the script's own words, nothing from a library
        assert line.startswith("gmm_clustering.py: "), err
    assert (tmp_path / "gmm_clustering.png").read_bytes()[:8] == PNG_MAGIC


# The real processes, started by ``real_runs`` when the module starts.


@pytest.mark.parametrize("name", ["bad-mplbackend", "missing-backend-module"])
def test_bad_mplbackend_is_one_line_naming_it(real_runs, name):
    folder, rc, out, err = real_runs.result(name)
    assert rc == 2, err
    assert out == b""
    [line] = stderr_lines(err)
    assert line.startswith("gmm_clustering.py: error: ") and "MPLBACKEND" in line
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
    [line] = stderr_lines(err)
    assert line.startswith("gmm_clustering.py: error: ") and "standard output" in line
    assert list(folder.iterdir()) == []


def test_stdout_on_a_full_device_is_one_line_exit_1(real_runs):
    if "dev-full" not in real_runs.procs:
        pytest.skip("no /dev/full here")
    folder, rc, _, err = real_runs.result("dev-full")
    assert rc == 1, err
    [line] = stderr_lines(err)
    assert line.startswith("gmm_clustering.py: error: ") and "No space left" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("name", SIGINT_DELAYS)
def test_ctrl_c_is_exit_130_and_one_line(real_runs, name):
    folder, rc, out, err = real_runs.result(name)
    lines = stderr_lines(err)
    assert rc == 130, (rc, lines[-3:])
    assert lines and lines[-1] == "gmm_clustering.py: interrupted", lines[-3:]
    assert b"Traceback" not in err and out == b""
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------
# 6. Wide data draws in seconds
# --------------------------------------------------------------------------


def test_wide_diagonal_data_draws_within_a_minute(capsys, tmp_path):
    start = time.perf_counter()
    argv = "--n-features 3000 --n-samples 300 --covariance-type diag --n-components 2"
    rc, _, err = run(capsys, *argv.split(), "--save", "wide.png")
    elapsed = time.perf_counter() - start
    assert rc == 0, err
    assert (tmp_path / "wide.png").read_bytes()[:8] == PNG_MAGIC
    assert elapsed < 60, f"{elapsed:.1f} s"
