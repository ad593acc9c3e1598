// Live events from /api/v1/events (SPEC §6): subscribe with a callback; reconnects quietly.
import { useEffect } from "react";
import { getToken } from "./api";

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
      const token = getToken();
      const q = token ? `?token=${encodeURIComponent(token)}` : "";
      ws = new WebSocket(`${proto}://${location.host}/api/v1/events${q}`);
      ws.onmessage = (m) => {
        try {
          onEvent(JSON.parse(String(m.data)) as LiveEvent);
        } catch {
          // ignore a malformed event
        }
      };
      ws.onclose = () => {
        if (!closed) retry = setTimeout(open, 3000);
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
