// PeerJS interop harness: starts a PeerJS signaling server and two peer programs that speak the
// contract of tests/signaling/interop_contract.md (claynet-peerjs-peer, peer_browser_peerjs.mjs), and
// checks that both exchange the standard value set of one serialization.
//
//   node tests/signaling/run_peerjs.mjs --server npm|claynet [--claynet-bin DIR]
//       --a "<cmd A (opener)>" --b "<cmd B (acceptor)>" [--serialization binary|json|raw]
//       [--host 10.99.0.1] [--timeout 60] [--peer-timeout-ms 40000] [--quiet]
//
// --server npm:     node node_modules/peer/dist/bin/peerjs.js --host H --port P (the npm `peer`
//                   1.0.2 server; without --host it would listen on every address)
// --server claynet: DIR/claynet signal --host H --port P
// --server claynet-cluster: a redis-server and two `DIR/claynet signal --redis` instances
//                   (tests/cluster/cluster_launch.mjs); A registers on one, B on the other.
// The harness picks a free port, waits until `GET http://H:P/` answers, starts B as the acceptor
// (`<cmd B> --host H --port P --id IDB --serialization S --timeout-ms N`), waits for its "open"
// event, then starts A as the opener (same flags, its own id, plus `--connect IDB`). Each peer
// command string is run by /bin/sh, so it may hold quoted arguments. When both have printed a
// result (or one has died, or 5 s after one has reported a failure), both get "close" on stdin;
// everything is killed at the end.
//
// Meant to run inside scripts/netns-run.sh (10.99.0.1 is the namespace's veth address).
// Exit 0 only if both peers print ok results, exit 0, and stick to the contract.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killChildrenOnExit, killGroup } from '../interop/harness_common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(msg) {
  if (msg) process.stderr.write(`run_peerjs: ${msg}\n`);
  process.stderr.write('usage: node run_peerjs.mjs --server npm|claynet [--claynet-bin DIR] ' +
    '--a "<cmd A (opener)>" --b "<cmd B (acceptor)>" [--serialization binary|json|raw] ' +
    '[--host 10.99.0.1] [--timeout 60] [--peer-timeout-ms 40000] [--quiet]\n');
  process.exit(2);
}

const opts = {
  server: null, claynetBin: null, a: null, b: null, serialization: 'binary', host: '10.99.0.1',
  timeout: 60, peerTimeoutMs: 40000, quiet: false,
};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const need = () => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === '--server') opts.server = need();
    else if (k === '--claynet-bin') opts.claynetBin = need();
    else if (k === '--a') opts.a = need();
    else if (k === '--b') opts.b = need();
    else if (k === '--serialization') opts.serialization = need();
    else if (k === '--host') opts.host = need();
    else if (k === '--timeout') opts.timeout = Number(need());
    else if (k === '--peer-timeout-ms') opts.peerTimeoutMs = Number(need());
    else if (k === '--quiet') opts.quiet = true;
    else if (k === '-h' || k === '--help') usage();
    else usage(`unknown argument ${k}`);
  }
  if (!['npm', 'claynet', 'claynet-cluster'].includes(opts.server)) usage('--server npm|claynet|claynet-cluster is required');
  if (opts.server !== 'npm' && !opts.claynetBin) usage(`--server ${opts.server} needs --claynet-bin DIR`);
  if (!opts.a || !opts.b) usage('--a and --b are required');
  if (!['binary', 'json', 'raw'].includes(opts.serialization)) usage('--serialization must be binary, json or raw');
  if (!(opts.timeout > 0)) usage('--timeout must be a positive number of seconds');
  if (!(opts.peerTimeoutMs > 0)) usage('--peer-timeout-ms must be a positive number');
}

const t0 = Date.now();
process.stdout.on('error', () => {}); // e.g. piped into head: keep going to the end
const ms = () => `${String(Date.now() - t0).padStart(6)}ms`;
const say = (msg) => process.stdout.write(`[run_peerjs ${ms()}] ${msg}\n`);
const sleep = (n) => new Promise((r) => setTimeout(r, n));

const problems = [];
const fail = (msg) => {
  problems.push(msg);
  say(`PROBLEM: ${msg}`);
};

// ------------------------------------------------------------------ processes
const procs = []; // every child, for the final kill

function describeExit(p) {
  return p.exitSignal ? `signal ${p.exitSignal}` : `code ${p.exitCode}`;
}

