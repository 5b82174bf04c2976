// browser_network_node: one browser Clayground.Network node (clayground_network_page.mjs on the
// real PeerJS 1.5.5 library) in headless Chromium, driven like claynet-network-node:
//
//   node tests/network/browser_network_node.mjs (--host | --join CODE) --signaling-url URL
//       [--max-nodes N] [--no-relay] [--chromium /usr/bin/chromium] [--verbose]
//       [--wire legacy|5] [--app-id S] [--password S] [--client-token S] [--handshake-timeout MS]
//       [--grace-period MS]
//
// --wire legacy (the default) speaks the seed-era protocol; --wire 5 Clayground's wire version 5
// (hello/welcome handshake with appId, password and client token, the "state" channel on the same
// connection, bye). A refused joiner prints {"event":"joinRefused","reason":R,"message":M} and
// then errorOccurred; a joiner that loses its host prints hostLost {reason, message} first. The
// status snapshot has hostId, wireVersion and clientTokens (a host: node id -> token).
//
// URL: ws://HOST:PORT/peerjs (or wss://). stdin, one JSON object per line:
//   {"cmd":"broadcast","data":V}  {"cmd":"state","data":V}  {"cmd":"sendTo","node":ID,"data":V}
//   {"cmd":"raw","node":ID,"envelope":E,"state":bool}  {"cmd":"leave"}  {"cmd":"status"}
//   {"cmd":"deaf","on":bool} (a test hook: drop every incoming message)  {"cmd":"quit"}
// End of stdin is "leave" then "quit". stdout: one JSON object per line, the same events as
// claynet-network-node ({"event":"networkCreated"|"nodeJoined"|...}, {"event":"result",...} per
// command, {"event":"status",...} for "status"); logs go to stderr.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../interop/chromium_common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const PEERJS_PATH = join(ROOT, 'node_modules', 'peerjs', 'dist', 'peerjs.min.js');
const PAGE_MODULE = join(HERE, 'clayground_network_page.mjs');

function usage(msg) {
  process.stderr.write(`browser_network_node: ${msg}\nusage: node browser_network_node.mjs ` +
    '(--host | --join CODE) --signaling-url ws://H:P/peerjs [--max-nodes N] [--no-relay] ' +
    '[--chromium PATH] [--verbose] [--wire legacy|5] [--app-id S] [--password S] [--client-token S] ' +
    '[--handshake-timeout MS] [--grace-period MS]\n');
  process.exit(2);
}

const opts = {
  host: false, join: null, url: null, maxNodes: 8, relay: true, chromium: '/usr/bin/chromium', verbose: false,
  wire: 'legacy', appId: '', password: '', clientToken: '', handshakeTimeoutMs: 5000, gracePeriod: 5000,
};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const need = () => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === '--host') opts.host = true;
    else if (k === '--join') opts.join = need();
    else if (k === '--signaling-url') opts.url = need();
    else if (k === '--max-nodes') opts.maxNodes = Number(need());
    else if (k === '--no-relay') opts.relay = false;
    else if (k === '--chromium') opts.chromium = need();
    else if (k === '--verbose') opts.verbose = true;
    else if (k === '--wire') opts.wire = need();
    else if (k === '--app-id') opts.appId = need();
    else if (k === '--password') opts.password = need();
    else if (k === '--client-token') opts.clientToken = need();
    else if (k === '--handshake-timeout') opts.handshakeTimeoutMs = Number(need());
    else if (k === '--grace-period') opts.gracePeriod = Number(need());
    else usage(`unknown argument ${k}`);
  }
  if (!['legacy', '5'].includes(opts.wire)) usage(`--wire must be legacy or 5, not ${opts.wire}`);
  opts.wire = opts.wire === '5' ? 5 : 'legacy';
  if (!(opts.handshakeTimeoutMs > 0)) usage('--handshake-timeout must be positive');
  if (!(opts.gracePeriod >= 0)) usage('--grace-period must be 0 (off) or positive');
  if (opts.host === !!opts.join) usage('exactly one of --host and --join is needed');
  if (!opts.url) usage('--signaling-url is needed');
}

// PeerJS takes the server as host, port, path and secure; it appends "peerjs" to the path.
function peerOptions(url) {
  const u = new URL(url);
  if (!['ws:', 'wss:'].includes(u.protocol)) usage(`--signaling-url must be ws:// or wss://, not ${url}`);
  const secure = u.protocol === 'wss:';
  const path = u.pathname.replace(/peerjs\/?$/, '') || '/';
  return {
    host: u.hostname, port: Number(u.port) || (secure ? 443 : 80), path, secure,
    key: u.searchParams.get('key') || 'peerjs',
    debug: 2,
    config: { iceServers: [] }, // the tests run in a sealed namespace
  };
}

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[browser-node +${Date.now() - t0}ms] ${msg}\n`);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let context = null;
let page = null;
let httpServer = null;
let userDataDir = null;
let exiting = false;

// The page comes from loopback, not about:blank: Chromium's Local Network Access checks would
// block a public or opaque origin from reaching the signaling server at a private address.
function servePage() {
  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>Clayground node</title>' +
      '<script src="/peerjs.min.js"></script>'],
    '/peerjs.min.js': ['text/javascript', readFileSync(PEERJS_PATH, 'utf8')],
    '/clayground_network_page.mjs': ['text/javascript', readFileSync(PAGE_MODULE, 'utf8')],
  };
  return new Promise((res, rej) => {
    httpServer = createServer((req, reply) => {
      const f = files[req.url];
      if (!f) {
        reply.writeHead(req.url === '/favicon.ico' ? 204 : 404);
        reply.end();
        return;
      }
      reply.writeHead(200, { 'content-type': `${f[0]}; charset=utf-8` });
      reply.end(f[1]);
    });
    httpServer.on('error', rej);
    httpServer.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${httpServer.address().port}/`));
  });
}

