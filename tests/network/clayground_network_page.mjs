// A browser Clayground.Network node, as a page module on top of the real PeerJS library
// (window.Peer from node_modules/peerjs/dist/peerjs.min.js). It plays the part of Clayground's
// WASM build in the interop tests, so it is written from Clayground's documented conventions
// (/work/shared/protocols.md §3, seeds 000-002), not from claynet's C++:
//
// - Cloud mode only (a browser has no Local mode): the host registers its 6-character code as
//   its PeerJS id; a joiner registers a random 12-character id and opens two DataConnections to
//   the host, both with the json serialization: "data" (reliable) and "clay_state"
//   (reliable:false, i.e. unordered).
// - Envelope (compact JSON; PeerJS's json serialization sends it as binary UTF-8):
//   {"t":"m","d"} broadcast/sendTo, {"t":"s","q","d"} state, "from" added by a relaying host,
//   {"t":"p"|"P","ts"} ping/pong, {"t":"R","r"} rejection, {"t":"y","sys":"roster"|"node_joined"|
//   "node_left",...} membership.
// - Star: the host relays broadcasts and state between joiners (autoRelay), setting "from" to the
//   connection the envelope came on. sendTo reaches direct peers only, as in Clayground.
//
// Wire version 5 (option `wire: 5`; written from /work/shared/clayground-wire.md §1.2-1.5, §2,
// §3.2-3.3, §4.4; the default `wire: 'legacy'` is the seed-era protocol above, unchanged):
// - A joiner registers 'c' + 14 base-36 characters and opens ONE PeerJS connection to the host
//   ({reliable: true, serialization: 'json'}, no label, no metadata). On its "open" it sends the
//   hello {"t":"h","v":5,"app","pw","tok"} and then creates the raw RTCDataChannel "state"
//   (ordered:false, maxRetransmits:0) on the same RTCPeerConnection; `s`/`b` go there as text once
//   it is open, on the reliable connection before. The host's first message decides: H (welcome:
//   the host is the first node, status Connected, pings start) or R / anything else (joinRefused,
//   errorOccurred, status Error).
// - A host claims an incoming channel labelled "state" from the connection's RTCPeerConnection
//   before PeerJS sees it (its ondatachannel handler is wrapped when the "connection" event fires),
//   keeps a joiner pending until its hello is judged (app, password; 5 s without one is a
//   refusal), refuses with {"t":"R","code","r"} and closes 200 ms later, a full host with
//   {"t":"R","r":"Network full"} and 100 ms. Admission: H, nodeJoined, roster, node_joined.
//   A PeerJS connection labelled clay_state (a pre-v5 joiner's state link) is closed.
// - Leaving sends {"t":"y","sys":"bye"}; liveness: pings every 2 s, quiet probes after 500 ms of
//   silence, a peer whose oldest unanswered ping is gracePeriod (5000 ms) old is gone. A joiner
//   that loses its host ends with hostLost(reason, message) and errorOccurred(message): host-left
//   "The host left the network", host-timeout "The host did not answer for 5000 ms",
//   connection-lost "Lost the connection to the host".
//
// Events go to `emit(name, fields)` with the names and fields claynet-network-node prints, so the
// test orchestrator drives both kinds of node the same way.

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const DATA_LABEL = 'data';
const STATE_LABEL = 'clay_state';
const PING_INTERVAL_MS = 2000;
const CODE_TRIES = 8;
const LINGER_MS = 400;
const REJECT_CLOSE_MS = 1500;
// Wire version 5
const WIRE_VERSION = 5;
const V5_STATE_LABEL = 'state';
const REFUSE_CLOSE_MS = 200; // after a handshake refusal
const FULL_CLOSE_MS = 100; // after "Network full"
const V5_LINGER_MS = 200; // after the goodbyes
const PROBE_CHECK_MS = 250;
const PROBE_SILENCE_MS = 500;
const BURST_PINGS = 64;
const BURST_INTERVAL_MS = 50;
const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

function randomString(alphabet, n) {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

// Chromium 156 announces "open" on a channel the remote opened before its own network-thread
// channel has sent the DCEP ACK; a send() in that window is silently dropped (see
// tests/signaling/peer_browser_peerjs.mjs). getStats() shows the internal state, so sends wait
// for it there. Bounded; after that the send goes ahead and the tests' value checks tell.
async function nativeChannelOpen(conn) {
  return channelOpen(conn.peerConnection, conn.dataChannel);
}

async function channelOpen(pc, dc) {
  if (!dc || !pc) return;
  for (let i = 0; i < 200; i++) {
    let state = null;
    try {
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'data-channel' && r.dataChannelIdentifier === dc.id) state = r.state;
      });
    } catch {
      return;
    }
    if (state === 'open' || state === 'closing' || state === 'closed') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Constant-time comparison over the UTF-8 bytes (§2.2 host judgement, step 4).
