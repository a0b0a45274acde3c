#!/usr/bin/python3
"""Generation oracle: `hyplora generate` against greedy decoding and sampling computed here
with the independent float64 PyTorch model of tests/lib/torch_llama.py, on small random
checkpoints from `hyplora make-model` rewritten so that the model is far from uniform.

    test_generate.py HYPLORA_EXE

Checks: 32 greedy tokens equal to the reference (which recomputes the whole sequence at
every step) on three checkpoints (BF16 GQA untied; F32 MHA tied; F32 with q/k/v biases and
llama3 rope scaling), with --weights f32 and --weights stored; the reference's top-two logit
gap stays above 1e-3 at every step, so the comparison is never decided by rounding; stopping
at EOS; the streamed text equal to the tokenizer's decoding of the ids (also for byte
tokens that form incomplete UTF-8) and --prompt / --template encoded as `hyplora tokenize`
encodes the same text; sampling reproducible by seed, --top-p 1e-9 equal to greedy,
different seeds giving different text on a flat distribution, and the sampled first tokens
following the nucleus distribution; errors and the full-context note.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import numpy as np  # noqa: E402
try:
    import torch  # noqa: E402, F401
except ImportError:  # a clear failure, not a skip: this is generation's only oracle
    sys.exit("test_generate.py: PyTorch is missing: apt-get install python3-torch (Debian's, for /usr/bin/python3)")

import harness  # noqa: E402
import st_writer  # noqa: E402
from checkpoints import decode_ids, edit_json, make_model, rewrite, sharpen, tokenize_texts  # noqa: E402
import peft  # noqa: E402
from torch_llama import greedy, load_safetensors_dir, reference  # noqa: E402

suite = harness.Suite()
HYPLORA = suite.exe
N_NEW = 32
MIN_GAP = 1e-3
MIN_DISTINCT = 4
VOCAB = 300
# Alpaca and LLM-Adapters prompts with an empty output, written here from
# docs/instruction-data.md (the prompt --template builds for generation).
ALPACA = ("Below is an instruction that describes a task. Write a response that appropriately "
          "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")
IND = " " * 16
LLM_ADAPTERS = ("Below is an instruction that describes a task. Write a response that appropriately "
                "completes the request.  # noqa: E501\n\n" + IND + "### Instruction:\n" + IND + "{instruction}\n"
                + IND + "\n" + IND + "### Response:\n" + IND)

checkpoints = {}  # tag -> (model dir, prompt, greedy ids), filled by the greedy checks


# ---- checkpoints ----

# Checkpoints come from tests/lib/checkpoints.py; sharpen is called here with larger v/o
# weights (the context, not only the last token's own embedding, decides the next token,
# so that a tied head does not repeat its input forever) and a final norm scaled up so
# that the logits spread over several units and greedy choices are well separated.


# ---- the reference ----

def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


# ---- running the C side ----

def ids_arg(ids):
    return ",".join(map(str, ids))


def gen_json(model, *args):
    r = suite.ok("generate", model, *args, "--json")
    lines = r.out.splitlines()
    assert len(lines) == 1, "--json printed %d lines: %r" % (len(lines), r.out)
    obj = json.loads(lines[0])
    assert set(obj) == {"prompt_ids", "ids", "text"}, sorted(obj)
    return obj


def gen_bytes(model, *args):
    """Streamed stdout as bytes (the text may hold U+FFFD from incomplete UTF-8)."""
    p = subprocess.run([HYPLORA, "generate", model, *map(str, args)], capture_output=True)
    err = p.stderr.decode("utf-8", "replace")
    for mark in harness.SANITIZER_MARKS:
        if mark in err:
            raise AssertionError("sanitizer report:\n" + err)
    if p.returncode != 0:
        raise AssertionError("hyplora generate %s exited %d:\n%s" % (" ".join(map(str, args)), p.returncode, err))
    return p.stdout


# ---- greedy against the reference ----

def greedy_case(tag, make_args, with_bias=False, edit_config=None, prompt_len=8, first_seed=1, tries=8):
    """Picks the first seed (deterministically, from first_seed on) whose checkpoint and
    prompt give a greedy reference with every top-two gap above MIN_GAP and at least
    MIN_DISTINCT distinct tokens, then compares hyplora's 32 tokens with both weight modes."""
    chosen = None
    for seed in range(first_seed, first_seed + tries):
        d = make_model(suite, HYPLORA, "%s-%d" % (tag, seed), "--no-tokenizer", "--vocab", VOCAB, "--seed", seed,
                       *make_args)
        rng = np.random.default_rng(seed)
        rewrite(d, lambda t: sharpen(t, rng, with_bias=with_bias, vo_scale=8.0, out_scale=20.0, sort_names=True),
                edit_config)
        prompt = rng.integers(3, VOCAB, prompt_len).tolist()
        want, gap = greedy(d, prompt, N_NEW)
        print("     %s seed %d: smallest top-two gap %.3g, %d distinct tokens" % (tag, seed, gap, len(set(want))))
        if gap > MIN_GAP and len(set(want)) >= MIN_DISTINCT:
            chosen = (d, prompt, want)
            break  # chosen, so its gaps and distinct count are asserted by the test above
    assert chosen, "no seed in %d..%d gives a greedy reference with gaps > %g and >= %d distinct tokens" % (
        first_seed, first_seed + tries - 1, MIN_GAP, MIN_DISTINCT)
    d, prompt, want = chosen
    for mode in ("f32", "stored"):
        got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos", "--weights", mode)
        assert got["prompt_ids"] == prompt, (got["prompt_ids"], prompt)
        assert got["text"] is None, got["text"]
        assert got["ids"] == want, "%s --weights %s:\n  hyplora   %s\n  reference %s" % (tag, mode, got["ids"], want)
    checkpoints[tag] = chosen


