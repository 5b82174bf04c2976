// Interop peer: a plain RTCPeerConnection inside headless Chromium (Debian's
// /usr/bin/chromium), driven by playwright-core.
//
//   node tests/interop/peer_chromium.mjs --role offer|answer [--timeout SECONDS] [--verbose]
//       [--chromium /usr/bin/chromium] [--scenario exchange|lossy] [--loss PERCENT]
//
// Scenario "lossy" (offer only; the other side is `claynet-rtc-peer --scenario lossy-sink`):
// Chromium opens an unordered maxRetransmits:0 channel, an unordered maxPacketLifeTime channel
// and a reliable "control" channel; once they are open, loopback of the (sealed) namespace drops
// PERCENT % of packets (a tc BPF filter, as the multiplayer tests make it), and Chromium sends
// messages of 2-12 KiB on the lossy channels, so that fragmented messages are abandoned and
// FORWARD-TSN skips them. Then "done" on control; the association must still be up to answer.
//
// Speaks the JSON-lines peer protocol of tests/interop (see run_pair.mjs): stdout
// carries only protocol objects, everything else goes to stderr. The whole script
// (channel, sending, checking) runs inside the page; only signaling crosses into
// node (page -> node through an exposed function, node -> page through evaluate).
// Chromium keeps its default WebRTC settings: no ICE servers, host addresses hidden
// behind mDNS (.local) names.

import { launchChromium } from './chromium_common.mjs';
import { parsePeerArgs, peerOutput, readProtocolLines } from './peer_common.mjs';
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const opts = parsePeerArgs('peer_chromium', process.argv.slice(2),
  { chromium: '/usr/bin/chromium', scenario: 'exchange', loss: '15' },
  { '--chromium': 'chromium', '--scenario': 'scenario', '--loss': 'loss' });
const { t0, log, emit } = peerOutput('chromium', opts.role);

let result = null;
function finish(ok, detail) {
  if (result) return;
  result = { ok, detail };
  log(`result ok=${ok}: ${detail}`);
  emit({ type: 'result', ok, detail });
}

