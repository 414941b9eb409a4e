#!/usr/bin/env python3
"""A local stand-in for the few Stripe API endpoints SessionForge calls (the one stand-in the
tests allow: Stripe cannot be reached from here). Started by the tests as a real HTTP process on
127.0.0.1; prints `listening on http://127.0.0.1:PORT` once ready.

  POST /v1/checkout/sessions        -> {"id": "cs_test_N", "url": ".../pay/cs_test_N", "object": "checkout.session"}
  POST /v1/billing_portal/sessions  -> {"id": "bps_test_N", "url": ".../portal/bps_test_N"}
  GET  /v1/subscriptions/{id}       -> the object last stored with PUT /__subscriptions/{id}, else 404
  GET  /__requests                  -> every request so far: method, path, headers, form fields
Requests without `Authorization: Bearer sk_…` get Stripe's 401 shape.
"""
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
requests = []
subscriptions = {}
counter = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, form):
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            requests.append({"method": self.command, "path": self.path, "headers": headers, "form": form})

    def authorized(self):
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Bearer sk_"):
            self.send(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
            return False
        return True

    def do_GET(self):
        if self.path == "/__requests":
            with lock:
                return self.send(200, requests)
        self.record({})
        if not self.authorized():
            return
        if self.path.startswith("/v1/subscriptions/"):
            sub = subscriptions.get(self.path.rsplit("/", 1)[1])
            if sub is None:
                return self.send(404, {"error": {"type": "invalid_request_error", "message": "No such subscription"}})
            return self.send(200, sub)
        self.send(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})

    def do_PUT(self):
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.startswith("/__subscriptions/"):
            with lock:
                subscriptions[self.path.rsplit("/", 1)[1]] = body
            return self.send(200, {})
        self.send(404, {})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length).decode()
        form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        self.record(form)
        if not self.authorized():
            return
        base = "http://%s:%d" % self.server.server_address
        with lock:
            counter[0] += 1
            n = counter[0]
        if self.path == "/v1/checkout/sessions":
            return self.send(200, {"id": "cs_test_%d" % n, "object": "checkout.session", "url": "%s/pay/cs_test_%d" % (base, n)})
        if self.path == "/v1/billing_portal/sessions":
            return self.send(200, {"id": "bps_test_%d" % n, "object": "billing_portal.session", "url": "%s/portal/bps_test_%d" % (base, n)})
        self.send(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
