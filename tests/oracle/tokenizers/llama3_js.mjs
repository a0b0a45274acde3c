// Second, independent Llama 3 tokenizer for waivers: llama3-tokenizer-js (fetched by
// scripts/fetch-data; data baked into the bundle). Interface of common.mjs; --tokenizer is
// accepted and ignored. --add-special adds BOS <|begin_of_text|> only (never EOS), so the
// caller passes it only for a tokenizer.json whose post-processor adds BOS. Test tool only.
import { importPackageFile, parseArgs, run } from "./common.mjs";

const o = parseArgs(process.argv.slice(2));
const tok = (await importPackageFile("llama3-tokenizer-js", "bundle/llama3-tokenizer-with-baked-data.js")).default;
run(o,
    (text, addSpecial) => tok.encode(text, { bos: addSpecial, eos: false }),
    (ids) => tok.decode(ids));
