// The chat page: keeps the conversation, streams answers from /v1/chat/completions (SSE over
// fetch), renders them with renderMarkdown (DOM nodes, never innerHTML).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const messagesEl = $('messages');
  const input = $('input');
  const sendBtn = $('send');
  const stopBtn = $('stop');
  const history = [];        // {role, content} of finished turns
  let controller = null;     // AbortController of the answer being streamed

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

  function authHeaders() {
    const key = $('api-key').value.trim();
    return key ? { Authorization: 'Bearer ' + key } : {};
  }

  fetch('v1/models', { headers: authHeaders() })
    .then((r) => r.json())
    .then((j) => { $('model').textContent = j.data[0].id; })
    .catch(() => {});

  function bubble(role, text) {
    const el = document.createElement('div');
    el.className = 'msg ' + role;
    if (role === 'assistant') el.appendChild(renderMarkdown(text));
    else el.textContent = text;
    messagesEl.appendChild(el);
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return el;
  }

  function setBusy(busy) {
    sendBtn.disabled = busy;
    stopBtn.hidden = !busy;
  }

  function numberSetting(id, parse) {
    const v = parse($(id).value);
    return Number.isFinite(v) ? v : undefined;
  }

  async function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = '';
    history.push({ role: 'user', content: text });
    bubble('user', text);
    const out = bubble('assistant', '');
    out.dataset.state = 'streaming';
    const body = document.createElement('div');
    const stats = document.createElement('small');
    stats.className = 'stats muted';
    out.replaceChildren(body, stats);

    const messages = [];
    const system = $('system').value.trim();
    if (system) messages.push({ role: 'system', content: system });
    messages.push(...history);
    const request = {
      messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: numberSetting('temperature', parseFloat),
      top_p: numberSetting('top-p', parseFloat),
      max_tokens: numberSetting('max-tokens', (v) => parseInt(v, 10)),
    };

    controller = new AbortController();
    setBusy(true);
    const t0 = performance.now();
    let tFirst = 0;
    let answer = '';
    let usage = null;
    let stopped = false;
    try {
      const res = await fetch('v1/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders() },
        body: JSON.stringify(request),
        signal: controller.signal,
      });
      if (!res.ok) {
        let msg = 'HTTP ' + res.status;
        try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
        throw new Error(msg);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line.startsWith('data: ')) continue;
          const data = line.slice(6);
          if (data === '[DONE]') continue;
          const ev = JSON.parse(data);
          if (ev.error) throw new Error(ev.error.message);
          if (ev.usage) usage = ev.usage;
          for (const ch of ev.choices || []) {
            const piece = (ch.delta && ch.delta.content) || '';
            if (!piece) continue;
            if (!tFirst) tFirst = performance.now();
            answer += piece;
            body.replaceChildren(renderMarkdown(answer));
            messagesEl.scrollTop = messagesEl.scrollHeight;
          }
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') {
        stopped = true;
      } else {
        out.classList.add('error');
        const err = document.createElement('p');
        err.textContent = 'Error: ' + e.message;
        body.appendChild(err);
      }
    } finally {
      controller = null;
      setBusy(false);
    }
    const tEnd = performance.now();
    if (answer) history.push({ role: 'assistant', content: answer });
    else if (!stopped) history.pop();  // a failed turn is not part of the conversation
    const parts = [];
    if (tFirst) parts.push('TTFT ' + Math.round(tFirst - t0) + ' ms');
    const n = usage ? usage.completion_tokens : null;
    if (n && n > 1 && tEnd > tFirst) parts.push(((n - 1) / ((tEnd - tFirst) / 1000)).toFixed(1) + ' tokens/s');
    if (n) parts.push(n + ' tokens');
    if (stopped) parts.push('stopped');
    stats.textContent = parts.join(' · ');
    out.dataset.state = stopped ? 'stopped' : 'done';
    input.focus();
  }

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
  stopBtn.addEventListener('click', () => { if (controller) controller.abort(); });
  $('new-chat').addEventListener('click', () => {
    if (controller) controller.abort();
    history.length = 0;
    messagesEl.replaceChildren();
    input.focus();
  });
})();
