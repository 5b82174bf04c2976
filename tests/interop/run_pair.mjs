// Interop harness: runs two peer programs against each other and relays their signaling.
//
//   node tests/interop/run_pair.mjs --a "<cmd A>" --b "<cmd B>" [--timeout 60]
//                                   [--peer-timeout SECONDS] [--quiet]
//
// A is started as `<cmd A> --role offer`, B as `<cmd B> --role answer` (each command
// string is run by /bin/sh, so it may hold quoted arguments). With --peer-timeout,
// `--timeout SECONDS` is passed to both peers as well.
//
// The peer protocol (JSON lines):
//   peer stdout: {"type":"description","sdpType":"offer"|"answer","sdp":"..."}
//                {"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}
//                {"type":"result","ok":true|false,"detail":"..."}   (exactly once)
//   peer stdin:  the other side's description/candidate objects, then {"type":"close"}
//                (EOF also means close). Exit code 0 if the result was ok, 1 otherwise.
// Logs go to the peers' stderr; the harness prefixes them with [A]/[B].
//
// Passes (exit 0) only if both peers report ok, both exit with code 0 after "close",
// and both stick to the protocol. Otherwise it prints the reasons and exits 1.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { networkInterfaces } from 'node:os';
import { killChildrenOnExit, killGroup } from './harness_common.mjs';

function usage(msg) {
  if (msg) process.stderr.write(`run_pair: ${msg}\n`);
  process.stderr.write('usage: node run_pair.mjs --a "<cmd A (offers)>" --b "<cmd B (answers)>" ' +
    '[--timeout 60] [--peer-timeout S] [--quiet]\n');
  process.exit(2);
}

const opts = { a: null, b: null, timeout: 60, peerTimeout: null, quiet: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const need = () => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === '--a') opts.a = need();
    else if (k === '--b') opts.b = need();
    else if (k === '--timeout') opts.timeout = Number(need());
    else if (k === '--peer-timeout') opts.peerTimeout = Number(need());
    else if (k === '--quiet') opts.quiet = true;
    else if (k === '-h' || k === '--help') usage();
    else usage(`unknown argument ${k}`);
  }
  if (!opts.a || !opts.b) usage('--a and --b are required');
  if (!(opts.timeout > 0)) usage('--timeout must be a positive number of seconds');
}

const t0 = Date.now();
process.stdout.on('error', () => {}); // e.g. piped into head: keep running the peers to the end
const ms = () => `${String(Date.now() - t0).padStart(6)}ms`;
const say = (msg) => process.stdout.write(`[run_pair ${ms()}] ${msg}\n`);

const problems = []; // reasons for failure, in the order they were noticed
const fail = (msg) => {
  problems.push(msg);
  say(`PROBLEM: ${msg}`);
};

// ------------------------------------------------------------------ peers
function startPeer(name, cmd, role) {
  let full = `exec ${cmd} --role ${role}`;
  if (opts.peerTimeout) full += ` --timeout ${opts.peerTimeout}`;
  const child = spawn('/bin/sh', ['-c', full], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group, so the whole tree can be signalled
  });
  const peer = {
    name, role, cmd, child,
    result: null, resultAt: null,
    exited: false, exitCode: null, exitSignal: null, exitAt: null,
    descriptions: 0, descriptionAt: null, candidates: 0, candidateTypes: {},
    stderrTail: [],
    other: null,
    exitPromise: null,
  };
  // 'exit' can come before the last stdout lines are read: wait (briefly) for stdout's end.
  const stdoutEnded = new Promise((resolve) => child.stdout.on('close', resolve));
  peer.exitPromise = new Promise((resolve) => {
    child.on('exit', async (code, signal) => {
      await Promise.race([stdoutEnded, new Promise((r) => setTimeout(r, 1000))]);
      peer.exited = true;
      peer.exitCode = code;
      peer.exitSignal = signal;
      peer.exitAt = Date.now() - t0;
      say(`${name} exited (${signal ? 'signal ' + signal : 'code ' + code})`);
      resolve();
    });
  });
  child.on('error', (e) => fail(`${name}: cannot start "${cmd}": ${e.message}`));
  child.stdin.on('error', () => {}); // peer gone; noticed through 'exit'

  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
    peer.stderrTail.push(line);
    if (peer.stderrTail.length > 40) peer.stderrTail.shift();
    if (!opts.quiet) process.stdout.write(`[${name}] ${line}\n`);
  });
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => onPeerLine(peer, line));
  say(`${name} (${role}) started: ${full.slice(5)}`);
  return peer;
}