// ------------------------------------------------------------------ page side
// Runs inside Chromium. `out(obj)` is the exposed node function.
function pageMain({ role, timeoutMs, timeoutText, verbose, scenario }) {
  const out = (obj) => window.__peerOut(obj);
  const log = (msg) => out({ type: 'log', msg });
  const makeBinary = (len, fn) => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = fn(i);
    return b;
  };
  const EXPECTED = [
    { kind: 'text', text: 'ping:text' },
    { kind: 'binary', bytes: makeBinary(1000, (i) => i % 251) },
    { kind: 'binary', bytes: makeBinary(204800, (i) => (i * 7) % 256) },
    { kind: 'text', text: 'done' },
  ];
  const describe = (kind, p) => (kind === 'text'
    ? `text(${p.length} chars) ${JSON.stringify(p.length > 40 ? p.slice(0, 40) + '...' : p)}`
    : `binary(${p.length} bytes)`);

  let done = false;
  let received = 0;
  let dc = null;
  let channelOpen = false;
  let remoteSet = false;
  let localSent = false;
  const pendingLocal = [];
  const pendingRemote = [];
  const finish = (ok, detail) => {
    if (done) return;
    done = true;
    out({ type: 'result', ok, detail });
  };

  const pc = new RTCPeerConnection(); // Chromium's defaults
  window.__pc = pc;
  pc.onconnectionstatechange = () => {
    log(`connection state ${pc.connectionState}`);
    if (pc.connectionState === 'failed') finish(false, 'peer connection failed');
  };
  pc.oniceconnectionstatechange = () => { if (verbose) log(`ice state ${pc.iceConnectionState}`); };
  pc.onicecandidate = (ev) => {
    if (!ev.candidate || !ev.candidate.candidate) return; // end of gathering: nothing to send
    const obj = {
      type: 'candidate',
      candidate: ev.candidate.candidate,
      sdpMid: ev.candidate.sdpMid,
      sdpMLineIndex: ev.candidate.sdpMLineIndex,
    };
    if (localSent) out(obj);
    else pendingLocal.push(obj);
  };
  const sendLocal = () => {
    const d = pc.localDescription;
    log(`local description (${d.type})`);
    out({ type: 'description', sdpType: d.type, sdp: d.sdp });
    localSent = true;
    for (const c of pendingLocal.splice(0)) out(c);
  };

  const onMessage = (ev) => {
    if (done) return;
    let kind;
    let payload;
    if (typeof ev.data === 'string') {
      kind = 'text';
      payload = ev.data;
    } else {
      kind = 'binary';
      payload = new Uint8Array(ev.data);
    }
    const idx = received++;
    if (idx >= EXPECTED.length) return;
    const exp = EXPECTED[idx];
    const got = describe(kind, payload);
    if (kind !== exp.kind) return finish(false, `message ${idx + 1}: expected ${exp.kind}, got ${got}`);
    if (kind === 'text' && payload !== exp.text) {
      return finish(false, `message ${idx + 1}: expected text ${JSON.stringify(exp.text)}, got ${got}`);
    }
    if (kind === 'binary') {
      let diff = -1;
      const n = Math.min(payload.length, exp.bytes.length);
      for (let i = 0; i < n && diff < 0; i++) if (payload[i] !== exp.bytes[i]) diff = i;
      if (diff < 0 && payload.length !== exp.bytes.length) diff = n;
      if (diff >= 0) {
        return finish(false, `message ${idx + 1}: expected binary(${exp.bytes.length} bytes), got ${got}` +
          (payload.length === exp.bytes.length ? `, first differing byte at ${diff}` : ''));
      }
    }
    if (verbose) log(`message ${idx + 1} ok: ${got}`);
    if (received === EXPECTED.length) finish(true, 'received all 4 messages');
  };

  const onOpen = () => {
    if (channelOpen) return;
    channelOpen = true;
    log(`channel "${dc.label}" open (id ${dc.id}, ordered ${dc.ordered}, maxRetransmits ${dc.maxRetransmits}, ` +
      `maxPacketLifeTime ${dc.maxPacketLifeTime}, sctp maxMessageSize ${pc.sctp && pc.sctp.maxMessageSize})`);
    if (dc.label !== 'interop') return finish(false, `channel label is ${JSON.stringify(dc.label)}, expected "interop"`);
    if (!dc.ordered || dc.maxRetransmits !== null || dc.maxPacketLifeTime !== null) {
      return finish(false, 'channel is not ordered and reliable');
    }
    try {
      for (const m of EXPECTED) dc.send(m.kind === 'text' ? m.text : m.bytes);
      log('sent all 4 messages');
    } catch (e) {
      finish(false, `send failed: ${e && e.message ? e.message : e}`);
    }
  };

  const attach = (channel) => {
    if (dc) {
      log(`ignoring extra data channel "${channel.label}"`);
      return;
    }
    dc = channel;
    dc.binaryType = 'arraybuffer';
    dc.onmessage = onMessage;
    dc.onopen = onOpen;
    dc.onclose = () => {
      log('channel closed');
      if (!done) finish(false, `channel closed after ${received} of 4 messages`);
    };
    dc.onerror = (ev) => log(`channel error: ${ev.error ? ev.error.message : ev}`);
    if (dc.readyState === 'open') onOpen();
  };
  pc.ondatachannel = (ev) => {
    log(`incoming data channel "${ev.channel.label}"`);
    attach(ev.channel);
  };

  const addRemoteCandidate = async (m) => {
    let c = String(m.candidate || '');
    if (c.startsWith('a=')) c = c.slice(2);
    if (!c) return;
    const init = { candidate: c, sdpMid: m.sdpMid ?? null, sdpMLineIndex: m.sdpMLineIndex ?? null };
    if (init.sdpMid === null && init.sdpMLineIndex === null) init.sdpMLineIndex = 0;
    try {
      await pc.addIceCandidate(init);
    } catch (e) {
      log(`addIceCandidate(${c}) failed: ${e.message}`);
    }
  };

  // Remote input, handled strictly in arrival order.
  let chain = Promise.resolve();
  window.__peerIn = (m) => {
    chain = chain.then(async () => {
      if (m.type === 'description') {
        log(`remote description (${m.sdpType})`);
        try {
          await pc.setRemoteDescription({ type: m.sdpType, sdp: m.sdp });
          remoteSet = true;
          for (const c of pendingRemote.splice(0)) await addRemoteCandidate(c);
          if (m.sdpType === 'offer') {
            await pc.setLocalDescription();
            sendLocal();
          }
        } catch (e) {
          finish(false, `handling the remote ${m.sdpType} failed: ${e.message}`);
        }
      } else if (m.type === 'candidate') {
        if (remoteSet) await addRemoteCandidate(m);
        else pendingRemote.push(m);
      }
    });
    return chain;
  };

  setTimeout(() => {
    if (done) return;
    let why;
    if (!remoteSet) why = 'no remote description received';
    else if (!channelOpen) why = `channel never opened (connection ${pc.connectionState}, ice ${pc.iceConnectionState})`;
    else why = `received ${received} of 4 messages`;
    finish(false, `timeout after ${timeoutText}s: ${why}`);
  }, timeoutMs);

  // The lossy scenario: see the head of this file.
  const lossy = () => {
    const kPerChannel = 300;
    const specs = [['rexmit0', { ordered: false, maxRetransmits: 0 }],
      ['lifetime', { ordered: false, maxPacketLifeTime: 100 }],
      ['control', { ordered: true }]];
    const chans = {};
    let opened = 0;
    let sent = 0;
    for (const [label, init] of specs) {
      const c = pc.createDataChannel(label, init);
      c.binaryType = 'arraybuffer';
      chans[label] = c;
      c.onopen = () => {
        channelOpen = true;
        if (++opened === specs.length) out({ type: 'ready' });
      };
      c.onclose = () => finish(false, `channel ${label} closed after ${sent} lossy messages: the association ended`);
    }
    chans.control.onmessage = (ev) => {
      if (typeof ev.data !== 'string' || !ev.data.startsWith('stats ')) return;
      const stats = JSON.parse(ev.data.slice(6));
      finish(!!stats.ok, `sent ${sent} lossy messages; claynet: ${ev.data.slice(6)}`);
    };
    const message = (index) => {
      const b = new Uint8Array(2048 + ((index * 997) % 10240));
      b[0] = index >>> 24; b[1] = (index >>> 16) & 255; b[2] = (index >>> 8) & 255; b[3] = index & 255;
      for (let j = 4; j < b.length; j++) b[j] = (index * 7 + j) & 255;
      return b;
    };
    window.__startLossy = () => {
      // Each lossy channel sends kPerChannel messages, as fast as its bufferedAmount allows, for
      // at most 8 s (under heavy loss the congestion window keeps it small).
      const next = { rexmit0: 0, lifetime: 0 };
      const until = Date.now() + 8000;
      const tick = () => {
        if (done) return;
        for (const label of ['rexmit0', 'lifetime']) {
          const c = chans[label];
          for (let k = 0; k < 4 && next[label] < kPerChannel && c.bufferedAmount < 262144; k++) {
            try {
              c.send(message(next[label]++));
              sent++;
            } catch (e) {
              return finish(false, `send on ${label} failed: ${e.message}`);
            }
          }
        }
        if (Date.now() < until && (next.rexmit0 < kPerChannel || next.lifetime < kPerChannel)) {
          return setTimeout(tick, 10);
        }
        log(`sent ${sent} lossy messages`);
        setTimeout(() => chans.control.send(`done ${sent}`), 1000);
      };
      tick();
    };
    return pc.setLocalDescription().then(sendLocal);
  };

  if (role === 'offer' && scenario === 'lossy') return lossy();
  if (role === 'offer') {
    attach(pc.createDataChannel('interop', { ordered: true }));
    return pc.setLocalDescription().then(sendLocal);
  }
  return null;
}

