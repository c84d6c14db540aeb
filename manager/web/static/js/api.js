// The one way the UI talks to the manager: fetch with the bearer token, JSON in and out,
// errors as ApiError (the manager's envelope: message, code, resolution steps).

const TOKEN_KEY = "modelyard.token";

export const auth = {
  required: document.querySelector('meta[name="modelyard-auth"]')?.content === "token",
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || null;
    this.steps = error?.resolution_steps || [];
    this.details = error?.details || {};
  }
}

export function headers(extra = {}) {
  const out = { ...extra };
  const token = auth.token;
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

/** An id for URLs: `org/name` keeps its slash, each part is encoded. */
export function idPath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.append(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function failure(response) {
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    // not JSON: the status says enough
  }
  const err = new ApiError(response.status, error);
  if (response.status === 401) window.dispatchEvent(new CustomEvent("modelyard:unauthorized"));
  return err;
}

/** fetch() with the token; resolves to the Response when it is 2xx, else throws ApiError. */
export async function request(path, { method = "GET", body, signal, accept } = {}) {
  const init = { method, signal, headers: headers(accept ? { Accept: accept } : {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response;
}

/** The JSON answer of a request (null for 204). */
export async function api(path, options) {
  const response = await request(path, options);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * The events of a server-sent event stream read from a fetch Response body:
 * yields {id, event, data} for each event (comments and keep-alives skipped).
 */
export async function* sseEvents(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let id = null;
  let event = null;
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      // Cancelling the reader (on abort) ends the stream as if it were complete: say why.
      if (signal?.aborted) throw new DOMException("The stream was stopped.", "AbortError");
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length) yield { id, event, data: data.join("\n") };
          data = [];
          event = null;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (name === "data") data.push(val);
        else if (name === "id") id = val;
        else if (name === "event") event = val;
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Follow an SSE endpoint for as long as `signal` is not aborted: reconnects after a drop
 * with `Last-Event-ID`, so the server replays what was missed. `onEvent(json)` gets each
 * event's parsed data; `onState("open" | "retrying" | "closed")` the connection's state.
 */
export async function follow(path, { onEvent, onState = () => {}, signal }) {
  let lastId = null;
  let wait = 500;
  while (!signal.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers: headers(extra), signal, cache: "no-store" });
      if (!response.ok) {
        const err = await failure(response);
        if (response.status === 401 || response.status === 404) throw err;
        throw Object.assign(err, { retry: true });
      }
      onState("open");
      wait = 500;
      for await (const ev of sseEvents(response, signal)) {
        if (ev.id) lastId = ev.id;
        onEvent(JSON.parse(ev.data));
      }
    } catch (err) {
      if (signal.aborted) break;
      if (err instanceof ApiError && !err.retry) {
        onState("closed", err);
        return;
      }
    }
    if (signal.aborted) break;
    onState("retrying");
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 5000);
  }
  onState("closed");
}
