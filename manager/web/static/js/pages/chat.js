// Chat: a playground over /v1/chat/completions. The model picker is fed by /v1/models (the
// models that can chat, each with its state and what it can be asked for); the answer streams
// in; Stop aborts the request, which closes the connection, and the server stops generating.
// Time to first token and tokens/s are shown under each answer.

import { api, request, sseEvents, ApiError } from "../api.js";
import { badge, errorBox, field, h, replace, markReady } from "../dom.js";
import { loadChats, newChat, saveChats } from "../chat_store.js";

const STATE_LABEL = {
  loaded: "loaded",
  loading: "loading",
  "not-loaded": "not loaded",
  unknown: "state unknown",
  not_visible_to_inference: "not usable here",
};
const NOT_VISIBLE = "not_visible_to_inference";
// Capabilities worth a badge (every model gets completion, json_object and logprobs).
const CAPABILITY_BADGES = [
  ["tools", "tools"],
  ["json_schema", "JSON schema"],
];

/** Whether a catalog entry can chat: a chat model with a chat template (when known). */
export function canChat(m) {
  return m.type === "chat" && (!Array.isArray(m.capabilities) || m.capabilities.includes("chat"));
}

/** The small badges of what a model can be asked for, and whether it sees images. */
export function capabilityBadges(m) {
  const can = m.capabilities || [];
  const out = CAPABILITY_BADGES.filter(([key]) => can.includes(key)).map(([key, label]) =>
    Object.assign(badge(label, "info capability"), { title: `Supports ${key}` }),
  );
  if (m.characteristics?.is_multimodal) out.push(badge(m.characteristics.multimodal_type || "vision", "info capability"));
  return out;
}

