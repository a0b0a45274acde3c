// Second, independent GPT-2 tokenizer for waivers: gpt-3-encoder's own JS encoder (fetched by
// scripts/fetch-data; CommonJS, loaded from this ES module). Interface of common.mjs;
// --tokenizer is accepted and ignored. GPT-2 adds no special tokens, so --add-special
// changes nothing; the encoder knows no special tokens at all ("<|endoftext|>" in text is
// encoded as text, unlike the Hugging Face GPT-2 tokenizer). Test tool only.
import { importPackageFile, parseArgs, run } from "./common.mjs";

const o = parseArgs(process.argv.slice(2));
const mod = await importPackageFile("gpt-3-encoder", "Encoder.js");
const enc = mod.default ?? mod;
run(o, (text) => enc.encode(text), (ids) => enc.decode(ids));
