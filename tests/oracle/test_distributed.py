#!/usr/bin/python3
"""Data-parallel `train` and `pretrain` over MPI (docs/distributed.md), with Open MPI's
mpirun on this host:

    test_distributed.py HYPLORA_EXE

The reference is the same binary as one process without mpirun: a step's micro-batches are
dealt to the ranks in turn and their gradients summed before clipping and the update, so
any rank count computes the single process's step, up to the order of float32 sums. The
analyses and eval share out whole items, so their results are the single process's exactly.

1. LoRA (with dropout: each micro-batch keeps its masks wherever it runs) on 2 ranks, and
   HypLoRA on 3 ranks, which share 4 micro-batches unevenly: every adapter tensor within 1e-5 of the single process's (relative to its
   norm); the log's losses, gradient norms, validation losses and token counts equal.
2. One rank under mpirun equals no mpirun bit for bit (same thread count).
3. pretrain on 2 ranks equals one process within 1e-5, every weight.
4. A rank killed (SIGKILL) mid-run takes the job down: mpirun names the rank, rank 0 names
   the step and the checkpoint it keeps; that checkpoint resumes on one process (another
   rank count) to the uninterrupted run's adapter. A rank stopped alone by SIGTERM does the
   same, naming itself. SIGUSR1 to mpirun stops every rank after the same step with a
   checkpoint (exit 130); resuming on 2 ranks completes.
5. Ranks given different data fail before training, naming the rank; a command that runs
   as one process refuses mpirun with one message.
6. eval on 2 ranks writes the single process's results; stopped by SIGUSR1, it keeps every
   rank's outputs in RESULTS.partial, and resuming on 3 ranks completes to the same results.
7. The per-prompt delta of the embeddings and every layer (2 ranks), the sampled delta's
   tries with random base points (3 ranks) and analyze (2 ranks) write reports equal to
   the single process's to the last bit (the same threads per rank).
8. Where `ip netns` works (as root): the two ranks in two network namespaces joined by a
   veth pair, mpirun starting the second "host" through a launcher that enters its
   namespace, so the gradients really cross an interface: the adapter again equals the
   single process's, and the veth counted the bytes.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py  # noqa: E402
    import numpy as np  # noqa: E402
except ImportError as e:
    sys.exit("test_distributed.py: %s: apt-get install python3-numpy python3-h5py (for /usr/bin/python3)" % e)

import st_writer  # noqa: E402
from checkpoints import make_model, rewrite, sharpen  # noqa: E402
from harness import Suite, SANITIZER_MARKS  # noqa: E402
from instruct import mawps_items, write_items  # noqa: E402

suite = Suite()
HYPLORA = suite.exe
ROOT = os.environ.get("HYPLORA_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MPIRUN = shutil.which("mpirun")
if not MPIRUN:
    sys.exit("test_distributed.py: mpirun not found: apt-get install openmpi-bin libopenmpi-dev (scripts/setup does)")
version = subprocess.run([HYPLORA, "--version"], capture_output=True, text=True).stdout
if "MPI: " not in version:
    sys.exit("test_distributed.py: %s was built without MPI (%s): install libopenmpi-dev and reconfigure"
             % (HYPLORA, version.strip()))

# Open MPI keeps some of its own allocations until exit; LeakSanitizer cannot see past its
# plugins' frames to suppress them, so leak checking is off under mpirun (the same code
# runs with it on in every single-process test).
MPI_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
rng = np.random.default_rng(20261128)

MODEL = make_model(suite, HYPLORA, "model", "--hidden", 48, "--heads", 4, "--kv-heads", 2, "--layers", 2,
                   "--intermediate", 64, "--dtype", "f32", "--seed", 5)
rewrite(MODEL, lambda t: sharpen(t, rng))
ITEMS = mawps_items(ROOT)


DATA = write_items(suite, "data.json", ITEMS[:72])


def mpirun_argv(n, args, mca=()):
    return [MPIRUN, "--allow-run-as-root", "-np", str(n), *mca, HYPLORA, "--threads", "1", *map(str, args)]


def check_output(r_code, err, args):
    for mark in SANITIZER_MARKS:
        if mark in err:
            raise AssertionError("sanitizer report:\n" + err)
    if r_code != 0:
        raise AssertionError("mpirun %s exited %d:\n%s" % (" ".join(map(str, args)), r_code, err))


def mpi_ok(n, *args):
    p = subprocess.run(mpirun_argv(n, args), capture_output=True, text=True, env={**os.environ, **MPI_ENV})
    check_output(p.returncode, p.stderr, args)
    return p


def tensors(path):
    _, t, _ = st_writer.read(path)
    return {k: np.asarray(v, dtype=np.float64) for k, v in t.items()}


def assert_close(a_path, b_path, tol=1e-5):
    a, b = tensors(a_path), tensors(b_path)
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    worst = max((np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(a[k]), 1e-30), k) for k in a)
    assert worst[0] <= tol, "tensor %s differs by %.3g of its norm" % (worst[1], worst[0])
    return worst[0]


def log_of(out):
    with h5py.File(os.path.join(out, "train_log.h5"), "r") as f:
        return {k: f["train"][k][()] for k in ("step", "loss", "grad_norm", "tokens", "val_loss")}


def assert_logs_equal(a, b, tol=1e-5):
    la, lb = log_of(a), log_of(b)
    assert np.array_equal(la["step"], lb["step"]) and np.array_equal(la["tokens"], lb["tokens"]), (la, lb)
    for k in ("loss", "grad_norm", "val_loss"):
        assert np.allclose(la[k], lb[k], rtol=tol, atol=0), (k, la[k], lb[k])


def train_args(out, *extra):
    return ["train", MODEL, DATA, "--rank", 4, "--batch", 8, "--micro-batch", 2, "--steps", 6, "--warmup", 1,
            "--lr", 1e-2, "--val-size", 8, "--eval-every", 3, "-o", out, *extra]


def compare_ranks(tag, n, *plan):
    one, many = suite.path(tag + "-1"), suite.path(tag + "-%d" % n)
    suite.ok("--threads", 1, *train_args(one, *plan))
    r = mpi_ok(n, *train_args(many, *plan))
    assert "ranks: %d, 1 threads each; a step's 4 micro-batches are dealt to them in turn" % n in r.stdout, r.stdout
    assert r.stdout.count("wrote ") == 1, r.stdout  # rank 0 alone prints and writes
    worst = assert_close(os.path.join(one, "adapter_model.safetensors"),
                         os.path.join(many, "adapter_model.safetensors"))
    assert_logs_equal(one, many)
    with open(os.path.join(one, "adapter_config.json")) as a, open(os.path.join(many, "adapter_config.json")) as b:
        assert json.load(a) == json.load(b)
    print("     %s: %d ranks against one process: worst tensor %.2g of its norm" % (tag, n, worst))
    return one


def case_lora():
    compare_ranks("lora", 2, "--method", "lora", "--dropout", 0.05)


def case_hyplora():
    compare_ranks("hyplora", 3, "--method", "hyplora", "--dropout", 0.05)


def case_one_rank_bitwise():
    plain, one = suite.path("plain"), suite.path("np1")
    args = ("--method", "hyplora", "--dropout", 0.05)
    suite.ok("--threads", 1, *train_args(plain, *args))
    mpi_ok(1, *train_args(one, *args))
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        with open(os.path.join(plain, name), "rb") as a, open(os.path.join(one, name), "rb") as b:
            assert a.read() == b.read(), name + " differs between no mpirun and mpirun -np 1"
    la, lb = log_of(plain), log_of(one)
    for k in ("loss", "grad_norm", "val_loss", "tokens"):
        assert np.array_equal(la[k], lb[k]), k


def case_pretrain():
    corpus = suite.path("corpus.txt")
    with open(corpus, "w") as f:
        for it in ITEMS[:200]:
            f.write(it["instruction"] + "\n")
    tok = os.path.join(ROOT, "notebooks-data", "tokenizers", "llama2")
    args = ["pretrain", "--tokenizer", tok, "--hidden", 32, "--layers", 2, "--heads", 4, "--kv-heads", 2,
            "--intermediate", 64, "--context", 32, "--batch", 8, "--micro-batch", 2, "--steps", 5, "--warmup", 1,
            "--val-size", 4, "--eval-every", 5, corpus]
    one, two = suite.path("pre-1"), suite.path("pre-2")
    suite.ok("--threads", 1, *args, "-o", one)
    mpi_ok(2, *args, "-o", two)
    worst = assert_close(os.path.join(one, "model.safetensors"), os.path.join(two, "model.safetensors"))
    assert_logs_equal(one, two)
    print("     pretrain: 2 ranks against one process: worst weight tensor %.2g of its norm" % worst)


def long_args(out):
    """A run long enough to be stopped in the middle: 40 steps, a checkpoint every 4."""
    return ["train", MODEL, DATA, "--rank", 4, "--batch", 8, "--micro-batch", 2, "--warmup", 1, "--lr", 1e-2,
            "--val-size", 8, "--method", "hyplora", "--steps", 40, "--checkpoint-every", 4, "--eval-every", 0,
            "-o", out]


def start_job(n, args):
    return subprocess.Popen(mpirun_argv(n, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **MPI_ENV})


def rank_pid(rank, timeout=60):
    """The pid of the hyplora process of `rank` in the job (from its environment)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read().split(b"\0")
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if b"OMPI_COMM_WORLD_RANK=%d" % rank in env and cmd[0].endswith(b"hyplora"):
                return int(pid)
        time.sleep(0.05)
    raise AssertionError("rank %d never started" % rank)