def case_bf16_gqa_untied():
    greedy_case("bf16-gqa", ["--dtype", "bf16", "--heads", 4, "--kv-heads", 2, "--layers", 2])
    d, prompt, want = checkpoints["bf16-gqa"]
    # Without a tokenizer the stream is the ids, space-separated, and a newline.
    r = suite.ok("generate", d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos")
    assert r.out == " ".join(map(str, want)) + "\n", (r.out, want)


def case_adapter():
    """--adapter: LoRA on layer 0 and HypLoRA (both forms) on layer 1, written as PEFT
    directories; greedy tokens through the KV-cache decoding step equal the reference's."""
    d, prompt, plain = checkpoints["bf16-gqa"]
    cfg = load_safetensors_dir(d)[0]
    plan = [(0, "q_proj", "lora"), (0, "o_proj", "lora"), (1, "k_proj", "hyplora"), (1, "up_proj", "hyplora"),
            (1, "down_proj", "hyplora")]
    rng = np.random.default_rng(77)
    for form in ("consistent", "released"):
        ad = suite.path("adapter-" + form)
        adapt_for = peft.write(ad, cfg, plan, rng, {"form": form, "alpha_hyperbolic": 64}, d)
        want, gap = greedy(d, prompt, N_NEW, adapt_for=adapt_for)
        assert gap > MIN_GAP, "%s: the reference's top-two gap %.3g is too small to compare" % (form, gap)
        got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos", "--adapter", ad)
        assert got["ids"] == want, "%s:\n  hyplora   %s\n  reference %s" % (form, got["ids"], want)
        assert want != plain, "%s: the adapter changed no token" % form
        print("     HypLoRA %s: %d tokens equal, smallest gap %.3g" % (form, N_NEW, gap))


def case_f32_mha_tied():
    greedy_case("f32-mha-tied", ["--dtype", "f32", "--heads", 4, "--kv-heads", 4, "--tie"])
    d = checkpoints["f32-mha-tied"][0]
    _, tensors, _ = st_writer.read(os.path.join(d, "model.safetensors"))
    assert "lm_head.weight" not in tensors


def case_bias_llama3():
    def cfg(c):
        c["attention_bias"] = True
        c["rope_theta"] = 500000.0
        # head_dim 16: wavelengths 6.3, 32.4, 167, ... fall in all three llama3 bands.
        c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    greedy_case("f32-bias-llama3", ["--dtype", "f32", "--heads", 8, "--kv-heads", 2, "--hidden", 128],
                with_bias=True, edit_config=cfg, prompt_len=12)


def case_eos():
    """Greedy stops at the config's eos_token_id (not printed or printed as the last id),
    and goes on past it with --ignore-eos."""
    src, prompt, want = checkpoints["bf16-gqa"]
    d = suite.path("eos-model")
    shutil.copytree(src, d)
    # The first token from the fourth on that has not come before.
    j = next(i for i in range(3, len(want)) if want[i] not in want[:i])
    edit_json(os.path.join(d, "config.json"), lambda c: c.update(eos_token_id=want[j]))
    got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW)["ids"]
    assert got in (want[:j], want[:j + 1]), "eos %d at step %d: got %s, greedy %s" % (want[j], j, got, want)
    got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos")["ids"]
    assert got == want, (got, want)
    got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", j - 1)["ids"]
    assert got == want[:j - 1], (got, want[:j - 1])