function sdpSummary(sdp) {
  const lines = String(sdp).split(/\r?\n/);
  const m = lines.filter((l) => l.startsWith('m=')).join(' | ');
  const pick = (p) => lines.filter((l) => l.startsWith(p)).map((l) => l.slice(2)).join(' ');
  const cands = lines.filter((l) => l.startsWith('a=candidate:')).length;
  return `${m}; ${[pick('a=setup'), pick('a=sctp-port'), pick('a=sctpmap'), pick('a=max-message-size')]
    .filter(Boolean).join(' ')}; ${cands} candidate(s) in SDP`;
}

function relay(from, obj) {
  const to = from.other;
  if (to.exited) return;
  to.child.stdin.write(JSON.stringify(obj) + '\n');
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
  switch (obj.type) {
    case 'description': {
      peer.descriptions++;
      if (peer.descriptionAt === null) peer.descriptionAt = Date.now() - t0;
      const want = peer.role === 'offer' ? 'offer' : 'answer';
      if (obj.sdpType !== want) fail(`${peer.name} sent a description of type ${obj.sdpType}, expected ${want}`);
      if (typeof obj.sdp !== 'string' || !obj.sdp.startsWith('v=0')) fail(`${peer.name} sent a description without a valid sdp`);
      say(`${peer.name} -> ${peer.other.name}: ${obj.sdpType} (${sdpSummary(obj.sdp)})`);
      relay(peer, obj);
      break;
    }
    case 'candidate': {
      peer.candidates++;
      if (peer.descriptions === 0) fail(`${peer.name} sent a candidate before its description`);
      const c = String(obj.candidate || '');
      if (c && !c.startsWith('candidate:')) fail(`${peer.name} sent a candidate not in "candidate:..." form: ${c.slice(0, 60)}`);
      const typ = (/ typ (\S+)/.exec(c) || [])[1] || (c ? '?' : 'end');
      peer.candidateTypes[typ] = (peer.candidateTypes[typ] || 0) + 1;
      if (!opts.quiet) say(`${peer.name} -> ${peer.other.name}: candidate ${c || '(end)'}`);
      relay(peer, obj);
      break;
    }
    case 'result': {
      if (peer.result) {
        fail(`${peer.name} printed a second result line: ${line}`);
        break;
      }
      peer.result = { ok: obj.ok === true, detail: String(obj.detail ?? '') };
      peer.resultAt = Date.now() - t0;
      say(`${peer.name} result: ${peer.result.ok ? 'OK' : 'FAILED'} - ${peer.result.detail}`);
      maybeClose();
      break;
    }
    default:
      fail(`${peer.name} wrote an unknown object on stdout: ${line.slice(0, 120)}`);
  }
}

// ------------------------------------------------------------------ teardown
let closeSent = false;
let finished = false;

function sendClose() {
  if (closeSent) return;
  closeSent = true;
  for (const p of peers) {
    if (p.exited) continue;
    try {
      p.child.stdin.write(JSON.stringify({ type: 'close' }) + '\n');
      p.child.stdin.end();
    } catch { /* gone */ }
  }
}

function maybeClose() {
  if (peers.every((p) => p.result || p.exited)) finishRun('both peers done');
}

async function finishRun(why) {
  if (finished) return;
  finished = true;
  clearTimeout(hardTimer);
  say(`finishing: ${why}; sending close`);
  sendClose();
  // Peers must exit on their own after "close".
  const grace = 10000;
  await Promise.race([
    Promise.all(peers.map((p) => p.exitPromise)),
    new Promise((r) => setTimeout(r, grace)),
  ]);
  for (const p of peers) {
    if (!p.exited) {
      fail(`${p.name} did not exit within ${grace / 1000}s after close; killing it`);
      killGroup(p, 'SIGTERM');
    }
  }
  await Promise.race([
    Promise.all(peers.map((p) => p.exitPromise)),
    new Promise((r) => setTimeout(r, 3000)),
  ]);
  for (const p of peers) killGroup(p, 'SIGKILL');
  report();
}

