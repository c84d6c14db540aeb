// Discover: search the Hub through the manager, one card per model with its badges and the
// verdict for this machine; pages follow the manager's cursors. The cards are shown as soon as
// the search answers; the verdicts of the whole page follow in one more call (the same search
// with `verdicts=true`, whose listing the manager has just cached).

import { api, idPath, query } from "../api.js";
import { badge, errorBox, field, fmtCount, fmtWhen, h, replace, select, spinner, markReady, verdictBadge } from "../dom.js";
import { pageVerdicts } from "../compat.js";

const SORTS = [
  ["downloads", "Most downloaded"],
  ["likes", "Most liked"],
  ["trending", "Trending"],
  ["lastModified", "Recently updated"],
];
const FORMATS = [
  ["", "Any format"],
  ["mlx", "MLX"],
  ["gguf", "GGUF"],
  ["transformers", "Transformers"],
];
const LIMIT = 20;
// Cursors of the pages seen, per search, so "Previous" can go back.
const cursors = new Map();

export async function render(main, { params }, ctx) {
  const state = {
    q: params.get("q") || "",
    author: params.get("author") || "",
    library: params.get("library") || "",
    sort: params.get("sort") || "downloads",
    page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
  };
  const key = JSON.stringify([state.q, state.author, state.library, state.sort]);
  const pages = cursors.get(key) || [null];
  cursors.set(key, pages);
  const cursor = pages[state.page - 1] ?? null;
  const page = cursor === null ? 1 : state.page;

  const q = h("input", { type: "search", name: "q", value: state.q, placeholder: "qwen, llama…" });
  const author = h("input", { type: "text", name: "author", value: state.author });
  const library = select(FORMATS, state.library, { name: "library" });
  const sort = select(SORTS, state.sort, { name: "sort" });
  const form = h(
    "form",
    { class: "filters", role: "search", onsubmit: submit },
    field("Search the Hub", q),
    field("Author", author),
    field("Format", library),
    field("Sort", sort),
    h("div", { class: "field end" }, h("button", { type: "submit", class: "primary" }, "Search")),
  );
  const results = h("div", { id: "results", "aria-live": "polite" }, spinner("Searching…"));
  replace(main, h("h1", null, "Discover"), form, results);

  function submit(event) {
    event.preventDefault();
    ctx.go("discover", {
      ...(q.value.trim() && { q: q.value.trim() }),
      ...(author.value.trim() && { author: author.value.trim() }),
      ...(library.value && { library: library.value }),
      sort: sort.value,
    });
  }

  const search = { q: state.q, author: state.author, library: state.library, sort: state.sort, limit: LIMIT, cursor };
  let answer;
  try {
    answer = await api(`/api/hub/search${query(search)}`, { signal: ctx.signal });
  } catch (err) {
    if (!ctx.signal.aborted) replace(results, errorBox(err, "Search failed."));
    return;
  }
  pages[page] = answer.next_cursor;
  const slots = new Map();
  const cards = answer.results.map((r) => card(r, slots));
  const nav = h(
    "nav",
    { class: "pager", "aria-label": "Result pages" },
    h(
      "button",
      { type: "button", disabled: page <= 1, onclick: () => goPage(page - 1) },
      "← Previous",
    ),
    h("span", { class: "muted" }, `Page ${page}`),
    h(
      "button",
      { type: "button", disabled: !answer.next_cursor, onclick: () => goPage(page + 1) },
      "Next →",
    ),
  );
  replace(
    results,
    answer.stale ? h("p", { class: "notice" }, "The Hub did not answer; these results are older.") : null,
    cards.length
      ? h("ul", { class: "cards", "aria-label": "Search results" }, cards)
      : h("p", { class: "muted" }, "No models match."),
    nav,
  );
  markReady(main, "results", ctx);
  if (slots.size) pageVerdicts(`/api/hub/search${query({ ...search, verdicts: true })}`, slots, ctx.signal);

  function goPage(n) {
    ctx.go("discover", {
      ...(state.q && { q: state.q }),
      ...(state.author && { author: state.author }),
      ...(state.library && { library: state.library }),
      sort: state.sort,
      page: n,
    });
  }
}

function card(result, slots) {
  const verdict = h("span", { class: "verdict-slot" }, verdictBadge(null));
  slots.set(result.id, verdict);
  return h(
    "li",
    { class: "card" },
    h("h2", null, h("a", { href: `#/model/${idPath(result.id)}` }, result.id)),
    h(
      "div",
      { class: "badges" },
      result.badges.map((b) => badge(b)),
      result.library_name ? badge(result.library_name, "muted") : null,
      result.gated ? badge("gated", "warn") : null,
      verdict,
    ),
    h(
      "p",
      { class: "meta muted" },
      `↓ ${fmtCount(result.downloads)} · ♥ ${fmtCount(result.likes)} · updated ${fmtWhen(
        result.last_modified,
      )}`,
    ),
  );
}
