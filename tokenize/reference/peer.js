// peer.js times Hugging Face tokenizers (Rust v0.22.2 through
// @anush008/tokenizers 0.6.0) on a corpus, for bench/tokenizers, which runs it
// beside ser's tokenizer on the same texts. Per tokenizer: the load, one cold
// pass (a fresh tokenizer: empty word cache) and `reps` warm passes, each one
// encodeBatch call over every text with add_special_tokens = true. Rust's
// thread pool follows TOKENIZERS_PARALLELISM (false: one thread) and
// RAYON_NUM_THREADS.
//
//   node peer.js corpus.jsonl reps NAME=tokenizer.json ...
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

async function main() {
  const [corpusPath, repsArg, ...specs] = process.argv.slice(2);
  const texts = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).text);
  const reps = Number(repsArg);
  const out = {};
  for (const spec of specs) {
    const [name, path] = spec.split('=');
    let t0 = process.hrtime.bigint();
    const tk = Tokenizer.fromFile(path);
    const load = Number(process.hrtime.bigint() - t0) / 1e9;
    const pass = async () => {
      const t = process.hrtime.bigint();
      const encs = await tk.encodeBatch(texts, { addSpecialTokens: true });
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      if (encs.length !== texts.length) throw new Error('short batch');
      return s;
    };
    const cold = await pass();
    const warm = [];
    for (let i = 0; i < reps; i++) warm.push(await pass());
    let tokens = 0;
    for (const e of await tk.encodeBatch(texts, { addSpecialTokens: true })) tokens += e.getIds().length;
    out[name] = { load_s: load, cold_s: cold, warm_s: warm, tokens };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
