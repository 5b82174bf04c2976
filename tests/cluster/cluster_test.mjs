// `claynet signal --redis`: three instances and a real redis-server, clients (node's `ws`) on
// different instances. Run inside a sealed namespace (scripts/netns-run.sh).
//
//   node tests/cluster/cluster_test.mjs --claynet BIN --part routing|faults|haproxy
//
// routing: every registration outcome and message type across instances, order, queueing and
//          EXPIRE, discovery and the HTTP endpoints, a bad or unreachable Redis at start.
// faults:  an instance killed with kill -9; Redis killed and restarted empty.
// haproxy: examples/cluster/haproxy.cfg as written (ports 9000-9003, Redis on 6379) in front of
//          three instances; an instance killed behind it.
// Exit 0 when every check passed; each check prints one line.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  freePort, sleep, startCluster, startInstance, startRedis, stop, waitFor,
} from './cluster_harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opts = { claynet: null, part: 'routing' };
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--claynet') opts.claynet = args[++i];
  else if (args[i] === '--part') opts.part = args[++i];
  else { process.stderr.write(`unknown argument ${args[i]}\n`); process.exit(2); }
}
if (!opts.claynet) { process.stderr.write('--claynet BIN is required\n'); process.exit(2); }

const ALIVE_MS = 4000;
const EXPIRE_MS = 1500;
const COMMON = ['--alive-timeout', String(ALIVE_MS), '--expire-timeout', String(EXPIRE_MS),
  '--allow-discovery', '--concurrent-limit', '100'];

let checks = 0;
async function check(what, fn) {
  const t0 = Date.now();
  await fn();
  ++checks;
  process.stdout.write(`ok ${checks} - ${what} (${Date.now() - t0} ms)\n`);
}

// A PeerJS-protocol client: records frames; heartbeats like a browser (here every 1 s).
class Client {
  constructor(name, url, id, token = `t-${id}`, key = 'peerjs') {
    this.name = name;
    this.frames = [];
    this.closed = null;
    this.waiters = [];
    this.ws = new WebSocket(`${url}?key=${key}&id=${encodeURIComponent(id)}&token=${token}&version=1.5.5`);
    this.ws.on('message', (d) => { this.frames.push(d.toString()); this.wake(); });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; this.wake(); });
    this.ws.on('error', () => {});
    this.opened = new Promise((r) => { this.ws.once('open', r); this.ws.once('close', r); });
    this.beat = setInterval(() => this.send({ type: 'HEARTBEAT' }), 1000);
  }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  send(obj) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  stopBeating() { clearInterval(this.beat); }
  close() { this.stopBeating(); this.ws.terminate(); }
  /// Waits for `n` frames in total; returns them.
  async frameCount(n, ms = 3000) {
    const deadline = Date.now() + ms;
    while (this.frames.length < n && Date.now() < deadline) {
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(deadline - Date.now())]);
    }
    if (this.frames.length < n) throw new Error(`${this.name}: ${this.frames.length} frames, expected ${n}: ${JSON.stringify(this.frames)}`);
    return this.frames;
  }
  async closedWithin(ms = 3000) {
    await waitFor(() => this.closed, ms, `${this.name} to be closed`);
    return this.closed;
  }
  take() { return this.frames.splice(0); }
}

const OPEN = '{"type":"OPEN"}';
const ID_TAKEN = '{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}';
const fwd = (type, src, dst, payload) => JSON.stringify(
  payload === undefined ? { type, src, dst } : { type, src, dst, payload });

const clients = [];
function client(...a) { const c = new Client(...a); clients.push(c); return c; }
async function registered(c) {
  await c.opened;
  const f = await c.frameCount(1);
  assert.equal(f[0], OPEN, `${c.name} registers`);
  c.take();
  return c;
}
/// Asserts that nothing more arrives at `c` for `ms`.
async function quiet(c, ms = 300) {
  await sleep(ms);
  assert.deepEqual(c.frames, [], `${c.name} got nothing more`);
}

