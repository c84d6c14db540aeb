// "Will it run here?" verdicts, fetched lazily (a few at a time) after a list is shown, and
// remembered for a minute so moving between pages does not ask again.

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

/** A loader that fills `slot` elements with the verdict of `id`, CONCURRENCY at a time. */
export function verdictLoader(signal) {
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < CONCURRENCY && queue.length && !signal.aborted) {
      const [id, slot] = queue.shift();
      running += 1;
      compatibility(id, signal)
        .then((report) => {
          const el = verdictBadge(report);
          el.title = verdictTitle(report);
          replace(slot, el);
        })
        .catch((err) => {
          if (signal.aborted) return;
          const el = badge("Unknown", "verdict");
          el.title = err.message;
          replace(slot, el);
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
