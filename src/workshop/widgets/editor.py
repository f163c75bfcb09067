"""A live ASL editor for notebooks: type a state (or a whole machine), see it checked and drawn.

    from workshop.widgets import asl_editor
    editor = asl_editor('{"Type": "Pass", "Next": "ValidatePolicy"}')
    editor                      # the widget: text box, diagnostics, graph

The text box holds one state's JSON (`{"Type": ...}`) or a whole state
machine's (`{"StartAt": ..., "States": {...}}`). A single state is checked as
a one-state machine. As the learner types, the text is validated with
`workshop.asl.validate` and drawn with `graph_bundle` (Mermaid and SVG, so it
renders offline and in static exports). Typing is debounced: only the text as
it stands `debounce_ms` after the last keystroke is checked.

Diagnostics are grouped: errors to fix, warnings, and "still to build" (a
`Next` naming a state not written yet, or no end state yet: normal while a
machine is built state by state). Given a `plan` (the states the machine will
have), a `Next` to a name no planned state has is an error with a
did-you-mean, and one state on its own gets no whole-machine diagnostics.
A key written twice is an error (the text is validated, not the parsed dict).
Text that is not JSON shows the parser's message with its line and column;
the editor never raises while typing.

For tests and scripts: `editor.value` reads or sets the text, `editor.refresh()`
checks it now (what the debounce timer calls) and returns the analysis,
`editor.flush()` runs a pending debounced check at once.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets

from workshop.asl.diagnostics import COLOURS, diagnostics_html, split_diagnostics
from workshop.display.html import no_math

__all__ = ["asl_editor", "ASLEditor", "analyse"]

SINGLE_STATE_NAME = "ThisState"


def _as_text(initial) -> str:
    if initial is None:
        return ""
    if isinstance(initial, str):
        return initial
    import json

    return json.dumps(initial, indent=2)


def analyse(text: str, *, state_name: str = SINGLE_STATE_NAME, substitutions: dict | None = None,
            plan=None) -> dict:
    """Check editor text; never raises.

    Returns {"kind": "empty"|"invalid_json"|"state"|"machine"|"other",
             "definition": the machine validated and drawn (or None),
             "result": "OK"|"FAIL"|None, "errors", "warnings", "still_to_build": [diagnostic, ...],
             "json_error": {"message", "line", "column"} or None}.
    The text itself is validated (a key written twice is an error). `plan`:
    the state names the machine will have (see `workshop.asl.diagnostics.split_diagnostics`);
    a single state is never given whole-machine diagnostics.
    """
    from workshop.asl.source import JsonTextError, load_json
    from workshop.asl.substitution import substitute, substitute_text
    from workshop.asl.validator import validate, validate_state

    out = {"kind": "empty", "definition": None, "result": None, "errors": [], "warnings": [],
           "still_to_build": [], "json_error": None}
    if not text or not text.strip():
        return out
    try:
        doc, _ = load_json(text)
    except JsonTextError as exc:
        out["kind"] = "invalid_json"
        out["result"] = "FAIL"
        out["json_error"] = {"message": str(exc), "line": exc.line, "column": exc.column}
        return out
    checked = substitute_text(text, substitutions) if substitutions else text
    doc = substitute(doc, substitutions) if substitutions else doc
    prefix, single = "", None
    if isinstance(doc, dict) and "Type" in doc and "States" not in doc:
        out["kind"] = "state"
        prefix, single = f"/States/{state_name}", state_name
        machine = {"StartAt": state_name, "States": {state_name: doc}}
    elif isinstance(doc, dict) and ("States" in doc or "StartAt" in doc):
        out["kind"] = "machine"
        machine = doc
    else:
        out["kind"] = "other"
        out["result"] = "FAIL"
        out["errors"].append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "location": "/",
                              "message": "Write one state as a JSON object with \"Type\" (e.g. {\"Type\": \"Pass\", "
                                         "\"End\": true}), or a whole state machine with \"StartAt\" and "
                                         "\"States\"."})
        return out
    out["definition"] = machine
    try:
        result = validate_state(checked, state_name) if single else validate(checked)
        parts = split_diagnostics(result["diagnostics"], machine, plan, single_state=single)
    except Exception as exc:  # the validator should never fail; if it does, say so instead of raising
        out["result"] = "FAIL"
        out["errors"].append({"severity": "ERROR", "code": "VALIDATOR_ERROR", "location": "/",
                              "message": f"The validator could not check this text ({type(exc).__name__}: {exc})."})
        return out
    for group, items in parts.items():
        for d in items:
            d = dict(d)
            if prefix and d.get("location", "").startswith(prefix):
                d["location"] = d["location"][len(prefix):] or "/"
            out[group].append(d)
    out["result"] = "FAIL" if out["errors"] else "OK"
    return out


def analysis_html(analysis: dict) -> str:
    """What `analyse` found, as HTML: a hint for empty text, the JSON error, else the sorted diagnostics."""
    if analysis["kind"] == "empty":
        return "<p style='color:#545b64'>Type a state such as <code>{\"Type\": \"Pass\", \"End\": true}</code>, " \
               "or a whole state machine.</p>"
    if analysis["json_error"]:
        e = analysis["json_error"]
        where = f" at line {e['line']}, column {e['column']}" if e["line"] else ""
        return (f"<p style='color:{COLOURS['errors']}'><strong>Not valid JSON{where}</strong>: "
                f"{html.escape(e['message'])}.</p><p style='color:#545b64'>Check the quotes, commas and brackets "
                "around that spot (JSON needs double quotes and no trailing commas).</p>")
    return diagnostics_html(analysis, subject="This state" if analysis["kind"] == "state" else "The state machine")


class ASLEditor(widgets.VBox):
    """The editor widget: `textarea`, then `diagnostics` (HTML), then `graph` (Output)."""

    def __init__(self, initial=None, *, debounce_ms: int = 300, on_change=None, substitutions: dict | None = None,
                 state_name: str = SINGLE_STATE_NAME, rows: int = 14, plan=None):
        self.textarea = widgets.Textarea(
            value=_as_text(initial), placeholder='{"Type": "Pass", "End": true}', continuous_update=True,
            rows=rows, layout=widgets.Layout(width="100%"))
        self.textarea.add_class("workshop-asl-editor")
        self.style_html = widgets.HTML(
            "<style>.workshop-asl-editor textarea{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
            "resize:vertical;tab-size:2}</style>")
        self.diagnostics = widgets.HTML()
        self.graph = widgets.Output()
        super().__init__([self.style_html, self.textarea, self.diagnostics, self.graph])
        self.debounce_ms = debounce_ms
        self.on_change = on_change
        self.substitutions = substitutions
        self.state_name = state_name
        self.plan = list(plan) if plan is not None else None
        self.analysis: dict | None = None
        self.validations = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._drawn = None
        self.textarea.observe(self._typed, names="value")
        self.refresh()

    # the text
    @property
    def value(self) -> str:
        return self.textarea.value

    @value.setter
    def value(self, text) -> None:
        self.textarea.value = _as_text(text)

    @property
    def definition(self) -> dict | None:
        """The state machine last checked (a single state wrapped as a one-state machine)."""
        return self.analysis["definition"] if self.analysis else None

    # debouncing
    def _typed(self, change) -> None:
        if not self.debounce_ms or self.debounce_ms <= 0:
            self.refresh()
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_ms / 1000.0, self._timer_fired)
            self._timer.daemon = True
            self._timer.start()

    def _timer_fired(self) -> None:
        with self._lock:
            self._timer = None
        self.refresh()

    @property
    def pending(self) -> bool:
        """True while a debounced check is waiting to run."""
        return self._timer is not None

    def flush(self) -> dict | None:
        """Run a pending debounced check now (returns its analysis), or do nothing."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is None:
            return None
        timer.cancel()
        return self.refresh()

    def close(self):
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        super().close()

    # checking and drawing
    def refresh(self) -> dict:
        """Check the text now, update the diagnostics and the graph, call on_change; return the analysis."""
        text = self.textarea.value
        try:
            analysis = analyse(text, state_name=self.state_name, substitutions=self.substitutions, plan=self.plan)
        except Exception as exc:  # never raise into the learner's notebook while typing
            analysis = {"kind": "other", "definition": None, "result": "FAIL", "warnings": [], "still_to_build": [],
                        "json_error": None, "errors": [{"severity": "ERROR", "code": "EDITOR_ERROR", "location": "/",
                                                        "message": f"Could not check the text: {exc}"}]}
        analysis["text"] = text
        self.analysis = analysis
        self.validations += 1
        self.diagnostics.value = analysis_html(analysis)
        self._draw(analysis)
        if self.on_change is not None:
            try:
                self.on_change(analysis)
            except Exception as exc:
                self.diagnostics.value += (f"<p style='color:{COLOURS['errors']}'>on_change failed: "
                                           f"{html.escape(f'{type(exc).__name__}: {exc}')}</p>")
        return analysis

    def snapshot_html(self) -> str:
        """The text, diagnostics and graph as static HTML (an HTML export keeps no widgets)."""
        svg = ""
        for output in self.graph.outputs:
            svg = (output.get("data") or {}).get("image/svg+xml", svg)
        return no_math(f"<pre>{html.escape(self.textarea.value)}</pre>{self.diagnostics.value}<div>{svg}</div>")

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.snapshot_html()
        return data

    def _draw(self, analysis: dict) -> None:
        machine = analysis["definition"]
        if machine is None:
            if analysis["kind"] == "empty":
                self.graph.outputs = ()
                self._drawn = None
            return  # invalid JSON: keep the last good drawing while the learner fixes the text
        if machine == self._drawn:
            return
        from workshop.asl.graph import graph_bundle

        try:
            bundle = graph_bundle(machine)
        except Exception as exc:
            bundle = {"text/plain": f"(cannot draw this definition yet: {exc})"}
        self.graph.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        import copy

        self._drawn = copy.deepcopy(machine)


def asl_editor(initial: str | dict | None = None, *, debounce_ms: int = 300, on_change=None,
               substitutions: dict | None = None, state_name: str = SINGLE_STATE_NAME, plan=None,
               rows: int = 14) -> ASLEditor:
    """A live ASL editor widget (see the module docstring)."""
    return ASLEditor(initial, debounce_ms=debounce_ms, on_change=on_change, substitutions=substitutions,
                     state_name=state_name, plan=plan, rows=rows)