export async function render(main, { params }, ctx) {
  let chats = loadChats();
  let chat = chats[0] || newChat();
  const wanted = params.get("model");
  if (wanted && chat.model !== wanted) {
    chat = newChat({ ...chat, model: wanted });
  }
  let streaming = null; // {controller}

  const list = h("ul", { class: "chat-list", "aria-label": "Conversations" });
  const modelPicker = h("select", { name: "model", required: true });
  const modelInfo = h("div", { class: "small model-info" });
  const system = h("textarea", { name: "system", rows: "2", placeholder: "You are a helpful assistant." });
  const temperature = h("input", { type: "number", name: "temperature", min: "0", max: "2", step: "0.1" });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: "1", max: "32768", step: "1" });
  const messages = h("ol", { class: "messages", "aria-label": "Messages", "aria-live": "polite" });
  const input = h("textarea", { name: "message", rows: "3", placeholder: "Message (Enter sends, Shift+Enter for a new line)", "aria-label": "Message" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const stop = h("button", { type: "button", class: "danger", hidden: true, onclick: () => streaming?.controller.abort() }, "Stop");
  const notice = h("div");
  const composer = h("form", { class: "composer", onsubmit: submit }, input, h("div", { class: "actions" }, stop, send));

  replace(
    main,
    h(
      "div",
      { class: "chat" },
      h(
        "aside",
        { class: "panel chat-side" },
        h("button", { type: "button", class: "primary", onclick: () => open(newChat(settingsNow())) }, "New chat"),
        list,
      ),
      h(
        "section",
        { class: "chat-main" },
        h("h1", { class: "sr-only" }, "Chat"),
        h(
          "details",
          { class: "panel settings", open: true },
          h("summary", null, "Model and settings"),
          h("div", { class: "settings-grid" }, field("Model", modelPicker), field("Temperature", temperature), field("Max tokens", maxTokens)),
          modelInfo,
          field("System prompt", system),
        ),
        notice,
        messages,
        composer,
      ),
    ),
  );

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  main.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && streaming) streaming.controller.abort();
  });
  for (const el of [modelPicker, system, temperature, maxTokens]) el.addEventListener("change", persistSettings);
  modelPicker.addEventListener("change", describeModel);

  let models = [];
  let mismatches = null; // why models are not visible to the inference server (GET /api/system)
  try {
    models = (await api("/v1/models?type=chat", { signal: ctx.signal })).data.filter(canChat);
  } catch (err) {
    if (!ctx.signal.aborted) replace(notice, errorBox(err, "The model list could not be read."));
  }
  if (models.some((m) => m.state === NOT_VISIBLE)) {
    try {
      mismatches = (await api("/api/system", { signal: ctx.signal })).inference?.mismatches || [];
    } catch {
      mismatches = []; // the state alone still says the model cannot be used
    }
  }
  open(chat);
  markReady(main, "chat", ctx);
  input.focus();
  return () => streaming?.controller.abort();

  function fillModels() {
    const ids = new Set(models.map((m) => m.id));
    const options = models.map((m) =>
      h(
        "option",
        { value: m.id, dataset: { state: m.state } },
        `${m.name || m.id} — ${STATE_LABEL[m.state] || m.state}`,
      ),
    );
    if (chat.model && !ids.has(chat.model)) options.unshift(h("option", { value: chat.model }, `${chat.model} (not available)`));
    replace(modelPicker, options.length ? options : h("option", { value: "" }, "No chat models"));
    const usable = models.filter((m) => m.state !== NOT_VISIBLE);
    const fallback = usable.find((m) => m.default) || usable[0] || models[0];
    modelPicker.value = chat.model || fallback?.id || "";
    describeModel();
  }

  function describeModel() {
    const m = models.find((x) => x.id === modelPicker.value);
    if (!m) {
      replace(modelInfo);
      send.disabled = Boolean(streaming);
      return;
    }
    const hidden = m.state === NOT_VISIBLE;
    replace(
      modelInfo,
      h(
        "span",
        { class: "muted" },
        m.description || m.id,
        m.contextLength ? ` · context ${m.contextLength.toLocaleString()} tokens` : "",
        ` · ${STATE_LABEL[m.state] || m.state}`,
      ),
      h("span", { class: "badges inline" }, capabilityBadges(m)),
      hidden ? notVisible(m, mismatches) : null,
    );
    // A model the inference server cannot see would only answer 404: say so, do not send.
    send.disabled = hidden || Boolean(streaming);
  }

  function settingsNow() {
    return {
      model: modelPicker.value,
      system: system.value,
      temperature: temperature.value === "" ? 0.7 : Number(temperature.value),
      max_tokens: maxTokens.value === "" ? 256 : Number(maxTokens.value),
    };
  }

  function persistSettings() {
    Object.assign(chat, settingsNow());
    if (chat.messages.length) store();
  }

  function store() {
    chat.updated = Date.now();
    chats = saveChats([chat, ...chats.filter((c) => c.id !== chat.id)]);
    drawList();
  }

  function drawList() {
    replace(
      list,
      chats.map((c) =>
        h(
          "li",
          { class: c.id === chat.id ? "current" : null },
          h("button", { type: "button", class: "link", "aria-current": c.id === chat.id ? "true" : null, onclick: () => open(c) }, c.title),
          h("button", { type: "button", class: "link muted", "aria-label": `Delete conversation ${c.title}`, onclick: () => forget(c) }, "×"),
        ),
      ),
    );
  }

  function forget(c) {
    chats = saveChats(chats.filter((x) => x.id !== c.id));
    if (c.id === chat.id) open(chats[0] || newChat(settingsNow()));
    else drawList();
  }

  function open(c) {
    if (streaming) streaming.controller.abort();
    chat = c;
    system.value = chat.system || "";
    temperature.value = String(chat.temperature ?? 0.7);
    maxTokens.value = String(chat.max_tokens ?? 256);
    fillModels();
    replace(messages, chat.messages.map((m) => messageView(m).el));
    replace(notice);
    drawList();
  }

  async function submit(event) {
    event.preventDefault();
    if (streaming) return;
    const text = input.value.trim();
    if (!text) return;
    Object.assign(chat, settingsNow());
    if (!chat.model) {
      replace(notice, errorBox({ message: "Pick a model first." }));
      return;
    }
    if (models.find((m) => m.id === chat.model)?.state === NOT_VISIBLE) return;
    replace(notice);
    const user = { role: "user", content: text };
    chat.messages.push(user);
    if (chat.title === "New chat") chat.title = text.slice(0, 40);
    messages.appendChild(messageView(user).el);
    input.value = "";
    const answer = { role: "assistant", content: "", stats: null };
    chat.messages.push(answer);
    const view = messageView(answer, true);
    messages.appendChild(view.el);
    view.el.scrollIntoView({ block: "end" });
    store();

    const controller = new AbortController();
    const onLeave = () => controller.abort();
    ctx.signal.addEventListener("abort", onLeave);
    streaming = { controller };
    stop.hidden = false;
    send.disabled = true;
    const body = {
      model: chat.model,
      messages: [
        ...(chat.system.trim() ? [{ role: "system", content: chat.system }] : []),
        ...chat.messages
          .filter((m) => m !== answer && !m.error && !(m.role === "assistant" && !m.content))
          .map((m) => ({ role: m.role, content: m.content })),
      ],
      temperature: chat.temperature,
      max_tokens: chat.max_tokens,
      stream: true,
      stream_options: { include_usage: true },
    };
    const started = performance.now();
    let first = 0;
    let chunks = 0;
    let usage = null;
    let frame = 0;
    const paint = () => {
      frame = 0;
      view.setText(answer.content);
    };
    try {
      const response = await request("/v1/chat/completions", { method: "POST", body, signal: controller.signal, accept: "text/event-stream" });
      for await (const ev of sseEvents(response, controller.signal)) {
        if (ev.data === "[DONE]") break;
        const chunk = JSON.parse(ev.data);
        if (chunk.error) throw new ApiError(500, chunk.error);
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          if (!first) first = performance.now();
          chunks += 1;
          answer.content += delta;
          if (!frame) frame = requestAnimationFrame(paint);
        }
      }
    } catch (err) {
      if (controller.signal.aborted) answer.stopped = true;
      else {
        answer.error = { message: err.message, steps: err.steps || [] };
      }
    } finally {
      const ended = performance.now();
      if (frame) cancelAnimationFrame(frame);
      ctx.signal.removeEventListener("abort", onLeave);
      const tokens = usage?.completion_tokens ?? chunks;
      answer.stats = first
        ? { ttft_ms: first - started, tokens, tps: tokens > 1 && ended > first ? ((tokens - 1) * 1000) / (ended - first) : null }
        : null;
      view.finish(answer);
      streaming = null;
      stop.hidden = true;
      describeModel();
      if (!ctx.signal.aborted) {
        store();
        input.focus();
      }
    }
  }
}

