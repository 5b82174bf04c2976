// One WebSocket frame of a PeerJS server connection as an object, or null when it is not JSON.
export function parseFrame(raw) {
  try {
    return JSON.parse(raw.toString());
  } catch {
    return null;
  }
}
