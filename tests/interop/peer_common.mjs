import { createInterface } from 'node:readline';

// What every JavaScript interop peer shares: its command line and its stdout/stderr discipline
// (stdout carries only protocol objects; see run_pair.mjs).

/// Parses `--role offer|answer [--timeout S] [--verbose]` plus `extra` options
/// ({'--flag': 'key'}, each taking one value). Exits 2 on anything else.
export function parsePeerArgs(name, argv, defaults = {}, extra = {}) {
  const opts = { role: null, timeout: 30, verbose: false, ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--role') opts.role = argv[++i];
    else if (a === '--timeout') opts.timeout = Number(argv[++i]);
    else if (a === '--verbose') opts.verbose = true;
    else if (a in extra) opts[extra[a]] = argv[++i];
    else {
      process.stderr.write(`${name}: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (opts.role !== 'offer' && opts.role !== 'answer') {
    process.stderr.write(`${name}: --role offer|answer is required\n`);
    process.exit(2);
  }
  if (!(opts.timeout > 0)) opts.timeout = 30;
  return opts;
}

/// `t0` is the start time; `log` writes a timestamped line to stderr; `emit` writes one protocol object to stdout.
export function peerOutput(tag, role) {
  const t0 = Date.now();
  return {
    t0,
    log: (msg) => process.stderr.write(`[${tag} ${role} +${Date.now() - t0}ms] ${msg}\n`),
    emit: (obj) => process.stdout.write(JSON.stringify(obj) + '\n'),
  };
}

/// Calls `onMessage(obj)` for each JSON object read from stdin (other lines are logged and
/// skipped), and `shutdown(reason)` on {"type":"close"}, stdin EOF, SIGTERM or SIGINT.
export function readProtocolLines(log, onMessage, shutdown) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    line = line.trim();
    if (!line) return;
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      log(`ignoring non-JSON input: ${line.slice(0, 80)}`);
      return;
    }
    if (m.type === 'close') shutdown('close');
    else onMessage(m);
  });
  rl.on('close', () => shutdown('stdin EOF'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