/** Why a model in the catalog cannot be used: the inference server does not read its folder. */
function notVisible(m, mismatches) {
  return h(
    "div",
    { class: "notice not-visible", role: "note" },
    h("strong", null, "Not usable: "),
    `the inference server does not read the folder ${m.id} is in, so it cannot load it.`,
    mismatches?.length ? h("ul", { class: "steps" }, mismatches.map((text) => h("li", null, text))) : null,
    h("p", { class: "small" }, "Start both processes with the same MODELYARD_HOME and HF_HUB_CACHE (or the same per-process folders), then reload."),
  );
}

function messageView(message, live = false) {
  const text = h("div", { class: "text" }, message.content);
  const foot = h("div", { class: "foot muted small" });
  const el = h("li", { class: `msg ${message.role}`, dataset: { role: message.role } }, h("span", { class: "who" }, message.role === "user" ? "You" : "Assistant"), text, foot);
  if (live) {
    el.dataset.streaming = "true";
    text.appendChild(h("span", { class: "cursor", "aria-hidden": "true" }));
  }
  const setText = (value) => {
    text.textContent = value;
  };
  const finish = (m) => {
    delete el.dataset.streaming;
    setText(m.content);
    replace(foot, footText(m));
    if (m.error) el.appendChild(errorBox(m.error));
    el.dataset.done = m.stopped ? "stopped" : m.error ? "error" : "complete";
  };
  if (!live && message.role === "assistant") finish(message);
  return { el, setText, finish };
}

function footText(m) {
  const parts = [];
  if (m.stopped) parts.push("stopped");
  if (m.stats) {
    parts.push(`first token ${Math.round(m.stats.ttft_ms)} ms`);
    if (m.stats.tps) parts.push(`${m.stats.tps.toFixed(1)} tokens/s`);
    parts.push(`${m.stats.tokens} tokens`);
  }
  return h("span", { class: "stats" }, parts.join(" · "));
}
