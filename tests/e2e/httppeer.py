"""HTTP servers standing for the outside world in e2e tests (webhook targets, a CRM): a
quiet request handler with a ``reply`` helper, served on a free loopback port by a thread
for a ``with`` block."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with ``reply``."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def body(self) -> bytes:
        """The request body (Content-Length bytes)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, body: bytes, content_type: str | None = None, status: int = 200) -> None:
        """*status* with *body* (and a Content-Type when given); nothing if the client has
        already left."""
        try:
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """*handler* served on 127.0.0.1 (a free port) by a thread while the block runs; the
    port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
