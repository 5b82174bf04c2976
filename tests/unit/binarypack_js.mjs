// Cross-checks claynet's BinaryPack against the real JavaScript one: the npm package
// peerjs-js-binarypack that peerjs 1.5.5 packs with, and peerjs's own chunker (`util.chunk`).
//   node binarypack_js.mjs <path to binarypack_tool>
// For each value: claynet's encoding equals pack() byte for byte, claynet decodes pack()'s output
// to what unpack() gives, and unpack() reads claynet's encoding. Big values: claynet's chunks
// equal the ones peerjs sends, and claynet reassembles peerjs's chunks in any order.
// Exit 0 when all agree; otherwise every mismatch is printed and the exit code is 1.
import { spawnSync } from "node:child_process";
import { pack, unpack } from "peerjs-js-binarypack";
import { util as peerjsUtil } from "peerjs/dist/bundler.mjs";

const tool = process.argv[2];
if (!tool) {
  console.error("usage: node binarypack_js.mjs <binarypack_tool>");
  process.exit(2);
}

const hex = (buf) => Buffer.from(buf instanceof ArrayBuffer ? new Uint8Array(buf) : buf).toString("hex");
const bytesOf = (h) => new Uint8Array(Buffer.from(h, "hex")).buffer;

// JSON for the tool: ArrayBuffer / typed arrays as {"$bin": hex}.
function toTransport(v) {
  if (v instanceof ArrayBuffer) return { $bin: hex(v) };
  if (ArrayBuffer.isView(v)) return { $bin: hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (Array.isArray(v)) return v.map(toTransport);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toTransport(v[k]);
    return o;
  }
  return v === undefined ? null : v;
}

function sameValue(a, b) {
  // Numbers by value (claynet prints uint64 exactly, JS rounds to a double: compare as doubles).
  if (typeof a === "number" && typeof b === "number") return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return sameValue(ka, kb) && ka.every((k) => sameValue(a[k], b[k]));
  }
  return a === b;
}

const bytes = (n, seed = 1) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return b.buffer;
};

// Numbers of 2^64 and more cannot be packed by JavaScript at all (every double from 2^53 up is
// integral, and pack_integer throws beyond 64 bits), so none are here. Nor is 2^52 - 0.5: the
// JavaScript pack_double gets it wrong (cb 43300000ffffffff instead of cb 432fffffffffffff), as
// its exponent comes from Math.log; claynet writes the IEEE bits.
// Object keys here are in sorted order and not integer-like, so JavaScript's key order (insertion
// order, integer-like keys first) and claynet's (sorted) agree and the bytes can be compared.
const values = [
  "hi", "", "x".repeat(15), "y".repeat(16), "z".repeat(255), "w".repeat(65535), "v".repeat(65536),
  "héllo wörld", "日本語テキスト", "emoji 😀🎮", "quote \" backslash \\ newline \n tab \t nul \u0000",
  { a: 1, b: [true, null] },
  0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2 ** 53 - 1, -(2 ** 53) + 1,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 200, -100,
  1.5, -2.25, 0.1, 3.141592653589793, 1e-300, -1e-300, 123456.789, -0.5, 2 ** -20,
  true, false, null,
  new Uint8Array([1, 2, 3]).buffer, new ArrayBuffer(0), bytes(15), bytes(16), bytes(65535), bytes(65536),
  new Uint8Array([9, 8, 7]),
  [], [1, "two", 3.5, null, false, [[], {}]], Array.from({ length: 16 }, (_, i) => i),
  Array.from({ length: 5000 }, (_, i) => i % 300), // pack() recurses per element: 65536 overflows its stack
  {}, { key: "value" }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => ["k" + String(i).padStart(2, "0"), i])),
  { blob: bytes(40), name: "file.bin", nested: { deep: { deeper: [1, { e: "f" }] } }, pos: [1.25, -3, 1000000] },
  { d: { x: 1, y: 2 }, t: "m" }, { __peerData: { type: "close" } },
];

// What a value's bytes mean. JavaScript's unpack computes 64-bit integers (cf, d3) in doubles and
// rounds them, so that d3 fffffffffffffffb (-5) comes out as 0 and -2147483649 as -2147483648;
// for those the exact value (as the nearest double, as JSON.parse reads claynet's answer) is the
// reference. Everything else is what unpack() gives.
function reference(h) {
  const buf = Buffer.from(h, "hex");
  if (buf.length === 9 && buf[0] === 0xd3) return Number(buf.readBigInt64BE(1));
  if (buf.length === 9 && buf[0] === 0xcf) return Number(buf.readBigUInt64BE(1));
  return unpack(bytesOf(h));
}