# ---- text: tokenizer, streaming, templates ----

def tokenizer_model():
    if "tok" not in checkpoints:
        d = make_model(suite, HYPLORA, "tok", "--seed", 11)  # the LLaMA-2 tokenizer, vocab 32000
        rng = np.random.default_rng(11)
        rewrite(d, lambda t: sharpen(t, rng, vo_scale=8.0, out_scale=20.0, sort_names=True))
        checkpoints["tok"] = (d, None, None)
    return checkpoints["tok"][0]


def check_stream(d, tok, run_args, seqs_out):
    """The streamed stdout is the json text and a newline, and the json text is the
    tokenizer's decoding (special tokens skipped) of the json ids."""
    obj = gen_json(d, *run_args)
    stream = gen_bytes(d, *run_args)
    assert isinstance(obj["text"], str), obj
    assert stream == (obj["text"] + "\n").encode("utf-8"), "stream %r\n  json text %r" % (stream, obj["text"])
    seqs_out.append((obj["ids"], obj["text"], run_args))
    return obj


def compare_decoded(tok, runs):
    decoded = decode_ids(suite, tok, [ids for ids, _, _ in runs])
    for (ids, text, args), want in zip(runs, decoded):
        assert text == want, "%s: json text %r, tokenize --decode %r (ids %s)" % (args, text, want, ids)


def case_text():
    d = tokenizer_model()
    tok = os.path.join(d, "tokenizer.json")
    prompts = ["The capital of France is", "Hello, wörld! 你好  ", "  two leading spaces\tand a tab",
               "line one\nline two"]
    want_ids = tokenize_texts(suite, tok, prompts)
    runs = []
    for prompt, ids in zip(prompts, want_ids):
        for extra in ([], ["--temperature", 1, "--seed", 5]):
            obj = check_stream(d, tok, ["--prompt", prompt, "--max-new", 24, *extra], runs)
            assert obj["prompt_ids"] == ids, "--prompt %r: %s, tokenize gives %s" % (prompt, obj["prompt_ids"], ids)
    # --prompt-ids with a tokenizer: the text of the new tokens only.
    check_stream(d, tok, ["--prompt-ids", "1,450,7483", "--max-new", 20], runs)
    compare_decoded(tok, runs)
    # Templates: the instruction wrapped in the prompt, with an empty response.
    instruction = "Add 3 and 4.\nShow the steps."
    texts = [ALPACA.format(instruction=instruction), LLM_ADAPTERS.format(instruction=instruction)]
    for name, ids in zip(("alpaca", "llm-adapters"), tokenize_texts(suite, tok, texts)):
        obj = gen_json(d, "--template", name, "--prompt", instruction, "--max-new", 4)
        assert obj["prompt_ids"] == ids, "--template %s:\n  hyplora  %s\n  tokenize %s" % (name, obj["prompt_ids"], ids)
    # --tokenizer: a model without one, given the same file.
    bare = suite.path("tok-bare")
    shutil.copytree(d, bare)
    os.remove(os.path.join(bare, "tokenizer.json"))
    os.remove(os.path.join(bare, "tokenizer_config.json"))
    a = gen_json(d, "--prompt", prompts[0], "--max-new", 8)
    b = gen_json(bare, "--prompt", prompts[0], "--max-new", 8, "--tokenizer", tok)
    assert a == b, (a, b)


