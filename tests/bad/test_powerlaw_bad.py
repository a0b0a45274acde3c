"""Bad input to `hyplora powerlaw`: each case must exit 1 with a message that names the
line (or the file) and says what is wrong, with no sanitizer report; usage errors exit 2."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Suite, expect_error  # noqa: E402

s = Suite()


def write(name, text):
    p = s.path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


GOOD = "".join("%d\n" % v for v in (1, 1, 2, 3, 5, 8, 13, 21, 1, 2))

# (file name, content, extra arguments, text the message must hold)
CASES = [
    ("empty.txt", "", [], "no numbers (the input is empty or only blank and comment lines)"),
    ("comments.txt", "# only a comment\n\n   \n", [], "no numbers"),
    ("word.txt", "3\n4\nfive\n6\n", [], 'word.txt line 3: "five" is not a number'),
    ("two.txt", "3\n4 5\n", [], 'two.txt line 2: "4 5" is not a number (expected one number per line)'),
    ("nan.txt", "3\n4\nnan\n", [], 'nan.txt line 3: "nan" is not a finite number'),
    ("inf.txt", "3\n\n-inf\n", [], 'inf.txt line 3: "-inf" is not a finite number'),
    ("huge.txt", "3\n1e999\n", [], 'huge.txt line 2: "1e999" is not a finite number'),
    ("zero.txt", GOOD + "0\n", ["--discrete"], "zero.txt line 11: value 11 is 0: a discrete fit needs whole numbers >= 1"),
    ("neg.txt", GOOD + "# c\n-4\n", ["--discrete"], "neg.txt line 12: value 11 is -4: a discrete fit needs whole numbers >= 1"),
    ("neg_cont.txt", "2.5\n-1.5\n3\n", [], "neg_cont.txt line 2: value 2 is -1.5: a power law needs positive values"),
    ("frac.txt", GOOD + "2.5\n", ["--discrete"], "frac.txt line 11: value 11 is 2.5, not a whole number: a discrete fit needs counts"),
    ("two_distinct.txt", "1\n2\n1\n2\n", [], "two_distinct.txt: 2 distinct values among 4: a fit needs at least 3 distinct values"),
    ("one_value.txt", "7\n", [], "1 distinct value among 1"),
    ("nul.txt", "1\n2\x003\n", [], "nul.txt line 2: a NUL byte"),
    ("range.txt", GOOD, ["--xmin-range", "100:200"], "no candidate xmin in [100, 200]"),
    ("xmin_big.txt", GOOD, ["--xmin", "50"], "xmin 50 is above every value (the largest is 21)"),
    ("xmin_top.txt", GOOD, ["--xmin", "21"], "every value >= xmin 21 equals it"),
    ("xmin_frac.txt", GOOD, ["--discrete", "--xmin", "2.5"], "xmin 2.5: a discrete fit needs a whole xmin >= 1"),
]

USAGE = [
    (["--p-value", "0"], "--p-value expects an integer"),
    (["--p-value", "x"], "--p-value expects an integer"),
    (["--xmin", "-1"], "--xmin expects a positive number"),
    (["--xmin-range", "5"], "--xmin-range expects A:B"),
    (["--xmin-range", "5:2"], "--xmin-range A:B needs A <= B"),
    (["--xmin", "2", "--xmin-range", "1:3"], "--xmin and --xmin-range exclude each other"),
    (["--discrete", "--continuous"], "--discrete and --continuous exclude each other"),
    (["--seed", "-3"], "--seed expects a whole number"),
    (["--bogus"], "invalid option"),
]


def make_case(name, text, extra, msg):
    def run():
        expect_error(s, ["powerlaw", *extra, write(name, text)], msg, status=1)
    return run


for name, text, extra, msg in CASES:
    s.check("bad input: " + name, make_case(name, text, extra, msg))


def usage_case(args, msg):
    def run():
        expect_error(s, ["powerlaw", *args, write("good.txt", GOOD)], msg, status=2)
    return run


for args, msg in USAGE:
    s.check("usage: " + " ".join(args), usage_case(args, msg))
s.check("usage: no file", lambda: expect_error(s, ["powerlaw"], "expected one FILE", status=2))
s.check("usage: missing file", lambda: expect_error(s, ["powerlaw", s.path("nope.txt")], "nope.txt: cannot open", status=1))
s.check("bad report path", lambda: expect_error(
    s, ["powerlaw", "-o", write("notreport.h5", "not hdf5"), write("good.txt", GOOD)], "notreport.h5", status=1))
s.done()
