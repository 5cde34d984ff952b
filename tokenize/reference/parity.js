// parity.js writes the expected token ids of Hugging Face tokenizers (Rust
// v0.22.2, through @anush008/tokenizers 0.6.0) for every text of a corpus,
// the fixture tokenize/testdata/hf-parity.json that ser's tokenizer tests
// compare against. Per text it keeps a short hash of the ids (the corpus is
// read from ../shared/data and is not committed) and the count of ids.
//
//   go run ./bench/tokenizers -dump-corpus /tmp/corpus.jsonl
//   node tokenize/reference/parity.js /tmp/corpus.jsonl NAME=tokenizer.json ... > tokenize/testdata/hf-parity.json
//
// With --ids it writes instead, per text, {name: [ids...]} as JSON lines,
// to see where ser differs.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { Tokenizer } = require('@anush008/tokenizers');

function hashIDs(ids) {
  return crypto.createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16);
}

async function main() {
  const args = process.argv.slice(2);
  const idsMode = args[0] === '--ids';
  if (idsMode) args.shift();
  const [corpusPath, ...specs] = args;
  const raw = fs.readFileSync(corpusPath);
  const texts = raw.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).text);
  const out = {
    reference: 'Hugging Face tokenizers 0.22.2 (@anush008/tokenizers@0.6.0), encode(text, add_special_tokens=true)',
    corpus_sha256: crypto.createHash('sha256').update(raw).digest('hex'),
    texts: texts.length,
    tokenizers: {},
  };
  const all = [];
  for (const spec of specs) {
    const [name, path] = spec.split('=');
    const file = fs.readFileSync(path);
    const tk = Tokenizer.fromFile(path);
    const hashes = [];
    const counts = [];
    for (let i = 0; i < texts.length; i++) {
      const enc = await tk.encode(texts[i], null, { addSpecialTokens: true });
      const ids = Array.from(enc.getIds());
      hashes.push(hashIDs(ids));
      counts.push(ids.length);
      if (idsMode) (all[i] = all[i] || {})[name] = ids;
    }
    out.tokenizers[name] = {
      file_sha256: crypto.createHash('sha256').update(file).digest('hex'),
      ids: hashes,
      counts,
    };
  }
  if (idsMode) {
    for (const row of all) process.stdout.write(JSON.stringify(row) + '\n');
    return;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