def case_text_bytes():
    """A head that favours the 256 byte tokens <0x00>..<0xFF> (ids 3..258): the stream must
    hold back and replace incomplete UTF-8 exactly as the whole decoding does."""
    d = make_model(suite, HYPLORA, "tok-bytes", "--seed", 12)
    rng = np.random.default_rng(12)

    def edit(t):
        sharpen(t, rng, vo_scale=8.0, out_scale=4.0, sort_names=True)
        t["lm_head.weight"][3:259] *= 6.0
    rewrite(d, edit)
    tok = os.path.join(d, "tokenizer.json")
    runs = []
    for seed in (1, 2, 3):
        check_stream(d, tok, ["--prompt", "Bytes:", "--max-new", 48, "--temperature", 1, "--seed", seed,
                              "--ignore-eos"], runs)
    n_bytes = sum(1 for ids, _, _ in runs for i in ids if 3 <= i < 259)
    assert n_bytes >= 20, "only %d byte tokens generated: the check did not test them" % n_bytes
    compare_decoded(tok, runs)


# ---- sampling ----

def case_sampling_seed():
    d, prompt, want = checkpoints["bf16-gqa"]
    args = ["--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos", "--temperature", 0.8, "--top-p", 0.9]
    a = gen_json(d, *args, "--seed", 7)["ids"]
    b = gen_json(d, *args, "--seed", 7)["ids"]
    assert a == b, (a, b)
    c = gen_json(d, *args, "--seed", 7, "--weights", "stored")["ids"]
    assert a == c, ("--weights stored", a, c)


def case_top_p_tiny():
    """A nucleus of one token is greedy decoding, whatever the temperature and seed."""
    for tag in ("bf16-gqa", "f32-mha-tied", "f32-bias-llama3"):
        d, prompt, want = checkpoints[tag]
        for temp, seed in ((1, 3), (2.5, 4)):
            got = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", N_NEW, "--ignore-eos",
                           "--temperature", temp, "--top-p", 1e-9, "--seed", seed)["ids"]
            assert got == want, "%s T=%g: %s, greedy %s" % (tag, temp, got, want)


def case_flat_seeds_differ():
    """make-model's own weights (std 0.02) give a nearly uniform next-token distribution:
    different seeds must give different continuations."""
    d = make_model(suite, HYPLORA, "flat", "--seed", 13, "--no-tokenizer")
    prompt = [1, 450, 7483, 310]
    logits, _ = reference(d, prompt)
    p = softmax(logits[-1])
    assert p.max() < 0.01, "not a flat distribution: top probability %.3g" % p.max()
    outs = [tuple(gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", 16, "--ignore-eos",
                           "--temperature", 1, "--seed", s)["ids"]) for s in (1, 2, 3)]
    assert len(set(outs)) == 3, outs


def case_sampling_distribution():
    """The first sampled token over 400 seeds: always inside the reference's nucleus (the
    fewest most likely tokens whose probability reaches top-p) and distributed as the
    nucleus's renormalised softmax(logits / T) (chi-square)."""
    d, prompt, _ = checkpoints["f32-mha-tied"]
    T, top_p, n = 1.5, 0.8, 400
    logits, _ = reference(d, prompt)
    p = softmax(logits[-1] / T)
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(p[order])
    k = int(np.searchsorted(cum, top_p) + 1)  # cum[k-1] >= top_p > cum[k-2]
    assert cum[k - 1] >= top_p and (k == 1 or cum[k - 2] < top_p)
    assert min(abs(cum[k - 1] - top_p), abs(cum[k - 2] - top_p) if k > 1 else 1) > 1e-4, "nucleus edge too close"
    assert 4 <= k <= 60, "nucleus of %d tokens: pick another temperature" % k
    nucleus = order[:k]
    q = p[nucleus] / p[nucleus].sum()
    counts = {}
    for seed in range(1, n + 1):
        t = gen_json(d, "--prompt-ids", ids_arg(prompt), "--max-new", 1, "--temperature", T, "--top-p", top_p,
                     "--seed", seed)["ids"][0]
        counts[t] = counts.get(t, 0) + 1
    outside = set(counts) - set(nucleus.tolist())
    assert not outside, "sampled outside the nucleus of %d: %s" % (k, sorted(outside))
    obs = np.array([counts.get(int(i), 0) for i in nucleus], dtype=np.float64)
    exp = q * n
    # Pool the rare tokens so that every cell expects at least 5.
    big = exp >= 5
    obs_c = np.append(obs[big], obs[~big].sum()) if (~big).any() else obs
    exp_c = np.append(exp[big], exp[~big].sum()) if (~big).any() else exp
    chi2 = float(((obs_c - exp_c) ** 2 / exp_c).sum())
    df = len(exp_c) - 1
    bound = df + 6 * np.sqrt(2 * df) + 10
    print("     nucleus %d tokens, chi-square %.1f on %d degrees of freedom (bound %.1f)" % (k, chi2, df, bound))
    assert chi2 < bound, (chi2, df, dict(zip(nucleus.tolist(), obs.tolist())), exp)


