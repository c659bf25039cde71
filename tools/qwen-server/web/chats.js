// The saved conversations: one JSON list in localStorage, so they survive a reload. Each is
// {id, title, updated, messages: [{role, content, usage?}]}; an assistant message keeps the
// usage of its request ({prompt_tokens, completion_tokens}) for the context meter.
'use strict';

(function () {
  const KEY = 'qwenedge.chats';
  const CURRENT = 'qwenedge.current';

  // A random id per conversation, sent as X-Conversation-Id (load balancers hash on it).
  // crypto.randomUUID exists only in secure contexts; getRandomValues also works over plain
  // http on a LAN address.
  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function load() {
    try {
      const list = JSON.parse(localStorage.getItem(KEY) || '[]');
      return Array.isArray(list) ? list.filter((c) => c && c.id && Array.isArray(c.messages)) : [];
    } catch (e) {
      return [];  // unreadable or blocked storage: start empty rather than break the page
    }
  }

  const store = {
    list: load(),

    create() {
      const chat = { id: newId(), title: '', updated: Date.now(), messages: [] };
      this.list.unshift(chat);
      return chat;
    },

    find(id) { return this.list.find((c) => c.id === id) || null; },

    remove(id) { this.list = this.list.filter((c) => c.id !== id); },

    // Newest first, so the conversation in use sits at the top of the side list.
    sorted() { return [...this.list].sort((a, b) => b.updated - a.updated); },

    save(currentId) {
      try {
        localStorage.setItem(KEY, JSON.stringify(this.list));
        localStorage.setItem(CURRENT, currentId || '');
      } catch (e) {
        // Quota full or storage disabled: the chat still works, it just won't survive a reload.
        console.warn('conversations not saved:', e.message);
      }
    },

    savedCurrent() {
      try { return localStorage.getItem(CURRENT); } catch (e) { return null; }
    },
  };

  // The side list shows the first words of the first question until the user renames it.
  store.titleOf = (chat) => {
    if (chat.title) return chat.title;
    const first = chat.messages.find((m) => m.role === 'user');
    if (!first) return 'New chat';
    const t = first.content.replace(/\s+/g, ' ').trim();
    return t.length > 40 ? t.slice(0, 40) + '…' : t;
  };

  window.chatStore = store;
})();