// ------------------------------------------------------------------ node side
// Loss on loopback of the namespace (classic BPF in a tc filter: `ld rand; jge #threshold ->
// pass; drop`, as in tests/multiplayer/test_lifetime.cpp; there is no netem here).
let lossOn = false;
function setLoss(on) {
  const tc = (args) => execSync(`PATH="$PATH:/usr/sbin:/sbin" tc ${args}`, { stdio: 'pipe' });
  if (on) {
    const threshold = Math.floor(2 ** 32 * Number(opts.loss) / 100);
    tc('qdisc add dev lo clsact');
    tc(`filter add dev lo egress bpf da bytecode '4,32 0 0 4294963256,53 0 1 ${threshold},6 0 0 0,6 0 0 2'`);
    lossOn = true;
    log(`loopback now drops ${opts.loss} % of packets`);
  } else if (lossOn) {
    lossOn = false;
    try { tc('qdisc del dev lo clsact'); } catch { /* gone with the namespace anyway */ }
  }
}

let context = null;
let page = null;
let userDataDir = null;
let closing = false;
let pageReady = false;
const inputQueue = [];
let inputChain = Promise.resolve();

function toPage(m) {
  inputChain = inputChain.then(() => page.evaluate((msg) => window.__peerIn(msg), m))
    .catch((e) => { if (!closing) log(`page input failed: ${e.message}`); });
}

