// Live events from /api/v1/events (SPEC §6): subscribe with a callback; reconnects quietly.
// The websocket is authenticated by the session cookie; the server closes it with 4401
// when the session ends (logout in any tab, expiry), and the page then shows the login.
import { useEffect } from "react";
import { UNAUTHORIZED_EVENT } from "./api";

const CLOSE_UNAUTHORIZED = 4401;

export interface LiveEvent {
  type: string;
  [key: string]: unknown;
}

export function useLiveEvents(onEvent: (e: LiveEvent) => void) {
  useEffect(() => {
    let ws: WebSocket | null = null;
    let closed = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const open = () => {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}/api/v1/events`);
      ws.onmessage = (m) => {
        try {
          onEvent(JSON.parse(String(m.data)) as LiveEvent);
        } catch {
          // ignore a malformed event
        }
      };
      ws.onclose = (e) => {
        if (closed) return;
        if (e.code === CLOSE_UNAUTHORIZED) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
        else retry = setTimeout(open, 3000);
      };
    };
    open();
    return () => {
      closed = true;
      if (retry) clearTimeout(retry);
      ws?.close();
    };
  }, [onEvent]);
}