/// Starts `cmd` under /bin/sh in its own process group; stderr (and stdout, unless `onLine`
/// takes it) is echoed with a [name] prefix.
function startProc(name, cmd, onLine) {
  const child = spawn('/bin/sh', ['-c', `exec ${cmd}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group, so the whole tree can be signalled
    cwd: ROOT,
  });
  const p = {
    name, cmd, child, exited: false, exitCode: null, exitSignal: null, exitAt: null,
    stderrTail: [], exitPromise: null,
  };
  const stdoutEnded = new Promise((r) => child.stdout.on('close', r));
  p.exitPromise = new Promise((resolveExit) => {
    child.on('exit', async (code, signal) => {
      // 'exit' can come before the last stdout lines are read.
      await Promise.race([stdoutEnded, sleep(1000)]);
      p.exited = true;
      p.exitCode = code;
      p.exitSignal = signal;
      p.exitAt = Date.now() - t0;
      say(`${name} exited (${describeExit(p)})`);
      resolveExit();
    });
  });
  child.on('error', (e) => fail(`${name}: cannot start "${cmd}": ${e.message}`));
  child.stdin.on('error', () => {}); // gone; noticed through 'exit'
  const echo = (line) => {
    p.stderrTail.push(line);
    if (p.stderrTail.length > 40) p.stderrTail.shift();
    if (!opts.quiet) process.stdout.write(`[${name}] ${line}\n`);
  };
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', echo);
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', onLine || echo);
  say(`${name} started: ${cmd}`);
  procs.push(p);
  return p;
}

// ------------------------------------------------------------------ server
async function freePort(host) {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function httpGet(host, port, path) {
  return new Promise((res) => {
    const req = request({ host, port, path, method: 'GET', timeout: 1000 }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c) => { if (body.length < 2000) body += c; });
      r.on('end', () => res({ status: r.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => res({ error: e.message }));
    req.end();
  });
}

function serverCommand(port, port2) {
  const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
  if (opts.server === 'claynet-cluster') {
    return `${q(process.execPath)} ${q(join(ROOT, 'tests', 'cluster', 'cluster_launch.mjs'))} ` +
      `--claynet ${q(join(opts.claynetBin, 'claynet'))} --host ${q(opts.host)} --ports ${port},${port2}`;
  }
  if (opts.server === 'npm') {
    return `${q(process.execPath)} ${q(join(ROOT, 'node_modules', 'peer', 'dist', 'bin', 'peerjs.js'))} ` +
      `--host ${q(opts.host)} --port ${port}`;
  }
  return `${q(join(opts.claynetBin, 'claynet'))} signal --host ${q(opts.host)} --port ${port}`;
}

/// Waits until the server answers GET / with 200; false if it died or never did.
async function waitForServer(server, port) {
  const deadline = Date.now() + 15000;
  let last = null;
  while (Date.now() < deadline && !server.exited) {
    last = await httpGet(opts.host, port, '/');
    if (last.status === 200) {
      say(`server answers GET http://${opts.host}:${port}/: ${last.body.slice(0, 120)}`);
      return true;
    }
    await sleep(100);
  }
  if (server.exited) fail(`server exited (${describeExit(server)}) before answering GET /`);
  else fail(`server never answered GET http://${opts.host}:${port}/ with 200 within 15 s (last: ` +
    `${last ? (last.error || `HTTP ${last.status}`) : 'no attempt'})`);
  return false;
}

