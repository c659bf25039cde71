// A small Markdown renderer that builds DOM nodes. Model text only ever reaches the page through
// textContent and createTextNode: nothing it contains is parsed as HTML or run as script.
'use strict';

(function () {
  // Inline spans: `code`, **bold**, *italic*, [text](http(s) link). Everything else is text.
  const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;

  function inline(text, parent) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      let el;
      if (m[2] !== undefined) {
        el = document.createElement('code');
        el.textContent = m[2];
      } else if (m[3] !== undefined) {
        el = document.createElement('strong');
        inline(m[3], el);
      } else if (m[4] !== undefined) {
        el = document.createElement('em');
        inline(m[4], el);
      } else {
        el = document.createElement('a');
        el.textContent = m[5];
        el.href = m[6];  // the pattern admits only http(s) URLs: no javascript: links
        el.rel = 'noopener noreferrer nofollow';
        el.target = '_blank';
      }
      parent.appendChild(el);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function withInline(tag, text) {
    const el = document.createElement(tag);
    inline(text, el);
    return el;
  }

  // Block structure, line by line: fenced code (also while the fence is still open during
  // streaming), headings, quotes, lists, paragraphs.
  function renderMarkdown(src) {
    const out = document.createDocumentFragment();
    const lines = src.replace(/\r\n?/g, '\n').split('\n');
    let para = [];
    let list = null;
    const flush = () => {
      if (para.length) out.appendChild(withInline('p', para.join('\n')));
      para = [];
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/);
      if (fence) {
        flush();
        list = null;
        const code = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
        const pre = document.createElement('pre');
        const el = document.createElement('code');
        if (fence[2]) el.dataset.lang = fence[2];
        el.textContent = code.join('\n');
        pre.appendChild(el);
        out.appendChild(pre);
        continue;
      }
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      const bullet = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
      const quote = line.match(/^>\s?(.*)$/);
      if (heading) {
        flush();
        list = null;
        out.appendChild(withInline('h' + Math.min(6, heading[1].length + 2), heading[2]));
      } else if (bullet) {
        flush();
        const tag = /\d/.test(bullet[1]) ? 'ol' : 'ul';
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = document.createElement(tag);
          out.appendChild(list);
        }
        list.appendChild(withInline('li', bullet[2]));
      } else if (quote) {
        flush();
        list = null;
        out.appendChild(withInline('blockquote', quote[1]));
      } else if (line.trim() === '') {
        flush();
        list = null;
      } else {
        list = null;
        para.push(line);
      }
    }
    flush();
    return out;
  }

  window.renderMarkdown = renderMarkdown;
})();