def wait_for_checkpoint(out, job, timeout=120):
    path = os.path.join(out, "checkpoint.safetensors")
    t0 = time.time()
    while not os.path.exists(path):
        assert job.poll() is None and time.time() - t0 < timeout, "no checkpoint was written"
        time.sleep(0.02)


def checkpoint_step(out):
    meta, _, _ = st_writer.read(os.path.join(out, "checkpoint.safetensors"))
    return int(meta["__metadata__"]["step"])


def whole_run():
    out = suite.path("long-whole")
    if not os.path.exists(out):
        suite.ok("--threads", 1, *long_args(out))
    return out


def take_down(tag, sig, who):
    out = suite.path(tag)
    job = start_job(2, long_args(out))
    wait_for_checkpoint(out, job)
    os.kill(rank_pid(1), sig)
    _, err = job.communicate(timeout=120)
    assert job.returncode != 0, err
    saved = checkpoint_step(out)
    assert 0 < saved < 40, saved
    assert who in err, err
    line = next(x for x in err.splitlines() if "rank 0: stopped by a signal during step" in x)
    step = int(line.split("during step ")[1].split()[0])
    assert "the checkpoint of step %d in %s is kept" % (saved, out) in line, (line, saved)
    assert saved < step <= saved + 4, (saved, step)
    r = suite.ok("--threads", 1, *long_args(out), "--resume")  # on one process: another rank count
    assert "resuming after step %d of 40" % saved in r.out, r.out
    worst = assert_close(os.path.join(whole_run(), "adapter_model.safetensors"),
                         os.path.join(out, "adapter_model.safetensors"))
    print("     %s: job down in step %d, checkpoint of step %d resumed on 1 process: %.2g of the norm"
          % (tag, step, saved, worst))


