// Running models: the inference server's pool (each slot's state, memory, last use, requests
// in flight), load / pin / unload, and the memory budget drawn as a bar. Refreshed every 2 s
// while the page is open.

import { api, idPath, ApiError } from "../api.js";
import { badge, errorBox, field, fmtBytes, fmtDuration, fmtWhen, h, replace, select, spinner, markReady } from "../dom.js";

const REFRESH_MS = 2000;
const SLOT_KIND = { ready: "ok", loading: "info", unloading: "warn", failed: "bad" };

export async function render(main, _route, ctx) {
  const poolBox = h("div", { "aria-live": "polite" }, spinner());
  const loadBox = h("section", { class: "panel", "aria-labelledby": "load-h" });
  const systemBox = h("section", { class: "panel", "aria-labelledby": "system-h", hidden: true });
  const actionError = h("div");
  replace(main, h("h1", null, "Running models"), actionError, poolBox, h("div", { class: "two-col" }, loadBox, systemBox));

  const act = async (label, path, body) => {
    replace(actionError, spinner(`${label}…`));
    try {
      await api(path, { method: "POST", body, signal: ctx.signal });
      replace(actionError);
    } catch (err) {
      if (!ctx.signal.aborted) replace(actionError, errorBox(err, `${label} failed.`));
    }
    refresh();
  };

  let timer = 0;
  let shown = "";
  async function refresh() {
    clearTimeout(timer);
    try {
      const pool = await api("/api/inference/pool", { signal: ctx.signal });
      const key = JSON.stringify(pool);
      if (key !== shown) {
        shown = key;
        redraw(poolBox, poolView(pool, act));
      }
      markReady(main, "running", ctx);
    } catch (err) {
      if (ctx.signal.aborted) return;
      shown = "";
      replace(poolBox, errorBox(err, "The pool could not be read."));
    }
    if (!ctx.signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }
  await refresh();
  loadForm(loadBox, ctx, act);
  systemView(systemBox, ctx);
  return () => clearTimeout(timer);
}

/** Replace the pool view, keeping the keyboard focus on the same button if it was on one. */
function redraw(box, view) {
  const focused = box.contains(document.activeElement) ? document.activeElement : null;
  const where = focused?.closest("tr")?.dataset.slot;
  const label = focused?.textContent;
  replace(box, view);
  if (!focused) return;
  const again = [...box.querySelectorAll("button")].find(
    (b) => b.textContent === label && b.closest("tr")?.dataset.slot === where,
  );
  again?.focus();
}

function poolView(pool, act) {
  const budget = pool.max_memory_bytes || 1;
  const bar = h("div", { class: "budget", role: "img", "aria-label": `${fmtBytes(pool.used_memory_bytes)} of ${fmtBytes(pool.max_memory_bytes)} used` });
  pool.slots.forEach((slot, i) => {
    const bytes = slot.memory_bytes || slot.estimated_bytes;
    const seg = h("span", { class: `seg c${i % 6}`, title: `${slot.id}: ${fmtBytes(bytes)}` });
    seg.style.width = `${Math.min(100, (bytes / budget) * 100).toFixed(2)}%`;
    bar.appendChild(seg);
  });
  const rows = pool.slots.map((slot) =>
    h(
      "tr",
      { dataset: { slot: slot.id } },
      h("td", null, h("strong", null, slot.id), slot.error ? h("div", { class: "error-text small" }, slot.error) : null),
      h("td", null, badge(slot.state, `state ${SLOT_KIND[slot.state] || ""}`), slot.pinned ? badge("pinned", "info") : null),
      h("td", { class: "num" }, fmtBytes(slot.memory_bytes || slot.estimated_bytes)),
      h("td", { class: "num requests" }, `${slot.active_requests} active · ${slot.queued_requests} queued`),
      h("td", null, fmtWhen(slot.last_used), slot.load_time_s ? h("div", { class: "muted small" }, `loaded in ${fmtDuration(slot.load_time_s)}`) : null),
      h(
        "td",
        { class: "row-actions" },
        slot.pinned
          ? null
          : h("button", { type: "button", onclick: () => act("Pin", `/api/inference/models/${idPath(slot.id)}/load`, { pin: true }) }, "Pin"),
        h("button", { type: "button", onclick: () => act("Unload", `/api/inference/models/${idPath(slot.id)}/unload`) }, "Unload"),
      ),
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "pool-h" },
    h("h2", { id: "pool-h" }, "Pool"),
    h(
      "p",
      null,
      `${fmtBytes(pool.used_memory_bytes)} of ${fmtBytes(pool.max_memory_bytes)} budget · ${pool.slots.length} of ${pool.max_models} models`,
      pool.cpu_blas ? h("span", { class: "muted small" }, ` · BLAS ${pool.cpu_blas}`) : null,
    ),
    bar,
    pool.slots.length
      ? h(
          "ul",
          { class: "legend small" },
          pool.slots.map((slot, i) => h("li", null, h("span", { class: `swatch seg c${i % 6}` }), slot.id)),
        )
      : null,
    rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            null,
            h("thead", null, h("tr", null, ["Model", "State", "Memory", "Requests", "Last used", ""].map((t, i) => h("th", { scope: "col", class: i === 2 || i === 3 ? "num" : null }, t)))),
            h("tbody", null, rows),
          ),
        )
      : h("p", { class: "muted" }, "No model is loaded. Load one below, or send a chat: models load on first use."),
    h("p", { class: "muted small" }, `${pool.total_loads} loads, ${pool.total_evictions} evictions since start`),
  );
}

