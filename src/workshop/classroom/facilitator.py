"""The facilitator's view: a JupyterHub service that takes learners' progress and shows the class.

JupyterHub starts it (`c.JupyterHub.services`, class/jupyterhub_config.py) at
`/services/facilitator/` on 127.0.0.1 and gives it its address, prefix and
token in the environment. Three kinds of caller, each checked by the hub:

* a learner's kernel posts progress (`POST api/progress`, `workshop.progress`)
  with the learner's own hub token; the service asks the hub whose token it is
  and files the event under that name: a name in the body is ignored, so no
  learner can post as another, and a request without a valid token is refused;
* a learner's server reads the broadcast note (`GET api/note`) with its token;
* a facilitator opens the page through the hub's OAuth; only users with
  `access:services!service=facilitator` (the facilitators group's role) get
  in. They see every learner (`/`), a learner's last wrong answer read-only
  (`learner/<name>`), the board as JSON (`api/board`), and set the note shown
  at the top of every learner's notebook panel (`POST note`).

Which users are learners, and whether their server runs, the service asks the
hub (`GET /users`, with its own token's `list:users`/`read:servers`).

    python -m workshop.classroom.facilitator [--stuck-minutes 10] [--stuck-failures 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import time
from pathlib import Path
from urllib.parse import quote, urlparse

from workshop.classroom.board import EXERCISES, STUCK_FAILURES, STUCK_MINUTES, BadEvent, Board, EventLog, clean_event

SERVICE_NAME = "facilitator"
FACILITATORS_GROUP = "facilitators"
MAX_BODY = 16 * 1024  # a progress event is a few hundred bytes; answers are cut to 2,000 characters
NOTE_LIMIT = 500
log = logging.getLogger("workshop.classroom.facilitator")

LABELS = {"ValidatePolicy": "ValidatePolicy", "ChooseAction": "ChooseAction", "TempRemove": "TempRemove",
          "AskUser": "AskUser", "decision": "04 decision", "developer_policy": "05 policy"}
MARKS = {"passed": ("✓ passed", "passed"), "failed": ("✗ failed", "failed"), "not-tried": ("· not tried", "untried")}


# --- pages (plain functions of the board, so that they are tested without a server) ------------------------


def _minutes(value) -> str:
    return "—" if value is None else f"{value:.0f} min"


def board_html(summaries: list, prefix: str, servers: dict) -> str:
    """The class table: one row per learner, stuck rows highlighted."""
    head = "".join(f"<th>{html.escape(LABELS.get(name, name))}</th>" for _notebook, name in EXERCISES)
    rows = []
    for summary in summaries:
        cells = []
        for _notebook, name in EXERCISES:
            state = summary.exercises[name]
            text, css = MARKS.get(state.outcome, (state.outcome, ""))
            title = f" title='{html.escape(state.message)}'" if state.outcome == "failed" and state.message else ""
            cells.append(f"<td class='{css}'{title}>{html.escape(text)}</td>")
        running = servers.get(summary.name)
        cloud = summary.cloud if running is not False else "down"
        cloud_text = {"up": "up", "down": "down", "unknown": "not started"}[cloud if cloud in ("up", "down")
                                                                          else "unknown"]
        status = ("STUCK: " + "; ".join(summary.why_stuck)) if summary.stuck else "ok"
        link = f"{prefix}learner/{quote(summary.name)}"
        wrong = ""
        if summary.last_wrong:
            wrong = (f"<br><small class='message'>{html.escape(summary.last_wrong.name)}: "
                     f"{html.escape(summary.last_wrong.message[:160])}</small>")
        rows.append(
            f"<tr class='{'stuck' if summary.stuck else ''}' data-learner='{html.escape(summary.name)}'>"
            f"<td><a href='{html.escape(link)}'>{html.escape(summary.name)}</a></td>"
            f"<td>{html.escape(summary.notebook or '—')}</td>{''.join(cells)}"
            f"<td>{summary.incidents_fired} / {summary.incidents_decided}</td>"
            f"<td class='cloud-{cloud}'>{cloud_text}</td>"
            f"<td>{_minutes(summary.minutes_since_progress)}</td>"
            f"<td class='status'>{html.escape(status)}{wrong}</td></tr>")
    if not rows:
        rows.append(f"<tr><td colspan='{len(EXERCISES) + 6}'><em>No learners yet.</em></td></tr>")
    return ("<table id='board'><thead><tr><th>learner</th><th>notebook</th>" + head +
            "<th>incidents fired / decided</th><th>local cloud</th><th>since last progress</th><th>status</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #16191f; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #d5dbdb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f3f3; } td:first-child { white-space: nowrap; }
td.passed { color: #1d8102; } td.failed { color: #d13212; font-weight: bold; } td.untried { color: #687078; }
td.cloud-up { color: #1d8102; } td.cloud-down { color: #d13212; }
tr.stuck { background: #fde2e1; } tr.stuck td.status { color: #d13212; font-weight: bold; }
small.message { color: #545b64; font-weight: normal; }
.note { background: #fff7e0; border: 1px solid #f0c36d; padding: 6px 10px; margin: 0 0 1em 0; }
textarea { width: 40em; height: 3em; }
"""


