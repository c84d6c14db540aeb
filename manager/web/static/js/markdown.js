// A small, safe Markdown renderer for model cards. It builds DOM nodes directly (text goes
// into text nodes, never innerHTML), so nothing in a card can run: raw HTML tags are dropped
// (their text kept), links are kept only for http(s) and mailto URLs, and images become links
// (the page loads nothing from other sites). It covers what model cards use: front matter
// (skipped), headings, paragraphs, emphasis, code spans and fences, links, lists (nested),
// block quotes, GitHub tables and rules.

import { h } from "./dom.js";

const SAFE_URL = /^(https?:|mailto:)/i;
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TAG = /<\/?[A-Za-z][^>]*>/g;

export function stripFrontMatter(text) {
  return text.replace(/^---\s*\n[\s\S]*?\n---\s*(\n|$)/, "");
}

/** Render `text` (Markdown) into a DocumentFragment. */
export function renderMarkdown(text) {
  const clean = stripFrontMatter(String(text).replace(/\r\n?/g, "\n"))
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, "");
  const frag = document.createDocumentFragment();
  for (const node of blocks(clean.split("\n"))) frag.appendChild(node);
  return frag;
}

function safeHref(url) {
  const trimmed = url.trim();
  return SAFE_URL.test(trimmed) ? trimmed : null;
}

function link(href, children) {
  const safe = safeHref(href);
  if (!safe) return h("span", null, children);
  return h("a", { href: safe, target: "_blank", rel: "noopener noreferrer nofollow" }, children);
}

function headingTag(level) {
  return `h${Math.min(6, level + 2)}`; // the card sits under the page's own headings
}

function blocks(lines) {
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) {
      const text = para.join("\n").replace(TAG, "").trim();
      if (text) out.push(h("p", null, inline(text)));
      para = [];
    }
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
      i += 1;
      const attrs = fence[2] ? { "data-lang": fence[2] } : null;
      out.push(h("pre", null, h("code", attrs, code.join("\n"))));
      continue;
    }
    if (!line.trim()) {
      flush();
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      out.push(h(headingTag(heading[1].length), null, inline(heading[2].replace(TAG, ""))));
      i += 1;
      continue;
    }
    if (para.length && /^ {0,3}(=+|-+)\s*$/.test(line)) {
      const level = line.trim().startsWith("=") ? 1 : 2;
      const text = para.join(" ").replace(TAG, "").trim();
      para = [];
      out.push(h(headingTag(level), null, inline(text)));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      flush();
      out.push(h("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(QUOTE.exec(lines[i++])[1]);
      out.push(h("blockquote", null, blocks(inner)));
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
      flush();
      const rows = [line];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(lines[i++]);
      out.push(table(rows));
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item && (!para.length || item[1].length === 0)) {
      flush();
      const [node, next] = list(lines, i);
      out.push(node);
      i = next;
      continue;
    }
    para.push(line);
    i += 1;
  }
  flush();
  return out;
}

function list(lines, start) {
  const first = LIST_ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i]);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const body = [m[3]];
    i += 1;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        const next = lines[i + 1];
        if (next !== undefined && /^\s+/.test(next) && leading(next) > indent) {
          body.push("");
          i += 1;
          continue;
        }
        break;
      }
      const sub = LIST_ITEM.exec(line);
      if (sub && sub[1].length <= indent) break;
      if (!sub && leading(line) <= indent && !body.length) break;
      if (!sub && leading(line) <= indent && FENCE.test(line)) break;
      body.push(line.slice(Math.min(leading(line), indent + 2)));
      i += 1;
    }
    items.push(body);
  }
  const node = h(ordered ? "ol" : "ul");
  if (ordered) {
    const n = parseInt(first[2], 10);
    if (n !== 1) node.setAttribute("start", String(n));
  }
  for (const body of items) {
    const inner = blocks(body);
    const tight = inner.length === 1 && inner[0].tagName === "P";
    node.appendChild(h("li", null, tight ? Array.from(inner[0].childNodes) : inner));
  }
  return [node, i];
}

function leading(line) {
  return line.length - line.trimStart().length;
}

function cells(row) {
  let s = row.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.replace(/\\\|/g, "|").replace(TAG, "").trim());
}

function table(rows) {
  const head = cells(rows[0]);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      h("thead", null, h("tr", null, head.map((c) => h("th", null, inline(c))))),
      h(
        "tbody",
        null,
        rows.slice(1).map((r) => h("tr", null, cells(r).map((c) => h("td", null, inline(c))))),
      ),
    ),
  );
}

// Inline: the earliest match of these wins; the text between matches stays text.
const INLINE = [
  ["code", /(`+)([\s\S]*?[^`])\1(?!`)/],
  ["image", /!\[([^\]]*)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/],
  ["link", /\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/],
  ["autolink", /<((?:https?:\/\/|mailto:)[^\s>]+)>/],
  ["br", /<br\s*\/?>/i],
  ["tag", /<\/?[A-Za-z][^>]*>/],
  ["strong", /(\*\*|__)(?=\S)([\s\S]*?\S)\1/],
  ["em", /(\*|_)(?=\S)([\s\S]*?\S)\1(?![\w*])/],
  ["del", /~~(?=\S)([\s\S]*?\S)~~/],
  ["url", /https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/],
];

export function inline(text, inLink = false) {
  const nodes = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const [kind, re] of INLINE) {
      const m = re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { kind, m };
    }
    if (!best) {
      nodes.push(document.createTextNode(unescape(rest)));
      break;
    }
    const { kind, m } = best;
    if (m.index > 0) nodes.push(document.createTextNode(unescape(rest.slice(0, m.index))));
    rest = rest.slice(m.index + m[0].length);
    if (kind === "code") nodes.push(h("code", null, m[2].trim() || m[2]));
    else if (kind === "image") {
      const label = `[image${m[1] ? `: ${m[1]}` : ""}]`;
      nodes.push(inLink ? document.createTextNode(label) : link(m[2], label));
    } else if (kind === "link") {
      nodes.push(inLink ? h("span", null, inline(m[1], true)) : link(m[2], inline(m[1], true)));
    } else if (kind === "autolink" || kind === "url") {
      const url = m[1] || m[0];
      nodes.push(inLink ? document.createTextNode(url) : link(url, url));
    }
    else if (kind === "br") nodes.push(h("br"));
    else if (kind === "strong") nodes.push(h("strong", null, inline(m[2], inLink)));
    else if (kind === "em") nodes.push(h("em", null, inline(m[2], inLink)));
    else if (kind === "del") nodes.push(h("del", null, inline(m[1], inLink)));
    // "tag": dropped, its text (outside the tag) stays
  }
  return nodes;
}

function unescape(text) {
  return text.replace(/\\([\\`*_{}[\]()#+\-.!|~<>])/g, "$1");
}