async function loadForm(section, ctx, act) {
  replace(section, h("h2", { id: "load-h" }, "Load a model"), spinner());
  let models;
  try {
    models = (await api("/api/models/local", { signal: ctx.signal })).data;
  } catch (err) {
    if (!ctx.signal.aborted) replace(section, h("h2", { id: "load-h" }, "Load a model"), errorBox(err));
    return;
  }
  const choices = models.filter((m) => m.type === "chat" || m.type === "embedding");
  if (!choices.length) {
    replace(section, h("h2", { id: "load-h" }, "Load a model"), h("p", { class: "muted" }, "No models on disk yet."));
    return;
  }
  const picker = select(choices.map((m) => [m.id, `${m.id} (${fmtBytes(m.size_bytes)})`]), choices[0].id, { name: "model" });
  const pin = h("input", { type: "checkbox", name: "pin" });
  replace(
    section,
    h("h2", { id: "load-h" }, "Load a model"),
    h(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          act("Load", `/api/inference/models/${idPath(picker.value)}/load`, { pin: pin.checked });
        },
      },
      field("Model", picker),
      h("label", { class: "check" }, pin, " Pin it (never evicted)"),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Load")),
    ),
  );
}

async function systemView(section, ctx) {
  let system;
  try {
    system = await api("/api/system", { signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) {
      if (!ctx.signal.aborted) {
        section.hidden = false;
        replace(section, h("h2", { id: "system-h" }, "System"), errorBox(err));
      }
    }
    return; // a manager without /api/system: nothing to show
  }
  const inf = system.inference || {};
  const caps = inf.capabilities;
  section.hidden = false;
  replace(
    section,
    h("h2", { id: "system-h" }, "System"),
    h(
      "dl",
      { class: "stats" },
      h("dt", null, "Manager"), h("dd", null, `v${system.version}`),
      h("dt", null, "Inference server"), h("dd", null, inf.reachable ? `up at ${inf.url}` : `down (${inf.url})`),
      caps ? [h("dt", null, "MLX"), h("dd", null, `${caps.mlx_version} · mlx-lm ${caps.mlx_lm_version}`)] : null,
      h("dt", null, "Models folder"), h("dd", null, h("code", null, system.models_dir)),
      h("dt", null, "Hub cache"), h("dd", null, h("code", null, system.hf_cache_dir)),
      system.disk ? [h("dt", null, "Free disk"), h("dd", null, fmtBytes(system.disk.free_bytes))] : null,
    ),
    inf.storage_agrees === false
      ? errorBox({ message: "The manager and the inference server read different folders.", steps: inf.mismatches || [] })
      : null,
  );
}
