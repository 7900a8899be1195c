#!/usr/bin/env python3
"""Creates and verifies TOTP factors (one entity each) on a verifyd server, then writes one
challenge request per factor, with the next time step's code, as lines for replay.lua (method,
path, content type, body; tab-separated), in an order unrelated to their creation (as users
sign in). Used by instructions.sh's `totp` mix; needs only Python's standard library.

    totp_factors.py BASE_URL AUTH_BASE64 SERVICE COUNT OUT
"""

import base64
import hashlib
import hmac
import http.client
import json
import struct
import sys
import threading
import time
import urllib.parse

FORM = "application/x-www-form-urlencoded"


def code_at(secret: bytes, unix: int, step: int = 30, digits: int = 6) -> str:
    counter = struct.pack(">Q", unix // step)
    mac = hmac.new(secret, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def main() -> None:
    base, auth, service, count, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    url = urllib.parse.urlparse(base)
    headers = {"Authorization": "Basic " + auth, "Content-Type": FORM}
    made: list[tuple[str, str, bytes]] = []
    lock = threading.Lock()
    workers = 16

    def work(w: int) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)

        def post(path: str, fields: dict) -> dict:
            conn.request("POST", path, urllib.parse.urlencode(fields), headers)
            answer = conn.getresponse()
            body = answer.read()
            if answer.status // 100 != 2:
                raise RuntimeError(f"{path}: {answer.status} {body[:200]!r}")
            return json.loads(body)

        for k in range(w, count, workers):
            identity = f"instr-{k:06}"
            factors = f"/v2/Services/{service}/Entities/{identity}/Factors"
            created = post(factors, {"FriendlyName": "bench", "FactorType": "totp"})
            text = created["binding"]["secret"]
            secret = base64.b32decode(text + "=" * (-len(text) % 8))
            post(f"{factors}/{created['sid']}", {"AuthPayload": code_at(secret, int(time.time()))})
            with lock:
                made.append((identity, created["sid"], secret))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(made) != count:
        raise SystemExit(f"made {len(made)} factors of {count}")
    made.sort()
    # The next step's code: the verification used this step's, and a step is accepted once.
    later = int(time.time()) + 30
    with open(out, "w") as f:
        for j in range(count):
            identity, sid, secret = made[(j * 1_000_003) % count]
            body = urllib.parse.urlencode({"FactorSid": sid, "AuthPayload": code_at(secret, later)})
            f.write(f"POST\t/v2/Services/{service}/Entities/{identity}/Challenges\t{FORM}\t{body}\n")


if __name__ == "__main__":
    main()
