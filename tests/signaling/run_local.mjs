// Local mode across two processes: A embeds the signaling server and prints its LAN code
// (claynet-peerjs-peer --local-host), B joins through that code alone (--join-lan) and opens a
// DataConnection to A; both check the standard value set of protocols.md's serialization.
// Run inside scripts/netns-run.sh: A's LAN address is then the namespace's 10.99.0.1.
//   node run_local.mjs --peer <claynet-peerjs-peer> [--serialization binary]
import { spawn } from "node:child_process";
import readline from "node:readline";

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const peerBin = arg("--peer");
const serialization = arg("--serialization", "binary");
if (!peerBin) {
  console.error("usage: run_local.mjs --peer <claynet-peerjs-peer> [--serialization S]");
  process.exit(2);
}
const t0 = Date.now();
const log = (m) => console.log(`[run_local ${String(Date.now() - t0).padStart(5)}ms] ${m}`);
const children = [];
const results = {};
let failed = null;

function start(name, argv) {
  const child = spawn(peerBin, argv, { stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  log(`${name} started: ${argv.join(" ")}`);
  child.stderr.on("data", (d) => process.stderr.write(`[${name}] ${d}`));
  const events = [];
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    console.log(`[${name}] ${line}`);
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    events.push(e);
    child.emit("event", e);
  });
  child.exitCode_ = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  return child;
}

function finish(code, why) {
  log(why);
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  process.exit(code);
}
setTimeout(() => finish(1, "FAIL: timed out after 60 s"), 60000).unref();

const hostId = "LOCALHOST1";
const host = start("A host", [
  "--local-host", "--id", hostId, "--serialization", serialization, "--timeout-ms", "30000",
]);
const code = await new Promise((resolve, reject) => {
  host.on("event", (e) => e.event === "lan-code" && resolve(e));
  host.exitCode_.then((c) => reject(new Error(`host exited (${c}) before printing a LAN code`)));
}).catch((e) => finish(1, `FAIL: ${e.message}`));
log(`LAN code ${code.code} = ${code.address}:${code.port}`);
if (!/^L[0-9A-Z]+-[0-9A-Z]+$/.test(code.code)) finish(1, `FAIL: malformed LAN code ${code.code}`);
if (code.address.startsWith("127.")) {
  finish(1, `FAIL: the LAN address is loopback (${code.address}) although 10.99.0.1 exists`);
}

// The joiner gets nothing but the code, in lower case to show decoding ignores case.
const joiner = start("B joiner", [
  "--join-lan", code.code.toLowerCase(), "--id", "joiner1", "--connect", hostId,
  "--serialization", serialization, "--timeout-ms", "30000",
]);
for (const [name, child] of [["host", host], ["joiner", joiner]]) {
  child.on("event", (e) => {
    if (e.event !== "result") return;
    results[name] = e;
    if (!e.ok) failed = `${name}: ${e.detail}`;
    if (Object.keys(results).length === 2) for (const c of children) c.stdin.end("close\n");
  });
}
const [hostCode, joinerCode] = await Promise.all([host.exitCode_, joiner.exitCode_]);
if (failed) finish(1, `FAIL: ${failed}`);
if (!results.host || !results.joiner) finish(1, "FAIL: a peer exited without a result");
if (hostCode !== 0 || joinerCode !== 0) {
  finish(1, `FAIL: exit codes host ${hostCode}, joiner ${joinerCode}`);
}
finish(0, `OK: Local mode, ${serialization}: both sides received the whole standard set`);
