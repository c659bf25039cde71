// The chat page: the saved conversations (chatStore, chats.js) in a side list, answers streamed
// from /v1/chat/completions (SSE over fetch) and rendered with renderMarkdown (DOM nodes, never
// innerHTML). Copy buttons copy text (textContent or the raw answer), never HTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const messagesEl = $('messages');
  const input = $('input');
  const store = window.chatStore;
  let current = null;        // the conversation shown
  let controller = null;     // AbortController of the answer being streamed
  let contextSize = 0;       // the server's context, from GET /v1/models

  // ---- Settings (kept per browser, not per conversation) ----

  const settingKeys = ['system', 'temperature', 'top-p', 'max-tokens', 'api-key'];
  for (const k of settingKeys) {
    const saved = localStorage.getItem('qwenedge.' + k);
    if (saved !== null) $(k).value = saved;
    $(k).addEventListener('change', () => localStorage.setItem('qwenedge.' + k, $(k).value));
  }
  $('settings-toggle').addEventListener('click', () => {
    const s = $('settings');
    s.hidden = !s.hidden;
    $('settings-toggle').setAttribute('aria-expanded', String(!s.hidden));
  });

  function numberSetting(id, parse) {
    const v = parse($(id).value);
    return Number.isFinite(v) ? v : undefined;
  }

  // Every request names its conversation, so a load balancer can keep it on one server (whose
  // slot still holds the conversation's KV cache).
  function headers(json) {
    const h = { 'X-Conversation-Id': current.id };
    const key = $('api-key').value.trim();
    if (key) h.Authorization = 'Bearer ' + key;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function button(label, onClick, className) {
    const b = el('button', className, label);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  // A one-glyph button (the side list is narrow); its name is for screen readers and tooltips.
  function iconButton(glyph, name, onClick, className) {
    const b = button(glyph, onClick, className);
    b.setAttribute('aria-label', name);
    b.title = name;
    return b;
  }

  // ---- Copying ----

  // navigator.clipboard exists only in secure contexts (https, localhost); over plain http on a
  // LAN address the older execCommand route still works.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = el('textarea');
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error('copy failed'));
  }

  function copyButton(getText, label) {
    const b = button(label || 'Copy', () => {
      copyText(getText()).then(() => { b.textContent = 'Copied'; }, () => { b.textContent = 'Copy failed'; });
      setTimeout(() => { b.textContent = label || 'Copy'; }, 1500);
    }, 'copy');
    return b;
  }

  // An answer as Markdown, each code block with its own copy button (outside <pre>, so the
  // button's label is not part of the code).
  function renderAnswer(target, text) {
    target.replaceChildren(renderMarkdown(text));
    for (const pre of target.querySelectorAll('pre')) {
      const wrap = el('div', 'code');
      pre.replaceWith(wrap);
      wrap.append(copyButton(() => pre.textContent), pre);
    }
  }

  // ---- The header: model name and context use ----

  function loadModel() {
    fetch('v1/models', { headers: headers(false) })
      .then((r) => r.json())
      .then((j) => {
        const m = j.data[0];
        $('model').textContent = m.id;
        contextSize = (m.meta && m.meta.context) || 0;
        showContextUse();
      })
      .catch(() => {});
  }

  // The last answer's usage (prompt + completion) is what the conversation fills of the context.
  function showContextUse() {
    const last = [...current.messages].reverse().find((m) => m.usage);
    const used = last ? (last.usage.prompt_tokens || 0) + (last.usage.completion_tokens || 0) : 0;
    $('context-use').textContent = contextSize ? used + ' / ' + contextSize + ' tokens' : '';
  }

  // ---- The side list ----

  function renderList() {
    const items = store.sorted().map((chat) => {
      const li = el('li', chat === current ? 'current' : '');
      const title = button(store.titleOf(chat), () => selectChat(chat), 'title');
      if (chat === current) title.setAttribute('aria-current', 'true');
      li.append(title,
                iconButton('✎', 'Rename', () => startRename(chat, li, title), 'rename'),
                iconButton('✕', 'Delete', () => deleteChat(chat), 'delete'));
      return li;
    });
    $('chat-list').replaceChildren(...items);
  }

  function save() {
    store.save(current.id);
    renderList();
  }

  // An answer being streamed belongs to the conversation shown: leaving it stops the answer
  // (what came so far is kept).
  function stopStreaming() {
    if (controller) controller.abort();
  }

  function selectChat(chat) {
    if (chat !== current) {
      stopStreaming();
      // An untouched new chat is not worth a line in the list.
      if (current && current.messages.length === 0) store.remove(current.id);
      current = chat;
      save();
      renderMessages();
    }
    showSidebar(false);
    input.focus();
  }

  // On a narrow screen the side list is a panel over the chat, opened by the Chats button.
  function showSidebar(open) {
    document.body.classList.toggle('sidebar-open', open);
    $('chats-toggle').setAttribute('aria-expanded', String(open));
  }

  function newChat() {
    if (current.messages.length === 0) {  // already on a new one
      showSidebar(false);
      input.focus();
      return;
    }
    selectChat(store.create());
  }

  function deleteChat(chat) {
    if (chat === current) stopStreaming();
    store.remove(chat.id);
    if (chat === current) current = store.sorted()[0] || store.create();
    save();
    renderMessages();
  }

  function startRename(chat, li, title) {
    const field = el('input', 'rename-field');
    field.value = store.titleOf(chat);
    field.setAttribute('aria-label', 'Conversation name');
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      if (keep) chat.title = field.value.trim();  // empty: back to the first question
      save();
    };
    field.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); }
      if (e.key === 'Escape') finish(false);
    });
    field.addEventListener('blur', () => finish(true));
    title.replaceWith(field);
    field.focus();
    field.select();
  }

  // ---- Messages ----

  function renderMessages() {
    const lastAnswer = current.messages.map((m) => m.role).lastIndexOf('assistant');
    messagesEl.replaceChildren(...current.messages.map((m, i) => messageEl(m, i, i === lastAnswer)));
    messagesEl.scrollTop = messagesEl.scrollHeight;
    showContextUse();
  }

  function messageEl(msg, index, isLastAnswer) {
    const box = el('div', 'msg ' + msg.role);
    const body = el('div', 'body');
    const actions = el('div', 'actions');
    if (msg.role === 'assistant') {
      renderAnswer(body, msg.content);
      box.dataset.state = msg.stopped ? 'stopped' : 'done';
      actions.append(copyButton(() => msg.content));
      if (isLastAnswer) actions.append(button('Regenerate', regenerate, 'regenerate idle-only'));
    } else {
      body.textContent = msg.content;
      actions.append(button('Edit', () => startEdit(index, box), 'edit idle-only'));
    }
    box.append(body);
    if (msg.stats) box.append(el('small', 'stats muted', msg.stats));
    box.append(actions);
    return box;
  }

  // Editing a question replaces it and drops everything after it, then asks again.
  function startEdit(index, box) {
    if (controller) return;
    const area = el('textarea', 'edit-field');
    area.value = current.messages[index].content;
    area.rows = Math.min(10, area.value.split('\n').length + 1);
    const resend = () => {
      const text = area.value.trim();
      if (!text) return;
      current.messages = current.messages.slice(0, index);
      ask(text);
    };
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); resend(); }
      if (e.key === 'Escape') renderMessages();
    });
    const row = el('div', 'actions');
    row.append(button('Send', resend, 'resend'), button('Cancel', renderMessages, 'cancel'));
    box.replaceChildren(area, row);
    area.focus();
  }

  // Regenerating drops the last answer and asks the same question again.
  function regenerate() {
    if (controller) return;
    while (current.messages.length && current.messages[current.messages.length - 1].role === 'assistant') {
      current.messages.pop();
    }
    if (!current.messages.length) return;
    save();
    renderMessages();
    generate(current);
  }

  function ask(text) {
    current.messages.push({ role: 'user', content: text });
    current.updated = Date.now();
    save();
    renderMessages();
    generate(current);
  }

  function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = '';
    ask(text);
  }

  function setBusy(busy) {
    $('send').disabled = busy;
    $('stop').hidden = !busy;
    document.body.classList.toggle('busy', busy);
  }

  // Reads the SSE stream, calling onEvent for each JSON event.
  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        onEvent(JSON.parse(line.slice(6)));
      }
    }
  }

  function statsText(t0, tFirst, tEnd, usage, stopped) {
    const parts = [];
    if (tFirst) parts.push('TTFT ' + Math.round(tFirst - t0) + ' ms');
    const n = usage ? usage.completion_tokens : null;
    if (n && n > 1 && tEnd > tFirst) parts.push(((n - 1) / ((tEnd - tFirst) / 1000)).toFixed(1) + ' tokens/s');
    if (n) parts.push(n + ' tokens');
    if (stopped) parts.push('stopped');
    return parts.join(' · ');
  }

  // Streams the answer to chat's messages into a new bubble; a finished (or stopped) answer is
  // saved to the conversation, a failed one is shown with a Retry button but not kept.
  async function generate(chat) {
    const out = el('div', 'msg assistant');
    out.dataset.state = 'streaming';
    const body = el('div', 'body');
    const stats = el('small', 'stats muted');
    out.append(body, stats);
    messagesEl.appendChild(out);
    messagesEl.scrollTop = messagesEl.scrollHeight;

    const messages = [];
    const system = $('system').value.trim();
    if (system) messages.push({ role: 'system', content: system });
    for (const m of chat.messages) messages.push({ role: m.role, content: m.content });
    const request = {
      messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: numberSetting('temperature', parseFloat),
      top_p: numberSetting('top-p', parseFloat),
      max_tokens: numberSetting('max-tokens', (v) => parseInt(v, 10)),
    };

    const mine = new AbortController();
    controller = mine;
    setBusy(true);
    const t0 = performance.now();
    let tFirst = 0;
    let answer = '';
    let usage = null;
    let stopped = false;
    let error = null;
    try {
      const res = await fetch('v1/chat/completions', {
        method: 'POST', headers: headers(true), body: JSON.stringify(request), signal: mine.signal,
      });
      if (!res.ok) {
        let msg = 'HTTP ' + res.status;
        try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
        throw new Error(msg);
      }
      await readEvents(res, (ev) => {
        if (ev.error) throw new Error(ev.error.message);
        if (ev.usage) usage = ev.usage;
        for (const ch of ev.choices || []) {
          const piece = (ch.delta && ch.delta.content) || '';
          if (!piece) continue;
          if (!tFirst) tFirst = performance.now();
          answer += piece;
          renderAnswer(body, answer);
          messagesEl.scrollTop = messagesEl.scrollHeight;
        }
      });
    } catch (e) {
      if (e.name === 'AbortError') stopped = true;
      else error = e;
    } finally {
      // A newer answer may have started since this one was stopped: leave its state alone.
      if (controller === mine) {
        controller = null;
        setBusy(false);
      }
    }
    const statLine = statsText(t0, tFirst, performance.now(), usage, stopped);
    if (answer && !error) {
      const msg = { role: 'assistant', content: answer, stats: statLine };
      if (usage) msg.usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens };
      if (stopped) msg.stopped = true;
      chat.messages.push(msg);
      chat.updated = Date.now();
    }
    save();
    if (chat !== current) return;  // the user moved on: what came is kept, nothing to show
    renderMessages();
    if (!(answer && !error)) {
      // Shown, not kept: an error (with a way to retry) or a stop before any text.
      out.dataset.state = stopped ? 'stopped' : 'error';
      stats.textContent = statLine;
      if (error) {
        out.classList.add('error');
        body.appendChild(el('p', '', 'Error: ' + error.message));
        const actions = el('div', 'actions');
        actions.append(button('Retry', regenerate, 'regenerate'));
        out.append(actions);
      }
      messagesEl.appendChild(out);
    }
    input.focus();
  }

  // ---- Wiring ----

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  input.addEventListener('keydown', (e) => {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME composition does not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  $('stop').addEventListener('click', stopStreaming);
  $('new-chat').addEventListener('click', newChat);
  $('chats-toggle').addEventListener('click', () => showSidebar(!document.body.classList.contains('sidebar-open')));

  current = store.find(store.savedCurrent()) || store.sorted()[0] || store.create();
  save();
  renderMessages();
  loadModel();
})();
