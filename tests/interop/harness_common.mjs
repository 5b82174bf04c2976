// What the test orchestrators (run_pair.mjs, run_peerjs.mjs) share: stopping their children.
// Each child object is {child, exited}; children run in their own process groups.

/// Sends `signal` to the child's process group (or to the child alone if that fails).
export function killGroup(p, signal) {
  if (p.exited) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    try { p.child.kill(signal); } catch { /* already gone */ }
  }
}

/// On SIGINT/SIGTERM: SIGTERM every child, SIGKILL after 2 s, exit 1. At exit: SIGKILL what is
/// left. `procs` is read when the signal comes, so children added later are covered.
export function killChildrenOnExit(procs, say) {
  const onSignal = (sig) => {
    say(`got ${sig}; killing children`);
    for (const p of procs) killGroup(p, 'SIGTERM');
    setTimeout(() => {
      for (const p of procs) killGroup(p, 'SIGKILL');
      process.exit(1);
    }, 2000);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', () => {
    for (const p of procs) if (!p.exited) killGroup(p, 'SIGKILL');
  });
}
