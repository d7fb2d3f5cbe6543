#!/usr/bin/env python3
"""Writes vectors.json: webhook signatures computed with Python's standard
library only (hmac, hashlib, base64), independently of the Go code they test.

Run from this directory: python3 vectors.py > vectors.json
"""
import base64
import hashlib
import hmac
import json


def secret(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


def sign(sec: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(sec.removeprefix("whsec_"), validate=True)
    assert 24 <= len(key) <= 64
    content = msg_id.encode() + b"." + str(ts).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


CASES = [
    {
        "note": "standard webhooks spec example",
        "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "timestamp": 1614265330,
        "body": '{"test": 2432232314}',
    },
    {
        "note": "32-byte key, JSON body (the worked example in docs/webhooks.md)",
        "secrets": [secret(bytes(range(32)))],
        "id": "msg_2mZ4dKqYwB1nVx7pH3sLtE",
        "timestamp": 1767225600,
        "body": '{"type":"message.created","app_id":"app_1","data":{"msg_id":"m_1","text":"hello"}}',
    },
    {
        "note": "64-byte key, empty body",
        "secrets": [secret(hashlib.sha512(b"magpie").digest())],
        "id": "msg_empty",
        "timestamp": 1700000000,
        "body": "",
    },
    {
        "note": "rotation: two secrets, newest first; UTF-8 body with a newline",
        "secrets": [secret(bytes(range(100, 148))), secret(bytes(range(200, 224)))],
        "id": "msg_rotation-01",
        "timestamp": 1767225999,
        "body": '{"text":"h\u00e9llo \U0001f426"}\n',
    },
]

for c in CASES:
    body = c["body"].encode("utf-8")
    c["signed_content"] = c["id"] + "." + str(c["timestamp"]) + "." + c["body"]
    c["signature"] = " ".join(sign(s, c["id"], c["timestamp"], body) for s in c["secrets"])

assert CASES[0]["signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
print(json.dumps({"cases": CASES}, indent=2, ensure_ascii=False))
