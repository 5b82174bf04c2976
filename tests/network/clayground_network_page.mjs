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

function randomString(alphabet, n) {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

// Chromium 156 announces "open" on a channel the remote opened before its own network-thread
// channel has sent the DCEP ACK; a send() in that window is silently dropped (see
// tests/signaling/peer_browser_peerjs.mjs). getStats() shows the internal state, so sends wait
// for it there. Bounded; after that the send goes ahead and the tests' value checks tell.
async function nativeChannelOpen(conn) {
  const dc = conn.dataChannel;
  const pc = conn.peerConnection;
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

export class ClaygroundNetwork {
  /// peerOptions: PeerJS's {host, port, path, key, secure, config}; emit(name, fields).
  constructor({ peerOptions, maxNodes = 8, autoRelay = true, emit, log = () => {} }) {
    this.peerOptions = peerOptions;
    this.maxNodes = maxNodes;
    this.autoRelay = autoRelay;
    this.emit = emit;
    this.log = log;
    this.status = 'Disconnected';
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
      this.setStatus('Connected');
      this.emit('networkCreated', { networkId: id });
      this.startPings();
    });
    peer.on('connection', (conn) => {
      if (this.peer === peer) this.incoming(conn);
      else conn.close(); // a connection to a network already left
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
    const i = this.nodes.indexOf(id);
    if (i < 0) return;
    this.nodes.splice(i, 1);
    for (const other of this.nodes) this.sendData(other, { t: 'y', sys: 'node_left', nodeId: id });
    this.emit('nodeLeft', { nodeId: id });
  }

  hostGone() {
    for (const id of this.nodes.splice(0)) this.emit('nodeLeft', { nodeId: id });
  }

  // ---- receiving ----

  received(id, conn, v) {
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

  // ---- sending ----

  targets() {
    return this.isHost ? [...this.nodes] : [this.networkId];
  }

  broadcast(data) {
    if (this.status !== 'Connected') return 'not connected';
    for (const id of this.targets()) this.sendData(id, { t: 'm', d: data });
    return null;
  }

  broadcastState(data) {
    if (this.status !== 'Connected') return 'not connected';
    this.stateSeq = (this.stateSeq + 1) >>> 0;
    for (const id of this.targets()) this.sendState(id, { t: 's', q: this.stateSeq, d: data });
    return null;
  }

  sendTo(id, data) {
    if (this.status !== 'Connected') return 'not connected';
    if (!this.links.has(id) || !this.nodes.includes(id)) return `${id} is not a direct peer`;
    this.sendData(id, { t: 'm', d: data });
    return null;
  }

  /// A test hook: `envelope` goes on the wire as it is.
  sendRaw(id, envelope, state) {
    if (!this.links.has(id)) return `no link to ${id}`;
    return (state ? this.sendState(id, envelope) : this.sendData(id, envelope)) ? null : 'not sent';
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      for (const id of this.links.keys()) this.sendData(id, { t: 'p', ts: Date.now() });
    }, PING_INTERVAL_MS);
  }

  // ---- leaving ----

  leave() {
    const links = this.links;
    if (this.status === 'Connected') {
      const bye = { t: 'y', sys: 'node_left', nodeId: this.nodeId };
      for (const id of links.keys()) this.sendData(id, bye);
    }
    const peer = this.peer;
    this.reset();
    this.setStatus('Disconnected');
    // The goodbyes get a moment to leave before the connections close.
    setTimeout(() => {
      for (const link of links.values()) {
        for (const conn of [link.data, link.state]) {
          if (!conn) continue;
          conn.closedByUs = true;
          conn.close();
        }
      }
      if (peer) peer.destroy();
    }, LINGER_MS);
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
      })),
    };
  }
}
