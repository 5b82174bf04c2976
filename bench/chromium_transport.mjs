#!/usr/bin/env node
// The Chromium side of `claynet bench transport --vs chromium` (shared/bench-method.md):
// two RTCPeerConnections in ONE headless Chromium page, no ICE servers, offer/answer/candidates
// handed over in-page the moment they exist, and the same four measurements as claynet's own
// bench (bench/transport_bench.cpp), by the same method.
//
//   node bench/chromium_transport.mjs [--runs N] [--seconds S] [--pings P]
//
// Prints ONE line of JSON on stdout:
//   {"connect_ms":…,"rtt_p50_us":…,"rtt_p99_us":…,"small_msgs_per_s":…,"goodput_MBps":…,
//    "chromium_version":"…"[,"runs":{"connect_ms":[…],…}]}
// With --runs N (N runs, each in a fresh page of one browser) the figures are medians and the
// per-run values are under "runs". Diagnostics go to stderr.
//
// Must run inside the sealed namespace (scripts/netns-run.sh): with loopback alone Chromium
// gathers no ICE candidate and never connects (shared/protocols.md §6). The page is served from
// 127.0.0.1 with COOP/COEP headers so that it is cross-origin isolated, which gives
// performance.now() 5 µs resolution instead of 100 µs.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = process.env.CLAYNET_CHROMIUM || '/usr/bin/chromium';
const FIGURES = ['connect_ms', 'rtt_p50_us', 'rtt_p99_us', 'small_msgs_per_s', 'goodput_MBps'];