// ------------------------------------------------------------------ peers
function newId(prefix) {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

function startPeer(name, role, cmd, id, port, connect) {
  let full = `${cmd} --host ${opts.host} --port ${port} --id ${id} ` +
    `--serialization ${opts.serialization} --timeout-ms ${opts.peerTimeoutMs}`;
  if (connect) full += ` --connect ${connect}`;
  const peer = {
    name, role, id, remote: null, events: { open: null, connection: null }, result: null,
    resultAt: null, errors: [], proc: null, onOpen: null, onResult: null,
  };
  peer.proc = startProc(name, full, (line) => onPeerLine(peer, line));
  return peer;
}

function onPeerLine(peer, line) {
  if (!line.trim()) return;
  let obj;
  try {
    obj = JSON.parse(line);
  } catch {
    fail(`${peer.name} wrote a non-JSON line on stdout: ${line.slice(0, 120)}`);
    return;
  }
  switch (obj.event) {
    case 'open':
      if (peer.events.open) fail(`${peer.name} printed a second open event`);
      peer.events.open = { at: Date.now() - t0, id: obj.id };
      say(`${peer.name} registered as ${JSON.stringify(obj.id)}`);
      if (obj.id !== peer.id) fail(`${peer.name} opened as ${JSON.stringify(obj.id)}, expected ${peer.id}`);
      if (peer.onOpen) peer.onOpen();
      break;
    case 'connection':
      if (peer.events.connection) fail(`${peer.name} printed a second connection event`);
      peer.events.connection = { at: Date.now() - t0, peer: obj.peer, serialization: obj.serialization };
      say(`${peer.name} connection open with ${JSON.stringify(obj.peer)}, serialization ${obj.serialization}`);
      if (peer.remote && obj.peer !== peer.remote) {
        fail(`${peer.name} reports a connection with ${JSON.stringify(obj.peer)}, expected ${peer.remote}`);
      }
      if (obj.serialization !== opts.serialization) {
        fail(`${peer.name} reports serialization ${JSON.stringify(obj.serialization)}, expected ${opts.serialization}`);
      }
      break;
    case 'error':
      peer.errors.push(String(obj.detail ?? ''));
      say(`${peer.name} error: ${obj.detail}`);
      break;
    case 'result':
      if (peer.result) {
        fail(`${peer.name} printed a second result line: ${line.slice(0, 200)}`);
        break;
      }
      peer.result = { ok: obj.ok === true, detail: String(obj.detail ?? '') };
      peer.resultAt = Date.now() - t0;
      say(`${peer.name} result: ${peer.result.ok ? 'OK' : 'FAILED'} - ${peer.result.detail}`);
      if (peer.onResult) peer.onResult();
      if (!peer.result.ok && !failGraceTimer) {
        // The run has failed; give the other peer a moment to report its own view, then stop
        // rather than wait for its timeout.
        failGraceTimer = setTimeout(() => finishRun(`${peer.name} failed`), 5000);
      }
      maybeFinish();
      break;
    default:
      fail(`${peer.name} wrote an unknown object on stdout: ${line.slice(0, 120)}`);
  }
}

// ------------------------------------------------------------------ run
let server = null;
let A = null;
let B = null;
const peers = () => [A, B].filter(Boolean);
let finished = false;
let hardTimer = null;
let failGraceTimer = null;

function maybeFinish() {
  if (peers().length === 2 && peers().every((p) => p.result || p.proc.exited)) finishRun('both peers done');
}

async function finishRun(why) {
  if (finished) return;
  finished = true;
  clearTimeout(hardTimer);
  clearTimeout(failGraceTimer);
  say(`finishing: ${why}; sending close`);
  for (const p of peers()) {
    if (p.proc.exited) continue;
    try {
      p.proc.child.stdin.write('close\n');
      p.proc.child.stdin.end();
    } catch { /* gone */ }
  }
  const grace = 10000;
  await Promise.race([Promise.all(peers().map((p) => p.proc.exitPromise)), sleep(grace)]);
  for (const p of peers()) {
    if (!p.proc.exited) {
      fail(`${p.name} did not exit within ${grace / 1000}s after close; killing it`);
      killGroup(p.proc, 'SIGTERM');
    }
  }
  if (server && !server.exited) killGroup(server, 'SIGTERM');
  await Promise.race([Promise.all(procs.map((p) => p.exitPromise)), sleep(3000)]);
  for (const p of procs) killGroup(p, 'SIGKILL');
  report();
}

function report() {
  for (const p of peers()) {
    if (!p.events.open && !p.result) fail(`${p.name} (${p.role}) never registered with the server`);
    if (!p.result) {
      fail(`${p.name} (${p.role}) printed no result` +
        (p.proc.exited ? ` and exited (${describeExit(p.proc)})` : ''));
    } else if (!p.result.ok) {
      fail(`${p.name} (${p.role}) reported failure: ${p.result.detail}`);
    } else {
      if (!p.events.connection) fail(`${p.name} (${p.role}) reported ok without a connection event`);
      if (p.proc.exitSignal || p.proc.exitCode !== 0) {
        fail(`${p.name} (${p.role}) reported ok but exited with ${describeExit(p.proc)}`);
      }
    }
  }
  // Both servers stop cleanly on SIGTERM with exit code 0; anything else (a crash, a sanitizer
  // report, a hang until SIGKILL) is a server problem even when the peers were fine.
  if (server && !problems.some((m) => m.startsWith('server '))) {
    if (!server.exited) fail('server did not stop within 3 s of SIGTERM; killed');
    else if (server.exitSignal || server.exitCode !== 0) {
      fail(`server did not stop cleanly on SIGTERM: it exited with ${describeExit(server)}`);
    }
  }
  const lines = [`  server: ${opts.server} (${server ? server.cmd : 'not started'})`,
    `  serialization: ${opts.serialization}`];
  for (const p of peers()) {
    lines.push(`  ${p.name} (${p.role}, id ${p.id}): ${p.proc.cmd}\n` +
      `      open ${p.events.open ? 'at ' + p.events.open.at + 'ms' : 'never'}, ` +
      `connection ${p.events.connection ? 'at ' + p.events.connection.at + 'ms' : 'never'}, ` +
      `result ${p.result ? (p.result.ok ? 'ok' : 'FAILED') + ' at ' + p.resultAt + 'ms' : 'none'}` +
      `${p.result ? ' (' + p.result.detail + ')' : ''}, exit ${p.proc.exited ? describeExit(p.proc) : '?'}` +
      (p.errors.length ? `\n      errors: ${p.errors.join(' | ')}` : ''));
  }
  process.stdout.write(`\n=== run_peerjs summary (${Date.now() - t0} ms) ===\n${lines.join('\n')}\n`);
  if (problems.length === 0) {
    process.stdout.write('PASS\n');
    process.exit(0);
  }
  if (opts.quiet) {
    for (const p of procs) process.stdout.write(`--- last stderr lines of ${p.name} ---\n${p.stderrTail.join('\n')}\n`);
  }
  process.stdout.write(`FAIL:\n${[...new Set(problems)].map((s) => '  - ' + s).join('\n')}\n`);
  process.exit(1);
}

async function main() {
  const outside = Object.keys(networkInterfaces()).filter((n) => !['lo', 'va', 'vb'].includes(n));
  if (outside.length) say(`WARNING: interfaces ${outside.join(', ')} are visible; run this inside scripts/netns-run.sh`);

  hardTimer = setTimeout(() => {
    const missing = peers().filter((p) => !p.result).map((p) => p.name);
    fail(`hard timeout of ${opts.timeout}s reached` +
      (missing.length ? `; no result from ${missing.join(' and ')}` : peers().length < 2 ? ' before both peers ran' : ''));
    finishRun('hard timeout');
  }, opts.timeout * 1000);

  let port;
  let portB;
  try {
    port = await freePort(opts.host);
    portB = opts.server === 'claynet-cluster' ? await freePort(opts.host) : port;
  } catch (e) {
    fail(`cannot find a free port on ${opts.host}: ${e.message}`);
    return finishRun('no port');
  }
  server = startProc('S', serverCommand(port, portB));
  server.exitPromise.then(() => {
    if (!finished) {
      fail(`server exited early (${describeExit(server)})`);
      finishRun('server died');
    }
  });
  if (!(await waitForServer(server, port))) return finishRun('server not up');
  if (portB !== port && !(await waitForServer(server, portB))) return finishRun('server not up');
  if (finished) return undefined;

  const idA = newId('a');
  const idB = newId('b');
  B = startPeer('B', 'acceptor', opts.b, idB, portB, null);
  B.remote = idA;
  B.proc.exitPromise.then(() => {
    if (!finished && !B.result) finishRun('B exited without a result');
    else maybeFinish();
  });
  // A connects only once B is registered, so the OFFER is forwarded, not queued. B's own
  // timeout (or the hard timeout) bounds the wait.
  await new Promise((r) => {
    B.onOpen = r;
    B.onResult = r;
    B.proc.exitPromise.then(r);
  });
  if (finished) return undefined;
  if (!B.events.open) return finishRun('B did not register');
  A = startPeer('A', 'opener', opts.a, idA, port, idB);
  A.remote = idB;
  A.proc.exitPromise.then(() => {
    if (!finished && !A.result) finishRun('A exited without a result');
    else maybeFinish();
  });
  return undefined;
}

killChildrenOnExit(procs, say);

main().catch((e) => {
  fail(`harness error: ${e.stack || e.message}`);
  finishRun('harness error');
});
