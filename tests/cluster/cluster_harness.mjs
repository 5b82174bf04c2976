// What the cluster tests share: a real redis-server and `claynet signal --redis` instances, started
// as child processes on addresses inside the test's sealed namespace (scripts/netns-run.sh).
import { spawn } from 'node:child_process';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/// Polls `fn` until it returns a truthy value; throws `what` after `ms`.
export async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

function track(name, child) {
  const p = { name, child, out: '', exited: false, code: null, signal: null };
  p.exit = new Promise((resolve) => child.on('exit', (code, signal) => {
    p.exited = true;
    p.code = code;
    p.signal = signal;
    resolve();
  }));
  const add = (d) => { p.out += d; if (p.out.length > 1 << 20) p.out = p.out.slice(-(1 << 19)); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return p;
}

/// Sends PING over RESP; true on +PONG.
export function redisPing(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let got = '';
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) done(got.startsWith('+PONG')); });
  });
}

/// A redis-server on host:port with no persistence (a restart comes back empty, the harder case).
export async function startRedis(port, host = '127.0.0.1', extra = []) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', host, '--save', '',
    '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = track(`redis:${port}`, child);
  p.port = port;
  await waitFor(async () => p.exited || redisPing(port, host), 10000, `redis-server on ${port}`);
  if (p.exited) throw new Error(`redis-server exited at start: ${p.out}`);
  return p;
}

/// One `claynet signal` instance; resolves once it answers on its port.
export async function startInstance(claynet, { host = '127.0.0.1', port, redis, args = [], name }) {
  const argv = ['signal', '--host', host, '--port', String(port), ...(redis ? ['--redis', redis] : []),
    ...args];
  const child = spawn(claynet, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = track(name || `claynet:${port}`, child);
  p.port = port;
  p.url = `ws://${host}:${port}/peerjs`;
  await waitFor(() => p.exited || p.out.includes('listening on'), 15000, `${p.name} to listen`);
  if (p.exited) throw new Error(`${p.name} exited at start (${p.code}): ${p.out}`);
  return p;
}

/// Stops with SIGTERM (SIGKILL after 3 s); resolves when gone.
export async function stop(p, signal = 'SIGTERM') {
  if (!p || p.exited) return;
  try { p.child.kill(signal); } catch { /* gone */ }
  const t = setTimeout(() => { try { p.child.kill('SIGKILL'); } catch { /* gone */ } }, 3000);
  await p.exit;
  clearTimeout(t);
}

/// Redis plus `count` instances on free ports of `host`.
export async function startCluster(claynet, { host = '127.0.0.1', count = 3, args = [],
  redisPort, ports } = {}) {
  const rport = redisPort || await freePort('127.0.0.1');
  const redis = await startRedis(rport);
  const redisUrl = `redis://127.0.0.1:${rport}`;
  const instances = [];
  for (let i = 0; i < count; ++i) {
    const port = ports ? ports[i] : await freePort(host);
    instances.push(await startInstance(claynet, { host, port, redis: redisUrl, args, name: `I${i}` }));
  }
  return {
    redis, redisUrl, instances, host,
    // A test may replace `redis` (a restart): the current one is stopped.
    async stopAll() {
      for (const i of this.instances) await stop(i);
      await stop(this.redis);
    },
  };
}
