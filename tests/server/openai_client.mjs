// The official `openai` npm client against qwen-server: non-stream and stream chat completions,
// with and without tools, and errors.
// usage: node openai_client.mjs QWEN_SERVER MODEL.gguf NODE_MODULES_DIR
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const [server, model, modulesDir] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesDir), 'x.js'));
const OpenAI = require('openai');

const proc = spawn(server, ['-m', model, '--port', '0', '--threads', '1', '--api-key', 'sk-test'],
                   { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('qwen-server did not start in 30 s')), 30000);
  proc.stdout.on('data', (d) => {
    const m = String(d).match(/listening on port (\d+)/);
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  });
  proc.on('exit', (code) => reject(new Error('qwen-server exited with ' + code)));
});
function check(cond, msg) { if (!cond) throw new Error(msg); }

try {
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${port}/v1`, timeout: 60000, maxRetries: 0 });
  const models = await client.models.list();
  const id = models.data[0].id;
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }];
  const r = await client.chat.completions.create({ model: id, messages, max_tokens: 10, temperature: 0 });
  check(r.object === 'chat.completion' && typeof r.choices[0].message.content === 'string', 'bad completion');
  check(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 10, 'bad usage');

  const stream = await client.chat.completions.create({
    model: id, messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  check(text === r.choices[0].message.content, `stream text ${JSON.stringify(text)} != ${JSON.stringify(r.choices[0].message.content)}`);
  check(usage && usage.completion_tokens === r.usage.completion_tokens, 'no usage chunk');
  check(chunks >= 3, 'too few chunks');

  // With tools (the random model writes no calls, so the answer is text): the same text streamed.
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
                                                 parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const t = await client.chat.completions.create({ model: id, messages, max_tokens: 8, temperature: 0, tools });
  check(typeof t.choices[0].message.content === 'string' && !t.choices[0].message.tool_calls, 'bad answer with tools');
  let toolText = '';
  for await (const chunk of await client.chat.completions.create({ model: id, messages, max_tokens: 8, temperature: 0,
                                                                   tools, stream: true })) {
    toolText += chunk.choices[0]?.delta?.content ?? '';
  }
  check(toolText === t.choices[0].message.content, 'stream with tools differs');

  // Errors arrive as the client's typed errors.
  let status = 0;
  try {
    await client.chat.completions.create({ model: id, messages, max_tokens: 2, tools: [{ type: 'function' }] });
    status = 200;
  } catch (e) {
    status = e.status;
    check(e.param === 'tools[0].function', 'bad tools named ' + e.param);
  }
  check(status === 400, 'bad tools gave ' + status);
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 2 });
  } catch (e) {
    status = e.status;
  }
  check(status === 404, 'unknown model gave ' + status);
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  try {
    await bad.chat.completions.create({ model: id, messages, max_tokens: 2 });
    status = 200;
  } catch (e) {
    status = e.status;
  }
  check(status === 401, 'bad key gave ' + status);
  console.log('ok: openai client, ' + chunks + ' chunks');
} finally {
  proc.kill('SIGTERM');
}
