// A Hub model: what it is (badges, verdict, licence), its files and sizes, the model card,
// its quantized variants with their own verdicts, and one Download button.

import { api, idPath, ApiError } from "../api.js";
import {
  badge,
  errorBox,
  fmtBytes,
  fmtCount,
  fmtWhen,
  h,
  markReady,
  replace,
  spinner,
  verdictBadge,
} from "../dom.js";
import { compatibility, verdictLoader, verdictTitle } from "../compat.js";
import { downloads } from "../downloads_store.js";
import { renderMarkdown } from "../markdown.js";
import { jobProgress } from "./downloads.js";

export async function render(main, { rest }, ctx) {
  const id = rest;
  replace(main, spinner(`Loading ${id}…`));
  let details;
  try {
    details = await api(`/api/hub/models/${idPath(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (!ctx.signal.aborted) replace(main, h("h1", null, id), errorBox(err));
    return;
  }
  const verdict = h("span", { class: "verdict-slot" });
  const verdictReasons = h("div", { class: "reasons" });
  const card = h("section", { class: "panel card-body", "aria-labelledby": "card-h" });
  const variants = h("section", { class: "panel", "aria-labelledby": "variants-h" });
  const download = downloadPanel(details, ctx);

  replace(
    main,
    h(
      "header",
      { class: "model-head" },
      h("p", { class: "crumbs" }, h("a", { href: "#/discover" }, "Discover"), " / "),
      h("h1", null, details.id),
      h(
        "div",
        { class: "badges" },
        details.badges.map((b) => badge(b)),
        details.library_name ? badge(details.library_name, "muted") : null,
        details.gated ? badge(`gated${details.gated_mode ? ` (${details.gated_mode})` : ""}`, "warn") : null,
        details.unsafe_format ? badge("pickle weights", "bad") : null,
        verdict,
      ),
      h(
        "p",
        { class: "meta muted" },
        [
          details.license && `licence ${details.license}`,
          `↓ ${fmtCount(details.downloads)}`,
          `♥ ${fmtCount(details.likes)}`,
          `updated ${fmtWhen(details.last_modified)}`,
          `${fmtBytes(details.total_size)} in ${details.files.length} files`,
        ]
          .filter(Boolean)
          .join(" · "),
      ),
      details.base_models.length
        ? h(
            "p",
            { class: "meta" },
            "Based on ",
            details.base_models.map((b, i) => [
              i ? ", " : "",
              h("a", { href: `#/model/${idPath(b)}` }, b),
            ]),
          )
        : null,
      details.stale ? h("p", { class: "notice" }, "The Hub did not answer; this is older data.") : null,
      verdictReasons,
    ),
    h("div", { class: "model-grid" }, h("div", null, download, card, variants), filesPanel(details)),
  );
  markReady(main, "model", ctx);

  compatibility(details.id, ctx.signal)
    .then((report) => {
      const el = verdictBadge(report);
      el.title = verdictTitle(report);
      replace(verdict, el);
      const reasons = report.reasons.filter((r) => r.severity !== "info");
      replace(
        verdictReasons,
        reasons.length ? h("ul", { class: "muted small" }, reasons.map((r) => h("li", null, r.message))) : null,
      );
    })
    .catch((err) => {
      if (!ctx.signal.aborted) replace(verdict, Object.assign(badge("Unknown", "verdict"), { title: err.message }));
    });
  loadCard(details, card, ctx);
  loadVariants(details, variants, ctx);
}

function downloadPanel(details, ctx) {
  const panel = h("section", { class: "panel", "aria-labelledby": "dl-h" }, h("h2", { id: "dl-h" }, "Download"));
  const selections = details.selections;
  let chosen = selections[0] || null;
  if (selections.length > 1) {
    const group = h(
      "fieldset",
      { class: "choices" },
      h("legend", null, "What to download"),
      selections.map((sel, i) =>
        h(
          "label",
          { class: "choice" },
          h("input", {
            type: "radio",
            name: "selection",
            value: String(i),
            checked: i === 0,
            onchange: () => {
              chosen = sel;
            },
          }),
          ` ${selectionLabel(sel)} — ${fmtBytes(sel.size)}`,
        ),
      ),
    );
    panel.appendChild(group);
  } else if (chosen) {
    panel.appendChild(h("p", null, `${selectionLabel(chosen)} — ${fmtBytes(chosen.size)} in ${chosen.files.length} files`));
  } else {
    panel.appendChild(h("p", { class: "muted" }, "No weights found in this repository; the default file set is fetched."));
  }
  if (details.unsafe_format) {
    panel.appendChild(
      h("p", { class: "notice" }, "This repository holds pickle weights, which can run code when loaded; they are only downloaded when asked for by name."),
    );
  }
  const status = h("div", { class: "job-slot", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "primary", onclick: () => start() }, "Download");
  panel.appendChild(h("div", { class: "actions" }, button));
  panel.appendChild(status);

  let unsubscribe = null;
  const existing = downloads.forModel(details.id);
  if (existing) watch(existing.id);

  async function start(force = false) {
    button.disabled = true;
    replace(status, spinner("Starting…"));
    const body = { model_id: details.id };
    if (chosen && selections.length > 1) {
      body.allow_patterns = chosen.files;
      if (chosen.format === "gguf") body.format = "gguf";
    }
    if (force) body.force = true;
    try {
      const job = await api("/api/downloads", { method: "POST", body, signal: ctx.signal });
      downloads.put(job);
      watch(job.id);
    } catch (err) {
      if (ctx.signal.aborted) return;
      const refused = err instanceof ApiError && err.code === "model_not_servable";
      replace(status, refused ? notServable(err, () => start(true)) : errorBox(err, "The download could not start."));
      button.disabled = false;
    }
  }

  function watch(jobId) {
    unsubscribe?.();
    const view = jobProgress(downloads.jobs.get(jobId), { compact: true });
    replace(status, view.el);
    const update = () => {
      const job = downloads.jobs.get(jobId);
      if (!job) return;
      view.update(job);
      button.disabled = job.status !== "cancelled" && job.status !== "failed" && job.status !== "completed";
      button.textContent = job.status === "completed" ? "Download again" : "Download";
    };
    update();
    unsubscribe = downloads.subscribe((changed) => {
      if (changed.has(jobId)) update();
    });
    ctx.signal.addEventListener("abort", () => unsubscribe?.());
  }
  return panel;
}

