// Downloads: every job with live progress (bytes, speed, ETA, each file), pause / resume /
// cancel, failures with their message and what to do, and the history. Rows are built once
// and updated in place, at most once per frame, so a fast download cannot make the page janky.

import { api, idPath } from "../api.js";
import {
  badge,
  errorBox,
  fmtBytes,
  fmtDuration,
  fmtRate,
  fmtWhen,
  h,
  markReady,
  replace,
  spinner,
  verdictBadge,
} from "../dom.js";
import { ACTIVE, downloads } from "../downloads_store.js";

const STATUS_KIND = {
  queued: "muted",
  downloading: "info",
  paused: "warn",
  verifying: "info",
  completed: "ok",
  failed: "bad",
  cancelled: "muted",
};

function percent(job) {
  return job.bytes_total ? Math.min(100, (job.bytes_done / job.bytes_total) * 100) : job.status === "completed" ? 100 : 0;
}

/** A job's progress block: {el, update(job)}. `compact` leaves out files and history. */
export function jobProgress(job, { compact = false } = {}) {
  const bar = h("progress", { max: "100", value: "0", "aria-label": "Progress" });
  const pct = h("span", { class: "pct" });
  const status = h("span", { class: "status-slot" });
  const bytes = h("span", { class: "bytes" });
  const speed = h("span", { class: "speed" });
  const eta = h("span", { class: "eta" });
  const files = h("span", { class: "files-count" });
  const error = h("div", { class: "error-slot" });
  const warning = h("div", { class: "warning-slot" });
  const fileList = compact ? null : h("ul", { class: "file-list" });
  const filesBox = compact
    ? null
    : h("details", { class: "files" }, h("summary", null, "Files"), fileList);
  const el = h(
    "div",
    { class: "progress-block" },
    h("div", { class: "progress-line" }, status, bar, pct),
    h("p", { class: "meta muted" }, bytes, " · ", files, h("span", { class: "rate" }, " · ", speed, " · ETA ", eta)),
    warning,
    error,
    filesBox,
  );
  let lastStatus = null;
  let lastError = null;
  let lastWarning = null;
  const fileRows = new Map();

  function update(next) {
    if (!next) return;
    const p = percent(next);
    bar.value = p;
    pct.textContent = `${Math.floor(p)} %`;
    bytes.textContent = `${fmtBytes(next.bytes_done)} of ${fmtBytes(next.bytes_total)}`;
    const moving = next.status === "downloading";
    speed.parentNode.hidden = !moving;
    if (moving) {
      speed.textContent = fmtRate(next.speed_bps);
      eta.textContent = fmtDuration(next.eta_s);
    }
    files.textContent = `${next.files_done} of ${next.files_total} files`;
    if (next.status !== lastStatus) {
      replace(status, badge(next.status, `status ${STATUS_KIND[next.status] || ""}`));
      el.dataset.status = next.status;
      lastStatus = next.status;
    }
    const note = next.warning ? next.warning.message : null;
    if (note !== lastWarning) {
      replace(warning, next.warning ? warningBox(next.warning) : null);
      lastWarning = note;
    }
    const err = next.error ? JSON.stringify(next.error) : null;
    if (err !== lastError) {
      replace(error, next.error ? errorBox({ message: next.error.message, steps: next.error.resolution_steps }) : null);
      lastError = err;
    }
    if (fileList) {
      for (const f of next.files) {
        let row = fileRows.get(f.path);
        if (!row) {
          const state = h("span", { class: "file-state" });
          const size = h("span", { class: "muted" });
          row = { state, size, el: h("li", null, h("span", { class: "path" }, f.path), " ", state, " ", size) };
          fileRows.set(f.path, row);
          fileList.appendChild(row.el);
        }
        row.state.textContent = f.status;
        row.state.className = `file-state ${f.status}`;
        row.size.textContent = `${fmtBytes(f.bytes_done)} / ${fmtBytes(f.size)}`;
      }
    }
  }
  update(job);
  return { el, update };
}

/** A job's warning (a download forced past its verdict): what the verdict said. */
function warningBox(warning) {
  const d = warning.details || {};
  const reasons = (d.reasons || []).filter((r) => r.severity !== "info");
  return h(
    "div",
    { class: "notice job-warning", role: "note" },
    h("strong", null, "Downloaded anyway: "),
    d.verdict ? [verdictBadge({ label: d.verdict }), " "] : null,
    reasons.length ? reasons.map((r) => r.message).join("; ") : warning.message,
  );
}

