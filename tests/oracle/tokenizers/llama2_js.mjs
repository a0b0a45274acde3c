// Second, independent LLaMA-1/2 tokenizer for waivers: llama-tokenizer-js (fetched by
// scripts/fetch-data; its vocabulary and merges are baked into the package, the same data
// notebooks-data/tokenizers/llama2/tokenizer.json was built from). Interface of common.mjs;
// --tokenizer is accepted and ignored. --add-special adds BOS <s> (what the LLaMA-2
// tokenizer.json template adds); a preceding space is always added, as the Prepend "▁"
// normalizer does. Test tool only.
import { importPackageFile, parseArgs, run } from "./common.mjs";

const o = parseArgs(process.argv.slice(2));
const tok = (await importPackageFile("llama-tokenizer-js", "llama-tokenizer.js")).default;
run(o,
    (text, addSpecial) => (text.length === 0 ? (addSpecial ? [1] : []) : tok.encode(text, addSpecial, true)),
    (ids) => tok.decode(ids, true, true));
