"""`/workshop/status` on a learner's server: is their local cloud up, and what does the facilitator say.

A Jupyter server extension, enabled for the class's learner servers only
(class/jupyter/jupyter_server_config.d/workshop-class.json, put on
JUPYTER_CONFIG_PATH by `workshop.classroom.learner`). The banner over each
notebook (class/jupyter/labextensions/workshop-class-banner) reads it every
few seconds. It answers only the server's own user (Jupyter's authentication)
and asks the facilitator service for the note with the server's hub token,
so the learner's browser never talks to the service itself.
"""

from __future__ import annotations

import json
import os
import time

NOTE_FRESH_SECONDS = 5.0


def _jupyter_server_extension_points():
    return [{"module": "workshop.classroom.status"}]


class NoteCache:
    """The facilitator's note, asked for at most every few seconds whatever the number of open notebooks."""

    def __init__(self, service_url: str | None, token: str | None):
        self.service_url, self.token = service_url, token
        self.text, self.fetched = "", 0.0

    async def get(self) -> str:
        if not (self.service_url and self.token) or time.monotonic() - self.fetched < NOTE_FRESH_SECONDS:
            return self.text
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError

        self.fetched = time.monotonic()
        try:
            response = await AsyncHTTPClient().fetch(self.service_url.rstrip("/") + "/api/note", request_timeout=2,
                                                     headers={"Authorization": f"token {self.token}"})
            self.text = str(json.loads(response.body).get("note") or "")
        except (HTTPClientError, OSError, ValueError):
            pass  # the last note stays shown; the service may be restarting
        return self.text


async def cloud_up(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    from workshop.localcloud.server.address import HEALTH_PATH

    try:
        response = await AsyncHTTPClient().fetch(endpoint.rstrip("/") + HEALTH_PATH, request_timeout=2)
        return bool(json.loads(response.body).get("loaded", True))
    except (HTTPClientError, OSError, ValueError):
        return False


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    from workshop.progress import TOKEN_VARIABLE, URL_VARIABLE

    notes = NoteCache(os.environ.get(URL_VARIABLE), os.environ.get(TOKEN_VARIABLE))
    endpoint = os.environ.get("WORKSHOP_ENDPOINT")

    class StatusHandler(JupyterHandler):
        @web.authenticated
        async def get(self):
            self.set_header("Cache-Control", "no-store")
            self.finish({"cloud": {"endpoint": endpoint, "up": await cloud_up(endpoint)},
                         "note": await notes.get()})

    route = url_path_join(serverapp.web_app.settings["base_url"], "workshop/status")
    serverapp.web_app.add_handlers(".*$", [(route, StatusHandler)])
    serverapp.log.info("workshop class status at %s", route)
