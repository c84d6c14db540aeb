// Every download job the UI knows, kept current by one event stream for the whole app
// (GET /api/downloads/events, read with fetch so the token goes along). Listeners are told
// which jobs changed at most once per animation frame, however fast events arrive.

import { api, follow } from "./api.js";

export const ACTIVE = new Set(["queued", "downloading", "paused", "verifying"]);

class DownloadsStore {
  constructor() {
    this.jobs = new Map();
    this.connection = "closed";
    this.listeners = new Set();
    this.changed = new Set();
    this.frame = 0;
    this.controller = null;
    this.loaded = false;
  }

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    follow("/api/downloads/events", {
      signal: this.controller.signal,
      onEvent: (event) => this.apply(event),
      onState: (state) => {
        this.connection = state;
        this.notify("connection");
      },
    });
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.jobs.clear();
    this.loaded = false;
  }

  /** Load the history (finished jobs); active ones arrive with the stream's snapshot. */
  async refresh(signal) {
    const list = await api("/api/downloads?limit=200", { signal });
    for (const job of list.downloads) this.put(job);
    this.loaded = true;
    this.notify("loaded");
    return list;
  }

  apply(event) {
    if (event.type === "snapshot") {
      const live = new Set(event.jobs.map((j) => j.id));
      for (const job of event.jobs) this.put(job);
      // Jobs that were active here but are not any more finished while we were away.
      const missed = [...this.jobs.values()].some((j) => ACTIVE.has(j.status) && !live.has(j.id));
      if (missed) this.refresh().catch(() => {});
    } else if (event.type === "progress" || event.type === "status") {
      this.put(event.job);
    } else if (event.type === "deleted") {
      this.jobs.delete(event.job_id);
      this.notify(event.job_id);
    }
  }

  put(job) {
    const old = this.jobs.get(job.id);
    if (old && old.updated_at > job.updated_at) return; // an older view arrived late
    this.jobs.set(job.id, job);
    this.notify(job.id);
  }

  forModel(modelId) {
    let best = null;
    for (const job of this.jobs.values()) {
      if (job.model_id === modelId && (!best || job.created_at > best.created_at)) best = job;
    }
    return best;
  }

  get activeCount() {
    let n = 0;
    for (const job of this.jobs.values()) if (ACTIVE.has(job.status)) n += 1;
    return n;
  }

  notify(key) {
    this.changed.add(key);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const changed = this.changed;
      this.changed = new Set();
      for (const fn of this.listeners) fn(changed);
    });
  }

  /** Call `fn(changedIds)` after changes; returns the function that stops it. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

export const downloads = new DownloadsStore();
