// Conversations, kept in this browser's localStorage (nothing is sent anywhere but the
// chat requests themselves).

const KEY = "modelyard.chats";
const MAX_CONVERSATIONS = 50;

export function loadChats() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

export function saveChats(list) {
  const kept = [...list].sort((a, b) => b.updated - a.updated).slice(0, MAX_CONVERSATIONS);
  try {
    localStorage.setItem(KEY, JSON.stringify(kept));
  } catch {
    // storage full or disabled: the conversation lives in this page only
  }
  return kept;
}

export function newChat(settings = {}) {
  return {
    id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    title: "New chat",
    model: settings.model || "",
    system: settings.system || "",
    temperature: settings.temperature ?? 0.7,
    max_tokens: settings.max_tokens ?? 256,
    messages: [],
    updated: Date.now(),
  };
}
