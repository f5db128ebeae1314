"""Waits for the relay at argv[1] to answer /healthz, then pairs one browser the way the
extension does (mint with the API key argv[2], then redeem) and prints its access token.
Standard library only: tests/openapi/run.sh runs it before schemathesis is involved."""
import json
import sys
import time
import urllib.request

base, api_key = sys.argv[1], sys.argv[2]


def call(path, body=None, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers, method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.load(answer)


deadline = time.monotonic() + 15
while True:
    try:
        call("/healthz")
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"{base} did not answer /healthz within 15 s")
        time.sleep(0.1)

token = call("/pairing-tokens", {"userId": "alice"}, api_key)["pairingToken"]
print(call("/pairing-tokens/redeem", {"pairingToken": token, "deviceName": "Schemathesis"})["accessToken"])