function httpGet(port, p) {
  return fetch(`http://127.0.0.1:${port}${p}`).then(async (r) => ({ status: r.status, body: await r.text() }));
}

// ---------------------------------------------------------------- routing
async function routing() {
  const cl = await startCluster(opts.claynet, { args: COMMON });
  const [I0, I1, I2] = cl.instances;
  try {
    let a;
    let b;
    await check('an id registers once across instances: ID-TAKEN on another instance', async () => {
      a = await registered(client('a@I0', I0.url, 'a', 'ta'));
      const other = client('a-other@I1', I1.url, 'a', 'tother');
      await other.frameCount(1);
      assert.deepEqual(other.take(), [ID_TAKEN]);
      await other.closedWithin();
      b = await registered(client('b@I1', I1.url, 'b'));
    });
    await check('same id and token on another instance takes over (with OPEN); the old socket is closed', async () => {
      const a2 = client('a@I2', I2.url, 'a', 'ta');
      await a2.opened;
      const closed = await a.closedWithin();
      assert.equal(closed.code, 1000);
      assert.match(closed.reason, /replaced by a new connection/);
      a.stopBeating();
      b.send({ type: 'OFFER', dst: 'a', payload: { n: 1 } });
      await a2.frameCount(2);
      assert.deepEqual(a2.take(), [OPEN, fwd('OFFER', 'b', 'a', { n: 1 })]);
      a = a2;
    });
    await check('OFFER, ANSWER, CANDIDATE, LEAVE and EXPIRE reach an id on another instance, exactly', async () => {
      const sdp = { sdp: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }, type: 'data', connectionId: 'dc_1', label: 'dc_1', reliable: true, serialization: 'binary' };
      b.send({ type: 'OFFER', dst: 'a', src: 'forged', extra: 1, payload: sdp });
      a.send({ type: 'ANSWER', dst: 'b', payload: { sdp: { type: 'answer', sdp: 'v=0' } } });
      b.send({ type: 'CANDIDATE', dst: 'a', payload: { candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } } });
      b.send('{ "type" : "CANDIDATE", "dst" : "a", "payload" : { "x y" : [ 1 , "ü ✓" ] } }');
      b.send({ type: 'LEAVE', dst: 'a' });
      a.send({ type: 'EXPIRE', dst: 'b' });
      await a.frameCount(4);
      await b.frameCount(2);
      assert.deepEqual(a.take(), [
        fwd('OFFER', 'b', 'a', sdp),
        fwd('CANDIDATE', 'b', 'a', { candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } }),
        '{"type":"CANDIDATE","src":"b","dst":"a","payload":{"x y":[1,"ü ✓"]}}',
        fwd('LEAVE', 'b', 'a'),
      ]);
      assert.deepEqual(b.take(), [fwd('ANSWER', 'a', 'b', { sdp: { type: 'answer', sdp: 'v=0' } }), fwd('EXPIRE', 'a', 'b')]);
    });
    await check('messages from one sender to one receiver arrive in order (500 across instances)', async () => {
      for (let i = 0; i < 500; ++i) b.send({ type: 'CANDIDATE', dst: 'a', payload: i });
      const got = await a.frameCount(500, 10000);
      assert.equal(got.length, 500);
      got.forEach((f, i) => assert.equal(JSON.parse(f).payload, i, `message ${i} in order`));
      a.take();
    });
    let d;
    await check('messages for an id not yet connected wait in Redis and are delivered wherever it registers', async () => {
      d = await registered(client('d@I0', I0.url, 'd'));
      b.send({ type: 'OFFER', dst: 'c', payload: 1 });
      b.send({ type: 'CANDIDATE', dst: 'c', payload: 2 });
      await sleep(100);
      d.send({ type: 'CANDIDATE', dst: 'c', payload: 3 });
      b.send({ type: 'LEAVE', dst: 'c' }); // never queued
      await sleep(200);
      const c = client('c@I2', I2.url, 'c');
      await c.frameCount(4);
      assert.deepEqual(c.take(), [OPEN, fwd('OFFER', 'b', 'c', 1), fwd('CANDIDATE', 'b', 'c', 2), fwd('CANDIDATE', 'd', 'c', 3)]);
      await quiet(c);
    });
    await check('a message for an id that never comes: each sender, on any instance, gets one EXPIRE', async () => {
      b.send({ type: 'OFFER', dst: 'ghost', payload: 1 });
      b.send({ type: 'CANDIDATE', dst: 'ghost', payload: 2 });
      d.send({ type: 'OFFER', dst: 'ghost', payload: 3 });
      await b.frameCount(1, EXPIRE_MS + 2000);
      await d.frameCount(1, 1000);
      assert.deepEqual(b.take(), [fwd('EXPIRE', 'ghost', 'b')]);
      assert.deepEqual(d.take(), [fwd('EXPIRE', 'ghost', 'd')]);
      await quiet(b, 500);
    });
    await check('GET {key}/peers lists every id of the cluster, in registration order, on every instance', async () => {
      for (const inst of cl.instances) {
        const r = await httpGet(inst.port, '/peerjs/peers');
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body), ['a', 'b', 'd', 'c'], `peers on ${inst.name}`);
      }
    });
    await check('the HTTP endpoints answer alike on every instance', async () => {
      const info = await httpGet(I0.port, '/');
      for (const inst of cl.instances) {
        assert.deepEqual(await httpGet(inst.port, '/'), info);
        const id = await httpGet(inst.port, '/peerjs/id');
        assert.equal(id.status, 200);
        assert.match(id.body, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      }
    });
    await check('LEAVE without dst frees the id across the cluster; a close frees it too', async () => {
      const c = clients.find((x) => x.name === 'c@I2');
      c.send({ type: 'LEAVE' });
      await sleep(200);
      await registered(client('c-new@I1', I1.url, 'c', 'another'));
      d.close();
      await sleep(300);
      await registered(client('d-new@I2', I2.url, 'd', 'another'));
    });
    await check('missing parameters and a wrong key are refused as on one instance', async () => {
      const k = client('wrong-key', I1.url, 'x', 'tx', 'nope');
      await k.frameCount(1);
      assert.deepEqual(k.take(), ['{"type":"ERROR","payload":{"msg":"Invalid key provided"}}']);
    });
    await check('the concurrent limit is per instance', async () => {
      const small = await startInstance(opts.claynet, { port: await freePort(), redis: cl.redisUrl,
        args: [...COMMON.slice(0, -2), '--concurrent-limit', '1'], name: 'I-small' });
      try {
        await registered(client('l1', small.url, 'l1'));
        const l2 = client('l2', small.url, 'l2');
        await l2.frameCount(1);
        assert.deepEqual(l2.take(), ['{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}']);
        await registered(client('l2@I0', I0.url, 'l2')); // the others have room
      } finally {
        await stop(small);
      }
    });
    await check('an instance stopped with SIGTERM: its clients get 1001 and its ids leave Redis at once', async () => {
      const extra = await startInstance(opts.claynet, { port: await freePort(), redis: cl.redisUrl, args: COMMON, name: 'I-stopped' });
      const g = await registered(client('g@I-stopped', extra.url, 'g'));
      const keys = () => execFileSync('redis-cli', ['-p', String(cl.redis.port), '--raw', 'KEYS', 'claynet:id:g']).toString().trim();
      assert.equal(keys(), 'claynet:id:g');
      await stop(extra);
      assert.equal(extra.code, 0, extra.out);
      const closed = await g.closedWithin();
      assert.deepEqual(closed, { code: 1001, reason: 'the server is stopping' });
      g.stopBeating();
      assert.equal(keys(), '', 'released, not left to its TTL');
    });
    await check('a Redis that is not there, or a bad URL, stops the start with a clear error', async () => {
      const dead = await freePort();
      const run = (url) => new Promise((resolve) => {
        const child = spawn(opts.claynet, ['signal', '--host', '127.0.0.1', '--port', '0', '--redis', url]);
        let out = '';
        child.stderr.on('data', (x) => { out += x; });
        child.stdout.on('data', (x) => { out += x; });
        const t = setTimeout(() => child.kill('SIGKILL'), 10000);
        child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
      });
      let r = await run(`redis://127.0.0.1:${dead}`);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`cannot use Redis at 127\\.0\\.0\\.1:${dead}: Connection refused`));
      r = await run('rediss://127.0.0.1:6379');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /TLS to Redis/);
      r = await run('http://x');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /expected redis:\/\//);
      r = await run(`redis://nobody:wrong@127.0.0.1:${cl.redis.port}`);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /AUTH/);
    });
  } finally {
    for (const c of clients) c.close();
    await cl.stopAll();
  }
  for (const i of cl.instances) assert.equal(i.code, 0, `${i.name} stopped cleanly: ${i.out.slice(-2000)}`);
}

