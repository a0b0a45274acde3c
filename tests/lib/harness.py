"""Shared bits of the Python test scripts: run the hyplora binary, collect checks, and
exit with the right status (0 all passed, 1 any failed, 77 skipped for meson)."""
import os
import subprocess
import sys
import tempfile
import traceback

SANITIZER_MARKS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "LeakSanitizer")


class Run:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr


class Suite:
    def __init__(self):
        if len(sys.argv) < 2:
            sys.exit("usage: %s HYPLORA_BINARY" % sys.argv[0])
        self.exe = sys.argv[1]
        self.failed = 0
        self.passed = 0
        self.tmp = tempfile.TemporaryDirectory(prefix="hyplora-test-")
        self.dir = self.tmp.name

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def run(self, *args, env=None):
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True, env=e)
        r = Run(p)
        for mark in SANITIZER_MARKS:
            if mark in r.err:
                raise AssertionError("sanitizer report:\n" + r.err)
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.code != 0:
            raise AssertionError("hyplora %s exited %d:\n%s" % (" ".join(map(str, args)), r.code, r.err))
        return r

    def check(self, name, fn):
        try:
            fn()
        except Exception:  # a failed check is reported and the others still run
            self.failed += 1
            print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
        else:
            self.passed += 1
            print("ok   %s" % name, flush=True)

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        self.tmp.cleanup()
        sys.exit(1 if self.failed else 0)


def expect_error(suite, args, substring, status=1):
    """Runs hyplora expecting failure with the given status and message substring."""
    r = suite.run(*args)
    if r.code != status:
        raise AssertionError("expected exit %d, got %d; stderr:\n%s" % (status, r.code, r.err))
    if substring not in r.err:
        raise AssertionError("expected %r in stderr, got:\n%s" % (substring, r.err))
    return r
