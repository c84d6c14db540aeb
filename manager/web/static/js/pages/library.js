// Library: the models on disk with badges, size, format, verdict and pool state; filter and
// sort; delete (after a dry run that shows what goes and what stays); import a folder or a
// GGUF file; storage use and cleanup (dry run first, then the real run).

import { api, idPath, query } from "../api.js";
import {
  badge,
  confirmDialog,
  errorBox,
  field,
  fmtBytes,
  fmtWhen,
  h,
  markReady,
  replace,
  select,
  spinner,
  verdictBadge,
} from "../dom.js";

const SORTS = [
  ["name", "Name"],
  ["-size", "Largest first"],
  ["size", "Smallest first"],
  ["-added", "Newest first"],
  ["-last_used", "Recently used"],
];
const FORMATS = [
  ["", "Any format"],
  ["mlx", "MLX"],
  ["gguf", "GGUF"],
  ["transformers", "Transformers"],
  ["unknown", "Unknown"],
];
const STATE_KIND = { loaded: "ok", loading: "info", "not-loaded": "muted", unknown: "muted" };

export async function render(main, { params }, ctx) {
  const state = { q: params.get("q") || "", format: params.get("format") || "", sort: params.get("sort") || "name" };
  const q = h("input", { type: "search", name: "q", value: state.q, placeholder: "Filter by name" });
  const format = select(FORMATS, state.format, { name: "format" });
  const sort = select(SORTS, state.sort, { name: "sort" });
  const apply = () =>
    ctx.go("library", { ...(q.value.trim() && { q: q.value.trim() }), ...(format.value && { format: format.value }), sort: sort.value });
  format.addEventListener("change", apply);
  sort.addEventListener("change", apply);
  const list = h("div", { "aria-live": "polite" }, spinner());
  const storage = h("section", { class: "panel", "aria-labelledby": "storage-h" });
  replace(
    main,
    h("h1", null, "Library"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), apply()) },
      field("Filter", q),
      field("Format", format),
      field("Sort", sort),
      h("div", { class: "field end" }, h("button", { type: "submit" }, "Apply")),
    ),
    list,
    h("div", { class: "two-col" }, importPanel(ctx, () => loadList()), storage),
  );

  async function loadList() {
    let answer;
    // The pool (pinned, memory) is a nicety next to the list: without it the states stand.
    const pool = api("/api/inference/pool", { signal: ctx.signal }).catch(() => null);
    try {
      answer = await api(`/api/models/local${query(state)}`, { signal: ctx.signal });
    } catch (err) {
      if (!ctx.signal.aborted) replace(list, errorBox(err));
      return;
    }
    const slots = new Map(((await pool)?.slots || []).map((s) => [s.id, s]));
    const rows = answer.data.map((m) => modelRow(m, slots.get(m.id), ctx, loadList));
    replace(
      list,
      h(
        "p",
        { class: "muted small" },
        `${answer.data.length} of ${answer.total} models`,
        answer.inference_reachable ? "" : " · the inference server is not reachable: pool states unknown",
      ),
      rows.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "library" },
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  h("th", { scope: "col" }, "Model"),
                  h("th", { scope: "col", class: "num" }, "Size"),
                  h("th", { scope: "col" }, "Format"),
                  h("th", { scope: "col" }, "Here"),
                  h("th", { scope: "col" }, "Pool"),
                  h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
                ),
              ),
              h("tbody", null, rows),
            ),
          )
        : h("p", { class: "muted" }, answer.total ? "No models match." : "No models yet: download one from Discover or import a folder."),
    );
    markReady(main, "library", ctx);
  }

  await loadList();
  loadStorage(storage, ctx);
}

function modelRow(m, slot, ctx, reload) {
  const verdict = verdictBadge(m.compatibility);
  const actionError = h("div");
  const row = h(
    "tr",
    { dataset: { model: m.id } },
    h(
      "td",
      null,
      h("strong", { class: "model-id" }, m.id),
      h("div", { class: "badges" }, m.badges.map((b) => badge(b)), m.type !== "chat" ? badge(m.type, "muted") : null),
      actionError,
    ),
    h("td", { class: "num" }, fmtBytes(m.size_bytes)),
    h("td", null, m.format, m.weights === "pickle" ? badge("pickle", "bad") : null),
    h("td", null, verdict),
    h(
      "td",
      null,
      badge(m.state, `state ${STATE_KIND[m.state] || ""}`),
      slot?.pinned ? badge("pinned", "info") : null,
      slot?.memory_bytes ? h("div", { class: "muted small" }, fmtBytes(slot.memory_bytes)) : null,
      m.last_used_at ? h("div", { class: "muted small" }, `used ${fmtWhen(m.last_used_at)}`) : null,
    ),
    h(
      "td",
      { class: "row-actions" },
      m.type === "chat" ? h("a", { class: "button", href: `#/chat?model=${encodeURIComponent(m.id)}` }, "Chat") : null,
      h("button", { type: "button", class: "danger", onclick: () => remove(m, actionError, ctx, reload), "aria-label": `Delete ${m.id}` }, "Delete"),
    ),
  );
  return row;
}

