"""Make docs/explore.gif: a scripted --explore session, drawn with matplotlib's Agg.

    .venv/bin/python docs/explore_session.py

The keys and clicks are sent as the window's own events; each step is one frame.
"""

import io
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backend_bases import KeyEvent, MouseEvent
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gmm_clustering as g

X = g.make_blob_data(300, 4, 2, 1.0, 42).X
ex = g.Explorer(X, ["feature 1", "feature 2"], 4, "full", 24, equal=True)
ex.fig.set_size_inches(9, 5.2)
frames = []


def frame(hold=1):
    ex.fig.canvas.draw()
    buffer = io.BytesIO()
    ex.fig.savefig(buffer, format="png", dpi=80)
    image = Image.open(buffer).convert("P", palette=Image.ADAPTIVE, colors=48)
    frames.extend([image] * hold)


def key(name, hold=1):
    ex.fig.canvas.callbacks.process(
        "key_press_event", KeyEvent("key_press_event", ex.fig.canvas, name)
    )
    frame(hold)


def click(x, y, button):
    ex.fig.canvas.draw()
    px, py = ex.ax.transData.transform((x, y))
    event = MouseEvent("button_press_event", ex.fig.canvas, px, py, button=button)
    ex.fig.canvas.callbacks.process("button_press_event", event)
    frame(2)


frame(3)
key("e", 3)
key("m", 3)
key("e", 2)
key("m", 2)
ex.key(KeyEvent("key_press_event", ex.fig.canvas, "enter"))
while ex.running:  # the timer's calls, one frame each
    ex.tick()
    frame()
frame(4)
for x, y in [(0, -2), (0.5, -2.5), (-0.5, -1.8), (0.2, -1.5), (0.8, -2.0), (-0.2, -2.6)]:
    click(x, y, 1)
key("+", 3)
ex.key(KeyEvent("key_press_event", ex.fig.canvas, "enter"))
while ex.running:
    ex.tick()
    frame()
frame(6)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "explore.gif")
frames[0].save(out, save_all=True, append_images=frames[1:], duration=350, loop=0, optimize=True)
plt.close("all")
print(f"{out}: {len(frames)} frames, {os.path.getsize(out) / 1e3:.0f} kB")
