// The reference tokenizer for the oracle test: @lenml/tokenizers (a no-dependency port of the
// transformers.js tokenizers, fetched by scripts/fetch-data as lenml-tokenizers) run on a
// Hugging Face tokenizer.json, with the interface of `hyplora tokenize` (see common.mjs):
//
//   node oracle.mjs --tokenizer PATH [--add-special] [--decode] [--skip-special] [--field F] [FILE|-]
//
// PATH: a tokenizer.json, a folder holding one, or GPT-2's vocabulary file (encoder.json or
// vocab.json, with vocab.bpe or merges.txt beside it), which is turned into the tokenizer.json
// Hugging Face builds from that pair (GPT2TokenizerFast: byte-level BPE, <|endoftext|> an added
// special token). --add-special is add_special_tokens=True (the tokenizer.json post-processor);
// --skip-special is skip_special_tokens=True. --both (encode only) prints each text's ids
// without and with special tokens on one line, separated by a tab, from one run of the
// pipeline (the library's own _encode_text then its post-processor both ways, which is what
// encode() does; every 50th text is checked against encode() itself). --dump-json OUT writes
// the tokenizer.json PATH gives (for GPT-2's pair: the converted one) and exits. With --decode,
// --both prints two lines per id line: the text with special tokens, then without.
// --fast-merges [--verify-from N]: a faster, checked merge lookup (see below).
//
// The tokenizer is the library's base class on the tokenizer.json alone, the pipeline the Rust
// `tokenizers` library runs (Tokenizer.from_file): tokenizer_config.json is not read, so no
// class-specific behaviour (LlamaTokenizer's legacy=false path) and no
// clean_up_tokenization_spaces on decode. Test tool only: never part of the product.
import fs from "node:fs";
import path from "node:path";
import { die, importPackageFile, parseArgs, run } from "./common.mjs";

function gpt2Pair(vocabFile) {
    const dir = path.dirname(vocabFile);
    const mergesFile = ["vocab.bpe", "merges.txt"].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    if (!mergesFile) die(`no vocab.bpe or merges.txt beside ${vocabFile}`);
    const vocab = JSON.parse(fs.readFileSync(vocabFile, "utf8"));
    const merges = fs.readFileSync(mergesFile, "utf8").split("\n")
        .filter((l) => l.trim() !== "" && !l.startsWith("#version"))
        .map((l) => l.trim().split(/\s+/).join(" "));
    const eot = "<|endoftext|>";
    const added = eot in vocab ? [{ id: vocab[eot], content: eot, single_word: false, lstrip: false,
        rstrip: false, normalized: true, special: true }] : [];
    const byteLevel = (prefix, trim) => ({ add_prefix_space: prefix, trim_offsets: trim, use_regex: true });
    return {
        version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
        pre_tokenizer: { type: "ByteLevel", ...byteLevel(false, true) },
        post_processor: { type: "ByteLevel", ...byteLevel(true, false) },
        decoder: { type: "ByteLevel", ...byteLevel(true, true) },
        model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "",
            end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
    };
}

export function loadTokenizerJson(p) {
    if (!p) die("--tokenizer PATH is required");
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
        for (const f of ["tokenizer.json", "vocab.json", "encoder.json"])
            if (fs.existsSync(path.join(p, f))) return loadTokenizerJson(path.join(p, f));
        die(`${p} holds no tokenizer.json, vocab.json or encoder.json`);
    }
    const base = path.basename(p);
    if (base === "vocab.json" || base === "encoder.json") return gpt2Pair(p);
    return JSON.parse(fs.readFileSync(p, "utf8"));
}

const argv = process.argv.slice(2);
const dump = argv.indexOf("--dump-json");
if (dump >= 0) {
    // --dump-json OUT: only write the tokenizer.json that PATH gives (GPT-2's pair converted)
    const out = argv.splice(dump, 2)[1];
    fs.writeFileSync(out, JSON.stringify(loadTokenizerJson(parseArgs(argv).tokenizer), null, 1) + "\n");
    process.exit(0);
}
let verifyFrom = Infinity;
const vf = argv.indexOf("--verify-from");
if (vf >= 0) verifyFrom = Number(argv.splice(vf, 2)[1]);
const o = parseArgs(argv, ["--both", "--fast-merges"]);
const tokenizerJSON = loadTokenizerJson(o.tokenizer);
const { TokenizerLoader } = await importPackageFile("lenml-tokenizers", "dist/main.mjs");
const load = () => TokenizerLoader.fromPreTrained({
    tokenizerJSON,
    tokenizerConfig: { clean_up_tokenization_spaces: false },
});
const tok = load();
// The library untouched, to check the --fast-merges instance against.
const pristine = o.fastMerges && verifyFrom < Infinity ? load() : tok;
if (o.fastMerges) {
    // The BPE merge lookup of the library keys a Map by JSON.stringify([left, right]) for
    // every candidate pair, half of its run time. This replaces that one method by the same
    // lookup in a two-level Map built from the same merges in the same order (a later
    // duplicate wins, as in the library's Map); nothing else changes. Checked against the
    // untouched library: every 50th text, and every text from --verify-from N on.
    const m = tok.model;
    if (m.bpe_ranks && m.merges) {
        const ranks = new Map();
        m.merges.forEach(([a, b], n) => {
            let inner = ranks.get(a);
            if (!inner) ranks.set(a, (inner = new Map()));
            inner.set(b, n);
        });
        m._add_node = function (e, t) {
            const r = ranks.get(t.token)?.get(t.next.token);
            if (r !== undefined) { t.score = r + t.bias; e.push(t); }
        };
    }
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
let count = 0;
function both(text) {
    const tokens = tok._encode_text(text) ?? [];
    const ids = (add) => {
        const r = tok.post_processor ? tok.post_processor(tokens, null, { add_special_tokens: add }).tokens : tokens;
        return tok.model.convert_tokens_to_ids(r);
    };
    const plain = ids(false), special = ids(true);
    const k = count++;
    if (k % 50 === 0 || k >= verifyFrom) {
        if (!same(plain, pristine.encode(text, { add_special_tokens: false })) ||
            !same(special, pristine.encode(text, { add_special_tokens: true })))
            die(`text ${k}: --both${o.fastMerges ? " --fast-merges" : ""} disagrees with the library's encode() on ${JSON.stringify(text)}`);
    }
    return plain.join(" ") + "\t" + special.join(" ");
}
const decode = (ids, skip) => tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
run(o,
    (text, addSpecial) => (o.both ? [both(text)] : tok.encode(text, { add_special_tokens: addSpecial })),
    // with --both: the text with special tokens, then (next line) without
    (ids, skipSpecial) => (o.both ? [decode(ids, false), decode(ids, true)] : decode(ids, skipSpecial)));
