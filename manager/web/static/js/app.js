// The shell: navigation, the hash router, token mode, and the status line.
// Each page module exports `render(main, params, ctx)`; `ctx.signal` is aborted when the
// page is left, and a function returned by render is called then too.

import { api, auth, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { downloads } from "./downloads_store.js";
import * as discover from "./pages/discover.js";
import * as model from "./pages/model.js";
import * as downloadsPage from "./pages/downloads.js";
import * as library from "./pages/library.js";
import * as running from "./pages/running.js";
import * as chat from "./pages/chat.js";
import * as login from "./pages/login.js";

const PAGES = [
  ["discover", "Discover", discover],
  ["downloads", "Downloads", downloadsPage],
  ["library", "Library", library],
  ["running", "Running", running],
  ["chat", "Chat", chat],
];
const ROUTES = { ...Object.fromEntries(PAGES.map(([key, , mod]) => [key, mod])), model };

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const status = document.getElementById("status");
let current = null;
let loggedIn = false;

/** `#/model/org/name?x=1` → {page: "model", rest: "org/name", params: URLSearchParams}. */
export function parseHash(hash = location.hash) {
  const raw = hash.startsWith("#/") ? hash.slice(2) : "";
  const [path, search = ""] = raw.split("?");
  const [page, ...rest] = path.split("/");
  return {
    page: page || "discover",
    rest: rest.map(decodeURIComponent).join("/"),
    params: new URLSearchParams(search),
  };
}

export function go(page, params) {
  const q = params ? new URLSearchParams(params).toString() : "";
  location.hash = `#/${page}${q ? `?${q}` : ""}`;
}

function buildNav() {
  const links = PAGES.map(([key, label]) =>
    h(
      "a",
      { href: `#/${key}`, dataset: { page: key } },
      label,
      key === "downloads" ? h("span", { class: "count", id: "active-count", hidden: true }) : null,
    ),
  );
  const signOut = auth.required
    ? h("button", { type: "button", class: "link", onclick: logout }, "Sign out")
    : null;
  replace(nav, links, signOut);
}

function markNav(page) {
  for (const a of nav.querySelectorAll("a")) {
    const on = a.dataset.page === page || (page === "model" && a.dataset.page === "discover");
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function updateCount() {
  const el = document.getElementById("active-count");
  if (!el) return;
  const n = downloads.activeCount;
  el.hidden = n === 0;
  el.textContent = String(n);
  el.setAttribute("aria-label", `${n} active`);
}

async function showStatus() {
  try {
    const system = await api("/api/system");
    const inference = system.inference || {};
    const up = inference.reachable;
    const warn = inference.storage_agrees === false;
    replace(
      status,
      h("span", { class: `dot ${up ? (warn ? "warn" : "ok") : "bad"}`, "aria-hidden": "true" }),
      `v${system.version} · inference ${up ? "up" : "down"}`,
    );
    status.title = warn ? (inference.mismatches || []).join("\n") : system.data_dir || "";
  } catch (err) {
    // A manager without /api/system: the status line stays empty.
    if (!(err instanceof ApiError) || err.status !== 404) status.textContent = "";
  }
}

function leave() {
  if (!current) return;
  current.controller.abort();
  if (typeof current.cleanup === "function") current.cleanup();
  current = null;
}

async function route() {
  const { page, rest, params } = parseHash();
  leave();
  if (auth.required && !loggedIn) {
    show(login, "", params, "login");
    return;
  }
  const mod = ROUTES[page] || discover;
  show(mod, rest, params, page);
}

function show(mod, rest, params, page) {
  const controller = new AbortController();
  current = { controller, cleanup: null };
  markNav(page);
  replace(main);
  delete main.dataset.ready; // set again by the page once it is shown
  main.dataset.hash = location.hash; // which address the coming ready mark belongs to
  main.dataset.page = page;
  const ctx = { signal: controller.signal, go, onLogin };
  Promise.resolve(mod.render(main, { rest, params }, ctx))
    .then((cleanup) => {
      if (current && current.controller === controller) current.cleanup = cleanup;
      else if (typeof cleanup === "function") cleanup();
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      console.warn(err);
    });
}

function start() {
  loggedIn = true;
  buildNav();
  downloads.start();
  downloads.subscribe(updateCount);
  showStatus();
}

function onLogin() {
  start();
  route();
}

function logout() {
  auth.token = null;
  loggedIn = false;
  downloads.stop();
  replace(nav);
  replace(status);
  route();
}

window.addEventListener("modelyard:unauthorized", () => {
  if (!auth.required || !loggedIn) return;
  auth.token = null;
  logout();
});
window.addEventListener("hashchange", route);
document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

if (!auth.required || auth.token) start();
route();
