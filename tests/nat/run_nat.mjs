// The NAT lab's test cases: two peers in two home networks (tests/nat/lab.sh), every server named
// by host name through the lab's DNS, as users configure them. Runs inside `lab.sh run`.
//
//   node run_nat.mjs --case NAME --claynet BUILD/bin/claynet --nat-peer BUILD/bin/claynet-nat-peer
//       [--json]                 one JSON line with the figures at the end (claynet bench nat)
//       [--rtt N]                also measure N round trips on the selected path
//   node run_nat.mjs --list      the case names
//
// A case name is ROW/PAIR: ROW is a network situation (cone-cone, sym-sym-turn, udp-blocked-tls,
// blip-move, ...); PAIR says who talks: `claynet` (claynet <-> claynet), `mixed` (claynet opens,
// Chromium with the real PeerJS accepts), `control` (Chromium <-> Chromium, no claynet: a lab fault
// shows there first). Exit status 0 when every expectation holds.
import { spawn, execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killChildrenOnExit, killGroup } from '../interop/harness_common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAB = process.env.LAB_SELF;
const T0 = Date.now();
const say = (msg) => process.stderr.write(`[run_nat +${Date.now() - T0}ms] ${msg}\n`);

const STUN = 'stun:stun.lab.test:3478';
const TURN_UDP = 'turn:claynet:claynet-secret@turn.lab.test:3478';
const TURN_TCP = 'turn:claynet:claynet-secret@turn.lab.test:443?transport=tcp';
const TURN_TLS = 'turns:claynet:claynet-secret@turn.lab.test:443';
const BOTH = [STUN, TURN_UDP];

// Rows: where each side sits, what it is given, and what must come of it.
//   expect: 'direct' (no relay on either side), 'relay' (relayOn's local candidate is a relay,
//   over relayProtocol), 'fail' (no connection forms).
const ROWS = {
  // Two machines on one LAN: host candidates.
  lan: { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone1b', ice: BOTH }, expect: 'host' },
  'cone-cone': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct' },
  // A port-restricted cone filters by the sender's port, and a symmetric NAT gives each
  // destination a new port: the cone side never lets the symmetric side's checks in, so only a
  // relay connects them (ICE allows no direct path here).
  'cone-sym': { a: { home: 'cone1', ice: BOTH }, b: { home: 'sym1', ice: BOTH }, expect: 'relay', relayProtocol: 'udp' },
  'sym-sym-turn': { a: { home: 'sym1', ice: BOTH }, b: { home: 'sym2', ice: BOTH }, expect: 'relay', relayProtocol: 'udp' },
  'sym-sym-noturn': { a: { home: 'sym1', ice: [STUN] }, b: { home: 'sym2', ice: [STUN] }, expect: 'fail', advice: 'no TURN server is configured' },
  // A TURN server that refuses the credentials is "configured but not reached", not "missing".
  'sym-sym-badturn': { a: { home: 'sym1', ice: [STUN, 'turn:claynet:wrong@turn.lab.test:3478'] }, b: { home: 'sym2', ice: [STUN, 'turn:claynet:wrong@turn.lab.test:3478'] }, expect: 'fail', advice: 'a TURN server is configured but gave no relay candidate' },
  'udp-blocked-tcp': { a: { home: 'fw1', ice: [TURN_TCP] }, b: { home: 'cone2', ice: BOTH }, expect: 'relay', relayOn: 'a', relayProtocol: 'tcp' },
  'udp-blocked-tls': { a: { home: 'fw1', ice: [TURN_TLS], tls: true }, b: { home: 'cone2', ice: BOTH }, expect: 'relay', relayOn: 'a', relayProtocol: 'tls' },
  'relay-policy': { a: { home: 'cone1', ice: BOTH, relayOnly: true }, b: { home: 'cone2', ice: BOTH }, expect: 'relay', relayOn: 'a', relayProtocol: 'udp' },
  // The npm `peer` server instead of claynet signal.
  'cone-cone-npm-peer': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', server: 'npm' },
  // Staying connected: a stream of numbered reliable messages runs through each event.
  'blip-uplink': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', blip: ['uplink', 'cone1'], mustDisconnect: true },
  // A path that stays gone: Disconnected, then Failed after failedAfter (5 s here), with reasons.
  'outage-fails': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', outage: 'cone1' },
  'blip-flush': { a: { home: 'sym1', ice: BOTH }, b: { home: 'sym2', ice: BOTH }, expect: 'relay', relayProtocol: 'udp', blip: ['flush', 'sym1'] },
  'blip-move': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', blip: ['move', 'cone1'] },
  // Restarts asked for by the application: by the accepting side, by both at once.
  'restart-acceptor': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', restart: ['a'] },
  'restart-both': { a: { home: 'cone1', ice: BOTH }, b: { home: 'sym2', ice: BOTH }, expect: 'relay', relayProtocol: 'udp', restart: ['a', 'b'] },
  // A PeerJS browser cannot restart: claynet must refuse to send it a second OFFER.
  // The Network type through the `claynet` command (host and join), as users run it.
  'network-verbose': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, network: 'verbose' },
  'network-noturn': { a: { home: 'sym1', ice: [STUN] }, b: { home: 'sym2', ice: [STUN] }, network: 'noturn' },
  'restart-browser': { a: { home: 'cone1', ice: BOTH }, b: { home: 'cone2', ice: BOTH }, expect: 'direct', restart: ['b'], restartRefused: true },
};
const PAIRS = {
  claynet: { a: 'claynet', b: 'claynet' },
  'browser-accepts': { a: 'chromium', b: 'claynet' }, // claynet opens
  'browser-opens': { a: 'claynet', b: 'chromium' },
  control: { a: 'chromium', b: 'chromium' },
};