def case_killed_rank():
    take_down("killed", signal.SIGKILL, "process rank 1")


def case_terminated_rank():
    take_down("terminated", signal.SIGTERM, "rank 1: stopped by a signal during step")


def case_usr1_stop():
    out = suite.path("usr1")
    job = start_job(2, long_args(out))
    wait_for_checkpoint(out, job)
    job.send_signal(signal.SIGUSR1)  # mpirun forwards it to every rank
    _, err = job.communicate(timeout=120)
    assert job.returncode == 130, (job.returncode, err)
    assert err.count("interrupted after step") == 1, err
    stopped = int(err.split("interrupted after step ")[1].split()[0])
    assert checkpoint_step(out) == stopped, (checkpoint_step(out), stopped)
    r = mpi_ok(2, *long_args(out), "--resume")
    assert "resuming after step %d of 40" % stopped in r.stdout, r.stdout
    assert_close(os.path.join(whole_run(), "adapter_model.safetensors"),
                 os.path.join(out, "adapter_model.safetensors"))
    print("     stopped after step %d by SIGUSR1, resumed on 2 ranks" % stopped)


def case_bad():
    other = write_items(suite, "other.json", ITEMS[1:73])
    out = suite.path("mismatch")
    a = train_args(out, "--method", "lora")
    b = [other if x == DATA else x for x in a]
    argv = [MPIRUN, "--allow-run-as-root", "-np", "1", HYPLORA, *map(str, a), ":", "-np", "1", HYPLORA,
            *map(str, b)]
    p = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **MPI_ENV})
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "hyplora: error: rank 1: the run's settings" in p.stderr and "differ from rank 0's" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(out, "checkpoint.safetensors"))
    p = subprocess.run(mpirun_argv(2, ["freq", DATA, "-o", suite.path("freq.h5")]), capture_output=True, text=True,
                       env={**os.environ, **MPI_ENV})
    assert p.returncode == 2 and p.stderr.count("this command runs as one process") == 1, p.stderr
    assert not os.path.exists(suite.path("freq.h5"))