function report() {
  for (const p of peers) {
    if (!p.result) {
      if (!problems.some((m) => m.startsWith(`${p.name} exited before printing a result`))) {
        fail(`${p.name} (${p.role}) printed no result` +
          (p.exited ? ` and exited (${p.exitSignal ? 'signal ' + p.exitSignal : 'code ' + p.exitCode})` : ''));
      }
    } else if (!p.result.ok) {
      fail(`${p.name} (${p.role}) reported failure: ${p.result.detail}`);
    } else if (p.exitSignal || p.exitCode !== 0) {
      fail(`${p.name} (${p.role}) reported ok but exited with ${p.exitSignal ? 'signal ' + p.exitSignal : 'code ' + p.exitCode}`);
    }
    // A description count is only worth a line when nothing else explains it.
    const noted = problems.some((m) => m.startsWith(`${p.name} `));
    if (p.descriptions !== 1 && !noted) fail(`${p.name} sent ${p.descriptions} descriptions, expected 1`);
  }
  const lines = [];
  for (const p of peers) {
    const types = Object.entries(p.candidateTypes).map(([k, v]) => `${v} ${k}`).join(', ') || 'none trickled';
    lines.push(`  ${p.name} (${p.role}): ${p.cmd}\n` +
      `      result ${p.result ? (p.result.ok ? 'ok' : 'FAILED') + ' at ' + p.resultAt + 'ms' : 'none'}, ` +
      `exit ${p.exitSignal ? 'signal ' + p.exitSignal : p.exitCode} at ${p.exitAt ?? '?'}ms, candidates: ${types}`);
  }
  if (A.descriptionAt !== null && A.result && B.result) {
    const last = Math.max(A.resultAt, B.resultAt);
    lines.push(`  offer at ${A.descriptionAt}ms, answer at ${B.descriptionAt ?? '?'}ms, ` +
      `both results at ${last}ms` +
      (B.descriptionAt !== null ? `: answer -> both results ${last - B.descriptionAt}ms` : ''));
  }
  process.stdout.write(`\n=== run_pair summary (${Date.now() - t0} ms) ===\n${lines.join('\n')}\n`);
  if (problems.length === 0) {
    process.stdout.write('PASS\n');
    process.exit(0);
  }
  // On failure always show what the peers logged last.
  if (opts.quiet) {
    for (const p of peers) {
      process.stdout.write(`--- last stderr lines of ${p.name} ---\n${p.stderrTail.join('\n')}\n`);
    }
  }
  process.stdout.write(`FAIL:\n${[...new Set(problems)].map((s) => '  - ' + s).join('\n')}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------ main
{
  // Peers gather every interface: outside the sealed namespace of scripts/netns-run.sh
  // they would also use (and send checks to) the machine's real addresses.
  const outside = Object.keys(networkInterfaces()).filter((n) => !['lo', 'va', 'vb'].includes(n));
  if (outside.length) {
    say(`WARNING: interfaces ${outside.join(', ')} are visible; run this inside scripts/netns-run.sh`);
  }
}
const A = startPeer('A', opts.a, 'offer');
const B = startPeer('B', opts.b, 'answer');
A.other = B;
B.other = A;
const peers = [A, B];

for (const p of peers) {
  p.exitPromise.then(() => {
    if (finished) return;
    if (!closeSent) fail(`${p.name} exited before it was told to close`);
    if (!p.result) {
      fail(`${p.name} exited before printing a result (${p.exitSignal ? 'signal ' + p.exitSignal : 'code ' + p.exitCode})`);
      finishRun(`${p.name} died`);
    } else {
      maybeClose();
    }
  });
}

const hardTimer = setTimeout(() => {
  const missing = peers.filter((p) => !p.result).map((p) => p.name).join(' and ');
  fail(`hard timeout of ${opts.timeout}s reached; no result from ${missing}`);
  finishRun('hard timeout');
}, opts.timeout * 1000);

killChildrenOnExit(peers, say);
