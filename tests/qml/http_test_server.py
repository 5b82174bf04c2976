#!/usr/bin/env python3
"""The HTTP server that tst_http_client.qml talks to: loopback only, standard library only.

    http_test_server.py PORT READY_FILE

/echo...        answers 200 (201 for POST) with JSON: method, path, authorization, contentType,
                body (the request body as text)
/status/CODE    answers CODE; 204 without a body, other codes with a short text body
/count          answers 200 with the number of requests seen before this one
/slow/MS        answers 200: sends the headers, waits MS milliseconds, then sends the body
/truncated      answers 200 with a Content-Length of 100, sends 10 bytes and closes the connection
It writes READY_FILE once it listens, and exits after 10 minutes at the latest.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODIES = {404: "not here", 500: "boom"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # keep the test output to what matters
        pass

    def answer(self, code, body, content_type="application/json"):
        data = body.encode()
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if code != 204:
            self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with Handler.lock:
            count = Handler.seen
            if self.path != "/count":
                Handler.seen += 1
        if self.path == "/count":
            return self.answer(200, json.dumps({"count": count}))
        if self.path.startswith("/slow/"):
            return self.slow(int(self.path.split("/")[2]))
        if self.path == "/truncated":
            return self.truncated()
        if self.path.startswith("/status/"):
            code = int(self.path.split("/")[2])
            return self.answer(code, BODIES.get(code, json.dumps({"status": code})),
                               "text/plain" if code in BODIES else "application/json")
        if self.path.startswith("/echo"):
            return self.answer(201 if self.command == "POST" else 200, json.dumps({
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "contentType": self.headers.get("Content-Type", ""),
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "authorizationCount": len(self.headers.get_all("Authorization") or []),
            }))
        return self.answer(404, "no such path " + self.path, "text/plain")

    def slow(self, ms):
        data = b'{"slow": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        time.sleep(ms / 1000)
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up, as it should
            self.close_connection = True

    def truncated(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b'{"partial"')
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    port, ready_file = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Timer(600, server.shutdown).start()
    with open(ready_file, "w") as f:
        f.write("ready\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