const lines = [];
const expectations = [];
for (const v of values) {
  const packed = hex(pack(v));
  lines.push("E " + JSON.stringify(toTransport(v)));
  expectations.push({ kind: "encode", v, packed });
  lines.push("D " + packed);
  expectations.push({ kind: "decode", v, packed });
}

// Decode-only cases: encodings the JavaScript packer never makes but its unpacker reads.
const decodeOnly = [
  "ca3fc00000", "cac1200000", "c1", "cc05", "cd0005", "ce00000005", "cf0000000000000005", "d005",
  "d1fffb", "d2fffffffb", "d3fffffffffffffffb", "cfffffffffffffffff", "d38000000000000000",
  "8201b178c3b162", // {1: "x", true: "b"}: keys that are not strings
  "82b162c3b161c2", // keys out of order
  "dc0002c0c0", "dd00000001c3", "de0001b161c0", "df00000001b161c0", "d800026869", "d90000000161",
  "da0002aabb", "db00000001cc",
];
for (const h of decodeOnly) {
  lines.push("D " + h);
  expectations.push({ kind: "decode", v: reference(h), packed: h });
}

// Chunking, as PeerJS sends a packed value over 16300 bytes. Both sides count ids from 1 and take
// the same sequence of values here.
const big = [bytes(100 * 1024, 3), "s".repeat(40000), { file: bytes(50000, 5), name: "big" }, bytes(16301)];
for (const v of big) {
  const packed = pack(v);
  const chunks = peerjsUtil.chunk(packed).map((c) => hex(pack(c)));
  lines.push("C " + hex(packed));
  expectations.push({ kind: "chunk", v, chunks });
  // Reassemble PeerJS's chunks in a scrambled order.
  const scrambled = chunks.map((c, i) => [((i * 7919) % 13) + i / 1000, c]).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  lines.push("R " + scrambled.join(" "));
  expectations.push({ kind: "reassemble", v });
}
// Exactly 16300 bytes packed stays one message on both sides.
{
  const v = bytes(16300 - 3);
  const packed = pack(v);
  if (packed.byteLength !== 16300) throw new Error("test setup: expected 16300 packed bytes");
  lines.push("C " + hex(packed));
  expectations.push({ kind: "chunk", v, chunks: [hex(packed)] });
}

const run = spawnSync(tool, [], { input: lines.join("\n") + "\n", maxBuffer: 256 << 20 });
if (run.status !== 0) {
  console.error(`binarypack_tool failed (status ${run.status}): ${run.stderr}`);
  process.exit(1);
}
const answers = run.stdout.toString().split("\n");
let failures = 0;
const show = (v) => {
  const s = JSON.stringify(toTransport(v));
  return s.length > 200 ? s.slice(0, 200) + "…" : s;
};
const fail = (msg) => {
  failures++;
  console.error("MISMATCH " + msg);
};

expectations.forEach((e, i) => {
  const answer = answers[i] ?? "";
  const short = (s) => (s.length > 120 ? s.slice(0, 120) + "…" : s);
  if (answer.startsWith("ERR")) return fail(`${e.kind} ${show(e.v)}: claynet says ${answer}`);
  switch (e.kind) {
    case "encode":
      if (answer !== e.packed) fail(`encode ${show(e.v)}: claynet ${short(answer)} js ${short(e.packed)}`);
      break;
    case "decode": {
      const got = JSON.parse(answer);
      const want = toTransport(reference(e.packed));
      if (!sameValue(got, want)) fail(`decode ${short(e.packed)}: claynet ${short(answer)} js ${short(JSON.stringify(want))}`);
      break;
    }
    case "chunk": {
      const got = answer.split(" ");
      if (got.length !== e.chunks.length) fail(`chunk ${show(e.v)}: claynet ${got.length} chunks, js ${e.chunks.length}`);
      else got.forEach((c, j) => { if (c !== e.chunks[j]) fail(`chunk ${j} of ${show(e.v)}: claynet ${short(c)} js ${short(e.chunks[j])}`); });
      break;
    }
    case "reassemble":
      if (!sameValue(JSON.parse(answer), toTransport(e.v))) fail(`reassemble ${show(e.v)}: claynet ${short(answer)}`);
      break;
  }
});

console.log(`binarypack_js: ${expectations.length} checks, ${failures} mismatch(es)`);
process.exit(failures === 0 ? 0 : 1);
