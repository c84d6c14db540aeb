// "Will it run here?" verdicts, fetched after a list is shown (a search page's all in one
// call, other lists a few at a time), and remembered for a minute so moving between pages
// does not ask again.

import { api, idPath } from "./api.js";
import { replace, verdictBadge, badge } from "./dom.js";

const CONCURRENCY = 3;
const TTL_MS = 60_000;
const cache = new Map();

export function compatibility(id, signal) {
  const hit = cache.get(id);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.promise;
  const promise = api(`/api/models/compatibility/${idPath(id)}`, { signal });
  cache.set(id, { at: Date.now(), promise });
  promise.catch(() => cache.delete(id));
  return promise;
}

/**
 * Fill the `slots` (model id → element) of a search page with the verdicts of one call to
 * `path` (a Hub search with `verdicts=true`); the reports are remembered like the others.
 */
export async function pageVerdicts(path, slots, signal) {
  let answer;
  try {
    answer = await api(path, { signal });
  } catch (err) {
    if (signal.aborted) return;
    for (const slot of slots.values()) replace(slot, unknown(err.message));
    return;
  }
  const reports = new Map(answer.results.map((r) => [r.id, r.compatibility]));
  for (const [id, slot] of slots) {
    const report = reports.get(id);
    if (report) {
      cache.set(id, { at: Date.now(), promise: Promise.resolve(report) });
      replace(slot, withTitle(report));
    } else {
      replace(slot, unknown("The verdict could not be made: the Hub did not describe this model."));
    }
  }
}

function withTitle(report) {
  const el = verdictBadge(report);
  el.title = verdictTitle(report);
  return el;
}

function unknown(why) {
  const el = badge("Unknown", "verdict");
  el.title = why;
  return el;
}

/** A loader that fills `slot` elements with the verdict of `id`, CONCURRENCY at a time. */
export function verdictLoader(signal) {
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < CONCURRENCY && queue.length && !signal.aborted) {
      const [id, slot] = queue.shift();
      running += 1;
      compatibility(id, signal)
        .then((report) => replace(slot, withTitle(report)))
        .catch((err) => {
          if (!signal.aborted) replace(slot, unknown(err.message));
        })
        .finally(() => {
          running -= 1;
          pump();
        });
    }
  };
  return (id, slot) => {
    replace(slot, verdictBadge(null));
    queue.push([id, slot]);
    pump();
  };
}

export function verdictTitle(report) {
  const lines = (report.reasons || []).map((r) => r.message);
  return lines.length ? lines.join("\n") : "Will it run here?";
}
