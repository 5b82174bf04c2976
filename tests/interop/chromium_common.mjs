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

/// Serves `files` ({path: [contentType, body]}) on 127.0.0.1 and resolves to {url, close}.
/// Browser pages come from loopback rather than about:blank: Chromium's Local Network Access
/// checks block a public or opaque origin from reaching a server at a private address, while a
/// loopback origin may reach any address space, as a page from a local dev server can.
export async function serveFiles(files) {
  const { createServer } = await import('node:http');
  return new Promise((res, rej) => {
    const server = createServer((req, reply) => {
      const f = files[req.url];
      if (!f) {
        reply.writeHead(req.url === '/favicon.ico' ? 204 : 404); // keeps a 404 out of the console
        reply.end();
        return;
      }
      reply.writeHead(200, { 'content-type': `${f[0]}; charset=utf-8` });
      reply.end(f[1]);
    });
    server.on('error', rej);
    server.listen(0, '127.0.0.1', () =>
      res({ url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() }));
  });
}

/// The context's page with the usual handlers: page errors and (with `verbose`, or errors and
/// warnings only) console lines go to `log`; a crash calls `onCrash`.
export async function preparePage(context, { log, verbose = false, onCrash = () => {} }) {
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  page.on('crash', onCrash);
  page.on('console', (m) => {
    if (verbose || m.type() === 'error' || m.type() === 'warning') log(`console.${m.type()}: ${m.text()}`);
  });
  return page;
}
