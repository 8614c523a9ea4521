// The live websocket (/ws, named by the page's riskmon-websocket meta tag; cookie auth).
// Close codes: 4001 session ended (back to sign-in), 4008 too many messages, 4013 this page's
// queue overflowed, 4014 this page took too long to read a message, 1001 the gateway is going
// away: the app reconnects with backoff and takes the fresh snapshot every connection starts with.
// Live scores come coalesced: {type: "scores", at, districts: [ScoreUpdate...]}, at most one
// every 100 ms, with the newest state of each district that changed.

export const CLOSE = {
  GOING_AWAY: 1001,
  SESSION_ENDED: 4001,
  TOO_MANY_MESSAGES: 4008,
  QUEUE_OVERFLOW: 4013,
  TOO_SLOW: 4014,
};

export function websocketUrl(doc = document, loc = location) {
  const meta = doc.querySelector('meta[name="riskmon-websocket"]');
  const path = (meta && meta.content) || "/ws";
  return (loc.protocol === "https:" ? "wss:" : "ws:") + "//" + loc.host + path;
}

export class LiveSocket {
  constructor({ onOpen, onMessage, onClose }) {
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
  }

  connect() {
    this.stop();
    const ws = new WebSocket(websocketUrl());
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.onOpen();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // not JSON: nothing the page can use
      }
      this.onMessage(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // replaced or closed by the page itself
      this.ws = null;
      this.onClose(event, opened);
    };
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  stop() {
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "page closed it");
  }
}
