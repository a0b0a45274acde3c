"""Malformed tokenizers and inputs for `hyplora tokenize`: tokenizer.json files, GPT-2
vocab.json / merges.txt pairs, GGUF tokenizer metadata, id lines for --decode, and command
lines. Each must give its own clear message (checked by substring) and exit 1 (2 for usage
errors), never a crash or a sanitizer report.

    test_tokenizer_bad.py HYPLORA
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
import gguf_writer as gw  # noqa: E402
from harness import Suite, expect_error  # noqa: E402

s = Suite()
INPUT = s.path("input.txt")
with open(INPUT, "w") as f:
    f.write("hello world\n")

VOCAB = {"h": 0, "e": 1, "l": 2, "o": 3, " ": 4, "he": 5, "ll": 6}


def tj(name, doc=None, raw=None):
    """Writes a tokenizer.json (a dict, or raw text) and returns its path."""
    path = s.path(name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(raw if raw is not None else json.dumps(doc))
    return path


def good(**over):
    doc = {"model": {"type": "BPE", "vocab": dict(VOCAB), "merges": ["h e", "l l"]}}
    for k, v in over.items():
        if k.startswith("model_"):
            doc["model"][k[6:]] = v
        else:
            doc[k] = v
    return doc


def run_tj(doc_or_raw, substring, name):
    if isinstance(doc_or_raw, str):
        path = tj(name, raw=doc_or_raw)
    else:
        path = tj(name, doc_or_raw)
    expect_error(s, ["tokenize", "--tokenizer", path, INPUT], substring)


JSON_CASES = [
    ("malformed JSON", '{"model": {"type": "BPE", "vocab": {', "not valid JSON"),
    ("top level array", "[1, 2]", "expected a JSON object"),
    ("no model", {"normalizer": None}, "model: missing or not an object"),
    ("Unigram", {"model": {"type": "Unigram", "vocab": []}}, 'model type "Unigram" is not supported'),
    ("WordPiece", {"model": {"type": "WordPiece", "vocab": {}}}, 'model type "WordPiece" is not supported'),
    ("WordLevel", {"model": {"type": "WordLevel", "vocab": {}}}, 'model type "WordLevel" is not supported'),
    ("vocab not object", good(model_vocab=[1, 2]), "model.vocab: missing or not an object"),
    ("vocab id negative", good(model_vocab={"a": -1}), 'model.vocab entry "a": id must be an integer'),
    ("vocab id fraction", good(model_vocab={"a": 0.5}), 'model.vocab entry "a": id must be an integer'),
    ("vocab id huge", good(model_vocab={"a": 0, "b": 4000000000}), 'model.vocab entry "b": id must be an integer'),
    ("vocab id string", good(model_vocab={"a": "0"}), 'model.vocab entry "a": id must be an integer'),
    ("vocab id duplicated", good(model_vocab={"a": 0, "b": 0}, model_merges=[]),
     'model.vocab: id 0 is given to both "a" and "b"'),
    ("vocab token duplicated", '{"model": {"type": "BPE", "vocab": {"a": 0, "a": 1}, "merges": []}}',
     'model.vocab: token "a" appears twice'),
    ("merge unknown left", good(model_merges=["x e"]), 'model.merges[0] "x" + "e": "x" is not in the vocabulary'),
    ("merge unknown right", good(model_merges=["h e", ["l", "zz"]]),
     'model.merges[1] "l" + "zz": "zz" is not in the vocabulary'),
    ("merge result unknown", good(model_merges=["e l"]), '"el" is not in the vocabulary'),
    ("merge three parts", good(model_merges=["h e l"]), "expected two tokens separated by one space"),
    ("merge no space", good(model_merges=["he"]), "expected two tokens separated by one space"),
    ("merge not string", good(model_merges=[5]), 'model.merges[0]: expected "a b" or ["a", "b"]'),
    ("merges not array", good(model_merges={"a": 1}), "model.merges: must be an array"),
    ("unk not in vocab", good(model_unk_token="<unk>"), 'model.unk_token "<unk>" is not in the vocabulary'),
    ("dropout bad", good(model_dropout="x"), "model.dropout: must be null or a number"),
    ("byte_fallback not bool", good(model_byte_fallback=1), "model.byte_fallback must be true or false"),
    ("added id conflicts", good(added_tokens=[{"id": 0, "content": "<s>", "special": True}]),
     'added_tokens[0] "<s>": id 0 is already the token "h"'),
    ("added content has other id", good(added_tokens=[{"id": 7, "content": "he", "special": True}]),
     'added_tokens[0] "he": the same content already has id 5'),
    ("added twice", good(added_tokens=[{"id": 7, "content": "<s>"}, {"id": 7, "content": "<s>"}]),
     'added_tokens[1] "<s>": id 7 is already an added token'),
    ("added no id", good(added_tokens=[{"content": "<s>"}]), 'added_tokens[0]: "id" must be an integer'),
    ("added empty", good(added_tokens=[{"id": 7, "content": ""}]), 'added_tokens[0] "": the content is empty'),
    ("normalizer unsupported", good(normalizer={"type": "BertNormalizer"}),
     'normalizer type "BertNormalizer" is not supported'),
    ("normalizer in sequence", good(normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Precompiled"}]}),
     'normalizer.normalizers[1] type "Precompiled" is not supported'),
    ("pre_tokenizer unsupported", good(pre_tokenizer={"type": "UnicodeScripts"}),
     'pre_tokenizer type "UnicodeScripts" is not supported'),
    ("pre_tokenizer in sequence", good(pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "BertPreTokenizer"}]}),
     'pre_tokenizer.pretokenizers[1] type "BertPreTokenizer" is not supported'),
    ("pre_tokenizer no type", good(pre_tokenizer={"add_prefix_space": True}), "pre_tokenizer.type is missing"),
    ("split bad regex", good(pre_tokenizer={"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}),
     'regex "(unclosed" does not compile'),
    ("split no pattern", good(pre_tokenizer={"type": "Split", "behavior": "Isolated"}), "pre_tokenizer.pattern: missing"),
    ("split bad behavior", good(pre_tokenizer={"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}),
     "pre_tokenizer.behavior must be one of"),
    ("metaspace bad scheme", good(pre_tokenizer={"type": "Metaspace", "replacement": "_", "prepend_scheme": "sometimes"}),
     'pre_tokenizer.prepend_scheme must be "always", "first" or "never"'),
    ("metaspace long replacement", good(pre_tokenizer={"type": "Metaspace", "replacement": "ab"}),
     "pre_tokenizer.replacement must be a string of one character"),
    ("post unsupported", good(post_processor={"type": "Wordpiece"}), 'post_processor type "Wordpiece" is not supported'),
    ("template unknown special", good(post_processor={"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}),
     'special token "<s>" is not in post_processor.special_tokens'),
    ("template id out of range", good(post_processor={"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [99], "tokens": ["<s>"]}}}),
     'post_processor.special_tokens."<s>".ids[0]: expected a token id below 7'),
    ("decoder unsupported", good(decoder={"type": "WordPiece", "prefix": "##"}), 'decoder type "WordPiece" is not supported'),
    ("decoder strip bad", good(decoder={"type": "Strip", "content": " ", "start": -1, "stop": 0}),
     "decoder.start must be a non-negative integer"),
    ("replace no content", good(normalizer={"type": "Replace", "pattern": {"String": " "}}),
     "normalizer.content is missing"),
]

for name, doc, sub in JSON_CASES:
    s.check("tokenizer.json: " + name,
            lambda doc=doc, sub=sub, name=name: run_tj(doc, sub, name.replace(" ", "_")))


# ---- GPT-2 vocab.json + merges.txt --------------------------------------------------

def pair(name, vocab_text, merges_text, vocab_name="vocab.json", merges_name="merges.txt"):
    d = s.path(name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, vocab_name), "w") as f:
        f.write(vocab_text)
    if merges_text is not None:
        with open(os.path.join(d, merges_name), "w") as f:
            f.write(merges_text)
    return os.path.join(d, vocab_name)


GOOD_VOCAB = json.dumps({"h": 0, "e": 1, "he": 2, "<|endoftext|>": 3})
PAIR_CASES = [
    ("vocab malformed", lambda: pair("p1", '{"h": 0,', "#version: 0.2\nh e\n"), "not valid JSON"),
    ("vocab not object", lambda: pair("p2", "[1]", "h e\n"), "expected a JSON object of token -> id"),
    ("vocab id out of range", lambda: pair("p3", '{"h": 0, "e": 7}', "h e\n"), 'entry "e": id must be an integer from 0 to 1'),
    ("vocab id duplicated", lambda: pair("p4", '{"h": 0, "e": 0}', "h e\n"), 'id 0 is given to both "h" and "e"'),
    ("vocab empty", lambda: pair("p5", "{}", "\n"), "the vocabulary is empty"),
    ("merges unknown token", lambda: pair("p6", GOOD_VOCAB, "#version: 0.2\nh x\n"),
     'merges.txt: line 2: merge 0 "h x": "x" is not in the vocabulary'),
    ("merges bad line", lambda: pair("p7", GOOD_VOCAB, "#version: 0.2\nh e\nhe\n"),
     "line 3: merge 1 \"he\": expected two tokens separated by one space"),
    ("merged token unknown", lambda: pair("p8", json.dumps({"h": 0, "e": 1}), "h e\n"),
     'the merged token "he" is not in the vocabulary'),
    ("no merges file", lambda: pair("p9", GOOD_VOCAB, None), "no merges.txt or vocab.bpe beside it"),
    ("vocab.bpe bad", lambda: pair("p10", GOOD_VOCAB, "#version: 0.2\nq e\n", "encoder.json", "vocab.bpe"),
     'vocab.bpe: line 2: merge 0 "q e": "q" is not in the vocabulary'),
]
for name, make, sub in PAIR_CASES:
    s.check("GPT-2 pair: " + name,
            lambda make=make, sub=sub: expect_error(s, ["tokenize", "--tokenizer", make(), INPUT], sub))


# ---- GGUF tokenizer metadata --------------------------------------------------------

TOKENS = ["<unk>", "<s>", "</s>", "\u2581", "h", "e", "\u2581h", "he"]


def gguf(name, kvs):
    path = s.path(name + ".gguf")
    with open(path, "wb") as f:
        f.write(gw.build([("general.architecture", gw.STR, "llama")] + kvs, []))
    return path


def spm(**over):
    kv = {
        "tokenizer.ggml.model": (gw.STR, "llama"),
        "tokenizer.ggml.tokens": (gw.ARR, (gw.STR, TOKENS)),
        "tokenizer.ggml.scores": (gw.ARR, (gw.F32, [0.0] * len(TOKENS))),
        "tokenizer.ggml.token_type": (gw.ARR, (gw.I32, [2, 3, 3, 1, 1, 1, 1, 1])),
        "tokenizer.ggml.bos_token_id": (gw.U32, 1),
    }
    for k, v in over.items():
        key = "tokenizer.ggml." + k
        if v is None:
            kv.pop(key, None)
        else:
            kv[key] = v
    return [(k, t, v) for k, (t, v) in kv.items()]


def bpe(**over):
    kvs = spm(scores=None, model=(gw.STR, "gpt2"),
              tokens=(gw.ARR, (gw.STR, ["h", "e", "he", "<|endoftext|>"])),
              token_type=(gw.ARR, (gw.I32, [1, 1, 1, 3])), bos_token_id=(gw.U32, 3),
              merges=(gw.ARR, (gw.STR, ["h e"])))
    d = {k: (t, v) for k, t, v in kvs}
    for k, v in over.items():
        key = "tokenizer.ggml." + k
        if v is None:
            d.pop(key, None)
        else:
            d[key] = v
    return [(k, t, v) for k, (t, v) in d.items()]


GGUF_CASES = [
    ("no tokenizer", [], "tokenizer.ggml.model"),
    ("model bert", spm(model=(gw.STR, "bert")), 'tokenizer.ggml.model "bert" is not supported'),
    ("model not string", spm(model=(gw.U32, 3)), "tokenizer.ggml.model"),
    ("no tokens", spm(tokens=None), "tokenizer.ggml.tokens"),
    ("tokens not strings", spm(tokens=(gw.ARR, (gw.I32, [1, 2]))), "tokenizer.ggml.tokens"),
    ("scores missing", spm(scores=None), "tokenizer.ggml.scores"),
    ("scores short", spm(scores=(gw.ARR, (gw.F32, [0.0]))), "tokenizer.ggml.scores has 1 entries but there are 8 tokens"),
    ("scores nan", spm(scores=(gw.ARR, (gw.F32, [float("nan")] * 8))), "tokenizer.ggml.scores[0] is not a finite number"),
    ("types short", spm(token_type=(gw.ARR, (gw.I32, [1]))), "tokenizer.ggml.token_type has 1 entries but there are 8 tokens"),
    ("duplicate token", spm(tokens=(gw.ARR, (gw.STR, TOKENS[:-1] + ["h"]))), 'token "h" appears twice'),
    ("bos out of range", spm(bos_token_id=(gw.U32, 99)), "tokenizer.ggml.bos_token_id 99 is past the 8 tokens"),
    ("gpt2 no merges", bpe(merges=None), "tokenizer.ggml.merges"),
    ("gpt2 merge unknown", bpe(merges=(gw.ARR, (gw.STR, ["h q"]))), 'tokenizer.ggml.merges: merge 0 "h q": "q" is not in the vocabulary'),
    ("gpt2 pre unknown", bpe(pre=(gw.STR, "starcoder9")), 'tokenizer.ggml.pre "starcoder9" is not supported'),
]
for name, kvs, sub in GGUF_CASES:
    s.check("GGUF: " + name,
            lambda name=name, kvs=kvs, sub=sub: expect_error(
                s, ["tokenize", "--tokenizer", gguf(name.replace(" ", "_"), kvs), INPUT], sub))


def gguf_ok():
    path = gguf("spm_ok", spm())
    r = s.ok("tokenize", "--tokenizer", path, "--add-special", INPUT)
    assert r.out.split() and r.out.split()[0] == "1", r.out
    path = gguf("bpe_ok", bpe())
    r = s.ok("tokenize", "--tokenizer", path, INPUT)


s.check("GGUF: good files load", gguf_ok)


# ---- decode input and command lines -------------------------------------------------

def ids_file(name, text):
    p = s.path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


GOOD_TJ = tj("good", good())
OTHER = [
    ("decode letters", ["tokenize", "--tokenizer", GOOD_TJ, "--decode", ids_file("ids1", "0 1 x\n")],
     "line 1: expected token ids", 1),
    ("decode negative", ["tokenize", "--tokenizer", GOOD_TJ, "--decode", ids_file("ids2", "0\n-3\n")],
     "line 2: expected token ids", 1),
    ("decode out of range", ["tokenize", "--tokenizer", GOOD_TJ, "--decode", ids_file("ids3", "0 1\n5 99\n")],
     "line 2: token id 99 is not in the vocabulary", 1),
    ("decode huge", ["tokenize", "--tokenizer", GOOD_TJ, "--decode", ids_file("ids4", "99999999999\n")],
     "line 1: expected token ids", 1),
    ("no such tokenizer", ["tokenize", "--tokenizer", s.path("nope.json"), INPUT], "no such file or directory", 1),
    ("dir without tokenizer", ["tokenize", "--tokenizer", s.dir, INPUT], "no tokenizer.json", 1),
    ("no such input", ["tokenize", "--tokenizer", GOOD_TJ, s.path("missing.txt")], "cannot open", 1),
    ("json item without field", ["tokenize", "--tokenizer", GOOD_TJ, "--field", "instruction",
                                 ids_file("d.json", '[{"instruction": "hello"}, {"output": "x"}]')],
     'field "instruction"', 1),
    ("json malformed", ["tokenize", "--tokenizer", GOOD_TJ, "--field", "x", ids_file("e.jsonl", '{"x": "a"}\n{"x": \n')],
     "e.jsonl", 1),
    ("no --tokenizer", ["tokenize", INPUT], "--tokenizer PATH is required", 2),
    ("--field on text", ["tokenize", "--tokenizer", GOOD_TJ, "--field", "x", INPUT], "--field needs a .json", 2),
    ("--skip-special alone", ["tokenize", "--tokenizer", GOOD_TJ, "--skip-special", INPUT], "--skip-special goes with --decode", 2),
    ("two inputs", ["tokenize", "--tokenizer", GOOD_TJ, INPUT, INPUT], "at most one input", 2),
]
for name, args, sub, status in OTHER:
    s.check(name, lambda args=args, sub=sub, status=status: expect_error(s, args, sub, status))


def ok_roundtrip():
    r = s.ok("tokenize", "--tokenizer", GOOD_TJ, INPUT)
    # he ll o ' ' (w) o (r) l (d): characters outside the vocabulary, with no unk token
    # and no byte fallback, are dropped as the reference drops them
    assert r.out == "5 6 3 4 3 2\n", repr(r.out)


s.check("good tokenizer works", ok_roundtrip)
s.done()
