// Launching headless Chromium for the browser test peers (peer_chromium.mjs and
// ../signaling/peer_browser_peerjs.mjs), with default WebRTC settings as users have them.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/// A persistent context in `userDataDir` (the caller removes it). `chromium` is playwright-core's,
/// which the callers import themselves (late, to report a missing npm ci clearly). Throws when
/// Chromium cannot start.
export function launchChromium(chromium, executablePath, userDataDir, { extraArgs = [], ignoreHTTPSErrors = false } = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...ARGS, ...extraArgs],
    ignoreHTTPSErrors,
    timeout: 20000,
  });
}
