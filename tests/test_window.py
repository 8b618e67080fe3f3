"""The window a learner looks at: every page readable on a laptop's screen and a desktop's.

The window is laid out with matplotlib's Agg canvas here (CI has no display), for a
screen of a given size: the script is told that a window can open and which screen it
is on, and each page it shows (stepped through with the keys it names) is measured
as ../shared/tools/window_check.py measures a real Tk window: the figure inside the
screen's room, every data panel at least 120 px each way, no text or legend of one
panel over another panel or its text, and no text cut by the figure's edge.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import write_table
from matplotlib.backend_bases import KeyEvent
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D

import gmm_clustering

MIN_PX = 120
SCREENS = {"laptop": (1366, 768), "desktop": (1920, 1080)}


@pytest.fixture
def window(monkeypatch):
    """main() believes a window opens on a screen of the given size; the figure is kept."""
    shown = []

    def open_on(width, height):
        monkeypatch.setattr(gmm_clustering, "backend_can_show", lambda backend: True)
        monkeypatch.setattr(gmm_clustering, "screen_of", lambda fig: (width, height, 1.0))
        monkeypatch.setattr(plt, "show", lambda *a, **k: shown.extend(plt.get_fignums()))
        return shown

    return open_on


def page_line(fig):
    """The figure's line that names the page shown ("page 2 of 3: ..."), or ""."""
    return next((t.get_text() for t in fig.texts if t.get_text().startswith("page ")), "")


def press(fig, key):
    fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, key))


def pages_of(fig):
    """Each page of the window in turn, drawn (the key "n" steps to the next)."""
    for page in range(20):
        fig.canvas.draw()
        yield page
        words = page_line(fig).split()
        if not words or words[1] == words[3].rstrip(":"):  # one page, or the last
            return
        press(fig, "n")


def boxes(ax, renderer):
    """The texts (title, labels, the ticks shown) and the legend of a panel: [(name, box)]."""
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
    if ax.axison:
        lo_x, hi_x = sorted(ax.get_xlim())
        lo_y, hi_y = sorted(ax.get_ylim())
        texts += [t for t in ax.get_xticklabels() if lo_x <= t.get_position()[0] <= hi_x]
        texts += [t for t in ax.get_yticklabels() if lo_y <= t.get_position()[1] <= hi_y]
    texts = [t for t in texts if t.get_visible()]
    found = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    found = [(name, box) for name, box in found if name.strip()]
    legend = ax.get_legend()
    if legend is not None:
        found.append(("legend", legend.get_window_extent(renderer)))
    return found


def is_data_panel(ax):
    lines = [line for line in ax.lines if isinstance(line, Line2D) and len(line.get_xdata()) > 1]
    return ax.axison and (any(isinstance(c, PathCollection) for c in ax.collections) or lines)