# ---- errors and the context ----

def ctx_model(tag, ctx, name):
    src = checkpoints[tag][0]
    d = suite.path("%s-ctx%d-%s" % (tag, ctx, name))
    shutil.copytree(src, d)
    edit_json(os.path.join(d, "config.json"), lambda c: c.update(max_position_embeddings=ctx))
    return d


def case_errors():
    d = ctx_model("bf16-gqa", 8, "errors")
    harness.expect_error(suite, ["generate", d, "--prompt-ids", ids_arg(range(10, 19))],
                         "the prompt has 9 tokens but the model's context holds 8")
    r = harness.expect_error(suite, ["generate", d, "--prompt-ids", "5,6,%d" % VOCAB, "--json"], "")
    assert str(VOCAB) in r.err.replace(suite.dir, ""), "the id is not named: " + r.err
    assert r.out == "", r.out
    harness.expect_error(suite, ["generate", d, "--prompt-ids", "5,6", "--template", "alpaca"], "", status=2)
    harness.expect_error(suite, ["generate", d, "--template", "alpaca"], "", status=2)
    harness.expect_error(suite, ["generate", d, "--prompt", "x", "--prompt-ids", "5"], "", status=2)
    harness.expect_error(suite, ["generate", d, "--prompt", "hello"], "tokenizer")


def case_context_full():
    """prompt + --max-new past max_position_embeddings: exactly ctx - prompt tokens, the
    reference's greedy ones, and a note on stderr."""
    tag = "bf16-gqa"
    d = ctx_model(tag, 8, "full")
    prompt = checkpoints[tag][1][:5]
    want, gap = greedy(d, prompt, 3)
    assert gap > MIN_GAP, gap
    r = suite.ok("generate", d, "--prompt-ids", ids_arg(prompt), "--max-new", 10, "--ignore-eos", "--json")
    assert json.loads(r.out)["ids"] == want, (r.out, want)
    assert "context" in r.err and "8" in r.err, "no note on stderr: %r" % r.err
    r = suite.ok("generate", d, "--prompt-ids", ids_arg(prompt), "--max-new", 3, "--ignore-eos", "--json")
    assert json.loads(r.out)["ids"] == want, (r.out, want)
    # A prompt that fills the context exactly leaves no room: nothing generated, no error.
    r = suite.ok("generate", d, "--prompt-ids", ids_arg(checkpoints[tag][1][:8]), "--max-new", 4, "--json")
    assert json.loads(r.out)["ids"] == [], r.out


suite.check("greedy = reference, bf16 GQA 4/2 untied, --weights f32 and stored", case_bf16_gqa_untied)
suite.check("greedy with --adapter (LoRA and HypLoRA, both forms) = reference, through the KV cache", case_adapter)
suite.check("greedy = reference, f32 MHA tied head, --weights f32 and stored", case_f32_mha_tied)
suite.check("greedy = reference, f32 q/k/v biases + llama3 rope scaling, --weights f32 and stored",
            case_bias_llama3)
suite.check("stops at EOS unless --ignore-eos", case_eos)
suite.check("text: stream = json text = tokenize --decode; --prompt and --template = tokenize", case_text)
suite.check("text: byte tokens (incomplete UTF-8) streamed as decoded", case_text_bytes)
suite.check("sampling: same seed, same ids (both weight modes)", case_sampling_seed)
suite.check("sampling: --top-p 1e-9 = greedy", case_top_p_tiny)
suite.check("sampling: different seeds differ on a flat distribution", case_flat_seeds_differ)
suite.check("sampling: first token follows the nucleus distribution", case_sampling_distribution)
suite.check("errors: prompt past the context, id out of range, usage, no tokenizer", case_errors)
suite.check("context full: ctx - prompt tokens and a note", case_context_full)
suite.done()
