"""The set-up check of the local cloud, against real sockets: nothing there, the local cloud, something else."""

import http.server
import threading

from workshop.teaching.setup_check import check_local_cloud


def test_local_cloud_not_running_says_how_to_start_it():
    check = check_local_cloud("http://127.0.0.1:9", timeout=1)
    assert not check.ok
    assert "not running at http://127.0.0.1:9" in check.message
    assert "make local" in check.fix


def _serve(status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_local_cloud_answering_is_ok():
    server, url = _serve(200)
    try:
        assert check_local_cloud(url).ok
    finally:
        server.shutdown()


def test_something_else_on_the_port_is_named_as_such():
    server, url = _serve(404)
    try:
        check = check_local_cloud(url)
    finally:
        server.shutdown()
    assert not check.ok and "not as the workshop's local cloud" in check.message