// ---------------------------------------------------------------- faults
async function faults() {
  const cl = await startCluster(opts.claynet, { args: COMMON });
  const [I0, I1, I2] = cl.instances;
  try {
    const b = await registered(client('b@I1', I1.url, 'b'));
    const k = await registered(client('k@I2', I2.url, 'k', 'tk'));
    await check('kill -9 of an instance: its ids are free within the alive timeout', async () => {
      const killedAt = Date.now();
      await stop(I2, 'SIGKILL');
      await k.closedWithin();
      k.stopBeating();
      // Redis sees the killed process's connections close: its ids are free for anyone at once
      // (at the latest when its liveness key lapses, 3 s), well within the alive timeout.
      const fresh = await waitFor(async () => {
        const c = client('k-fresh@I1', I1.url, 'k', 'fresh');
        await c.frameCount(1);
        if (c.frames[0] === OPEN) return c;
        c.close();
        await sleep(250);
        return null;
      }, ALIVE_MS + 2000, 'k to be free');
      const freedAfter = Date.now() - killedAt;
      process.stdout.write(`# k free for another token ${freedAfter} ms after kill -9 (alive timeout ${ALIVE_MS} ms)\n`);
      assert.ok(freedAfter <= ALIVE_MS, `freed within the alive timeout (${freedAfter} ms)`);
      fresh.close();
    });
    await check('kill -9: its clients reconnect elsewhere at once (same id and token: OPEN); messages for them wait', async () => {
      const m = await registered(client('m@I0', I0.url, 'm', 'tm'));
      const extra = await startInstance(opts.claynet, { port: await freePort(), redis: cl.redisUrl, args: COMMON, name: 'I3' });
      const n = await registered(client('n@I3', extra.url, 'n', 'tn'));
      await stop(extra, 'SIGKILL');
      await n.closedWithin();
      n.stopBeating();
      m.send({ type: 'OFFER', dst: 'n', payload: 'waiting' }); // n's instance is dead: queued
      await sleep(100);
      const back = client('n@I1', I1.url, 'n', 'tn');
      await back.frameCount(2);
      assert.deepEqual(back.take(), [OPEN, fwd('OFFER', 'm', 'n', 'waiting')]);
      back.send({ type: 'ANSWER', dst: 'm', payload: 'hi' });
      await m.frameCount(1);
      assert.deepEqual(m.take(), [fwd('ANSWER', 'n', 'm', 'hi')]);
    });
    const x = await registered(client('x@I0', I0.url, 'x'));
    const y = await registered(client('y@I0', I0.url, 'y'));
    await check('Redis killed: same-instance traffic flows, cross-instance gets EXPIRE, registrations get ERROR, clear log lines', async () => {
      await stop(cl.redis, 'SIGKILL');
      await waitFor(() => I0.out.includes('redis: lost the connection') && I1.out.includes('redis: lost the connection'), 5000, 'the lost-Redis log lines');
      x.send({ type: 'OFFER', dst: 'y', payload: 'local' });
      await y.frameCount(1);
      assert.deepEqual(y.take(), [fwd('OFFER', 'x', 'y', 'local')]);
      b.send({ type: 'OFFER', dst: 'x', payload: 'across' });
      await b.frameCount(1);
      assert.deepEqual(b.take(), [fwd('EXPIRE', 'x', 'b')]);
      const n = client('new@I1', I1.url, 'new');
      await n.frameCount(1);
      assert.match(n.take()[0], /"type":"ERROR".*Redis/);
      await n.closedWithin();
      for (const line of ['redis: lost the connection', 'cluster: lost Redis', 'refused']) {
        assert.ok(I1.out.includes(line), `I1 logged "${line}":\n${I1.out}`);
      }
    });
    await check('Redis restarted empty: instances reconnect by themselves and re-assert their ids', async () => {
      cl.redis = await startRedis(cl.redis.port);
      await waitFor(() => I0.out.includes('redis: reconnected') && I1.out.includes('redis: reconnected'), 5000, 'reconnected log lines');
      await sleep(200);
      b.send({ type: 'OFFER', dst: 'x', payload: 'across again' });
      await x.frameCount(1);
      assert.deepEqual(x.take(), [fwd('OFFER', 'b', 'x', 'across again')]);
      const taken = client('x-other@I1', I1.url, 'x', 'other');
      await taken.frameCount(1);
      assert.deepEqual(taken.take(), [ID_TAKEN]);
      await registered(client('new@I1', I1.url, 'new'));
      const r = await httpGet(I1.port, '/peerjs/peers');
      assert.deepEqual(JSON.parse(r.body).sort(), ['b', 'm', 'n', 'new', 'x', 'y']);
      assert.ok(!I0.exited && !I1.exited, 'no instance died');
    });
    await check('Redis hanging (SIGSTOP): noticed within 5 s (EXPIRE to the sender), recovered after SIGCONT', async () => {
      const b = clients.find((c) => c.name === 'b@I1');
      const x = clients.find((c) => c.name === 'x@I0');
      cl.redis.child.kill('SIGSTOP');
      const t0 = Date.now();
      b.send({ type: 'OFFER', dst: 'x', payload: 'into the void' });
      await b.frameCount(1, 8000);
      assert.deepEqual(b.take(), [fwd('EXPIRE', 'x', 'b')]);
      const noticed = Date.now() - t0;
      assert.ok(noticed < 7000, `noticed after ${noticed} ms`);
      assert.match(I1.out, /no answer for 5 s: Redis hangs/);
      x.send({ type: 'OFFER', dst: 'y', payload: 'still local' });
      const y = clients.find((c) => c.name === 'y@I0');
      await y.frameCount(1);
      assert.deepEqual(y.take(), [fwd('OFFER', 'x', 'y', 'still local')]);
      cl.redis.child.kill('SIGCONT');
      await waitFor(() => (I1.out.match(/redis: reconnected/g) || []).length >= 2, 8000, 'I1 to reconnect again');
      await sleep(300);
      b.send({ type: 'OFFER', dst: 'x', payload: 'back' });
      await waitFor(() => x.frames.includes(fwd('OFFER', 'b', 'x', 'back')), 5000, 'x to get "back"');
      // What Redis had read before it stopped is still run when it resumes: that message may
      // arrive too, though its sender was told EXPIRE.
      const got = x.take();
      assert.deepEqual(got.slice(-1), [fwd('OFFER', 'b', 'x', 'back')]);
      for (const f of got.slice(0, -1)) assert.equal(f, fwd('OFFER', 'b', 'x', 'into the void'));
    });
  } finally {
    for (const c of clients) c.close();
    await cl.stopAll();
  }
  for (const i of [I0, I1]) assert.equal(i.code, 0, `${i.name} stopped cleanly: ${i.out.slice(-2000)}`);
}

