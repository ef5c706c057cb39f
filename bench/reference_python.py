#!/usr/bin/env python3
"""Reference endpoint in the style of the earlier Python design: PyNaCl verification on the standard
library's HTTP server (threaded, HTTP/1.1 keep-alive). Answers signed PINGs only. For benchmarks."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

KEY = VerifyKey(bytes.fromhex(os.environ["DISCORD_PUBLIC_KEY"]))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sig = self.headers.get("X-Signature-Ed25519", "")
        ts = self.headers.get("X-Signature-Timestamp", "")
        try:
            KEY.verify(ts.encode() + body, bytes.fromhex(sig))
        except (BadSignatureError, ValueError):
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({"type": 1}, separators=(",", ":")).encode() if json.loads(body).get("type") == 1 else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


host, port = sys.argv[1].rsplit(":", 1)
ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
