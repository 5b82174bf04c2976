// Runs a redis-server and `claynet signal --redis` instances on given ports until SIGTERM, for
// harnesses that start their signaling server as one child process (run_peerjs.mjs,
// run_network_interop.mjs). Exits 0 when every instance stopped cleanly (exit code 0).
//
//   node tests/cluster/cluster_launch.mjs --claynet BIN --host H --ports P1,P2[,...] [-- signal args]
import { startCluster } from './cluster_harness.mjs';

const args = process.argv.slice(2);
const opts = { claynet: null, host: '127.0.0.1', ports: [], extra: [] };
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--claynet') opts.claynet = args[++i];
  else if (args[i] === '--host') opts.host = args[++i];
  else if (args[i] === '--ports') opts.ports = args[++i].split(',').map(Number);
  else if (args[i] === '--') { opts.extra = args.slice(i + 1); break; } else {
    process.stderr.write(`cluster_launch: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}
if (!opts.claynet || opts.ports.length === 0) {
  process.stderr.write('cluster_launch: --claynet BIN and --ports are required\n');
  process.exit(2);
}

let cluster = null;
let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  if (cluster) await cluster.stopAll();
  const bad = cluster ? cluster.instances.filter((i) => i.code !== 0) : [];
  for (const i of bad) process.stderr.write(`cluster_launch: ${i.name} exited with ${i.code ?? i.signal}:\n${i.out.slice(-3000)}\n`);
  process.exit(bad.length ? 1 : 0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

try {
  cluster = await startCluster(opts.claynet, { host: opts.host, count: opts.ports.length, ports: opts.ports, args: opts.extra });
  for (const i of cluster.instances) {
    i.child.on('exit', () => { if (!stopping) { process.stderr.write(`cluster_launch: ${i.name} died:\n${i.out.slice(-3000)}\n`); shutdown(); } });
  }
  process.stderr.write(`cluster_launch: redis on 127.0.0.1:${cluster.redis.port}, instances ${cluster.instances.map((i) => i.url).join(' ')}\n`);
} catch (e) {
  process.stderr.write(`cluster_launch: ${e.message}\n`);
  process.exit(1);
}
