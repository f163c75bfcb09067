"""The pictures are readable at a notebook's width: rendered 900 px wide in Chromium, no text under 9 px.

900 px is about what JupyterLab's default layout gives an output at 100 % zoom on a laptop screen; a picture
wider than its output is shrunk to fit (`max-width: 100%`, as JupyterLab's rendered HTML does), so a wide
graph's labels shrink with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 900
SMALLEST = 9.0
# What JupyterLab's rendered HTML does to pictures (jp-RenderedHTMLCommon): never wider than the output.
PAGE = ("<!doctype html><html><head><style>body{{margin:0;font-family:sans-serif}}"
        ".output img,.output svg{{max-width:100%;height:auto}}</style></head>"
        "<body><div class='output' style='width:{width}px'>{html}</div></body></html>")

# Every text's size on screen (font size times the picture's scale), and every inline picture's scale; a
# picture shown as <img> is measured from its own SVG's font sizes and how much the <img> shrinks it.
MEASURE = """async () => {
  const sizes = [];
  for (const text of document.querySelectorAll('svg text')) {
    const box = text.getBoundingClientRect(), ctm = text.getScreenCTM();
    if (!ctm || box.width === 0) continue;  // inside a closed <details>: not shown
    sizes.push({text: text.textContent, px: parseFloat(getComputedStyle(text).fontSize) * ctm.a});
  }
  for (const img of document.querySelectorAll('img')) {
    await img.decode();
    const svg = atob(img.src.split(',')[1]);
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    const scale = img.getBoundingClientRect().width / img.naturalWidth;
    for (const text of doc.querySelectorAll('text')) {
      const size = parseFloat(text.getAttribute('font-size') || doc.documentElement.getAttribute('font-size') || 16);
      sizes.push({text: text.textContent, px: size * scale});
    }
  }
  return sizes;
}"""


def _smallest(page, html: str) -> dict:
    page.set_content(PAGE.format(width=WIDTH, html=html))
    sizes = page.evaluate(MEASURE)
    assert sizes, "nothing measured"
    return min(sizes, key=lambda s: s["px"])


def _definition() -> dict:
    return json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())


REMEDIATION = ["CheckEvent", "WhichChange", "CreatePolicyTarget", "ModifyState", "ValidatePolicy", "CheckOwnOrGone",
               "ChooseAction", "TempRemove", "CheckDuplicate", "AskUser", "usersChoice", "denied"]
ALERT = REMEDIATION[:7] + ["AllowWithNotification"]


def _history(path: list) -> SimpleNamespace:
    definition = _definition()
    statuses = {name: ("succeeded" if name in path else "not_run") for name in definition["States"]}
    return SimpleNamespace(definition=definition, statuses=lambda _definition=None: statuses, name="run",
                           status="SUCCEEDED", path=lambda: path, summary=lambda: "run")


def test_the_built_state_machine_is_readable_at_notebook_width(page):
    from workshop.teaching import StateMachineBuilder

    builder = StateMachineBuilder.from_reference()
    step = builder.add_remaining()
    smallest = _smallest(page, step._repr_mimebundle_()["text/html"])
    assert smallest["px"] >= SMALLEST, smallest


def test_an_execution_graph_is_readable_at_notebook_width(page):
    from workshop.display.history import execution_graph

    smallest = _smallest(page, execution_graph(_history(REMEDIATION)).data["text/html"])
    assert smallest["px"] >= SMALLEST, smallest


def test_two_executions_side_by_side_are_readable_at_notebook_width(page):
    from workshop.display.history import side_by_side

    html = side_by_side(_history(ALERT), _history(REMEDIATION), titles=["alert", "remediation"]).data["text/html"]
    smallest = _smallest(page, html)
    assert smallest["px"] >= SMALLEST, smallest


def test_the_architecture_picture_is_readable_at_notebook_width(page):
    from workshop.display.stack import architecture_svg

    smallest = _smallest(page, architecture_svg())
    assert smallest["px"] >= SMALLEST, smallest


def test_the_unfolded_graph_would_not_be(page):
    """The measure can fail: the whole machine drawn side by side is too wide to read at this width."""
    from workshop.asl.graph import to_svg

    smallest = _smallest(page, to_svg(_definition(), fold=False))
    assert smallest["px"] < SMALLEST