def page_html(summaries: list, prefix: str, servers: dict, note: str, xsrf_form: str, thresholds: str) -> str:
    current = (f"<p class='note'>Shown to every learner now: <strong>{html.escape(note)}</strong></p>" if note
               else "<p class='note'>No note is shown to the learners.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Class: facilitator's view</title>"
            f"<style>{STYLE}</style></head><body><h1>The class</h1>{current}"
            f"<form method='post' action='{html.escape(prefix)}note'>{xsrf_form}"
            f"<textarea name='note' maxlength='{NOTE_LIMIT}' placeholder='A short note for every learner "
            f"(empty clears it)'></textarea><br><button type='submit'>Show to every learner</button></form>"
            f"<p><small>{html.escape(thresholds)} Hover a failed exercise for its message; a learner's name "
            f"opens their last answer.</small></p><div id='live'>{board_html(summaries, prefix, servers)}</div>"
            "<script>setInterval(async () => { try { const r = await fetch(location.href, {credentials: "
            "'same-origin'}); if (!r.ok) return; const doc = new DOMParser().parseFromString(await r.text(), "
            "'text/html'); document.getElementById('live').innerHTML = doc.getElementById('live').innerHTML; } "
            "catch (e) {} }, 10000);</script></body></html>")


def learner_html(summary, prefix: str) -> str:
    """One learner's exercises and last wrong answer, read-only."""
    rows = "".join(
        f"<tr><td>{html.escape(LABELS.get(s.name, s.name))}</td><td class='{MARKS.get(s.outcome, ('', ''))[1]}'>"
        f"{html.escape(MARKS.get(s.outcome, (s.outcome, ''))[0])}</td><td>{s.failures_in_a_row}</td>"
        f"<td>{html.escape(s.message)}</td></tr>" for s in summary.exercises.values())
    wrong = summary.last_wrong
    answer = ("<h2>Last wrong answer: " + html.escape(wrong.name) + "</h2><p>" + html.escape(wrong.message) +
              "</p><pre id='answer'>" + html.escape(wrong.answer or "(no answer text)") + "</pre>") if wrong \
        else "<p>No wrong answer so far.</p>"
    others = "".join(
        f"<details data-exercise='{html.escape(s.name)}'><summary>{html.escape(LABELS.get(s.name, s.name))}: the last "
        f"wrong answer</summary><p>{html.escape(s.message)}</p><pre>{html.escape(s.answer or '(no answer text)')}"
        f"</pre></details>" for s in summary.exercises.values() if s.answer and s is not wrong)
    if others:
        answer += "<h2>Other exercises' last wrong answers</h2>" + others
    stuck = f"<p class='note'>Stuck: {html.escape('; '.join(summary.why_stuck))}</p>" if summary.stuck else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(summary.name)}</title>"
            f"<style>{STYLE}</style></head><body><p><a href='{html.escape(prefix)}'>← the class</a></p>"
            f"<h1>{html.escape(summary.name)}</h1>{stuck}<p>On {html.escape(summary.notebook or '—')}; "
            f"incidents fired {summary.incidents_fired}, decided {summary.incidents_decided}.</p>"
            f"<table><thead><tr><th>exercise</th><th>state</th><th>failed in a row</th><th>last message</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>{answer}</body></html>")


# --- the service -----------------------------------------------------------------------------------------


class Note:
    """The broadcast note, kept on disk so that a restarted service still shows it."""

    def __init__(self, path: Path | None):
        self.path, self.text, self.time = path, "", None
        if path is not None and path.is_file():
            try:
                doc = json.loads(path.read_text())
                self.text, self.time = str(doc.get("text", ""))[:NOTE_LIMIT], doc.get("time")
            except ValueError:
                pass

    def set(self, text: str) -> None:
        self.text, self.time = text.strip()[:NOTE_LIMIT], time.time()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"text": self.text, "time": self.time}, handle)