function sameSecret(a, b) {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

const isEnvelope = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v.t === 'string';
const str = (v) => (typeof v === 'string' ? v : '');

export class ClaygroundNetwork {
  /// peerOptions: PeerJS's {host, port, path, key, secure, config}; emit(name, fields).
  /// wire: 'legacy' (the seed-era protocol, no handshake) or 5; appId, password, clientToken and
  /// handshakeTimeoutMs, gracePeriod (0: no silence check) are for wire 5.
  constructor({
    peerOptions, maxNodes = 8, autoRelay = true, emit, log = () => {},
    wire = 'legacy', appId = '', password = '', clientToken = '', handshakeTimeoutMs = 5000, gracePeriod = 5000,
  }) {
    this.peerOptions = peerOptions;
    this.maxNodes = maxNodes;
    this.autoRelay = autoRelay;
    this.emit = emit;
    this.log = log;
    this.v5 = wire === WIRE_VERSION || wire === String(WIRE_VERSION);
    this.wireVersion = this.v5 ? WIRE_VERSION : 'legacy';
    this.appId = String(appId ?? '');
    this.password = String(password ?? '');
    this.clientToken = String(clientToken ?? '');
    this.handshakeTimeoutMs = handshakeTimeoutMs;
    this.gracePeriod = gracePeriod;
    this.status = 'Disconnected';
    this.deaf = false; // a test hook: every incoming message is dropped (a 100 % incoming loss)
    this.reset();
  }

  reset() {
    this.peer = null;
    this.isHost = false;
    this.networkId = '';
    this.nodeId = '';
    this.nodes = []; // the other nodes, in the order they joined
    this.links = new Map(); // node id -> {data, state}: the direct DataConnections
    this.stateSeq = 0;
    this.lastSeq = new Map(); // origin -> last accepted state sequence
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    // wire 5
    this.hostId = '';
    this.welcomed = false; // a joiner: the host's welcome came
    this.clientTokens = {}; // a host: node id -> the token of its hello
    this.keySeq = new Map(); // origin + '\u0000' + key -> last accepted batch sequence
    this.sessionOrigin = null; // a host: performance.now() when the network was created
    this.clockOffset = null; // a joiner: session time = performance.now() + offset
    this.bestRtt = Infinity;
    clearInterval(this.probeTimer);
    this.probeTimer = null;
    clearInterval(this.burstTimer);
    this.burstTimer = null;
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('statusChanged', { status, nodeId: this.nodeId });
  }

  fail(message, status = 'Error') {
    this.emit('errorOccurred', { message });
    this.teardown();
    this.setStatus(status);
  }

  // ---- hosting ----

  host() {
    if (this.status === 'Connecting' || this.status === 'Connected') return 'already in a network';
    this.isHost = true;
    this.setStatus('Connecting');
    this.register(randomString(CODE_ALPHABET, 6), CODE_TRIES);
    return null;
  }

  register(code, triesLeft) {
    const peer = new window.Peer(code, this.peerOptions);
    this.peer = peer;
    peer.on('open', (id) => {
      this.networkId = this.nodeId = id;
      if (this.v5) {
        this.hostId = id;
        this.sessionOrigin = performance.now();
      }
      this.setStatus('Connected');
      this.emit('networkCreated', { networkId: id });
      this.startPings();
    });
    peer.on('connection', (conn) => {
      if (this.peer !== peer) conn.close(); // a connection to a network already left
      else if (this.v5) this.incomingV5(conn);
      else this.incoming(conn);
    });
    peer.on('error', (e) => {
      if (this.peer !== peer) return;
      if (e.type === 'unavailable-id' && this.status === 'Connecting' && triesLeft > 1) {
        peer.destroy();
        this.register(randomString(CODE_ALPHABET, 6), triesLeft - 1);
      } else if (this.status === 'Connecting') {
        this.fail(`Signaling failed: ${e.type}: ${e.message}`);
      } else {
        this.log(`peer error while connected: ${e.type}: ${e.message}`);
      }
    });
  }

  incoming(conn) {
    const id = conn.peer;
    const link = this.linkFor(id);
    if (conn.label === STATE_LABEL) {
      link.state = conn;
      this.wire(conn, id, () => {});
      return;
    }
    link.data = conn;
    this.wire(conn, id, () => this.admit(id, conn));
  }

  admit(id, conn) {
    if (this.nodes.includes(id)) {
      // A second data connection from a node already in: say so, so a failing test shows why.
      this.log(`a second data connection ${conn.connectionId} from ${id}, a member already`);
    }
    if (this.nodes.length + 1 >= this.maxNodes) {
      this.send(conn, { t: 'R', r: 'Network full' });
      setTimeout(() => this.dropLink(id), REJECT_CLOSE_MS);
      return;
    }
    const others = [...this.nodes];
    this.nodes.push(id);
    this.send(conn, { t: 'y', sys: 'roster', nodes: others });
    for (const other of others) this.sendData(other, { t: 'y', sys: 'node_joined', nodeId: id });
    this.emit('nodeJoined', { nodeId: id });
  }

  // ---- hosting, wire 5 ----

  incomingV5(conn) {
    const id = conn.peer;
    if (conn.label === STATE_LABEL) {
      // A pre-v5 joiner's second connection for state: closed, as v5 browsers do (§1.2).
      this.log(`closed a ${STATE_LABEL} connection ${conn.connectionId} from ${id}`);
      conn.close();
      return;
    }
    if (this.links.has(id)) {
      // A new connection from a peer that has one: the old one goes (with nodeLeft if admitted).
      this.log(`a new connection ${conn.connectionId} from ${id} replaces its old one`);
      this.nodeGone(id);
    }
    // Pending ones count (§4.4): full when the host, its nodes, the pending joiners and this one
    // would exceed maxNodes. Decided now, said once the connection is open.
    const pending = [...this.links.values()].filter((l) => l.phase === 'pending').length;
    const full = this.nodes.length + pending + 1 >= this.maxNodes;
    const link = { data: conn, state: null, phase: full ? 'full' : 'pending', helloTimer: null, pingSince: 0, lastHeard: 0 };
    this.links.set(id, link);
    this.claimStateChannels(conn, id);
    conn.on('open', () => {
      if (this.links.get(id) !== link) return;
      if (link.phase === 'full') {
        this.log(`refusing ${id}: Network full`);
        this.send(conn, { t: 'R', r: 'Network full' });
        setTimeout(() => this.dropStale(id, link), FULL_CLOSE_MS);
      } else if (link.phase === 'pending' && !link.helloTimer) {
        link.helloTimer = setTimeout(() => this.judgeHello(id, link, {}), this.handshakeTimeoutMs);
      }
    });
    this.wire(conn, id, () => {});
  }

  // The joiner's "state" channel arrives on the connection's RTCPeerConnection; PeerJS's own
  // ondatachannel handler would take it for the connection's channel, so it sees only the others.
  claimStateChannels(conn, id) {
    const pc = conn.peerConnection;
    if (!pc) {
      this.log(`connection ${conn.connectionId} from ${id} has no RTCPeerConnection; no state channel`);
      return;
    }
    const peerjsHandler = pc.ondatachannel;
    pc.ondatachannel = (evt) => {
      if (evt.channel.label === V5_STATE_LABEL) {
        this.stateChannelArrived(id, conn, evt.channel);
        return;
      }
      if (peerjsHandler) peerjsHandler.call(pc, evt);
    };
  }

  stateChannelArrived(id, conn, dc) {
    const link = this.links.get(id);
    if (!link || link.data !== conn) {
      dc.close();
      return;
    }
    this.log(`claimed the state channel ${dc.id} of ${id}`);
    if (link.state) { // a new state channel replaces the previous one (§1.2)
      link.state.closedByUs = true;
      link.state.close();
    }
    link.state = this.stateChannel(id, conn.peerConnection, dc, true);
  }

  /// A raw RTCDataChannel for state, shaped like a DataConnection for send()/sendState(): it sends
  /// text and takes text or binary JSON.
  stateChannel(id, pc, dc, remote) {
    const ch = {
      label: dc.label, dc, ready: false, queue: [], closedByUs: false,
      send: (v) => {
        try {
          dc.send(JSON.stringify(v));
        } catch (e) {
          this.log(`state channel to ${id}: ${e.message}`);
        }
      },
      close: () => {
        try {
          dc.close();
        } catch { /* closed */ }
      },
    };
    dc.binaryType = 'arraybuffer';
    const decoder = new TextDecoder();
    let opened = false;
    const open = async () => {
      if (opened) return;
      opened = true;
      if (remote) await channelOpen(pc, dc);
      if (dc.readyState !== 'open') return;
      ch.ready = true;
      for (const v of ch.queue.splice(0)) ch.send(v);
    };
    dc.addEventListener('open', open);
    if (dc.readyState === 'open') open();
    dc.addEventListener('message', (e) => {
      let v;
      try {
        v = JSON.parse(typeof e.data === 'string' ? e.data : decoder.decode(e.data));
      } catch {
        this.log(`ignored a state-channel frame from ${id} that is not JSON`);
        return;
      }
      this.received(id, ch, v);
    });
    dc.addEventListener('close', () => {
      ch.ready = false;
      const link = this.links.get(id);
      if (link && link.state === ch) link.state = null;
    });
    return ch;
  }

  /// §2.2 host judgement, in order; `hello` is the pending joiner's first reliable message, or
  /// {} when none came within handshakeTimeoutMs.
  judgeHello(id, link, hello) {
    if (this.links.get(id) !== link || link.phase !== 'pending') return;
    clearTimeout(link.helloTimer);
    link.helloTimer = null;
    let refusal = null;
    if (!hello || hello.t !== 'h') {
      refusal = ['incompatible-version',
        `Incompatible version: the joiner sent no handshake, the host speaks wire version ${WIRE_VERSION}`];
    } else {
      const v = typeof hello.v === 'number' ? hello.v : -1;
      const app = str(hello.app);
      if (v !== WIRE_VERSION) {
        refusal = ['incompatible-version',
          `Incompatible version: the joiner speaks wire version ${v}, the host ${WIRE_VERSION}`];
      } else if (app !== this.appId) {
        refusal = ['incompatible-app', `Incompatible app: the joiner is "${app}", the host "${this.appId}"`];
      } else if (this.password !== '' && !sameSecret(str(hello.pw), this.password)) {
        refusal = ['wrong-password', 'Wrong password'];
      }
    }
    if (refusal) {
      const [code, r] = refusal;
      link.phase = 'refused';
      this.log(`refusing ${id}: ${code}: ${r}`);
      this.send(link.data, { t: 'R', code, r });
      setTimeout(() => this.dropStale(id, link), REFUSE_CLOSE_MS);
      return;
    }
    this.admitV5(id, link, str(hello.tok));
  }

  // §2.12: welcome, roster entry and nodeJoined, roster to the joiner, node_joined to the others.
  admitV5(id, link, token) {
    link.phase = 'admitted';
    link.lastHeard = performance.now();
    this.send(link.data, { t: 'H', v: WIRE_VERSION, host: this.nodeId, st: this.sessionTime() });
    const others = [...this.nodes];
    this.nodes.push(id);
    this.clientTokens[id] = token;
    this.emit('nodeJoined', { nodeId: id });
    this.send(link.data, { t: 'y', sys: 'roster', nodes: others });
    for (const other of others) this.sendData(other, { t: 'y', sys: 'node_joined', nodeId: id });
  }

  /// Closes a refused joiner's link, unless something replaced it meanwhile.
  dropStale(id, link) {
    if (this.links.get(id) === link) this.dropLink(id);
  }

  // ---- joining ----

  join(code) {
    const c = String(code || '').trim().toUpperCase();
    if (!c) return 'empty code';
    if (this.status === 'Connecting' || this.status === 'Connected') return 'already in a network';
    this.setStatus('Connecting');
    if (c.startsWith('L') && c.includes('-')) {
      this.fail(`Invalid network code "${c}": LAN codes need Local mode, which a browser lacks`);
      return null;
    }
    this.networkId = c;
    if (this.v5) return this.joinV5(c);
    this.nodeId = randomString(ID_ALPHABET, 12);
    const peer = new window.Peer(this.nodeId, this.peerOptions);
    this.peer = peer;
    peer.on('open', () => {
      const link = this.linkFor(c);
      link.data = peer.connect(c, { label: DATA_LABEL, serialization: 'json', reliable: true });
      this.wire(link.data, c, () => {});
      link.state = peer.connect(c, { label: STATE_LABEL, serialization: 'json', reliable: false });
      this.wire(link.state, c, () => {});
    });
    peer.on('error', (e) => {
      if (this.peer !== peer || this.status !== 'Connecting') return;
      if (e.type === 'peer-unavailable') this.fail(`No network with code ${c}: ${e.message}`);
      else this.fail(`Signaling failed: ${e.type}: ${e.message}`);
    });
    return null;
  }

  // ---- joining, wire 5 ----

  joinV5(c) {
    this.nodeId = `c${randomString(BASE36, 14)}`;
    const peer = new window.Peer(this.nodeId, this.peerOptions);
    this.peer = peer;
    peer.on('open', () => {
      if (this.peer !== peer) return;
      const conn = peer.connect(c, { reliable: true, serialization: 'json' });
      const link = { data: conn, state: null, phase: 'pending', pingSince: 0, lastHeard: 0 };
      this.links.set(c, link);
      this.wire(conn, c, () => {
        if (this.links.get(c) !== link) return;
        this.send(conn, { t: 'h', v: WIRE_VERSION, app: this.appId, pw: this.password, tok: this.clientToken });
        const pc = conn.peerConnection;
        if (!pc) {
          this.log('the connection to the host has no RTCPeerConnection; state stays on the reliable channel');
          return;
        }
        const dc = pc.createDataChannel(V5_STATE_LABEL, { ordered: false, maxRetransmits: 0 });
        link.state = this.stateChannel(c, pc, dc, false);
      });
    });
    // A joiner takes no connections; a pre-v5 state connection is closed like any other (§1.2).
    peer.on('connection', (conn) => {
      this.log(`closed an incoming connection ${conn.connectionId} (${conn.label}) from ${conn.peer}`);
      conn.close();
    });
    peer.on('error', (e) => {
      if (this.peer !== peer || this.status !== 'Connecting') return;
      if (e.type === 'peer-unavailable') this.fail(`No network with code ${c}: ${e.message}`);
      else this.fail(`Signaling failed: ${e.type}: ${e.message}`);
    });
    return null;
  }

  /// §2.2 joiner judgement of the host's first message.
  judgeReply(v) {
    const own = WIRE_VERSION;
    if (v.t === 'H') {
      const theirs = typeof v.v === 'number' ? v.v : -1;
      const host = str(v.host);
      if (theirs !== own) {
        this.refused('incompatible-version', `Incompatible version: the joiner speaks wire version ${own}, the host ${theirs}`);
      } else if (!host || host !== this.networkId) {
        this.refused('handshake-failed', `Handshake failed: the host at ${this.networkId} named itself "${host}"`);
      } else {
        this.welcome(v);
      }
    } else if (v.t === 'R') {
      this.refused(str(v.code) || 'refused', str(v.r) || 'Connection rejected');
    } else {
      this.refused('incompatible-version',
        `Incompatible version: the host sent no handshake, the joiner speaks wire version ${own}`);
    }
  }

  // §2.2: tear down, status Error, joinRefused, errorOccurred.
  refused(reason, message) {
    this.teardown();
    this.setStatus('Error');
    this.emit('joinRefused', { reason, message });
    this.emit('errorOccurred', { message });
  }

  // §2.12: the host is the first node, nodeJoined, Connected, then the pings.
  welcome(v) {
    const link = this.links.get(this.networkId);
    this.welcomed = true;
    link.phase = 'admitted';
    link.lastHeard = performance.now();
    this.hostId = v.host;
    if (typeof v.st === 'number' && Number.isFinite(v.st) && v.st >= 0) this.clockOffset = v.st - performance.now();
    this.nodes = [v.host];
    this.emit('nodeJoined', { nodeId: v.host });
    this.setStatus('Connected');
    this.startPings();
    let sent = 0;
    const burst = () => {
      if (++sent >= BURST_PINGS) clearInterval(this.burstTimer);
      this.ping(this.networkId);
    };
    burst();
    this.burstTimer = setInterval(burst, BURST_INTERVAL_MS);
  }

  /// §3.3: teardown (Disconnected), nodeLeft for every node, hostLost, errorOccurred.
  loseHost(reason, message) {
    const gone = [...this.nodes];
    this.teardown();
    this.setStatus('Disconnected');
    for (const id of gone) this.emit('nodeLeft', { nodeId: id });
    this.emit('hostLost', { reason, message });
    this.emit('errorOccurred', { message });
  }

  // The host's roster completes the join: the host first, then the nodes already there.
  joined(roster) {
    if (this.status !== 'Connecting') return;
    this.nodes = [this.networkId];
    for (const id of roster) if (id !== this.nodeId && !this.nodes.includes(id)) this.nodes.push(id);
    this.setStatus('Connected');
    this.startPings();
    for (const id of this.nodes) this.emit('nodeJoined', { nodeId: id });
  }

  // ---- links ----

  linkFor(id) {
    if (!this.links.has(id)) this.links.set(id, { data: null, state: null });
    return this.links.get(id);
  }

  wire(conn, id, onReady) {
    conn.ready = false;
    conn.queue = [];
    let opened = false;
    conn.on('open', async () => {
      // PeerJS emits "open" once per channel its RTCPeerConnection announces. In about 1 of 30
      // runs a node was admitted twice here, 4 ms apart (too soon for a second connection):
      // a connection is admitted once, and the log says when that happened.
      if (opened) {
        this.log(`a second "open" for ${conn.connectionId} (${conn.label}) from ${id}, ignored`);
        return;
      }
      opened = true;
      await nativeChannelOpen(conn);
      conn.ready = true;
      for (const v of conn.queue.splice(0)) conn.send(v);
      onReady();
    });
    conn.on('data', (v) => this.received(id, conn, v));
    conn.on('close', () => {
      const link = this.links.get(id);
      if (!link) return;
      if (link.state === conn) link.state = null;
      if (link.data === conn) this.linkClosed(id);
    });
    conn.on('error', (e) => this.log(`connection ${conn.label} with ${id}: ${e.type}: ${e.message}`));
  }

  send(conn, envelope) {
    if (!conn || conn.closedByUs) return false;
    if (conn.ready) conn.send(envelope);
    else conn.queue.push(envelope);
    return true;
  }

  sendData(id, envelope) {
    const link = this.links.get(id);
    return this.send(link && link.data, envelope);
  }

  sendState(id, envelope) {
    const link = this.links.get(id);
    if (!link) return false;
    if (link.state && link.state.ready) return this.send(link.state, envelope);
    return this.send(link.data, envelope);
  }

  dropLink(id) {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    clearTimeout(link.helloTimer);
    for (const conn of [link.data, link.state]) {
      if (!conn) continue;
      conn.closedByUs = true;
      conn.close();
    }
  }

  linkClosed(id) {
    if (this.isHost) {
      this.nodeGone(id);
      return;
    }
    if (this.v5) {
      // Closed without a goodbye, also during the handshake (§3.2, §3.3).
      if (id === this.networkId && (this.status === 'Connected' || this.status === 'Connecting')) {
        this.loseHost('connection-lost', 'Lost the connection to the host');
      }
      return;
    }
    if (id === this.networkId && this.status === 'Connected') {
      this.hostGone();
      this.fail('Lost the connection to the host');
    } else if (id === this.networkId && this.status === 'Connecting') {
      this.fail('Connection closed by the host');
    }
  }

  // Host: a joiner left or its connection closed; the others are told.
  nodeGone(id) {
    this.dropLink(id);
    this.lastSeq.delete(id);
    this.forgetKeys(id);
    const i = this.nodes.indexOf(id);
    if (i < 0) return;
    this.nodes.splice(i, 1);
    delete this.clientTokens[id];
    for (const other of this.nodes) this.sendData(other, { t: 'y', sys: 'node_left', nodeId: id });
    this.emit('nodeLeft', { nodeId: id });
  }

  hostGone() {
    for (const id of this.nodes.splice(0)) this.emit('nodeLeft', { nodeId: id });
  }

  // ---- receiving ----

  received(id, conn, v) {
    if (this.deaf) return;
    if (this.v5) {
      this.receivedV5(id, conn, v);
      return;
    }
    if (v === null || typeof v !== 'object' || typeof v.t !== 'string') {
      this.log(`ignored a message from ${id} that is not an envelope`);
      return;
    }
    if (v.t === 'p') {
      this.sendData(id, { t: 'P', ts: v.ts });
      return;
    }
    if (v.t === 'P') return;
    if (v.t === 'R') {
      if (!this.isHost && this.status === 'Connecting') this.fail(String(v.r || 'Connection rejected'));
      return;
    }
    if (v.t === 'y') {
      this.system(id, v);
      return;
    }
    if (v.t !== 'm' && v.t !== 's') return;
    if (this.isHost) {
      if (!this.nodes.includes(id)) return;
      this.deliver(id, v, conn.label);
      if (!this.autoRelay) return;
      const relayed = { ...v, from: id };
      for (const other of this.nodes) {
        if (other === id) continue;
        if (v.t === 's') this.sendState(other, relayed);
        else this.sendData(other, relayed);
      }
      return;
    }
    if (id !== this.networkId || this.status !== 'Connected') return;
    this.deliver(typeof v.from === 'string' && v.from ? v.from : id, v, conn.label);
  }

  deliver(origin, v, label) {
    if (v.t === 'm') {
      this.emit('messageReceived', { from: origin, data: v.d });
      return;
    }
    const q = Number(v.q) >>> 0;
    if (this.lastSeq.has(origin)) {
      const delta = (q - this.lastSeq.get(origin)) | 0;
      if (delta <= 0) return;
    }
    this.lastSeq.set(origin, q);
    this.emit('stateReceived', { from: origin, data: v.d, channel: label });
  }

  system(id, v) {
    if (this.isHost) {
      if (v.sys === 'node_left' && v.nodeId === id) this.nodeGone(id);
      return;
    }
    if (id !== this.networkId) return;
    if (v.sys === 'roster') {
      this.joined(Array.isArray(v.nodes) ? v.nodes.filter((n) => typeof n === 'string') : []);
    } else if (v.sys === 'node_joined' && typeof v.nodeId === 'string') {
      if (v.nodeId === this.nodeId || this.nodes.includes(v.nodeId)) return;
      this.nodes.push(v.nodeId);
      this.emit('nodeJoined', { nodeId: v.nodeId });
    } else if (v.sys === 'node_left') {
      if (v.nodeId === this.networkId) {
        this.hostGone();
        this.fail('Host left the network', 'Disconnected');
        return;
      }
      const i = this.nodes.indexOf(v.nodeId);
      if (i < 0) return;
      this.nodes.splice(i, 1);
      this.lastSeq.delete(v.nodeId);
      this.emit('nodeLeft', { nodeId: v.nodeId });
    }
  }

  // ---- receiving, wire 5 ----

  receivedV5(id, ch, v) {
    if (!isEnvelope(v)) {
      this.log(`ignored a message from ${id} that is not an envelope`);
      return;
    }
    const link = this.links.get(id);
    if (!link || (link.data !== ch && link.state !== ch)) return; // a link already dropped
    const onState = ch === link.state;
    if (link.phase !== 'admitted') {
      // Only the handshake passes before admission; the state channel carries none (§1.5).
      if (link.phase !== 'pending' || onState) return;
      if (this.isHost) this.judgeHello(id, link, v);
      else this.judgeReply(v);
      return;
    }
    switch (v.t) {
      case 'p': // answered here; does not count as activity (§3.1)
        this.sendData(id, this.isHost ? { t: 'P', ts: v.ts, st: this.sessionTime() } : { t: 'P', ts: v.ts });
        return;
      case 'P':
        this.heard(link);
        if (!this.isHost) this.clockSample(v);
        return;
      case 'y':
        if (this.isHost) {
          if (v.sys === 'bye') this.nodeGone(id); // every other y is ignored by a host (§2.7)
        } else {
          this.heard(link);
          this.systemV5(v);
        }
        return;
      case 'R': // after admission (§2.8)
        if (!this.isHost) this.emit('errorOccurred', { message: str(v.r) || 'Connection rejected' });
        return;
      case 'h': case 'H': case 'o': // handshake again; replicated objects are not supported here
        return;
      default:
    }
    const label = ch.label;
    if (this.isHost) {
      this.heard(link);
      if (v.t === 'm' || v.t === 's' || v.t === 'b') this.deliverV5(id, v, label);
      if (!this.autoRelay) return;
      // Everything else after admission is relayed with "from" (§2.1, §2.10).
      const relayed = { ...v, from: id };
      for (const other of this.nodes) {
        if (other === id) continue;
        if (v.t === 's' || v.t === 'b') this.sendState(other, relayed);
        else this.sendData(other, relayed);
      }
      return;
    }
    // A joiner: "from" counts on its host link only, and the sender must be in the roster (§2.1).
    const origin = str(v.from) || id;
    if (!this.nodes.includes(origin)) return;
    this.heard(link);
    if (v.t === 'm' || v.t === 's' || v.t === 'b') this.deliverV5(origin, v, label);
  }

  deliverV5(origin, v, label) {
    if (v.t !== 'b') {
      this.deliver(origin, v, label);
      return;
    }
    // A keyed batch: per-key sequencing (§2.5); object entries are not handled here.
    const q = Number(v.q) >>> 0;
    for (const e of Array.isArray(v.e) ? v.e : []) {
      if (!e || typeof e.k !== 'string') continue;
      const k = `${origin}\u0000${e.k}`;
      if (this.keySeq.has(k) && ((q - this.keySeq.get(k)) | 0) <= 0) continue;
      this.keySeq.set(k, q);
      this.emit('stateReceived', { from: origin, data: e.d, key: e.k, channel: label });
    }
  }

  forgetKeys(origin) {
    for (const k of [...this.keySeq.keys()]) if (k.startsWith(`${origin}\u0000`)) this.keySeq.delete(k);
  }

  systemV5(v) {
    if (v.sys === 'bye') {
      this.loseHost('host-left', 'The host left the network');
    } else if (v.sys === 'roster') {
      for (const id of Array.isArray(v.nodes) ? v.nodes : []) this.nodeArrived(id);
    } else if (v.sys === 'node_joined') {
      this.nodeArrived(v.nodeId);
    } else if (v.sys === 'node_left' && typeof v.nodeId === 'string' && v.nodeId !== this.networkId) {
      const i = this.nodes.indexOf(v.nodeId);
      if (i < 0) return;
      this.nodes.splice(i, 1);
      this.lastSeq.delete(v.nodeId);
      this.forgetKeys(v.nodeId);
      this.emit('nodeLeft', { nodeId: v.nodeId });
    }
  }

  nodeArrived(id) {
    if (typeof id !== 'string' || !id || id === this.nodeId || this.nodes.includes(id)) return;
    this.nodes.push(id);
    this.emit('nodeJoined', { nodeId: id });
  }

  // ---- liveness and the session clock, wire 5 ----

  heard(link) {
    link.pingSince = 0;
    link.lastHeard = performance.now();
  }

  /// Pings an admitted link peer, marking it unanswered since now unless it already is.
  ping(id) {
    const link = this.links.get(id);
    if (!link || link.phase !== 'admitted') return;
    if (!link.pingSince) link.pingSince = performance.now();
    this.sendData(id, { t: 'p', ts: performance.now() });
  }

  // §3.1: every 250 ms, a peer silent for 500 ms is probed; one whose oldest unanswered ping is
  // gracePeriod old is gone.
  checkLiveness() {
    const now = performance.now();
    for (const [id, link] of [...this.links.entries()]) {
      if (link.phase !== 'admitted' || this.links.get(id) !== link) continue;
      if (this.gracePeriod > 0 && link.pingSince && now - link.pingSince >= this.gracePeriod) {
        this.log(`${id} left a ping unanswered for ${Math.round(now - link.pingSince)} ms`);
        if (this.isHost) {
          this.nodeGone(id);
        } else {
          this.loseHost('host-timeout', `The host did not answer for ${this.gracePeriod} ms`);
          return;
        }
      } else if (!link.pingSince && now - link.lastHeard >= PROBE_SILENCE_MS) {
        this.ping(id);
      }
    }
  }

  /// Session ms (§2.11): the host's since it created the network; a joiner's from the welcome's
  /// st, refined by the fastest pong so far; -1 while unknown.
  sessionTime() {
    if (this.isHost) return this.sessionOrigin === null ? -1 : performance.now() - this.sessionOrigin;
    return this.clockOffset === null ? -1 : performance.now() + this.clockOffset;
  }

  clockSample(pong) {
    const now = performance.now();
    const rtt = now - Number(pong.ts);
    if (!(rtt >= 0) || typeof pong.st !== 'number' || !Number.isFinite(pong.st) || pong.st < 0) return;
    if (rtt > this.bestRtt) return;
    this.bestRtt = rtt;
    this.clockOffset = pong.st - (Number(pong.ts) + now) / 2;
  }

  // ---- sending ----

  targets() {
    return this.isHost ? [...this.nodes] : [this.networkId];
  }

  message(data) {
    if (!this.v5) return { t: 'm', d: data };
    const ts = this.sessionTime();
    return ts >= 0 ? { t: 'm', ts, d: data } : { t: 'm', d: data };
  }

  broadcast(data) {
    if (this.status !== 'Connected') return 'not connected';
    for (const id of this.targets()) this.sendData(id, this.message(data));
    return null;
  }

  broadcastState(data) {
    if (this.status !== 'Connected') return 'not connected';
    this.stateSeq = (this.stateSeq + 1) >>> 0;
    const envelope = this.v5 ? { t: 's', q: this.stateSeq, ts: this.sessionTime(), d: data }
      : { t: 's', q: this.stateSeq, d: data };
    for (const id of this.targets()) this.sendState(id, envelope);
    return null;
  }

  sendTo(id, data) {
    if (this.status !== 'Connected') return 'not connected';
    if (!this.links.has(id) || !this.nodes.includes(id)) return `${id} is not a direct peer`;
    this.sendData(id, this.message(data));
    return null;
  }

  /// A test hook: drop (on) or take again (off) every incoming message, as a link conditioner with
  /// 100 % incoming loss would; with wire 5 the host's pongs stop, so liveness ends the link.
  setDeaf(on) {
    this.deaf = !!on;
    return null;
  }

  /// A test hook: `envelope` goes on the wire as it is.
  sendRaw(id, envelope, state) {
    if (!this.links.has(id)) return `no link to ${id}`;
    return (state ? this.sendState(id, envelope) : this.sendData(id, envelope)) ? null : 'not sent';
  }

  startPings() {
    clearInterval(this.pingTimer);
    if (this.v5) {
      // Admitted peers only: a pending joiner gets nothing but the handshake.
      this.pingTimer = setInterval(() => {
        for (const id of [...this.links.keys()]) this.ping(id);
      }, PING_INTERVAL_MS);
      clearInterval(this.probeTimer);
      this.probeTimer = setInterval(() => this.checkLiveness(), PROBE_CHECK_MS);
      return;
    }
    this.pingTimer = setInterval(() => {
      for (const id of this.links.keys()) this.sendData(id, { t: 'p', ts: Date.now() });
    }, PING_INTERVAL_MS);
  }

  // ---- leaving ----

  leave() {
    if (this.v5) {
      this.leaveV5();
      return;
    }
    const links = this.links;
    if (this.status === 'Connected') {
      const bye = { t: 'y', sys: 'node_left', nodeId: this.nodeId };
      for (const id of links.keys()) this.sendData(id, bye);
    }
    this.closeAfter(links, LINGER_MS);
  }

  // Resets, and closes the old links and peer after `ms`: the goodbyes get a moment to leave.
  closeAfter(links, ms) {
    const peer = this.peer;
    this.reset();
    this.setStatus('Disconnected');
    setTimeout(() => {
      for (const link of links.values()) {
        for (const conn of [link.data, link.state]) {
          if (!conn) continue;
          conn.closedByUs = true;
          conn.close();
        }
      }
      if (peer) peer.destroy();
    }, ms);
  }

  // §3.2: a goodbye to every admitted peer, then the connections close 200 ms later.
  leaveV5() {
    const links = this.links;
    if (this.status === 'Connected') {
      for (const [id, link] of links) if (link.phase === 'admitted') this.sendData(id, { t: 'y', sys: 'bye' });
    }
    for (const link of links.values()) clearTimeout(link.helloTimer);
    this.closeAfter(links, V5_LINGER_MS);
  }

  teardown() {
    const peer = this.peer;
    for (const id of [...this.links.keys()]) this.dropLink(id);
    this.reset();
    if (peer) peer.destroy();
  }

  snapshot() {
    return {
      status: this.status, isHost: this.isHost, networkId: this.networkId, nodeId: this.nodeId,
      nodes: [...this.nodes], nodeCount: this.status === 'Connected' ? this.nodes.length + 1 : 0,
      links: [...this.links.entries()].map(([id, l]) => ({
        id, data: !!(l.data && l.data.ready), state: !!(l.state && l.state.ready),
        ...(this.v5 ? { phase: l.phase, stateLabel: l.state ? l.state.label : null } : {}),
      })),
      hostId: this.v5 ? this.hostId : (this.isHost ? this.nodeId : (this.status === 'Connected' ? this.networkId : '')),
      wireVersion: this.wireVersion,
      clientTokens: { ...this.clientTokens },
    };
  }
}
