"""The server's request handler builds a request's log line only when its logger will write it."""

import logging

from workshop.localcloud.server.app import request_handler


def _logged(level: int) -> list:
    handler_class = request_handler()
    handler = handler_class.__new__(handler_class)  # no socket: only its log line is looked at
    handler.command, handler.path, handler.request_version = "POST", "/a%20b", "HTTP/1.1"
    handler.requestline = "POST /a%20b HTTP/1.1"
    lines = []
    handler.log = lambda kind, message, *args: lines.append((kind, message % args))
    werkzeug = logging.getLogger("werkzeug")
    before = werkzeug.level
    werkzeug.setLevel(level)
    try:
        handler.log_request(200, 12)
    finally:
        werkzeug.setLevel(before)
    return lines


def test_a_verbose_server_logs_each_request_as_werkzeug_does():
    assert _logged(logging.INFO) == [("info", '"POST /a%20b HTTP/1.1" 200 12')]


def test_a_quiet_server_builds_no_log_line():
    assert _logged(logging.WARNING) == []


def test_it_is_motos_handler_that_keeps_underscored_headers():
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    assert issubclass(request_handler(), MotoRequestHandler)