def make_app(board: Board, event_log: EventLog | None, note: Note, prefix: str, hub_auth=None,
             hub_api=None, thresholds: str = ""):
    """The tornado application; `hub_api()` -> {user: server running?} for the learners (None: unknown)."""
    from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
    from tornado import web

    # One instance for every handler: the OAuth callback finds the login's PKCE verifier in it.
    hub_auth = hub_auth or HubOAuth.instance(cache_max_age=60)
    lister = hub_api or (lambda: _no_hub())

    class TokenHandler(web.RequestHandler):
        """API calls from learners' servers: the hub says whose token it is."""

        async def caller(self) -> str:
            token = hub_auth.get_token(self, in_cookie=False)
            model = await hub_auth.user_for_token(token, sync=False) if token else None
            if not model or model.get("kind", "user") != "user" or not model.get("name"):
                raise web.HTTPError(403, "a learner's hub token is needed (Authorization: token ...)")
            return model["name"]

        def check_xsrf_cookie(self):
            pass  # token-authenticated API calls carry no cookie to forge

    class ProgressHandler(TokenHandler):
        async def post(self):
            learner = await self.caller()
            if len(self.request.body) > MAX_BODY:
                raise web.HTTPError(413, f"a progress event is at most {MAX_BODY} bytes")
            try:
                event = clean_event(json.loads(self.request.body or b"null"), learner, time.time())
            except ValueError as exc:  # BadEvent, or a body that is not JSON
                raise web.HTTPError(400, str(exc) if isinstance(exc, BadEvent) else "the body is not JSON") from None
            board.add(event)
            if event_log is not None:
                event_log.append(event)
            self.set_status(201)
            self.finish({"learner": learner, "step": event["step"], "outcome": event["outcome"]})

    class NoteApiHandler(TokenHandler):
        async def get(self):
            await self.caller()
            self.finish({"note": note.text, "time": note.time})

    class FacilitatorHandler(HubOAuthenticated, web.RequestHandler):
        hub_auth_class = type(hub_auth)

        def initialize(self):
            self.hub_auth = hub_auth

        async def learners(self) -> dict:
            try:
                return await lister()
            except Exception as exc:  # the page still shows what learners reported
                log.warning("could not list the hub's users: %s", exc)
                return {}

    class PageHandler(FacilitatorHandler):
        @web.authenticated
        async def get(self):
            servers = await self.learners()
            summaries = board.summaries(names=servers)
            self.finish(page_html(summaries, prefix, servers, note.text, self.xsrf_form_html(), thresholds))

    class BoardApiHandler(FacilitatorHandler):
        @web.authenticated
        async def get(self):
            servers = await self.learners()
            self.finish({"note": note.text, "learners": [
                {**s.as_dict(), "server_running": servers.get(s.name)} for s in board.summaries(names=servers)]})

    class LearnerHandler(FacilitatorHandler):
        @web.authenticated
        async def get(self, name):
            if name not in set(board.learners()) | set(await self.learners()):
                raise web.HTTPError(404, f"no learner named {name!r}")
            self.finish(learner_html(board.summary(name), prefix))

    class NoteHandler(FacilitatorHandler):
        def check_xsrf_cookie(self):
            # A token in the Authorization header is no cookie a foreign page could ride on: a tool may post
            # with the facilitator's token; a browser's form carries the XSRF token as usual.
            if self.request.headers.get("Authorization"):
                return None
            return super().check_xsrf_cookie()

        @web.authenticated
        def post(self):
            note.set(self.get_body_argument("note", ""))
            log.info("note set by %s: %r", self.current_user.get("name"), note.text)
            self.redirect(prefix)

    return web.Application([
        (prefix, PageHandler),
        (prefix + "api/board", BoardApiHandler),
        (prefix + r"learner/([^/]+)", LearnerHandler),
        (prefix + "note", NoteHandler),
        (prefix + "api/progress", ProgressHandler),
        (prefix + "api/note", NoteApiHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32), xsrf_cookies=True)


async def _no_hub() -> dict:
    return {}


def hub_lister(api_url: str, token: str):
    """{learner: server running?} from the hub's REST API; facilitators and the hub's admins are left out."""
    from tornado.httpclient import AsyncHTTPClient

    async def learners() -> dict:
        response = await AsyncHTTPClient().fetch(api_url.rstrip("/") + "/users",
                                                 headers={"Authorization": f"token {token}"})
        found = {}
        for user in json.loads(response.body):
            if user.get("admin") or FACILITATORS_GROUP in (user.get("groups") or []):
                continue
            found[user["name"]] = bool((user.get("servers") or {}).get("", {}).get("ready"))
        return found

    return learners


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.classroom.facilitator", description=__doc__.splitlines()[0])
    parser.add_argument("--stuck-minutes", type=float, default=STUCK_MINUTES)
    parser.add_argument("--stuck-failures", type=int, default=STUCK_FAILURES)
    parser.add_argument("--data-dir", default=None, help="where the events and the note are kept")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s facilitator %(message)s")
    log.setLevel(logging.INFO)
    from tornado import ioloop

    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")
    data = Path(args.data_dir) / SERVICE_NAME if args.data_dir else None
    if data is not None:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
    board = Board(args.stuck_minutes, args.stuck_failures)
    event_log = EventLog(data / "events.jsonl") if data else None
    if event_log is not None:
        log.info("read %d earlier events", event_log.load_into(board))
    thresholds = (f"Stuck: no progress for {args.stuck_minutes:g} min, or the same exercise failed "
                  f"{args.stuck_failures} times in a row.")
    app = make_app(board, event_log, Note(data / "note.json" if data else None), prefix,
                   hub_api=hub_lister(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]),
                   thresholds=thresholds)
    app.listen(url.port, address=url.hostname or "127.0.0.1", max_body_size=MAX_BODY * 4)
    log.info("the facilitator's view listens on %s%s", url.geturl().rstrip("/"), prefix)
    ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
