#!/usr/bin/env python3
"""Ed25519 vectors for Skald's signature tests, made by an independent implementation (PyNaCl).

Discord signs `timestamp + raw body` with the application's key; this script does the same with
fixed seeds, so the output is reproducible:  pip install pynacl && python3 make_vectors.py > ed25519-vectors.json
"""
import base64
import json

from nacl.signing import SigningKey

key = SigningKey(bytes(range(32)))
other = SigningKey(bytes(range(32, 64)))
pub = key.verify_key.encode().hex()

bodies = [
    b'{"type":1}',
    b'{"application_id":"1178000000000000000","id":"1180000000000000001","token":"aW50ZXJhY3Rpb24","type":1,"version":1}',
    '{"type":2,"data":{"name":"start"},"member":{"nick":"Åsa 🪓"}}'.encode("utf-8"),
    b"",
    bytes(range(256)),  # not UTF-8 at all: the signature covers raw bytes
]
vectors = []
for i, body in enumerate(bodies):
    ts = str(1763800000 + i)
    sig = key.sign(ts.encode() + body).signature
    vectors.append({"name": f"valid-{i}", "public_key": pub, "timestamp": ts,
                    "body_base64": base64.b64encode(body).decode(), "signature": sig.hex(), "valid": True})

body = bodies[1]
ts = "1763800100"
good = key.sign(ts.encode() + body).signature
flipped = bytearray(good); flipped[10] ^= 1
cases = [
    ("tampered-body", ts, body.replace(b'"type":1', b'"type":2'), good.hex()),
    ("tampered-timestamp", "1763800101", body, good.hex()),
    ("flipped-signature-bit", ts, body, bytes(flipped).hex()),
    ("other-key", ts, body, other.sign(ts.encode() + body).signature.hex()),
    ("body-only-signed", ts, body, key.sign(body).signature.hex()),
    ("truncated-signature", ts, body, good.hex()[:126]),
    ("not-hex-signature", ts, body, "zz" * 64),
]
for name, t, b, s in cases:
    vectors.append({"name": name, "public_key": pub, "timestamp": t,
                    "body_base64": base64.b64encode(b).decode(), "signature": s, "valid": False})

print(json.dumps({"generator": "PyNaCl " + __import__("nacl").__version__, "vectors": vectors}, indent=1))
