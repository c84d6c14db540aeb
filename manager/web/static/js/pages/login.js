// Token mode: ask for the manager's API token once; it is kept in this tab's session storage
// and sent as a bearer token with every API call.

import { api, auth, ApiError } from "../api.js";
import { errorBox, field, h, replace } from "../dom.js";

export function render(main, _route, ctx) {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const message = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "login panel", onsubmit: submit },
    h("h1", null, "Sign in"),
    h(
      "p",
      { class: "muted" },
      "This manager needs its API token (MODEL_MANAGER_API_TOKEN). It is kept in this tab " +
        "until you close it or sign out.",
    ),
    field("API token", input),
    message,
    h("div", { class: "actions" }, button),
  );
  replace(main, form);
  input.focus();

  async function submit(event) {
    event.preventDefault();
    button.disabled = true;
    replace(message);
    auth.token = input.value.trim();
    try {
      await api("/api/downloads?limit=1", { signal: ctx.signal });
      ctx.onLogin();
    } catch (err) {
      auth.token = null;
      if (ctx.signal.aborted) return;
      const refused = err instanceof ApiError && err.status === 401;
      replace(message, errorBox(refused ? { message: "That token was refused." } : err));
      button.disabled = false;
      input.select();
    }
  }
}