def overlap(a, b, tol=2):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def problems_of(fig, room):
    """What a person would find wrong with the page shown: [str]."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    found = []
    if width > room[0] + 1 or height > room[1] + 1:
        found.append(f"figure {width:.0f}x{height:.0f} px is larger than the room {room}")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    owned = [(i, name, box) for i, ax in enumerate(axes) for name, box in boxes(ax, renderer)]
    owned += [(-1, t.get_text(), t.get_window_extent(renderer)) for t in fig.texts if t.get_text()]
    for ax in axes:
        box = ax.get_window_extent(renderer)
        if is_data_panel(ax) and (box.width < MIN_PX or box.height < MIN_PX):
            found.append(f"panel {ax.get_title()!r} is {box.width:.0f}x{box.height:.0f} px")
    for i, name, box in owned:
        if box.x0 < -2 or box.y0 < -2 or box.x1 > width + 2 or box.y1 > height + 2:
            found.append(f"{name[:30]!r} is cut by the figure's edge")
    for n, (i, a, box_a) in enumerate(owned):
        for j, b, box_b in owned[n + 1 :]:
            if i != j and overlap(box_a, box_b):
                found.append(f"{a[:30]!r} overlaps {b[:30]!r}")
        for j, ax in enumerate(axes):
            if i not in (j, -1) and is_data_panel(ax) and overlap(box_a, ax.get_window_extent()):
                found.append(f"{a[:30]!r} lies over the panel {ax.get_title()[:30]!r}")
    return found


def features_csv(path, d):
    """150 + 150 rows in two groups, the columns in units from 1 to 1000 apart."""
    rng = np.random.RandomState(d)
    X = np.r_[rng.normal(0, 1, (150, d)), rng.normal(3, 1, (150, d))]
    X *= 10.0 ** (np.arange(d) % 4)
    return write_table(path, X, [f"column {j + 1}" for j in range(d)])


CASES = {
    "default": [],
    "report": ["--report"],
    "report, iris (pairs)": ["--dataset", "iris", "--report"],
    "trace": ["--trace"],
    "compare-kmeans": ["--compare-kmeans"],
    "anomalies": ["--anomalies", "2"],
    "predict": ["--predict=-6,-6", "--predict", "0,5"],
    "bayesian report": ["--bayesian", "--report"],
    "n-init report": ["--n-init", "4", "--report"],
    "select": ["--select", "--max-components", "4"],
    "explore": ["--explore"],
    **{f"report, {d} features": ["--csv", f"f{d}.csv", "--report"] for d in (1, 2, 4, 8, 13)},
}
SLOW = {"bayesian report", "n-init report", "select", "predict"}
SLOW |= {f"report, {d} features" for d in (2, 4, 8)}  # 1 and 13 bound them


# On a desktop's screen by default (all with -m slow):
DESKTOP = {"report", "report, iris (pairs)", "report, 13 features", "explore"}


def slow_unless(screen, case):
    """Every case on a laptop's screen and a few on a desktop's in the default run."""
    wanted = case not in SLOW and (screen == "laptop" or case in DESKTOP)
    return pytest.param(case, screen, marks=() if wanted else pytest.mark.slow)


@pytest.mark.parametrize(
    ("case", "screen"), [slow_unless(screen, case) for screen in SCREENS for case in CASES]
)
def test_every_page_is_readable_on_the_screen(cli, window, tmp_path, screen, case):
    width, height = SCREENS[screen]
    for d in (1, 2, 4, 8, 13):
        features_csv(tmp_path / f"f{d}.csv", d)
    argv = [*CASES[case], "--max-components", "4"] if "--report" in CASES[case] else CASES[case]
    shown = window(width, height)
    rc, _out, err = cli.run(*argv)
    assert rc == 0, err
    [number] = shown
    fig = plt.figure(number)
    room = (width - gmm_clustering.CHROME[0], height - gmm_clustering.CHROME[1])
    for page in pages_of(fig):
        assert problems_of(fig, room) == [], f"page {page + 1}"


def test_pages_step_with_n_and_b_and_say_where_they_are(cli, window):
    """--report on iris at a laptop's size: more pages than one, each named on the figure."""
    shown = window(1366, 768)
    cli.output("--dataset", "iris", "--report", "--max-components", "3")
    fig = plt.figure(shown[0])
    fig.canvas.draw()
    first = page_line(fig)
    assert first.startswith("page 1 of ")
    total = int(first.split()[3].rstrip(":"))
    assert total >= 2
    press(fig, "n")
    assert page_line(fig).startswith(f"page 2 of {total}")
    press(fig, "pageup")
    assert page_line(fig) == first
    press(fig, "b")  # no page before the first
    assert page_line(fig) == first


def test_a_saved_figure_keeps_every_panel_on_one_page(cli, captured_figures):
    """The file is the whole report at once, however large; no page line."""
    cli.output("--dataset", "iris", "--report", "--max-components", "3", "--save", "r.png")
    [fig] = captured_figures
    assert page_line(fig) == ""
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("BIC by number of components") for t in titles)
    assert any(t.startswith("KMeans") for t in titles)
    assert any(t.startswith("Fitted log-density") for t in titles)
    assert sum(1 for ax in fig.axes if ax.get_visible() and not ax.axison) == 1  # the summary