function actionsFor(job, area) {
  const act = async (label, method, path) => {
    try {
      const answer = await api(path, { method });
      if (answer && answer.id) downloads.put(answer);
      else if (method === "DELETE") {
        downloads.jobs.delete(job.id);
        downloads.notify(job.id);
      }
    } catch (err) {
      replace(area, errorBox(err, `${label} failed.`));
    }
  };
  const buttons = [];
  const base = `/api/downloads/${job.id}`;
  if (job.status === "downloading" || job.status === "queued") {
    buttons.push(h("button", { type: "button", onclick: () => act("Pause", "POST", `${base}/pause`) }, "Pause"));
  }
  if (job.status === "paused" || job.status === "failed") {
    buttons.push(h("button", { type: "button", class: "primary", onclick: () => act("Resume", "POST", `${base}/resume`) }, "Resume"));
  }
  if (ACTIVE.has(job.status)) {
    buttons.push(h("button", { type: "button", class: "danger", onclick: () => act("Cancel", "DELETE", base) }, "Cancel"));
  } else {
    buttons.push(h("button", { type: "button", onclick: () => act("Remove", "DELETE", base) }, job.status === "failed" ? "Remove" : "Remove from history"));
  }
  if (job.status === "completed") {
    buttons.unshift(h("a", { class: "button", href: "#/library" }, "Open library"));
  }
  return buttons;
}

function jobRow(job) {
  const progress = jobProgress(job);
  const actions = h("div", { class: "actions" });
  const actionError = h("div");
  const when = h("span", { class: "muted small" });
  const el = h(
    "li",
    { class: "job panel", dataset: { job: job.id } },
    h("div", { class: "job-head" }, h("h3", null, h("a", { href: `#/model/${idPath(job.model_id)}` }, job.model_id)), when),
    progress.el,
    actions,
    actionError,
  );
  let lastStatus = null;
  function update(next) {
    progress.update(next);
    when.textContent = next.finished_at ? `finished ${fmtWhen(next.finished_at)}` : `started ${fmtWhen(next.started_at || next.created_at)}`;
    if (next.status !== lastStatus) {
      replace(actions, actionsFor(next, actionError));
      replace(actionError);
      lastStatus = next.status;
    }
  }
  update(job);
  return { el, update };
}

export async function render(main, _route, ctx) {
  const live = h("span", { class: "muted small", role: "status" });
  const active = h("ul", { class: "jobs", "aria-label": "Active downloads" });
  const history = h("ul", { class: "jobs", "aria-label": "Download history" });
  const activeEmpty = h("p", { class: "muted" }, "Nothing is downloading. Find a model in Discover.");
  const historyEmpty = h("p", { class: "muted" }, "No finished downloads yet.");
  const body = h("div", null, spinner());
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", null, "Downloads"), live),
    body,
  );
  try {
    await downloads.refresh(ctx.signal);
  } catch (err) {
    if (!ctx.signal.aborted) replace(body, errorBox(err));
    return;
  }
  replace(
    body,
    h("section", { "aria-labelledby": "active-h" }, h("h2", { id: "active-h" }, "Active"), activeEmpty, active),
    h("section", { "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "History"), historyEmpty, history),
  );

  const rows = new Map();
  const place = (job) => {
    let row = rows.get(job.id);
    if (!row) {
      row = jobRow(job);
      rows.set(job.id, row);
    } else {
      row.update(job);
    }
    const list = ACTIVE.has(job.status) ? active : history;
    if (row.el.parentNode !== list) {
      // Newest first: before the first row created earlier than this job.
      const after = [...list.children].find((li) => (downloads.jobs.get(li.dataset.job)?.created_at || 0) < job.created_at);
      list.insertBefore(row.el, after || null);
    }
  };
  const sync = (changed) => {
    if (changed.has("connection")) {
      live.textContent = { open: "● live", retrying: "reconnecting…", closed: "not live" }[downloads.connection] || "";
    }
    for (const key of changed) {
      if (key === "connection" || key === "loaded") continue;
      const job = downloads.jobs.get(key);
      if (job) place(job);
      else if (rows.has(key)) {
        rows.get(key).el.remove();
        rows.delete(key);
      }
    }
    activeEmpty.hidden = active.children.length > 0;
    historyEmpty.hidden = history.children.length > 0;
  };
  const all = [...downloads.jobs.values()].sort((a, b) => b.created_at - a.created_at);
  for (const job of all) place(job);
  sync(new Set(["connection"]));
  markReady(main, "downloads", ctx);
  return downloads.subscribe(sync);
}
