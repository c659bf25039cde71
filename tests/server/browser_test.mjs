// The web chat in headless Chromium (Debian's, driven by playwright-core): load, send, watch the
// answer stream in, stop, new chat, and model text with HTML in it shown as text only.
//
// usage: node browser_test.mjs QWEN_SERVER MODEL.gguf NODE_MODULES_DIR SCREENSHOT.png
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [server, model, modulesDir, screenshot] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesDir), 'x.js'));
const { chromium } = require('playwright-core');

function fail(msg) { throw new Error(msg); }

function startServer() {
  const proc = spawn(server, ['-m', model, '--port', '0', '--threads', '1', '--max-tokens-limit', '100000'],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('qwen-server did not start in 30 s')), 30000);
    proc.stdout.on('data', (d) => {
      const m = String(d).match(/listening on port (\d+)/);
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]) }); }
    });
    proc.on('exit', (code) => reject(new Error('qwen-server exited with ' + code)));
  });
}

const { proc, port } = await startServer();
const profile = mkdtempSync(path.join(tmpdir(), 'qwen-chromium-'));
let browser = null;
try {
  // A new empty profile; playwright passes it to Chromium as --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 390, height: 780 },  // a phone screen
    timeout: 60000,
  });
  const page = browser.pages()[0] || await browser.newPage();
  page.setDefaultTimeout(30000);
  const alerts = [];
  page.on('dialog', (d) => { alerts.push(d.message()); d.dismiss(); });
  page.on('pageerror', (e) => fail('page error: ' + e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById('model').textContent.length > 0);

  // Settings: a hot temperature for varied tokens and room for a long answer.
  await page.click('#settings-toggle');
  await page.fill('#temperature', '1.5');
  await page.fill('#top-p', '1');
  await page.fill('#max-tokens', '40');
  await page.click('#settings-toggle');

  // 1. Send with Enter; the answer streams in (several DOM updates), then shows its stats.
  // The tiny test model answers mostly with blank lines: count the renders of the growing answer.
  await page.evaluate(() => {
    window.updates = 0;
    const render = window.renderMarkdown;
    window.renderMarkdown = (text) => { window.updates++; return render(text); };
  });
  await page.fill('#input', 'Hello there');
  await page.press('#input', 'Enter');
  await page.waitForSelector('.msg.assistant[data-state="done"]');
  const stats = await page.textContent('.msg.assistant .stats');
  if (!/TTFT \d+ ms/.test(stats) || !/tokens\/s/.test(stats)) fail('no TTFT / tokens/s shown: ' + stats);
  const updates = await page.evaluate(() => window.updates);
  if (updates < 5) fail('the answer did not stream (' + updates + ' updates)');
  if ((await page.$$('.msg.user')).length !== 1) fail('the user message is not shown once');

  // Shift+Enter makes a new line and does not send.
  await page.fill('#input', 'line one');
  await page.press('#input', 'Shift+Enter');
  if ((await page.$$('.msg.user')).length !== 1) fail('Shift+Enter sent the message');
  // Enter that confirms an IME composition does not send.
  await page.fill('#input', 'にほんご');
  await page.evaluate(() => {
    const input = document.getElementById('input');
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, bubbles: true, cancelable: true }));
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229, bubbles: true, cancelable: true }));
  });
  await page.waitForTimeout(200);
  if ((await page.$$('.msg.user')).length !== 1) fail('Enter during IME composition sent the message');
  await page.fill('#input', '');

  // 2. Stop a long generation.
  await page.click('#settings-toggle');
  await page.fill('#max-tokens', '100000');
  await page.click('#settings-toggle');
  await page.fill('#input', 'Go on and on');
  await page.press('#input', 'Enter');
  await page.waitForSelector('#stop:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant')[1].textContent.length > 0 ||
                                   window.updates > 20);
  await page.click('#stop');
  await page.waitForSelector('.msg.assistant[data-state="stopped"]');
  const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
  for (let i = 0; i < 50 && (await (await fetch(`http://127.0.0.1:${port}/health`)).json()).slots_busy > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()).slots_busy !== 0) {
    fail('stopping did not free the slot: ' + JSON.stringify(health));
  }

  // 3. New chat clears the conversation.
  await page.click('#new-chat');
  if ((await page.$$('.msg')).length !== 0) fail('new chat left messages');

  // 4. Model text with HTML in it is shown as text: the answer is injected by a mocked
  // /v1/chat/completions stream.
  const evil = 'Look: <script>alert("xss")</script> and <img src=x onerror="alert(1)"> **bold** `<b>code</b>`\n' +
               '```html\n<script>alert(2)</script>\n```';
  await page.route('**/v1/chat/completions', (route) => {
    const chunks = [...evil].reduce((acc, ch, i) => { if (i % 7 === 0) acc.push(''); acc[acc.length - 1] += ch; return acc; }, []);
    const body = chunks.map((c) => 'data: ' + JSON.stringify({ choices: [{ index: 0, delta: { content: c } }] }) + '\n\n').join('') +
                 'data: ' + JSON.stringify({ choices: [], usage: { completion_tokens: chunks.length } }) + '\n\ndata: [DONE]\n\n';
    route.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream' }, body });
  });
  await page.fill('#input', 'Show me some HTML');
  await page.press('#input', 'Enter');
  await page.waitForSelector('.msg.assistant[data-state="done"]');
  await page.waitForTimeout(300);
  const shown = await page.textContent('.msg.assistant');
  if (!shown.includes('<script>alert("xss")</script>') || !shown.includes('<img src=x onerror="alert(1)">')) {
    fail('the HTML in the answer is not shown as text: ' + shown);
  }
  const injected = await page.evaluate(() => document.querySelectorAll('#messages script, #messages img, #messages b').length);
  if (injected !== 0) fail(injected + ' elements were created from model text');
  if (alerts.length) fail('model text ran script: ' + alerts.join(', '));
  if ((await page.$$('#messages strong')).length !== 1 || (await page.$$('#messages pre code')).length !== 1) {
    fail('Markdown was not rendered');
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok: browser; screenshot at ' + screenshot);
} finally {
  if (browser) await browser.close();
  rmSync(profile, { recursive: true, force: true });
  proc.kill('SIGTERM');
}