// ---------------------------------------------------------------- haproxy
async function haproxy() {
  const cfg = path.join(root, 'examples', 'cluster', 'haproxy.cfg');
  const checkCfg = await new Promise((resolve) => {
    const c = spawn('haproxy', ['-c', '-f', cfg]);
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { out += d; });
    c.on('exit', (code) => resolve({ code, out }));
  });
  assert.equal(checkCfg.code, 0, `haproxy -c accepts ${cfg}: ${checkCfg.out}`);
  // The ports the config names.
  const cl = await startCluster(opts.claynet, { redisPort: 6379, ports: [9001, 9002, 9003],
    args: [...COMMON, '--verbose'] });
  const lb = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let lbOut = '';
  lb.stdout.on('data', (d) => { lbOut += d; });
  lb.stderr.on('data', (d) => { lbOut += d; });
  const url = 'ws://127.0.0.1:9000/peerjs';
  try {
    await waitFor(async () => (await httpGet(9000, '/').catch(() => ({}))).status === 200, 10000, 'haproxy on 9000');
    const hs = [];
    await check('clients through the load balancer land on different instances and reach each other', async () => {
      for (let i = 0; i < 6; ++i) hs.push(await registered(client(`h${i}`, url, `h${i}`)));
      const holder = (id) => cl.instances.find((inst) => inst.out.includes(`for id '${id}'`));
      const used = new Set(hs.map((_, i) => holder(`h${i}`)?.name));
      assert.ok(used.size >= 2, `spread over ${[...used].join(', ')}`);
      for (let i = 0; i < 6; ++i) hs[i].send({ type: 'OFFER', dst: `h${(i + 1) % 6}`, payload: i });
      for (let i = 0; i < 6; ++i) {
        await hs[i].frameCount(1);
        assert.deepEqual(hs[i].take(), [fwd('OFFER', `h${(i + 5) % 6}`, `h${i}`, (i + 5) % 6)]);
      }
      const r = await httpGet(9000, '/peerjs/peers');
      assert.deepEqual(JSON.parse(r.body), hs.map((_, i) => `h${i}`));
    });
    await check('an instance behind it killed: its clients see the socket close, reconnect through it, get OPEN', async () => {
      const victim = cl.instances.find((inst) => inst.out.includes("for id 'h0'"));
      const mine = hs.filter((_, i) => victim.out.includes(`for id 'h${i}'`));
      await stop(victim, 'SIGKILL');
      for (const h of mine) {
        const closed = await h.closedWithin();
        assert.equal(closed.code, 1006, 'abnormal closure: the TCP connection just went');
        h.stopBeating();
      }
      for (const h of mine) {
        const again = await waitFor(async () => {
          const c = client(`${h.name}-again`, url, h.name);
          await c.frameCount(1).catch(() => {});
          if (c.frames[0] === OPEN) return c;
          c.close();
          await sleep(250);
          return null;
        }, ALIVE_MS + 3000, `${h.name} back through the load balancer`);
        again.take();
        const other = hs.find((x) => !mine.includes(x));
        other.send({ type: 'OFFER', dst: h.name, payload: 'after' });
        await again.frameCount(1);
        assert.deepEqual(again.take(), [fwd('OFFER', other.name, h.name, 'after')]);
      }
    });
  } finally {
    for (const c of clients) c.close();
    lb.kill('SIGTERM');
    await cl.stopAll();
  }
  for (const i of cl.instances.filter((x) => x.signal !== 'SIGKILL')) {
    assert.equal(i.code, 0, `${i.name} stopped cleanly: ${i.out.slice(-2000)}\n(haproxy: ${lbOut.slice(-1000)})`);
  }
}

const parts = { routing, faults, haproxy };
if (!parts[opts.part]) { process.stderr.write(`unknown --part ${opts.part}\n`); process.exit(2); }
const hard = setTimeout(() => { process.stdout.write('FAIL: hard timeout of 150 s\n'); process.exit(1); }, 150000);
parts[opts.part]().then(() => {
  clearTimeout(hard);
  process.stdout.write(`PASS: cluster ${opts.part}, ${checks} checks\n`);
  process.exit(0);
}, (e) => {
  process.stdout.write(`FAIL: ${e.stack || e.message}\n`);
  process.exit(1);
});