async function exit(code) {
  if (exiting) return;
  exiting = true;
  setTimeout(() => process.exit(code), 5000).unref();
  try {
    if (context) await context.close();
  } catch (e) {
    log(`close error: ${e.message}`);
  }
  if (httpServer) httpServer.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  emit({ event: 'exit' });
  process.exit(code);
}

async function start() {
  const { chromium } = await import('playwright-core');
  userDataDir = mkdtempSync(join(tmpdir(), 'claynet-clayground-node-'));
  context = await launchChromium(chromium, opts.chromium, userDataDir);
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('crash', () => {
    log('the page crashed');
    exit(1);
  });
  page.on('console', (m) => {
    if (opts.verbose || m.type() === 'error' || m.type() === 'warning') log(`console.${m.type()}: ${m.text()}`);
  });
  await page.exposeFunction('__emit', (name, fields) => emit({ event: name, ...fields }));
  await page.exposeFunction('__log', (msg) => log(msg));
  await page.goto(await servePage());
  await page.evaluate(async (o) => {
    const { ClaygroundNetwork } = await import('/clayground_network_page.mjs');
    window.net = new ClaygroundNetwork({
      peerOptions: o.peerOptions, maxNodes: o.maxNodes, autoRelay: o.relay,
      wire: o.wire, appId: o.appId, password: o.password, clientToken: o.clientToken,
      handshakeTimeoutMs: o.handshakeTimeoutMs, gracePeriod: o.gracePeriod,
      emit: (name, fields) => window.__emit(name, fields), log: (msg) => window.__log(msg),
    });
  }, {
    peerOptions: peerOptions(opts.url), maxNodes: opts.maxNodes, relay: opts.relay, wire: opts.wire,
    appId: opts.appId, password: opts.password, clientToken: opts.clientToken,
    handshakeTimeoutMs: opts.handshakeTimeoutMs, gracePeriod: opts.gracePeriod,
  });
  log(`Chromium ${context.browser() ? context.browser().version() : ''} up`);
}

// Runs one command inside the page; returns its error text or null.
function run(cmd, c) {
  return page.evaluate(([cmd, c]) => {
    const n = window.net;
    switch (cmd) {
      case 'host': return n.host();
      case 'join': return n.join(c.code);
      case 'broadcast': return n.broadcast(c.data ?? null);
      case 'state': return n.broadcastState(c.data ?? null);
      case 'sendTo': return n.sendTo(c.node || '', c.data ?? null);
      case 'raw': return n.sendRaw(c.node || '', c.envelope, !!c.state);
      case 'leave': n.leave(); return null;
      case 'deaf': return n.setDeaf(c.on);
      default: return `unknown command "${cmd}"`;
    }
  }, [cmd, c]);
}

// Commands run one at a time, in order.
let chain = Promise.resolve();
function command(line) {
  let c;
  try {
    c = JSON.parse(line);
  } catch {
    c = null;
  }
  if (!c || typeof c !== 'object' || typeof c.cmd !== 'string') {
    emit({ event: 'result', ok: false, error: `not a command: ${line}` });
    return;
  }
  chain = chain.then(async () => {
    if (c.cmd === 'quit') return exit(0);
    if (c.cmd === 'status') {
      emit({ event: 'status', ...(await page.evaluate(() => window.net.snapshot())) });
      return undefined;
    }
    const error = await run(c.cmd, c);
    emit(error ? { event: 'result', cmd: c.cmd, ok: false, error } : { event: 'result', cmd: c.cmd, ok: true });
    return undefined;
  }).catch((e) => {
    log(`command ${c.cmd} failed: ${e.message}`);
    emit({ event: 'result', cmd: c.cmd, ok: false, error: e.message.split('\n')[0] });
  });
}

const ready = start().then(async () => {
  const error = await run(opts.host ? 'host' : 'join', { code: opts.join });
  emit(error ? { event: 'result', cmd: opts.host ? 'host' : 'join', ok: false, error }
    : { event: 'result', cmd: opts.host ? 'host' : 'join', ok: true });
}).catch((e) => {
  log(`setup failed: ${e.stack || e.message}`);
  emit({ event: 'errorOccurred', message: `browser node setup failed: ${e.message.split('\n')[0]}` });
  exit(1);
});

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (line.trim()) ready.then(() => command(line.trim()));
});
rl.on('close', () => ready.then(() => {
  command('{"cmd":"leave"}');
  chain = chain.then(() => new Promise((r) => setTimeout(r, 500)));
  command('{"cmd":"quit"}');
}));
process.on('SIGTERM', () => exit(1));
process.on('SIGINT', () => exit(1));
