// Interop peer built on node-datachannel (libdatachannel inside).
//
//   node tests/interop/peer_ndc.mjs --role offer|answer [--timeout SECONDS] [--verbose]
//
// Speaks the JSON-lines peer protocol of tests/interop (see run_pair.mjs):
// stdout carries only protocol objects; everything else goes to stderr.

import { parsePeerArgs, peerOutput, readProtocolLines } from './peer_common.mjs';

const opts = parsePeerArgs('peer_ndc', process.argv.slice(2), {}, {});
const { log, emit } = peerOutput('ndc', opts.role);

// ---------------------------------------------------------------- the script
function makeBinary(len, fn) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = fn(i);
  return b;
}
const EXPECTED = [
  { kind: 'text', text: 'ping:text' },
  { kind: 'binary', bytes: makeBinary(1000, (i) => i % 251) },
  { kind: 'binary', bytes: makeBinary(204800, (i) => (i * 7) % 256) },
  { kind: 'text', text: 'done' },
];

function describe(kind, payload) {
  if (kind === 'text') {
    const s = payload.length > 40 ? payload.slice(0, 40) + '...' : payload;
    return `text(${payload.length} chars) ${JSON.stringify(s)}`;
  }
  return `binary(${payload.length} bytes)`;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

// ---------------------------------------------------------------- state
let result = null; // {ok, detail}
let received = 0;
let channelOpened = false;
let pc = null;
let dc = null;
let pcState = 'new';
let iceState = 'new';
let remoteDescriptionSet = false;
const pendingRemoteCandidates = [];
let localDescriptionSent = false;
const pendingLocalCandidates = [];

function finish(ok, detail) {
  if (result) return;
  result = { ok, detail };
  log(`result ok=${ok}: ${detail}`);
  emit({ type: 'result', ok, detail });
}

function onChannelMessage(msg) {
  if (result) {
    if (result.ok) log('extra message after the four expected ones');
    return;
  }
  let kind;
  let payload;
  if (typeof msg === 'string') {
    kind = 'text';
    payload = msg;
  } else {
    kind = 'binary';
    payload = Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
  }
  const idx = received++;
  if (idx >= EXPECTED.length) return;
  const exp = EXPECTED[idx];
  const got = describe(kind, payload);
  if (kind !== exp.kind) {
    finish(false, `message ${idx + 1}: expected ${exp.kind}, got ${got}`);
    return;
  }
  if (kind === 'text') {
    if (payload !== exp.text) {
      finish(false, `message ${idx + 1}: expected text ${JSON.stringify(exp.text)}, got ${got}`);
      return;
    }
  } else {
    const d = firstDifference(payload, exp.bytes);
    if (d !== -1) {
      finish(false, `message ${idx + 1}: expected binary(${exp.bytes.length} bytes), got ${got}` +
        (payload.length === exp.bytes.length ? `, first differing byte at ${d}` : ''));
      return;
    }
  }
  if (opts.verbose) log(`message ${idx + 1} ok: ${got}`);
  if (received === EXPECTED.length) finish(true, 'received all 4 messages');
}

function sendScript(channel) {
  try {
    for (const m of EXPECTED) {
      if (m.kind === 'text') channel.sendMessage(m.text);
      else channel.sendMessageBinary(m.bytes);
    }
    log('sent all 4 messages');
  } catch (e) {
    finish(false, `send failed: ${e && e.message ? e.message : e}`);
  }
}

function attachChannel(channel) {
  if (dc) {
    log(`ignoring extra data channel "${channel.getLabel()}"`);
    return;
  }
  dc = channel;
  channel.onMessage(onChannelMessage);
  channel.onError((err) => log(`channel error: ${err}`));
  channel.onClosed(() => {
    log('channel closed');
    if (!result) finish(false, `channel closed after ${received} of 4 messages`);
  });
  const opened = () => {
    if (channelOpened) return;
    channelOpened = true;
    log(`channel "${channel.getLabel()}" open (id ${channel.getId()}, maxMessageSize ${channel.maxMessageSize()})`);
    if (channel.getLabel() !== 'interop') {
      finish(false, `channel label is ${JSON.stringify(channel.getLabel())}, expected "interop"`);
      return;
    }
    sendScript(channel);
  };
  channel.onOpen(opened);
  if (channel.isOpen()) opened();
}

// ---------------------------------------------------------------- setup
let ndc;
try {
  ndc = (await import('node-datachannel')).default;
} catch (e) {
  finish(false, `cannot load node-datachannel (run "npm ci" in the project root): ${e.message}`);
}

function flushLocalCandidates() {
  localDescriptionSent = true;
  for (const c of pendingLocalCandidates.splice(0)) emit(c);
}

if (ndc) {
  ndc.initLogger(opts.verbose ? 'Info' : 'Warning', (level, message) => log(`rtc ${level}: ${message}`));
  pc = new ndc.PeerConnection(`ndc-${opts.role}`, { iceServers: [] });
  pc.onLocalDescription((sdp, type) => {
    const t = String(type).toLowerCase();
    log(`local description (${t})`);
    emit({ type: 'description', sdpType: t, sdp });
    flushLocalCandidates();
  });
  pc.onLocalCandidate((candidate, mid) => {
    const c = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
    const obj = { type: 'candidate', candidate: c, sdpMid: mid, sdpMLineIndex: 0 };
    if (localDescriptionSent) emit(obj);
    else pendingLocalCandidates.push(obj);
  });
  pc.onStateChange((s) => {
    pcState = s;
    log(`connection state ${s}`);
    if (s === 'failed' && !result) finish(false, 'peer connection failed');
  });
  pc.onIceStateChange((s) => {
    iceState = s;
    if (opts.verbose) log(`ice state ${s}`);
  });
  pc.onDataChannel((channel) => {
    log(`incoming data channel "${channel.getLabel()}"`);
    attachChannel(channel);
  });
  if (opts.role === 'offer') {
    // Creating the channel triggers the offer (libdatachannel auto-negotiation).
    attachChannel(pc.createDataChannel('interop', { ordered: true }));
  }
}

const timer = setTimeout(() => {
  if (result) return;
  let detail;
  if (!ndc) detail = 'timeout';
  else if (!remoteDescriptionSet) detail = `timeout after ${opts.timeout}s: no remote description received`;
  else if (!channelOpened) detail = `timeout after ${opts.timeout}s: channel never opened (connection ${pcState}, ice ${iceState})`;
  else detail = `timeout after ${opts.timeout}s: received ${received} of 4 messages`;
  finish(false, detail);
}, opts.timeout * 1000);

// ---------------------------------------------------------------- stdin
function addRemoteCandidate(c) {
  let cand = String(c.candidate || '');
  if (cand.startsWith('a=')) cand = cand.slice(2);
  if (!cand) return; // end-of-candidates marker; libdatachannel needs none
  try {
    pc.addRemoteCandidate(cand, c.sdpMid != null ? String(c.sdpMid) : '0');
  } catch (e) {
    log(`addRemoteCandidate(${cand}) failed: ${e.message}`);
  }
}

let closing = false;
function shutdown(reason) {
  if (closing) return;
  closing = true;
  log(`closing (${reason})`);
  clearTimeout(timer);
  if (!result) finish(false, `closed before completion (${reason}) after ${received} of 4 messages`);
  const code = result.ok ? 0 : 1;
  // Never let a stuck native close keep the process alive.
  setTimeout(() => process.exit(code), 3000).unref();
  try {
    if (dc) dc.close();
    if (pc) pc.close();
    if (ndc) ndc.cleanup();
  } catch (e) {
    log(`close error: ${e.message}`);
  }
  process.exit(code);
}

readProtocolLines(log, (m) => {
  if (!pc) return;
  if (m.type === 'description') {
    try {
      log(`remote description (${m.sdpType})`);
      pc.setRemoteDescription(m.sdp, m.sdpType);
      remoteDescriptionSet = true;
      for (const c of pendingRemoteCandidates.splice(0)) addRemoteCandidate(c);
    } catch (e) {
      finish(false, `setRemoteDescription(${m.sdpType}) failed: ${e.message}`);
    }
  } else if (m.type === 'candidate') {
    if (remoteDescriptionSet) addRemoteCandidate(m);
    else pendingRemoteCandidates.push(m);
  } else {
    log(`ignoring input of type ${m.type}`);
  }
}, shutdown);