EVAL_DATA = [os.path.join(ROOT, "notebooks-data", "datasets", d, "test.json") for d in ("mawps", "SVAMP")]


def eval_args(out, limit):
    return ["eval", MODEL, *EVAL_DATA, "--limit", limit, "--max-new", 24, "--batch", 4, "-o", out]


def results(path):
    with open(path) as f:
        r = json.load(f)
    return {k: r[k] for k in ("settings", "datasets", "items")}


def case_eval():
    one, two = suite.path("eval-1.json"), suite.path("eval-2.json")
    suite.ok("--threads", 1, *eval_args(one, 20))
    r = mpi_ok(2, *eval_args(two, 20))
    assert r.stdout.count("results: ") == 1, r.stdout
    a, b = results(one), results(two)
    assert len(b["items"]) == 40 and len({i["output"] for i in b["items"]}) > 20, b["items"][:3]
    assert a == b, "the results of 2 ranks differ from one process's"


def case_eval_stop_resume():
    one, out = suite.path("eval-long-1.json"), suite.path("eval-long.json")
    partial = out + ".partial"
    job = start_job(2, eval_args(out, 150))
    t0 = time.time()
    while not os.path.exists(partial) or open(partial).read().count("\n") < 12:
        assert job.poll() is None and time.time() - t0 < 120, "eval made no outputs"
        time.sleep(0.02)
    job.send_signal(signal.SIGUSR1)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 130, (job.returncode, err)
    done = int(err.split("interrupted after ")[1].split()[0])
    with open(partial) as f:
        lines = f.read().splitlines()
    assert 11 <= done < 300 and len(lines) == done + 1, (done, len(lines))
    indices = {json.loads(x)["index"] for x in lines[1:] if json.loads(x)["dataset"] == "mawps"}
    assert any(i % 2 == 1 for i in indices), "rank 1's outputs are not in the partial file"
    r = mpi_ok(3, *eval_args(out, 150))
    assert "resuming from %s: %d of 300 items done" % (partial, done) in r.stderr, r.stderr
    assert not os.path.exists(partial)
    suite.ok("--threads", 1, *eval_args(one, 150))
    assert results(one) == results(out), "the resumed results differ from one process's"
    print("     stopped after %d of 300 items on 2 ranks, resumed on 3: the single process's results" % done)


def assert_reports_equal(a, b):
    """Every dataset and attribute of two HDF5 reports equal, but what names the run."""
    differ = {"command_line", "created_utc", "freq_report"}
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visit(names.append)
        other = []
        fb.visit(other.append)
        assert names == other, (names, other)
        for name in names:
            x, y = fa[name], fb[name]
            if isinstance(x, h5py.Dataset):
                assert np.array_equal(x[()], y[()]), name
            for k in x.attrs:
                if k not in differ:
                    assert np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])), (name, k)
    return len(names)


def compare_report(tag, n, args):
    one, many = suite.path("%s-1.h5" % tag), suite.path("%s-%d.h5" % (tag, n))
    suite.ok("--threads", 1, *args, "-o", one)
    mpi_ok(n, *args, "-o", many)
    return assert_reports_equal(one, many)


def case_delta():
    n = compare_report("prompts", 2, ["delta", MODEL, "--data", DATA, "--layers", "all", "--limit", 40, "--batch", 4])
    m = compare_report("sampled", 3, ["delta", MODEL, "--sample", 40, "--tries", 7, "--base", "random", "--seed", 3])
    print("     per prompt (2 ranks): %d objects equal; sampled tries (3 ranks): %d" % (n, m))


def case_analyze():
    n = compare_report("analyze", 2, ["analyze", MODEL, "--data", DATA, "--limit", 30, "--p-value", 20])
    print("     analyze (2 ranks): %d objects equal" % n)


def sh(*args):
    return subprocess.run(list(map(str, args)), capture_output=True, text=True)