async function start() {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    finish(false, `cannot load playwright-core (run "npm ci" in the project root): ${e.message}`);
    return;
  }
  userDataDir = mkdtempSync(join(tmpdir(), 'claynet-chromium-'));
  try {
    context = await launchChromium(chromium, opts.chromium, userDataDir);
  } catch (e) {
    finish(false, `cannot launch Chromium at ${opts.chromium}: ${e.message.split('\n')[0]}`);
    return;
  }
  if (closing) return;
  log(`Chromium ${context.browser() ? context.browser().version() : ''} up`);
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('crash', () => finish(false, 'Chromium page crashed'));
  if (opts.verbose) page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  await page.exposeFunction('__peerOut', (obj) => {
    if (obj.type === 'log') log(obj.msg);
    else if (obj.type === 'result') finish(obj.ok, obj.detail);
    else if (obj.type === 'ready') {
      try {
        setLoss(true);
      } catch (e) {
        finish(false, `cannot make loopback lossy: ${e.message}`);
        return;
      }
      page.evaluate(() => window.__startLossy()).catch((e) => log(`start failed: ${e.message}`));
    } else emit(obj);
  });
  await page.goto('about:blank');
  const remaining = Math.max(1000, opts.timeout * 1000 - (Date.now() - t0));
  await page.evaluate(pageMain, { role: opts.role, timeoutMs: remaining, timeoutText: String(opts.timeout),
    verbose: opts.verbose, scenario: opts.scenario });
  pageReady = true;
  for (const m of inputQueue.splice(0)) toPage(m);
}

const guard = setTimeout(() => {
  // The page has its own timer; this one covers a page that never came up.
  if (!result) finish(false, `timeout after ${opts.timeout}s (${pageReady ? 'page silent' : 'Chromium/page not ready'})`);
}, opts.timeout * 1000 + 2000);

async function shutdown(reason) {
  if (closing) return;
  closing = true;
  log(`closing (${reason})`);
  clearTimeout(guard);
  setLoss(false);
  if (!result) finish(false, `closed before completion (${reason})`);
  const code = result.ok ? 0 : 1;
  setTimeout(() => process.exit(code), 5000).unref();
  try {
    if (page && pageReady) await page.evaluate(() => window.__pc && window.__pc.close()).catch(() => {});
    if (context) await context.close();
  } catch (e) {
    log(`close error: ${e.message}`);
  }
  try {
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  } catch { /* best effort */ }
  process.exit(code);
}

readProtocolLines(log, (m) => {
  if (m.type === 'description' || m.type === 'candidate') {
    if (pageReady) toPage(m);
    else inputQueue.push(m);
  } else {
    log(`ignoring input of type ${m.type}`);
  }
}, shutdown);

start().catch((e) => finish(false, `Chromium peer setup failed: ${e.message}`));