async function remove(m, area, ctx, reload) {
  replace(area);
  let plan;
  try {
    plan = await api(`/api/models/local/${idPath(m.id)}?dry_run=true`, { method: "DELETE", signal: ctx.signal });
  } catch (err) {
    replace(area, errorBox(err, "It cannot be deleted."));
    return;
  }
  const body = [
    h("p", null, "This frees ", h("strong", null, fmtBytes(plan.freed_bytes)), m.state === "loaded" ? " and unloads it from the inference server first." : "."),
    h("h3", null, "Removed"),
    h("ul", { class: "paths" }, plan.removed_paths.map((p) => h("li", null, h("code", null, p)))),
    plan.removed_revisions.length ? h("p", { class: "muted small" }, `${plan.removed_revisions.length} revision(s): ${plan.removed_revisions.map((r) => r.slice(0, 10)).join(", ")}`) : null,
    h("h3", null, "Stays"),
    plan.kept_paths.length
      ? h("ul", { class: "paths" }, plan.kept_paths.map((p) => h("li", null, h("code", null, p), " (where it was imported from)")))
      : null,
    h("p", { class: "muted small" }, "Every other model, and any copy outside the cache and the models folder, is left as it is."),
  ];
  const ok = await confirmDialog(`Delete ${m.id}?`, body, "Delete", true);
  if (!ok) return;
  try {
    await api(`/api/models/local/${idPath(m.id)}`, { method: "DELETE", signal: ctx.signal });
  } catch (err) {
    if (!ctx.signal.aborted) replace(area, errorBox(err, "Delete failed."));
    return;
  }
  reload();
}

function importPanel(ctx, reload) {
  const path = h("input", { type: "text", name: "path", required: true, placeholder: "/path/to/model-folder or file.gguf", spellcheck: "false" });
  const name = h("input", { type: "text", name: "name", placeholder: "default: the folder or file name" });
  const mode = select([["link", "Link (no copy, same file system)"], ["copy", "Copy"]], "link", { name: "mode" });
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Import");
  return h(
    "form",
    {
      class: "panel",
      "aria-labelledby": "import-h",
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        replace(out, spinner("Importing…"));
        const body = { path: path.value.trim(), mode: mode.value };
        if (name.value.trim()) body.name = name.value.trim();
        try {
          const model = await api("/api/models/import", { method: "POST", body, signal: ctx.signal });
          replace(out, h("p", { class: "ok-text" }, `Imported as ${model.id}.`));
          path.value = "";
          name.value = "";
          reload();
        } catch (err) {
          if (!ctx.signal.aborted) replace(out, errorBox(err, "Import failed."));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h2", { id: "import-h" }, "Import a folder or GGUF file"),
    h("p", { class: "muted small" }, "A path on the manager's machine; it is registered as local/<name>."),
    field("Path", path),
    field("Name", name),
    field("Mode", mode),
    h("div", { class: "actions" }, button),
    out,
  );
}

async function loadStorage(section, ctx) {
  replace(section, h("h2", { id: "storage-h" }, "Storage"), spinner());
  let stats;
  try {
    stats = await api("/api/storage/stats", { signal: ctx.signal });
  } catch (err) {
    if (!ctx.signal.aborted) replace(section, h("h2", { id: "storage-h" }, "Storage"), errorBox(err));
    return;
  }
  const disk = stats.disks[0];
  const used = disk ? disk.used_bytes / disk.total_bytes : 0;
  const bar = h("div", { class: "meter", role: "img", "aria-label": disk ? `Disk ${Math.round(used * 100)} % used` : "Disk" }, h("span", { class: "fill" }));
  bar.firstChild.style.width = `${Math.min(100, used * 100).toFixed(1)}%`;
  const result = h("div", { "aria-live": "polite" });
  const preview = h("button", { type: "button", onclick: () => cleanup(true) }, "Preview cleanup");
  replace(
    section,
    h("h2", { id: "storage-h" }, "Storage"),
    h(
      "dl",
      { class: "stats" },
      h("dt", null, "Models"), h("dd", null, `${fmtBytes(stats.models_bytes)} (${stats.models.length})`),
      h("dt", null, "Partial downloads"), h("dd", null, `${fmtBytes(stats.partial_bytes)} (${stats.partial_downloads.length})`),
      h("dt", null, "Unreferenced"), h("dd", null, `${fmtBytes(stats.unreferenced_bytes)} (${stats.unreferenced.length})`),
      h("dt", null, "Free"), h("dd", null, fmtBytes(stats.free_bytes)),
    ),
    disk ? [bar, h("p", { class: "muted small" }, `${fmtBytes(disk.used_bytes)} of ${fmtBytes(disk.total_bytes)} used on ${disk.path}`)] : null,
    h("div", { class: "actions" }, preview),
    result,
  );

  async function cleanup(dryRun) {
    preview.disabled = true;
    replace(result, spinner(dryRun ? "Looking…" : "Cleaning up…"));
    let answer;
    try {
      answer = await api(`/api/storage/cleanup?dry_run=${dryRun}`, { method: "POST", signal: ctx.signal });
    } catch (err) {
      if (!ctx.signal.aborted) replace(result, errorBox(err, "Cleanup failed."));
      preview.disabled = false;
      return;
    }
    preview.disabled = false;
    const list = (files) => h("ul", { class: "paths" }, files.map((f) => h("li", null, h("code", null, f.path), ` ${f.kind.replace("_", " ")}, ${fmtBytes(f.size_bytes)}`)));
    if (dryRun) {
      replace(
        result,
        answer.removed.length
          ? [
              h("p", null, `${answer.removed.length} file(s) would be removed, freeing ${fmtBytes(answer.freed_bytes)}:`),
              list(answer.removed),
              h("button", { type: "button", class: "danger", onclick: () => cleanup(false) }, `Remove ${answer.removed.length} file(s)`),
            ]
          : h("p", { class: "muted" }, "Nothing to clean up."),
        answer.kept.length ? [h("p", { class: "muted small" }, `${answer.kept.length} kept (in use or changed recently):`), list(answer.kept)] : null,
      );
    } else {
      replace(result, h("p", { class: "ok-text" }, `Removed ${answer.removed.length} file(s), freed ${fmtBytes(answer.freed_bytes)}.`));
      setTimeout(() => !ctx.signal.aborted && loadStorage(section, ctx), 1500);
    }
  }
}
