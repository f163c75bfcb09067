"""post_decision against a real HTTP server: the fields go form-encoded, the page is read, silence is explained."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from workshop.aws.decision_endpoint import post_decision

# --- posting to the endpoint (what a browser's form does) -----------------------------------


class DecisionServer:
    """A stand-in for the stack's /allow and /deny pages, on 127.0.0.1."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                outer.requests.append({"path": self.path, "body": parse_qs(body)})
                page = b"<html><body><h1>This link is not valid</h1><p>Refused.</p></body></html>"
                self.send_response(403)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/Prod"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_post_decision_sends_the_fields_form_encoded_and_reads_the_page():
    server = DecisionServer()
    try:
        result = post_decision(server.base + "/allow", {"token": "tok/+=42"}, "allow", timeout=5)
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert (result.status, result.title, result.message) == (403, "This link is not valid", "Refused.")
    assert server.requests == [{"path": "/Prod/allow", "body": {"token": ["tok/+=42"]}}]


def test_an_unreachable_endpoint_says_what_to_check():
    result = post_decision("http://127.0.0.1:9/Prod/allow", {"token": "tok"}, "allow", timeout=2)
    assert result.status == 0 and "did not answer" in result.message
