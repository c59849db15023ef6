// What every page shares: the live stream of the service's state (the SSE mirror of its
// MQTT topics), REST calls that report the API's own error text, an estimate of the
// server's clock (deadlines are the server's times), and a DOM builder that only ever
// sets text, never HTML.

import { lang, t } from "/static/i18n.js";

const STREAM = "/api/v1/stream";
// The stream names each event by the last part of its topic; EventSource only delivers
// named events to listeners registered for that name, so every kind is listed here.
const KINDS = ["state", "current", "tally", "results", "agenda", "availability", "handsets", "handset_changes"];
const RETRY_MS = [500, 1000, 2000, 3000]; // then every 3 s: a hall display must come back fast
// The server's keep-alive pings are SSE comments, invisible to scripts; a stream silent for
// this long may be a dead TCP link, so it is reopened (the server replays the latest state).
const QUIET_MS = 45000;

/** Follow the topics under `prefixes`: onMessage(topic, payload) for each message (payload
 * null: the topic was cleared), onLink("connecting" | "live" | "reconnecting"). */
export function follow(prefixes, onMessage, onLink = () => {}) {
  const query = prefixes.map((p) => "topic=" + encodeURIComponent(p)).join("&");
  const url = query ? `${STREAM}?${query}` : STREAM;
  let source = null;
  let failures = 0;
  let quiet = 0;

  const deliver = (event) => {
    watch();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      console.error("unreadable stream message", event.data, err);
      return;
    }
    try {
      onMessage(message.topic, message.payload);
    } catch (err) {
      // One message the page cannot show must not stop the ones after it.
      console.error("cannot show", message.topic, err);
    }
  };
  const watch = () => {
    clearTimeout(quiet);
    quiet = setTimeout(reopen, QUIET_MS);
  };
  const reopen = () => {
    source.close();
    open();
  };
  const open = () => {
    source = new EventSource(url);
    source.onopen = () => {
      failures = 0;
      onLink("live");
      clock.sync();
      watch();
    };
    // EventSource retries on its own only sometimes (never after an HTTP error), so every
    // failure is handled here the same way: close, say so, try again shortly.
    source.onerror = () => {
      source.close();
      clearTimeout(quiet);
      onLink("reconnecting");
      setTimeout(open, RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]);
    };
    for (const kind of [...KINDS, "message"]) source.addEventListener(kind, deliver);
  };
  onLink("connecting");
  open();
}

/** An error the API answered with (status > 0), or a failure to reach it (status 0). */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// The API token, when the service has one ([api] token): given once as ?token= in the page's
// address and kept for this browser tab.
const TOKEN = (() => {
  const given = new URLSearchParams(location.search).get("token");
  if (given) sessionStorage.setItem("arsbridge-token", given);
  return sessionStorage.getItem("arsbridge-token");
})();

/** ``url`` with the API token, for links that the browser follows itself (CSV files). */
export function withToken(url) {
  if (!TOKEN) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(TOKEN)}`;
}

/** Call the API; resolves to the parsed body, rejects with an ApiError carrying `detail`. */
export async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: {} };
  // The API answers in the page's language (its messages, not its data).
  path = `${path}${path.includes("?") ? "&" : "?"}lang=${lang}`;
  if (TOKEN) init.headers["authorization"] = `Bearer ${TOKEN}`;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const sent = Date.now() / 1000;
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(t("link.unreachable", { error: err.message }), 0);
  }
  clock.sample(response.headers.get("date"), sent, Date.now() / 1000);
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) throw new ApiError(detailOf(doc, text, response), response.status);
  return doc;
}

function detailOf(doc, text, response) {
  const detail = doc && doc.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => [(d.loc || []).join("."), d.msg].filter(Boolean).join(": ")).join("; ");
  }
  return `${response.status} ${response.statusText}${text ? ": " + text.slice(0, 200) : ""}`;
}

/** The server's clock, as bounds on (server time - this machine's time) in seconds.
 * A response's Date header (whole seconds) gives both bounds; a time the server stamped on
 * a message gives a lower one. A display's clock may be minutes off; the deadline is not. */
export const clock = {
  low: -Infinity,
  high: Infinity,
  offset: 0,
  now() {
    return Date.now() / 1000 + this.offset;
  },
  sample(date, sent, received) {
    const server = Date.parse(date || "") / 1000;
    if (Number.isFinite(server)) this.narrow(server - received, server + 1 - sent);
  },
  /** The server had reached `serverTime` when this message arrived. */
  atLeast(serverTime) {
    if (typeof serverTime === "number") this.narrow(serverTime - Date.now() / 1000, Infinity);
  },
  narrow(low, high) {
    if (low > this.high || high < this.low) {
      // Bounds that contradict the earlier ones: a clock was stepped; start again.
      this.low = -Infinity;
      this.high = Infinity;
    }
    this.low = Math.max(this.low, low);
    this.high = Math.min(this.high, high);
    this.offset = Math.min(Math.max(this.offset, this.low), this.high);
  },
  async sync() {
    const sent = Date.now() / 1000;
    try {
      const response = await fetch("/api/v1/rounds/current", { cache: "no-store" });
      this.sample(response.headers.get("date"), sent, Date.now() / 1000);
    } catch {
      // Unreachable: the stream's own error handling reports that.
    }
  },
};

/** An element with attributes, listeners (`onclick`...) and children; strings become text
 * nodes, so data is never parsed as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** Set an element's text (only when it changed: no needless layout work at 10 updates/s). */
export function setText(node, text) {
  const value = String(text ?? "");
  if (node.textContent !== value) node.textContent = value;
}

/** Show the link state in a marker element: hidden while live. */
export function showLink(marker, state) {
  marker.hidden = state === "live";
  marker.dataset.state = state;
  setText(marker, state === "connecting" ? t("link.connecting") : t("link.reconnecting"));
}

/** "m:ss" (or "h:mm:ss") for a number of seconds, rounded up: 0:00 only once time is up. */
export function mmss(seconds) {
  const s = Math.max(0, Math.ceil(seconds - 1e-6));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** "12s ago", "4m ago", "2h ago". */
export function ago(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return t("ago.s", { n: s });
  if (s < 7200) return t("ago.m", { n: Math.floor(s / 60) });
  return t("ago.h", { n: Math.floor(s / 3600) });
}
