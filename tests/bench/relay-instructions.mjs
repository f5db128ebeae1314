// Instructions per request of the relay, counted by callgrind: a measure this shared,
// noisy machine can't blur (throughput here moves ±15 % between runs of one binary).
// Starts `latch-relay serve` under `valgrind --tool=callgrind` with instrumentation off,
// warms it up, then counts exactly N one-click pairings (mint + describe + redeem) and M
// `GET /api/me`, 4 connections at a time, each phase between `callgrind_control` toggles.
// User-space instructions only (the kernel's share is not counted).
//
//   cargo build --release -p latch-relay
//   node tests/bench/relay-instructions.mjs [RELAY_BINARY ...]   # default target/release/latch-relay
//   N=300 M=2000 (defaults); LATCH_BENCH_RELAY_ARGS="..." replaces the serve flags below
//   (an older relay without --dev: LATCH_BENCH_RELAY_ARGS="").
// Needs valgrind (Debian's package); not part of npm test.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const N = Number(process.env.N || 300);
const M = Number(process.env.M || 2000);
const serveArgs = (process.env.LATCH_BENCH_RELAY_ARGS ?? '--dev --max-connections-per-address 0').split(' ').filter(Boolean);
const binaries = process.argv.slice(2).length ? process.argv.slice(2) : [join(root, 'target/release/latch-relay')];

async function measure(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'latch-ir-'));
  const db = `sqlite://${join(dir, 'bench.db')}`;
  const env = { ...process.env, LATCH_LOG: 'warn' };
  const cli = (...a) => execFileSync(bin, ['--database', db, ...a], { env }).toString();
  const tenant = JSON.parse(cli('tenant', 'create', '--name', 'Bench', '--id', 'bench')).tenantId;
  const apiKey = JSON.parse(cli('key', 'create', '--tenant', tenant, '--label', 'bench')).apiKey;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const relay = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'cg.%p')}`,
    bin, '--database', db, 'serve', '--listen', `127.0.0.1:${port}`, ...serveArgs,
    // Abuse limits off: the load comes from one address and one key.
    '--mint-per-minute', '0', '--describe-per-minute', '0', '--redeem-per-minute', '0'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  relay.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => relay.on('exit', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const call = (method, path, auth, body) => new Promise((resolve, reject) => {
    const headers = { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) };
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
  const expect = (r, status, what) => {
    if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text}`);
    return JSON.parse(r.text);
  };
  let user = 0;
  const pair = async () => {
    const { pairingToken } = expect(await call('POST', '/pairing-tokens', apiKey, { userId: `u${user++}` }), 201, 'mint');
    expect(await call('POST', '/pairing-tokens/describe', null, { pairingToken }), 200, 'describe');
    return expect(await call('POST', '/pairing-tokens/redeem', null, { pairingToken, deviceName: 'Bench' }), 200, 'redeem');
  };
  const times = async (n, f) => {
    let i = 0;
    await Promise.all([0, 1, 2, 3].map(async () => { while (i++ < n) await f(); }));
  };
  const started = Date.now();
  for (;;) {
    if (relay.exitCode !== null) throw new Error(`the relay exited: ${stderr}`);
    if (Date.now() - started > 60_000) throw new Error('the relay did not answer within 60 s');
    try { await call('GET', '/healthz'); break; } catch { await new Promise((r) => setTimeout(r, 200)); }
  }
  const control = (...a) => execFileSync('callgrind_control', [...a, String(relay.pid)], { stdio: 'pipe' });
  const counted = async (name, n, f) => {
    control('-z');
    control('-i', 'on');
    await times(n, f);
    control('-i', 'off');
    control('-d', name);
    // The dump's file (cg.PID.K) is the newest one; its "totals:" line is the phase's count.
    const dumps = readdirSync(dir).filter((f) => /^cg\.\d+\.\d+$/.test(f)).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
    const text = readFileSync(join(dir, dumps.at(-1)), 'utf8');
    return Number(/^totals: (\d+)/m.exec(text)[1]) / n;
  };
  try {
    const grant = await pair();
    await times(20, pair); // warm-up, not counted
    await times(50, () => call('GET', '/api/me', grant.accessToken));
    const pairing = await counted('pairings', N, pair);
    const me = await counted('me', M, async () => expect(await call('GET', '/api/me', grant.accessToken), 200, '/api/me'));
    return { pairing, me };
  } finally {
    agent.destroy();
    relay.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`| relay | instructions per one-click pairing (${N}) | per GET /api/me (${M}) |`);
console.log('|---|---:|---:|');
for (const bin of binaries) {
  const r = await measure(bin);
  console.log(`| ${bin} | ${Math.round(r.pairing).toLocaleString('en')} | ${Math.round(r.me).toLocaleString('en')} |`);
}
