// DOM helpers and formatters. Elements are built with createElement and text nodes only:
// nothing from the API is ever parsed as HTML.

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Stop"}, "Stop", child, ...)
 * Attributes: `class`, `text`, `dataset` (object), `on<event>` (function), booleans
 * (`disabled`, `hidden`, ...), anything else with setAttribute. Children: nodes, strings,
 * numbers, arrays of those; null / undefined / false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function fmtRate(bps) {
  return bps ? `${fmtBytes(bps)}/s` : "—";
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtCount(n) {
  if (!n) return "0";
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** A Unix time (seconds) or an ISO string, as "3 min ago" / a date. */
export function fmtWhen(value) {
  if (value === null || value === undefined) return "—";
  const ms = typeof value === "number" ? value * 1000 : Date.parse(value);
  if (Number.isNaN(ms)) return "—";
  const ago = (Date.now() - ms) / 1000;
  if (ago < 0) return new Date(ms).toLocaleString();
  if (ago < 60) return "just now";
  if (ago < 3600) return `${Math.floor(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.floor(ago / 3600)} h ago`;
  if (ago < 86400 * 30) return `${Math.floor(ago / 86400)} d ago`;
  return new Date(ms).toLocaleDateString();
}

/**
 * Say that a page is shown and usable: `main[data-ready]` and a performance mark. A render
 * the router has already left (`ctx.signal` aborted) says nothing.
 */
export function markReady(main, name, ctx) {
  if (ctx?.signal.aborted) return;
  main.dataset.ready = name;
  performance.mark(`modelyard:ready:${name}`);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

const VERDICTS = {
  runs: ["Runs here", "ok"],
  tight: ["Tight fit", "warn"],
  "too-big": ["Too big", "bad"],
  "not-loadable": ["Can't load", "bad"],
  unknown: ["Unknown", ""],
};

/** The compatibility verdict ({label, score}) as a badge. */
export function verdictBadge(summary) {
  if (!summary) return badge("Checking…", "muted");
  const [text, kind] = VERDICTS[summary.label] || [summary.label, ""];
  const el = badge(text, `verdict ${kind}`);
  el.title = `Will it run here? ${text}`;
  return el;
}

/** An API error (ApiError or Error) as a block: message, then the resolution steps. */
export function errorBox(err, title) {
  const steps = (err && err.steps) || [];
  return h(
    "div",
    { class: "error", role: "alert" },
    title ? h("strong", null, title, " ") : null,
    h("span", { class: "error-message" }, (err && err.message) || String(err)),
    steps.length ? h("ul", { class: "steps" }, steps.map((s) => h("li", null, s))) : null,
  );
}

export function spinner(label = "Loading…") {
  return h("p", { class: "muted loading", role: "status" }, label);
}

/** A labelled form field. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("small", { class: "muted" }, hint) : null,
  );
}

export function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

/** A confirmation dialog; resolves true when confirmed. `body` is a node or nodes. */
export function confirmDialog(title, body, confirmLabel = "Confirm", danger = false) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      h("div", { class: "dialog-body" }, body),
    );
    const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
    const ok = h(
      "button",
      { type: "button", class: danger ? "danger" : "primary", onclick: () => dialog.close("ok") },
      confirmLabel,
    );
    dialog.appendChild(h("div", { class: "actions" }, cancel, ok));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
