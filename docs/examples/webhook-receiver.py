#!/usr/bin/env python3
"""A webhook receiver to try billing's webhooks with: python3 webhook-receiver.py PORT WHSEC_SECRET

Listens on 127.0.0.1:PORT, checks each POST's Standard Webhooks signature with the endpoint's
secret (HMAC-SHA256 over "webhook-id.webhook-timestamp.body", keyed by the base64 after "whsec_"),
prints one line per delivery and answers 204 (401 when the signature does not match). Receivers
should also dedupe by webhook-id, which a retry or a replay repeats, and may refuse timestamps
more than 5 minutes off their clock.
"""
import base64, hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, secret = int(sys.argv[1]), sys.argv[2]
key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
seen = set()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        msg_id, timestamp = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "")
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
        ok = any(s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in self.headers.get("webhook-signature", "").split(" "))
        event = json.loads(body) if ok else {}
        again = " (again: deduped)" if msg_id in seen else ""
        seen.add(msg_id)
        print(f"{msg_id} {'signature ok' if ok else 'BAD SIGNATURE'} {event.get('type', '?')} {json.dumps(event.get('data', {}))}{again}", flush=True)
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