function parseArgs(argv) {
  const o = { case: null, claynet: null, natPeer: null, json: false, rtt: 0, list: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--case') o.case = argv[++i];
    else if (k === '--claynet') o.claynet = argv[++i];
    else if (k === '--nat-peer') o.natPeer = argv[++i];
    else if (k === '--json') o.json = true;
    else if (k === '--rtt') o.rtt = Number(argv[++i]);
    else if (k === '--list') o.list = true;
    else throw new Error(`unknown argument ${k}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.list) {
  for (const r of Object.keys(ROWS)) for (const p of Object.keys(PAIRS)) process.stdout.write(`${r}/${p}\n`);
  process.exit(0);
}
const [rowName, pairName] = (opts.case || '').split('/');
const row = ROWS[rowName];
const pair = PAIRS[pairName];
if (!row || !pair || !LAB || !opts.claynet || !opts.natPeer) {
  process.stderr.write('usage: run_nat.mjs --case ROW/PAIR --claynet PATH --nat-peer PATH (inside lab.sh run)\n');
  process.exit(2);
}

const procs = [];
killChildrenOnExit(procs, say);

function start(tag, ns, argv) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const p = { tag, child, exited: false, events: [], waiters: [], stderr: [] };
  procs.push(p);
  child.on('exit', (code, sig) => {
    p.exited = true;
    p.exitCode = code;
    say(`${tag} exited (${sig || code})`);
    for (const w of p.waiters.splice(0)) w.check();
  });
  createInterface({ input: child.stderr }).on('line', (l) => {
    p.stderr.push(l);
    if (p.stderr.length > 400) p.stderr.shift();
  });
  createInterface({ input: child.stdout }).on('line', (l) => {
    let ev;
    try { ev = JSON.parse(l); } catch { return; }
    ev.at = Date.now();
    p.events.push(ev);
    say(`${tag}: ${l.slice(0, 300)}`);
    for (const w of p.waiters.slice()) w.check();
  });
  return p;
}

// Resolves to the first event (from index `from`) matching `pred`, or null after `ms`.
function waitFor(p, pred, ms, from = 0) {
  return new Promise((res) => {
    const w = {
      check: () => {
        const ev = p.events.slice(from).find(pred);
        if (ev || p.exited) {
          clearTimeout(w.timer);
          p.waiters.splice(p.waiters.indexOf(w), 1);
          res(ev || null);
        }
      },
    };
    w.timer = setTimeout(() => {
      p.waiters.splice(p.waiters.indexOf(w), 1);
      res(null);
    }, ms);
    p.waiters.push(w);
    w.check();
  });
}
const send = (p, line) => { if (!p.exited) p.child.stdin.write(`${line}\n`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ctl = (...args) => execFileSync(LAB, ['ctl', ...args], { encoding: 'utf8' }).trim();

function peerArgv(stack, side, remote) {
  const a = [];
  for (const s of side.ice) a.push('--ice', s);
  if (side.relayOnly) a.push('--relay-only');
  if (side.tls) a.push('--ca-file', process.env.LAB_CA);
  if (remote) a.push('--connect', remote);
  const common = ['--signal', 'ws://signal.lab.test:443/', ...a];
  // Shorter than the defaults, so that the 3 s blackouts are noticed and the tests stay short.
  const timing = ['--disconnected-after', '1500', '--failed-after', row.outage ? '5000' : '30000',
    '--ice-timeout', '10000'];
  return stack === 'claynet'
    ? [opts.natPeer, '--verbose', ...timing, ...common]
    : [process.execPath, join(ROOT, 'tests', 'nat', 'browser_nat_peer.mjs'), ...common];
}

function startServer() {
  const argv = row.server === 'npm'
    ? [process.execPath, join(ROOT, 'node_modules', 'peer', 'dist', 'bin', 'peerjs.js'), '--host', process.env.LAB_SIGNAL_IP, '--port', '443']
    : [opts.claynet, 'signal', '--host', process.env.LAB_SIGNAL_IP, '--port', '443'];
  return start('signal', 'pub', argv);
}

async function serverListening() {
  for (let i = 0; i < 200; i++) {
    const out = execFileSync('ip', ['netns', 'exec', 'pub', 'ss', '-lnt'], { encoding: 'utf8' });
    if (out.includes(`${process.env.LAB_SIGNAL_IP}:443`)) return true;
    await sleep(50);
  }
  return false;
}

const failures = [];
const check = (ok, what) => {
  say(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const describePair = (p) => (p ? `${p.local.type}${p.local.relayProtocol ? `/${p.local.relayProtocol}` : ''} ${p.local.address}:${p.local.port} <-> ${p.remote.type} ${p.remote.address}:${p.remote.port}` : 'none');

async function streamThrough(a, b, action, mustDisconnect = false) {
  const aFrom = a.events.length;
  const bFrom = b.events.length;
  send(a, 'stream 50');
  send(b, 'stream 50');
  await sleep(1500);
  await action();
  // A side that stopped hearing the other says so after disconnectedAfter (3 s).
  await sleep(4000);
  // Recovered: both sides connected again (after being disconnected, if they noticed).
  const back = async (p, from) => {
    const down = p.events.findIndex((e, i) => i >= from && e.event === 'state' && e.state === 'disconnected');
    if (down < 0) return true;
    return !!(await waitFor(p, (e) => e.event === 'state' && e.state === 'connected', 25000, down + 1));
  };
  const t = Date.now();
  if (mustDisconnect)
    for (const [p, from] of [[a, aFrom], [b, bFrom]]) {
      const down = p.events.find((e, i) => i >= from && e.event === 'state' && e.state === 'disconnected');
      check(!!down && down.code === 'path-lost', `${p.tag} noticed the blackout: disconnected (${down ? down.reason : 'never'})`);
    }
  check(await back(a, aFrom), 'side A recovered (connected again)');
  check(await back(b, bFrom), 'side B recovered (connected again)');
  say(`recovery took ${Date.now() - t} ms after the event ended`);
  await sleep(1500);
  send(a, 'finish');
  send(b, 'finish');
  const ra = await waitFor(a, (e) => e.event === 'result', 20000, aFrom);
  const rb = await waitFor(b, (e) => e.event === 'result', 20000, bFrom);
  check(ra && ra.ok, `A received every message of B in order (${ra ? ra.detail : 'no result'})`);
  check(rb && rb.ok, `B received every message of A in order (${rb ? rb.detail : 'no result'})`);
  check(ra && ra.sent > 100 && rb && rb.sent > 100, 'both sides streamed before, during and after');
}

// `claynet host` in A's home, `claynet join` in B's, both verbose with JSON events.
async function networkCase(figures) {
  const ice = (side) => side.ice.flatMap((s) => ['--ice', s]);
  const common = ['--signal', 'ws://signal.lab.test:443/', '--json', '-v'];
  const timeoutS = 15;
  const host = start('host', `c-${row.a.home}`, [opts.claynet, 'host', ...common, ...ice(row.a)]);
  const created = await waitFor(host, (e) => e.event === 'networkCreated', 30000);
  if (!created) throw new Error('the host never created its network');
  const t0 = Date.now();
  const join = start('join', `c-${row.b.home}`, [opts.claynet, 'join', created.code, ...common,
    '--timeout', String(timeoutS), ...ice(row.b)]);
  if (row.network === 'verbose') {
    const connected = await waitFor(join, (e) => e.event === 'connected', 30000);
    check(!!connected, 'the joiner connected');
    const pairs = join.events.filter((e) => e.event === 'diagnostic' && /selected pair/.test(e.detail));
    check(pairs.length > 0, `verbose output shows the selected pair (${pairs.map((e) => e.detail).join(' | ')})`);
    check(pairs.length > 0 && pairs.every((e) => /selected pair (srflx|prflx)/.test(e.detail) && !/relay/.test(e.detail)),
      'a direct pair (srflx/prflx), no relay');
    figures.connectMs = connected ? connected.phaseTiming && connected.phaseTiming.total : undefined;
    send(join, '/quit');
  } else {
    const err = await waitFor(join, (e) => e.event === 'error', (timeoutS + 10) * 1000);
    const took = Date.now() - t0;
    check(!!err, 'the join failed');
    if (err) {
      say(`join error after ${took} ms: ${err.message} | advice: ${err.advice}`);
      check(took <= (timeoutS + 2) * 1000, `within connectionTimeout (${took} ms, timeout ${timeoutS} s)`);
      check(/in phase ice/.test(err.message), 'the message names the ice phase');
      check(/no TURN server is configured/.test(err.message) && /add a TURN server/.test(err.advice),
        'the message and the advice say to add a TURN server');
      check(err.exitCode === 4, `exit code 4 (unreachable), got ${err.exitCode}`);
    }
  }
  send(host, '/quit');
  await Promise.all([host, join].map((p) => waitFor(p, () => false, 8000)));
}

async function main() {
  const figures = { case: opts.case };
  const server = startServer();
  if (!(await serverListening())) throw new Error('the signaling server did not start listening');
  if (row.network) {
    await networkCase(figures);
    killGroup(server, 'SIGTERM');
    return finish(figures);
  }

  const a = start('A', `c-${row.a.home}`, [...peerArgv(pair.a, row.a, null), '--id', 'alice']);
  if (!(await waitFor(a, (e) => e.event === 'registered', 40000))) throw new Error('A never registered with the signaling server');
  const t0 = Date.now();
  const b = start('B', `c-${row.b.home}`, [...peerArgv(pair.b, row.b, 'alice'), '--id', 'bob']);

  const openWait = row.expect === 'fail' ? 20000 : 40000;
  const [oa, ob] = await Promise.all([
    waitFor(a, (e) => e.event === 'open', openWait),
    waitFor(b, (e) => e.event === 'open', openWait),
  ]);
  if (row.expect === 'fail') {
    check(!oa && !ob, 'no connection formed');
    if (row.advice) {
      for (const [p, stack] of [[a, pair.a], [b, pair.b]]) {
        if (stack !== 'claynet') continue;
        const failed = await waitFor(p, (e) => e.event === 'state' && e.state === 'failed', 15000);
        check(failed && failed.code === 'ice-failed' && failed.reason.includes(row.advice),
          `${p.tag} failed with the fitting advice "${row.advice}" (${failed ? failed.reason : 'no failure'})`);
      }
    }
  } else {
    check(!!oa && !!ob, 'both sides open');
    if (!oa || !ob) return finish(figures);
    figures.connectMs = ob.connectMs;
    figures.openMs = Date.now() - t0;
    figures.pairA = oa.pair;
    figures.pairB = ob.pair;
    say(`A: ${describePair(oa.pair)}; B: ${describePair(ob.pair)}; B's connect took ${ob.connectMs.toFixed(1)} ms`);
    // Each side reports its own view: a relay is in use when either end of either view is one.
    const ends = [oa.pair, ob.pair].filter(Boolean).flatMap((p) => [p.local, p.remote]);
    const relayed = ends.some((e) => e.type === 'relay');
    if (row.expect === 'host') {
      check(oa.pair && ob.pair && oa.pair.local.type === 'host' && ob.pair.local.type === 'host',
        'host candidates on both sides (one LAN)');
    } else if (row.expect === 'direct') {
      check(oa.pair && ob.pair && !relayed, 'a direct path: no relay on either side');
    } else {
      check(relayed, 'a relay carries the connection');
      const local = row.relayOn ? (row.relayOn === 'a' ? oa : ob).pair
        : [oa.pair, ob.pair].find((p) => p && p.local.type === 'relay');
      if (row.relayOn) check(local && local.local.type === 'relay', `side ${row.relayOn.toUpperCase()} relays`);
      if (row.relayProtocol && local && local.local.type === 'relay')
        check(local.local.relayProtocol === row.relayProtocol, `over ${row.relayProtocol} (got ${local.local.relayProtocol})`);
    }
    if (opts.rtt > 0) {
      const from = b.events.length;
      send(b, `rtt ${opts.rtt}`);
      const r = await waitFor(b, (e) => e.event === 'rtt', 30000, from);
      if (r) figures.rttMs = r.p50Ms;
    }
    if (row.blip) {
      const [what, home] = row.blip;
      await streamThrough(a, b, async () => {
        if (what === 'uplink') {
          say(`uplink of ${home} down for 3 s`);
          ctl('uplink-down', home);
          await sleep(3000);
          ctl('uplink-up', home);
        } else if (what === 'flush') {
          say(`flushing the NAT mappings of ${home}`);
          ctl('flush', home);
        } else {
          say(`the client of ${home} moves to cone3`);
          ctl('move', home, 'cone3');
        }
      }, row.mustDisconnect);
    }
    if (row.outage) {
      say(`uplink of ${row.outage} down for good`);
      const since = new Map([[a, a.events.length], [b, b.events.length]]);
      ctl('uplink-down', row.outage);
      for (const p of [a, b]) {
        const from = since.get(p);
        const down = await waitFor(p, (e) => e.event === 'state' && e.state === 'disconnected', 8000, from);
        check(down && down.code === 'path-lost', `${p.tag} became disconnected (${down ? down.reason : 'never'})`);
        const failed = await waitFor(p, (e) => e.event === 'state' && e.state === 'failed', 15000, from);
        check(failed && failed.code === 'path-lost', `${p.tag} failed a bound later (${failed ? failed.reason : 'never'})`);
      }
      ctl('uplink-up', row.outage);
    }
    if (row.restart) {
      await streamThrough(a, b, async () => {
        for (const side of row.restart) send(side === 'a' ? a : b, 'restart');
        await sleep(2000);
      });
      if (row.restartRefused) {
        const err = b.events.find((e) => e.event === 'error' && /restart/.test(e.detail));
        check(!!err && /not a claynet peer/.test(err.detail), `restartIce() toward a PeerJS browser is refused (${err ? err.detail : 'no error'})`);
      } else {
        const newPair = [a, b].some((p) => p.events.some((e) => e.event === 'pair'));
        check(newPair, 'a new candidate pair was selected after the restart');
      }
    }
  }
  for (const p of [a, b]) send(p, 'close');
  await Promise.all([a, b].map((p) => waitFor(p, () => false, 8000)));
  // A claynet peer ends cleanly (under the sanitizers, a leak or an error changes the status).
  for (const [p, stack] of [[a, pair.a], [b, pair.b]])
    if (stack === 'claynet') check(p.exited && p.exitCode === 0, `${p.tag} exited with status 0 (got ${p.exitCode})`);
  // (Not after a NAT rebinding or a move: the old allocations' 5-tuples are gone, so the server
  // can only let them expire.)
  const tupleKept = (!row.blip || row.blip[0] === 'uplink') && !row.outage;
  if (pair.a === 'claynet' && pair.b === 'claynet' && row.expect !== 'fail' && tupleKept && row.a.ice.some((s) => s.startsWith('turn'))) {
    // libnice frees its allocations (a Refresh with lifetime 0) on the way out.
    let made = 0;
    let freed = -1;
    for (let i = 0; i < 60 && made !== freed; i++) {
      [made, freed] = ctl('allocations').split(' ').map(Number);
      if (made !== freed) await sleep(100);
    }
    check(made > 0 && made === freed, `coturn has no allocation left after the close (${made} made, ${freed} freed)`);
  }
  killGroup(server, 'SIGTERM');
  return finish(figures);
}

function finish(figures) {
  figures.ok = failures.length === 0;
  if (!figures.ok || process.env.RUN_NAT_VERBOSE) {
    for (const p of procs) {
      if (p.tag === 'signal') continue;
      process.stderr.write(`---- last stderr of ${p.tag} ----\n${p.stderr.slice(-60).join('\n')}\n`);
    }
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  say(figures.ok ? `${opts.case}: PASS` : `${opts.case}: FAILED: ${failures.join('; ')}`);
  for (const p of procs) killGroup(p, 'SIGKILL');
  process.exit(figures.ok ? 0 : 1);
}

main().catch((e) => {
  failures.push(e.message);
  finish({ case: opts.case });
});