/**
 * The 409 `model_not_servable` answer: the verdict and its reasons, what to do instead, and
 * a button that sends the same request again with `force: true`.
 */
function notServable(err, downloadAnyway) {
  const d = err.details || {};
  const reasons = (d.reasons || []).filter((r) => r.severity !== "info");
  // The API's hints (send "force": true, GET the full verdict) are for API clients: the
  // button does the first, the reasons above are the second.
  const steps = err.steps.filter((s) => !s.includes('"force"') && !s.includes("GET /api/"));
  return h(
    "div",
    { class: "not-servable notice", role: "alert", dataset: { verdict: d.verdict || "unknown" } },
    h(
      "p",
      null,
      verdictBadge({ label: d.verdict || "unknown" }),
      " ",
      h("strong", null, "This model would not run on this inference server."),
    ),
    reasons.length
      ? h(
          "ul",
          { class: "reasons" },
          reasons.map((r) => h("li", { dataset: { code: r.code, severity: r.severity } }, r.message)),
        )
      : h("p", null, err.message),
    steps.length ? h("ul", { class: "steps muted small" }, steps.map((s) => h("li", null, s))) : null,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: downloadAnyway }, "Download anyway"),
      h("span", { class: "muted small" }, "The files are fetched; the job keeps this warning."),
    ),
  );
}

function selectionLabel(sel) {
  if (sel.format === "gguf") return `GGUF ${sel.name}`;
  const quant = sel.quant ? ` (${sel.quant.label})` : "";
  return `${sel.format === "mlx" ? "MLX weights" : "safetensors weights"}${quant}`;
}

function filesPanel(details) {
  return h(
    "section",
    { class: "panel files", "aria-labelledby": "files-h" },
    h("h2", { id: "files-h" }, `Files (${details.files.length})`),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        null,
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "File"), h("th", { scope: "col", class: "num" }, "Size"))),
        h(
          "tbody",
          null,
          details.files.map((f) =>
            h(
              "tr",
              null,
              h(
                "td",
                { class: "path" },
                f.path,
                f.lfs ? h("span", { class: "muted small" }, " LFS") : null,
                f.unsafe_format ? badge("pickle", "bad") : null,
              ),
              h("td", { class: "num" }, fmtBytes(f.size)),
            ),
          ),
        ),
      ),
    ),
  );
}

async function loadCard(details, section, ctx) {
  replace(section, h("h2", { id: "card-h" }, "Model card"), spinner());
  try {
    const card = await api(`/api/hub/models/${idPath(details.id)}/card`, { signal: ctx.signal });
    const body = card.markdown && card.markdown.trim()
      ? h("div", { class: "markdown" }, renderMarkdown(card.markdown))
      : h("p", { class: "muted" }, details.card_summary || "This repository has no model card.");
    replace(section, h("h2", { id: "card-h" }, "Model card"), body);
  } catch (err) {
    if (ctx.signal.aborted) return;
    const fallback = err instanceof ApiError && details.card_summary ? h("p", null, details.card_summary) : errorBox(err);
    replace(section, h("h2", { id: "card-h" }, "Model card"), fallback);
  }
}

async function loadVariants(details, section, ctx) {
  replace(section, h("h2", { id: "variants-h" }, "Quantized variants"), spinner());
  let answer;
  try {
    answer = await api(`/api/hub/models/${idPath(details.id)}/variants`, { signal: ctx.signal });
  } catch (err) {
    if (!ctx.signal.aborted) replace(section, h("h2", { id: "variants-h" }, "Quantized variants"), errorBox(err));
    return;
  }
  const loadVerdict = verdictLoader(ctx.signal);
  const rows = answer.variants.map((v) => {
    const slot = h("span", { class: "verdict-slot" });
    loadVerdict(v.id, slot);
    return h(
      "tr",
      null,
      h("td", null, h("a", { href: `#/model/${idPath(v.id)}` }, v.id)),
      h("td", null, v.format.toUpperCase(), v.quant ? ` ${v.quant.label}` : ""),
      h("td", { class: "num" }, fmtBytes(v.size)),
      h("td", { class: "num" }, fmtCount(v.downloads)),
      h("td", null, slot),
    );
  });
  replace(
    section,
    h("h2", { id: "variants-h" }, "Quantized variants"),
    rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            null,
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Repository", "Format", "Size", "Downloads", "Here"].map((t, i) =>
                  h("th", { scope: "col", class: i === 2 || i === 3 ? "num" : null }, t),
                ),
              ),
            ),
            h("tbody", null, rows),
          ),
        )
      : h("p", { class: "muted" }, "No quantized variants found."),
    answer.match === "name" && rows.length
      ? h("p", { class: "muted small" }, "Found by name: none of these declares this model as its base.")
      : null,
  );
}
