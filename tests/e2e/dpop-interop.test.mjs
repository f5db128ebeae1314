// Key-bound sessions against a third-party RFC 9449 client: panva's `dpop` package makes
// the proofs (its own key pair, its own JWS code), and the real relay process takes them
// where they are right and refuses them where they are not (PROTOCOL §12). No browser: the
// extension's own proofs are the other e2e files' business.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as DPoP from "dpop";
import { startStack, RELAY } from "./harness.mjs";

let stack;
before(async () => { stack = await startStack({}, { demoApp: false }); });
after(async () => { await stack?.stop(); });

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

async function call(method, path, { proof, scheme, token, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (proof) headers.dpop = proof;
  if (token) headers.authorization = `${scheme ?? "DPoP"} ${token}`;
  const r = await fetch(`${RELAY}${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

const proofFor = (kp, method, path, { nonce, token } = {}) => DPoP.generateProof(kp, `${RELAY}${path}`, method, nonce, token);

/** Pairs with a proof by `kp`: the grant. */
async function pairWith(kp) {
  const pairingToken = await stack.mint("dana");
  const proof = await proofFor(kp, "POST", "/pairing-tokens/redeem");
  const r = await call("POST", "/pairing-tokens/redeem", { proof, body: { pairingToken, deviceName: "Node" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

function refused(r, code) {
  assert.equal(r.status, 401, JSON.stringify(r.body));
  assert.equal(r.body.error, code);
  assert.match(r.headers.get("www-authenticate"), new RegExp(`^DPoP error="${code}"`));
}

test("dpop (npm): its proofs bind a pairing, pass the gate, refresh and revoke", async () => {
  const kp = await DPoP.generateKeyPair("ES256");
  const grant = await pairWith(kp);
  assert.equal(claimsOf(grant.accessToken).cnf.jkt, await DPoP.calculateThumbprint(kp.publicKey));

  const me = await call("GET", "/api/me", { token: grant.accessToken, proof: await proofFor(kp, "GET", "/api/me", { token: grant.accessToken }) });
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.userId, "dana");

  const refreshed = await call("POST", "/api/auth/refresh", { proof: await proofFor(kp, "POST", "/api/auth/refresh"), body: { refreshToken: grant.refreshToken } });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  const token = refreshed.body.accessToken;
  const again = await call("GET", "/api/me", { token, proof: await proofFor(kp, "GET", "/api/me", { token }) });
  assert.equal(again.status, 200);

  const revoked = await call("POST", "/api/auth/revoke", { proof: await proofFor(kp, "POST", "/api/auth/revoke"), body: { refreshToken: refreshed.body.refreshToken } });
  assert.deepEqual([revoked.status, revoked.body.revoked], [200, true]);
  const gone = await call("GET", "/api/me", { token, proof: await proofFor(kp, "GET", "/api/me", { token }) });
  assert.equal(gone.body.error, "access token invalid");
});

test("dpop (npm): replayed, for another method, URL, token or key, or missing: refused", async () => {
  const kp = await DPoP.generateKeyPair("ES256");
  const grant = await pairWith(kp);
  const token = grant.accessToken;
  const proof = await proofFor(kp, "GET", "/api/me", { token });
  assert.equal((await call("GET", "/api/me", { token, proof })).status, 200);
  refused(await call("GET", "/api/me", { token, proof }), "invalid_dpop_proof"); // replayed

  const other = await DPoP.generateKeyPair("ES256");
  const wrong = {
    "another method": await proofFor(kp, "POST", "/api/me", { token }),
    "another URL": await DPoP.generateProof(kp, "http://localhost:8787/api/me/device", "GET", undefined, token),
    "another relay": await DPoP.generateProof(kp, "https://relay.example/api/me", "GET", undefined, token),
    "another token": await proofFor(kp, "GET", "/api/me", { token: "not the token" }),
    "no token hash": await proofFor(kp, "GET", "/api/me"),
    "another key": await proofFor(other, "GET", "/api/me", { token }),
  };
  for (const [what, p] of Object.entries(wrong)) {
    const r = await call("GET", "/api/me", { token, proof: p });
    assert.equal(r.body.error, "invalid_dpop_proof", `${what}: ${JSON.stringify(r.body)}`);
  }
  refused(await call("GET", "/api/me", { token }), "invalid_dpop_proof"); // no proof
  refused(await call("GET", "/api/me", { token, scheme: "Bearer" }), "invalid_dpop_proof"); // as a bearer token

  // A refresh token copied into a client without the key: refused, and the family stays.
  const thief = await call("POST", "/api/auth/refresh", { proof: await proofFor(other, "POST", "/api/auth/refresh"), body: { refreshToken: grant.refreshToken } });
  refused(thief, "invalid_dpop_proof");
  const owner = await call("POST", "/api/auth/refresh", { proof: await proofFor(kp, "POST", "/api/auth/refresh"), body: { refreshToken: grant.refreshToken } });
  assert.equal(owner.status, 200, JSON.stringify(owner.body));
});

test("dpop (npm): a client whose clock is off is handed a nonce, and its proof with it passes", async () => {
  const kp = await DPoP.generateKeyPair("ES256");
  const grant = await pairWith(kp);
  const token = grant.accessToken;
  const realNow = Date.now;
  Date.now = () => realNow() - 10 * 60 * 1000; // this client's clock is 10 minutes slow
  try {
    const late = await call("GET", "/api/me", { token, proof: await proofFor(kp, "GET", "/api/me", { token }) });
    refused(late, "use_dpop_nonce");
    const nonce = late.headers.get("dpop-nonce");
    assert.ok(nonce, "a DPoP-Nonce header");
    const withNonce = await call("GET", "/api/me", { token, proof: await proofFor(kp, "GET", "/api/me", { token, nonce }) });
    assert.equal(withNonce.status, 200, JSON.stringify(withNonce.body));
  } finally {
    Date.now = realNow;
  }
});