def case_netns():
    ip = shutil.which("ip")
    tag = "hp%d" % (os.getpid() % 100000)
    ns = [tag + "a", tag + "b"]
    addr = ["10.231.%d.1" % (os.getpid() % 250), "10.231.%d.2" % (os.getpid() % 250)]
    if os.geteuid() != 0 or not ip or sh(ip, "netns", "add", ns[0]).returncode != 0:
        print("     not run: ip netns needs root and iproute2 (here: uid %d, ip %s)" % (os.geteuid(), ip))
        return
    try:
        steps = [("netns", "add", ns[1]), ("link", "add", ns[0], "type", "veth", "peer", "name", ns[1])]
        for i in (0, 1):
            steps += [("link", "set", ns[i], "netns", ns[i]), ("-n", ns[i], "addr", "add", addr[i] + "/24", "dev", ns[i]),
                      ("-n", ns[i], "link", "set", ns[i], "up"), ("-n", ns[i], "link", "set", "lo", "up")]
        for s in steps:
            r = sh(ip, *s)
            if r.returncode != 0:  # the machine cannot: a chroot whose / is no mount point, say
                print("     not run: ip %s failed here: %s" % (" ".join(s), r.stderr.strip()))
                return
        # mpirun runs in the first namespace and starts the second "host" through this
        # launcher instead of ssh: it enters that host's namespace (and its own hostname)
        agent = suite.path("netns-agent")
        with open(agent, "w") as f:
            f.write('#!/bin/sh\nhost=$1; shift\n[ "$host" = %s ] || { echo "unknown host $host" >&2; exit 1; }\n'
                    'exec %s netns exec %s unshare --uts sh -c "hostname %s; $*"\n' % (addr[1], ip, ns[1], ns[1]))
        os.chmod(agent, 0o755)
        hosts = suite.path("hostfile")
        with open(hosts, "w") as f:
            f.write("%s slots=1\n%s slots=1\n" % tuple(addr))
        out = suite.path("netns-run")
        net = addr[0].rsplit(".", 1)[0] + ".0/24"
        mca = ["--hostfile", hosts, "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
               "--mca", "btl_tcp_if_include", net, "--mca", "oob_tcp_if_include", net]
        inner = " ".join("'%s'" % a for a in mpirun_argv(2, train_args(out, "--method", "lora"), mca))
        p = subprocess.run([ip, "netns", "exec", ns[0], "unshare", "--uts", "sh", "-c",
                            "hostname %s; exec %s" % (ns[0], inner)], capture_output=True, text=True,
                           env={**os.environ, **MPI_ENV})
        check_output(p.returncode, p.stderr, ["netns"])
        one = suite.path("lora-1")
        worst = assert_close(os.path.join(one, "adapter_model.safetensors"), os.path.join(out, "adapter_model.safetensors"))
        stats = sh(ip, "-n", ns[0], "-s", "-j", "link", "show", ns[0])
        rx = json.loads(stats.stdout)[0]["stats64"]["rx"]["bytes"]
        # each of the 6 steps sums every adapter gradient (float32) across the veth
        n_params = sum(v.size for v in tensors(os.path.join(out, "adapter_model.safetensors")).values())
        assert rx >= 6 * n_params * 4, (rx, n_params)
        print("     two namespaces over a veth pair: %.2g of the norm; %d bytes received by rank 0's side" % (worst, rx))
    finally:
        sh(ip, "netns", "del", ns[0])
        sh(ip, "netns", "del", ns[1])


suite.check("lora: 2 ranks equal one process", case_lora)
suite.check("hyplora: 3 ranks, 4 micro-batches, equal one process", case_hyplora)
suite.check("one rank under mpirun equals no mpirun bit for bit", case_one_rank_bitwise)
suite.check("pretrain: 2 ranks equal one process", case_pretrain)
suite.check("a killed rank takes the job down; resume on another rank count", case_killed_rank)
suite.check("a rank stopped by SIGTERM takes the job down, naming itself", case_terminated_rank)
suite.check("SIGUSR1 stops every rank after one step; resume on 2 ranks", case_usr1_stop)
suite.check("mismatched ranks and one-process commands are refused", case_bad)
suite.check("eval: 2 ranks write the single process's results", case_eval)
suite.check("eval: stopped on 2 ranks, resumed on 3, the single process's results", case_eval_stop_resume)
suite.check("delta per prompt and sampled tries: the single process's report", case_delta)
suite.check("analyze: the single process's report", case_analyze)
suite.check("two network namespaces joined by a veth pair", case_netns)
suite.done()