function usage(msg) {
  if (msg) process.stderr.write(`chromium_transport: ${msg}\n`);
  process.stderr.write('usage: node bench/chromium_transport.mjs [--runs N] [--seconds S] [--pings P]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { runs: 1, runsGiven: false, seconds: 5, pings: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [name, inline] = a.includes('=') ? a.split(/=(.*)/s, 2) : [a, undefined];
    const value = () => {
      const v = inline !== undefined ? inline : argv[++i];
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 1) usage(`${name} needs a positive integer`);
      return n;
    };
    switch (name) {
      case '--runs': opts.runs = value(); opts.runsGiven = true; break;
      case '--seconds': opts.seconds = value(); break;
      case '--pings': opts.pings = value(); break;
      case '--json': break; // always JSON; accepted for symmetry with `claynet bench transport`
      case '-h': case '--help': usage();
      default: usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Runs inside the page (serialized by page.evaluate): one complete measurement.
async function measureInPage({ pings, seconds }) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const deadline = (p, ms, what) =>
    Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: no result within ${ms} ms`); })]);

  // --- connect ---------------------------------------------------------------------------------
  const t0 = performance.now();
  const pc1 = new RTCPeerConnection({ iceServers: [] });
  const local = pc1.createDataChannel('bench', { ordered: true });
  local.binaryType = 'arraybuffer';
  const pc2 = new RTCPeerConnection({ iceServers: [] });

  // Candidates go to the other side at once; ones that arrive before that side has its remote
  // description are held and added right after it is set.
  const pending = new Map([[pc1, []], [pc2, []]]);
  const deliver = (to, cand) => {
    if (to.remoteDescription) to.addIceCandidate(cand).catch(() => {});
    else pending.get(to).push(cand);
  };
  const flush = (pc) => {
    for (const c of pending.get(pc)) pc.addIceCandidate(c).catch(() => {});
    pending.get(pc).length = 0;
  };
  pc1.onicecandidate = (e) => { if (e.candidate) deliver(pc2, e.candidate); };
  pc2.onicecandidate = (e) => { if (e.candidate) deliver(pc1, e.candidate); };

  let remote = null;
  const remoteReady = new Promise((resolve) => {
    pc2.ondatachannel = (e) => {
      remote = e.channel;
      remote.binaryType = 'arraybuffer';
      if (remote.readyState === 'open') resolve();
      else remote.onopen = () => resolve();
    };
  });
  const opened = new Promise((resolve) => { local.onopen = () => resolve(performance.now()); });

  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  flush(pc2);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  flush(pc1);

  const tOpen = await deadline(opened, 20000, 'data channel open');
  const connect_ms = tOpen - t0;
  await deadline(remoteReady, 5000, 'remote data channel');

  // Receiver side: one handler, switched by mode.
  let mode = 'echo';
  let rxCount = 0, rxBytes = 0, rxFirst = 0, rxLast = 0;
  remote.onmessage = (e) => {
    if (mode === 'echo') { remote.send(e.data); return; }
    const now = performance.now();
    if (rxCount === 0) rxFirst = now;
    rxLast = now;
    rxCount++;
    rxBytes += e.data.byteLength;
  };

  // --- round trips -----------------------------------------------------------------------------
  await sleep(100); // idle after open
  const ping = new Uint8Array(64).fill(0x70).buffer;
  const rtts = new Float64Array(pings);
  await deadline(new Promise((resolve) => {
    let i = 0, sentAt = 0;
    local.onmessage = () => {
      rtts[i++] = (performance.now() - sentAt) * 1000;
      if (i === pings) { resolve(); return; }
      sentAt = performance.now();
      local.send(ping);
    };
    sentAt = performance.now();
    local.send(ping);
  }), 60000, 'ping-pong');
  local.onmessage = null;
  rtts.sort();
  const rtt_p50_us = rtts[Math.floor(pings / 2)];
  const rtt_p99_us = rtts[Math.min(pings - 1, Math.floor((pings * 99) / 100))];

  // --- streams ---------------------------------------------------------------------------------
  // Sends `size`-byte messages for `seconds`, keeping at most `maxBuffered` queued and refilling
  // on bufferedamountlow at `lowMark`; counts at the receiver from first to last message.
  async function stream(size, maxBuffered, lowMark) {
    mode = 'count';
    rxCount = 0; rxBytes = 0; rxFirst = 0; rxLast = 0;
    const payload = new Uint8Array(size).fill(0x73).buffer;
    let stop = false;
    const fill = () => {
      while (!stop && local.bufferedAmount < maxBuffered) local.send(payload);
    };
    local.bufferedAmountLowThreshold = lowMark;
    local.onbufferedamountlow = fill;
    fill();
    await sleep(seconds * 1000);
    stop = true;
    local.onbufferedamountlow = null;
    for (let i = 0; i < 200 && local.bufferedAmount > 0; i++) await sleep(10);
    await sleep(100);
    const secs = (rxLast - rxFirst) / 1000;
    return { messages: rxCount, bytes: rxBytes, seconds: secs };
  }
  const small = await stream(64, 64 * 1024, 32 * 1024);
  const big = await stream(65535, 4 * 1024 * 1024, 1024 * 1024);

  local.close();
  pc1.close();
  pc2.close();
  const round = (x, digits) => Number(x.toFixed(digits));
  return {
    connect_ms: round(connect_ms, 3),
    rtt_p50_us: round(rtt_p50_us, 1),
    rtt_p99_us: round(rtt_p99_us, 1),
    small_msgs_per_s: round(small.seconds > 0 ? small.messages / small.seconds : 0, 1),
    goodput_MBps: round(big.seconds > 0 ? big.bytes / big.seconds / 1e6 : 0, 3),
  };
}

// Smallest non-zero step of performance.now(), in µs (diagnostic only).
function timerStepInPage() {
  let min = Infinity;
  let last = performance.now();
  const end = last + 20;
  while (last < end) {
    const now = performance.now();
    if (now > last) { min = Math.min(min, now - last); last = now; }
  }
  return { step_us: min * 1000, isolated: self.crossOriginIsolated };
}
// ---------------------------------------------------------------------------------------------

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

function servePage() {
  const html = '<!doctype html><meta charset="utf-8"><title>claynet transport bench</title>';
  const server = createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    });
    res.end(html);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (s) => process.stderr.write(`chromium_transport: ${s}\n`);

  const server = await servePage();
  const url = `http://127.0.0.1:${server.address().port}/`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'claynet-chromium-'));
  let context;
  const cleanup = async () => {
    if (context) await context.close().catch(() => {});
    context = undefined;
    server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { cleanup().finally(() => process.exit(130)); });
  }

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 60000,
    });

    let version = '';
    const results = [];
    for (let r = 0; r < opts.runs; r++) {
      const page = await context.newPage();
      page.on('console', (m) => log(`page ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => log(`page error: ${e.message}`));
      await page.goto(url);
      if (!version) {
        try {
          const cdp = await context.newCDPSession(page);
          const v = await cdp.send('Browser.getVersion');
          version = String(v.product || '').replace(/^[^/]*\//, '');
          await cdp.detach();
        } catch {
          version = String(await page.evaluate(() => navigator.userAgent)).match(/Chrome\/([\d.]+)/)?.[1] || '';
        }
        const t = await page.evaluate(timerStepInPage);
        log(`Chromium ${version}; crossOriginIsolated=${t.isolated}, performance.now() step ${t.step_us.toFixed(1)} us`);
      }
      const fig = await page.evaluate(measureInPage, { pings: opts.pings, seconds: opts.seconds });
      await page.close();
      log(`run ${r + 1}/${opts.runs}: ${JSON.stringify(fig)}`);
      results.push(fig);
    }

    const out = {};
    for (const k of FIGURES) out[k] = median(results.map((f) => f[k]));
    out.chromium_version = version;
    if (opts.runsGiven) {
      out.runs = {};
      for (const k of FIGURES) out.runs[k] = results.map((f) => f[k]);
    }
    await cleanup();
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (e) {
    log(`failed: ${e && e.stack ? e.stack : e}`);
    await cleanup();
    process.exit(1);
  }
}

main();
