"""A file server on 127.0.0.1 that tests start for the weight fetcher (nothing leaves the machine):
`LocalServer(payload)` serves `payload` at /test.bin, honouring Range requests unless told not to."""
from __future__ import annotations

import hashlib
import http.server
import threading

PAYLOAD = bytes(range(256)) * 4096          # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class LocalServer:
    """Serves PAYLOAD at /test.bin, honouring Range requests unless `ranges` is False."""

    def __init__(self, payload: bytes, ranges: bool = True):
        self.payload, self.ranges, self.requests = payload, ranges, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.headers.get("Range"))
                rng = self.headers.get("Range")
                start = int(rng.split("=")[1].split("-")[0]) if (rng and outer.ranges) else 0
                if start >= len(outer.payload) and rng:
                    self.send_response(416)
                    self.end_headers()
                    return
                body = outer.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/test.bin"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
