#!/usr/bin/python3
"""Malformed GGUF files: each must be refused with exit status 1, a message that says what
is wrong (checked by substring), and no sanitizer report.

    test_gguf_bad.py EXE [EXE...]

Each EXE is run as `EXE info PATH`: tests/unit/test_gguf (the reader alone) and/or
`hyplora` (the same through the model handle).
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
import gguf_writer as gw  # noqa: E402

ARCH = [("general.architecture", gw.STR, "testarch")]


def f32_tensor(name, rows, cols, offset=None):
    t = {"name": name, "dims": [cols, rows], "type": gw.GGML["F32"], "data": bytes(4 * rows * cols)}
    if offset is not None:
        t["offset"] = offset
    return t


def base(**kw):
    """A small valid file: a few KVs and two F32 tensors."""
    kvs = kw.pop("kvs", ARCH + [("x.u32", gw.U32, 7), ("x.s", gw.STR, "hi")])
    tensors = kw.pop("tensors", [f32_tensor("a", 2, 8), f32_tensor("b", 4, 8)])
    return gw.build(kvs, tensors, **kw)


def header(n_tensors, n_kv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def raw_kv(key, type_id, payload):
    return gw.enc_str(key) + struct.pack("<I", type_id) + payload


def nested(depth):
    """An array nested `depth` deep around an empty u8 array."""
    v = struct.pack("<IQ", gw.U8, 0)
    for _ in range(depth - 1):
        v = struct.pack("<IQ", gw.ARR, 1) + v
    return v


def llama_kvs(**over):
    kvs = dict((k, (t, v)) for k, t, v in gw.model_kvs("llama"))
    for k, v in over.items():
        k = k.replace("__", ".")
        if v is None:
            kvs.pop(k, None)
        else:
            kvs[k] = v
    return [(k, t, v) for k, (t, v) in kvs.items()]


def llama_tensors(q_rows=64):
    return [f32_tensor("token_embd.weight", 100, 64), f32_tensor("blk.0.attn_q.weight", q_rows, 64)]


CASES = [
    ("empty file", b"", 'expected the magic "GGUF"'),
    ("bad magic", b"GGML" + base()[4:], 'expected "GGUF"'),
    ("version 1", base(version=1), "GGUF version 1 is not supported"),
    ("version 99", base(version=99), "GGUF version 99 is not supported"),
    ("big-endian", base()[:4] + struct.pack(">I", 3) + base()[8:], "big-endian"),
    ("truncated header", base()[:14], "truncated at offset 8: tensor count"),
    ("truncated in KV count", base()[:20], "KV count needs 8 bytes"),
    ("truncated in the tensor infos", base()[:150], 'truncated at offset 147: tensor "a" header needs 4 bytes'),
    ("key length past EOF", header(0, 1) + struct.pack("<Q", 1000) + bytes(40),
     "string length 1000 runs past the end of the file"),
    ("huge key length", header(0, 1) + struct.pack("<Q", 2 ** 64 - 1) + bytes(20),
     "string length 18446744073709551615 runs past the end"),
    ("string value past EOF", header(0, 1) + raw_kv("k", gw.STR, struct.pack("<Q", 2 ** 62)),
     'KV "k" string value at offset 37: string length 4611686018427387904 runs past the end'),
    ("tensor count past the file", base(n_tensors=1000000), "tensor count 1000000 cannot fit"),
    ("tensor count a little too big", base(n_tensors=3), "name of tensor 2 at offset"),
    ("KV count huge", base(n_kv=2 ** 62), "KV count 4611686018427387904 cannot fit"),
    ("unknown KV type", header(0, 2) + raw_kv("k", 13, bytes(8)) + bytes(16),
     'KV "k" at offset 33: unknown value type 13'),
    ("unknown array element type", header(0, 1) + raw_kv("k", gw.ARR, struct.pack("<IQ", 42, 1)) + bytes(8),
     "unknown array element type 42"),
    ("array count past the file", header(0, 1) + raw_kv("k", gw.ARR, struct.pack("<IQ", gw.STR, 2 ** 60)) + bytes(8),
     "array of 1152921504606846976 string elements cannot fit"),
    ("u32 array longer than the file", header(0, 1) + raw_kv("k", gw.ARR, struct.pack("<IQ", gw.U32, 5)) + bytes(8),
     "array of 5 uint32 elements cannot fit"),
    ("arrays nested too deep", header(0, 1) + raw_kv("deep", gw.ARR, nested(20)),
     "arrays nested more than 8 deep"),
    ("bool value 2", header(0, 2) + raw_kv("flag", gw.BOOL, b"\x02") + bytes(16),
     "bool byte is 2, expected 0 or 1"),
    ("duplicate key", base(kvs=ARCH + [("x", gw.U8, 1), ("x", gw.U8, 2)]), 'metadata key "x" appears twice'),
    ("non-UTF-8 key", base(kvs=ARCH + [(b"ab\xff", gw.U8, 1)]),
     "key of KV 1 at offset 72 is not valid UTF-8"),
    ("NUL in key", base(kvs=ARCH + [(b"a\0b", gw.U8, 1)]), "contains a NUL byte"),
    ("empty key", base(kvs=ARCH + [("", gw.U8, 1)]), "is empty"),
    ("non-UTF-8 tensor name", base(tensors=[f32_tensor(b"w\xc0\xaf", 2, 8)]),
     "name of tensor 0 at offset"),
    ("alignment not a power of two", base(kvs=ARCH + [("general.alignment", gw.U32, 48)], alignment=48),
     "general.alignment is 48, expected a power of two"),
    ("alignment zero", base(kvs=ARCH + [("general.alignment", gw.U32, 0)]),
     "general.alignment is 0, expected a power of two"),
    ("alignment of the wrong type", base(kvs=ARCH + [("general.alignment", gw.STR, "32")]),
     '"general.alignment" is a string, expected an integer'),
    ("n_dims 5", base(tensors=[{"name": "w", "dims": [32, 1, 1, 1, 1], "type": 0, "data": bytes(128)}]),
     'tensor "w": n_dims is 5, expected 1 to 4'),
    ("n_dims 0", base(tensors=[{"name": "w", "dims": [], "type": 0, "data": bytes(4)}]),
     'tensor "w": n_dims is 0'),
    ("negative dimension", base(tensors=[{"name": "w", "dims": [2 ** 63 + 1], "type": 0, "data": b""}]),
     "dimension 0 is negative"),
    ("dimensions overflow", base(tensors=[{"name": "w", "dims": [2 ** 40, 2 ** 40], "type": 0, "data": b""}]),
     "element count overflows"),
    ("unknown ggml type", base(tensors=[{"name": "w", "dims": [8], "type": 77, "data": bytes(32)}]),
     'tensor "w": unknown ggml type id 77'),
    ("removed ggml type 4", base(tensors=[{"name": "w", "dims": [32], "type": 4, "data": bytes(32)}]),
     "unknown ggml type id 4"),
    ("tensor offset past EOF", base(tensors=[f32_tensor("a", 2, 8), f32_tensor("b", 4, 8, offset=2 ** 20)])[:-1024],
     'tensor "b": 128 bytes at data offset 1048576'),
    ("tensor data cut short", base()[:-4], 'tensor "b": 128 bytes at data offset 64'),
    ("huge tensor offset", base(tensors=[f32_tensor("a", 2, 8, offset=2 ** 64 - 32)]),
     "run past the end of the file"),
    ("unaligned tensor offset", base(tensors=[f32_tensor("a", 2, 8), f32_tensor("b", 4, 8, offset=68)]),
     'tensor "b": offset 68 is not a multiple of the alignment 32'),
    ("overlapping tensors", base(tensors=[f32_tensor("a", 4, 8), f32_tensor("b", 4, 8, offset=96)]),
     'tensors "a" and "b" overlap in the data section'),
    ("overlap behind an empty tensor", base(tensors=[f32_tensor("a", 4, 8), f32_tensor("e", 0, 8, offset=32),
                                                     f32_tensor("b", 4, 8, offset=64)]),
     'tensors "a" and "b" overlap'),
    ("duplicate tensor name", base(tensors=[f32_tensor("a", 2, 8), f32_tensor("a", 2, 8)]),
     'tensor "a" appears twice'),
    ("GGUF and HF names of one tensor", base(tensors=[f32_tensor("token_embd.weight", 2, 8),
                                                      f32_tensor("model.embed_tokens.weight", 2, 8)]),
     "appears twice"),
    ("Q8_0 row of 48", base(tensors=[{"name": "q", "dims": [48, 2], "type": gw.GGML["Q8_0"], "data": bytes(102)}]),
     'tensor "q": row length 48 is not a multiple of the Q8_0 block size 32'),
    ("Q4_0 row of 16", base(tensors=[{"name": "q", "dims": [16], "type": gw.GGML["Q4_0"], "data": bytes(18)}]),
     "row length 16 is not a multiple of the Q4_0 block size 32"),
    ("Q4_K row of 128", base(tensors=[{"name": "k", "dims": [128, 2], "type": gw.GGML["Q4_K"], "data": bytes(144)}]),
     "row length 128 is not a multiple of the Q4_K block size 256"),
    ("llama without embedding_length", gw.build(llama_kvs(llama__embedding_length=None), llama_tensors()),
     'metadata key "llama.embedding_length" is missing'),
    ("llama head count of the wrong type", gw.build(llama_kvs(llama__attention__head_count=(gw.STR, "4")), llama_tensors()),
     '"llama.attention.head_count" is a string, expected an integer'),
    ("llama q rows not split by heads", gw.build(llama_kvs(llama__attention__head_count=(gw.U32, 3)), llama_tensors()),
     '"blk.0.attn_q.weight": 64 rows do not split into 3 heads'),
    ("llama with yarn RoPE", gw.build(llama_kvs(llama__rope__scaling__type=(gw.STR, "yarn")), llama_tensors()),
     'only "none" and "linear" RoPE scaling'),
    ("llama heads not dividing", gw.build(llama_kvs(llama__attention__head_count_kv=(gw.U32, 3)), llama_tensors()),
     "is not a multiple of num_key_value_heads"),
]


def main():
    exes = sys.argv[1:]
    if not exes:
        sys.exit(__doc__)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.gguf")
        for name, data, want in CASES:
            with open(path, "wb") as f:
                f.write(data)
            for exe in exes:
                p = subprocess.run([exe, "info", path], capture_output=True, encoding="utf-8",
                                   errors="replace", timeout=60)
                problems = []
                if p.returncode != 1:
                    problems.append("exit status %d, expected 1" % p.returncode)
                if want not in p.stderr:
                    problems.append("message lacks %r" % want)
                for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                    if bad in p.stderr:
                        problems.append("sanitizer report")
                tag = "%s [%s]" % (name, os.path.basename(exe))
                if problems:
                    failed += 1
                    print("FAIL %s: %s\n  stderr: %s" % (tag, "; ".join(problems), p.stderr.strip()[-3000:]))
                else:
                    passed += 1
                    print("ok   %s: %s" % (tag, p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
