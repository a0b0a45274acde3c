#!/usr/bin/python3
"""Answer extraction and scoring of `hyplora eval --predictions`, on outputs written here by
hand for every answer format of the paper's data sets, with decoys, and bad input.

    test_eval_answers.py HYPLORA_EXE

Each case is (label, output, expected prediction, expected correct). The expected values
follow the rules of docs/eval.md, worked out by hand; the accuracy of each set and of the
whole file is then known and checked, as is the results file's layout.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

suite = harness.Suite()

NUMBER = [
    ("18", "16 - 3 + 5 = 18 eggs.\nThe answer is 18.", "18", True),
    ("1234", "The total is 1,234 dollars.", "1234", True),        # thousands separator
    ("1234567", "It costs $1,234,567 in all", "1234567", True),  # two separators
    ("-15", "The temperature is -15 degrees.", "-15", True),      # negative
    ("5", "10-5", "5", True),                                     # a minus between numbers subtracts
    ("-5", "x = 3 - 8 = -5", "-5", True),
    ("0.75", "3 / 4 = 0.75", "0.75", True),                       # decimal
    ("0.6666666666666666", "2/3 is about 0.667", "0.667", True),  # within 0.001
    ("0.6666666666666666", "2/3 is about 0.66", "0.66", False),   # not within 0.001
    ("3", "between 3,4 and 5", "5", False),                       # "3,4" is no separator
    ("12", "The answer is 12 apples and 3 pears", "3", False),    # the last number decides
    ("20", "The answer is 20.", "20", True),                      # a full stop is no decimal point
    ("0.5", "half, that is .5", "0.5", True),
    ("7", "I do not know.", "", False),                           # no number
    ("1000", "1,000.5 - 0.5 = 1,000", "1000", True),
    ("2.5", "2.50", "2.50", True),
]

LETTER = [
    ("D", "Rationale: 1023.65 - 1000 = 23.65\nThe answer is (D)", "D", True),
    ("B", "A man buys 3 pens. So the answer is B.", "B", True),                # the article A
    ("C", "We get \\boxed{C}", "C", True),
    ("E", "Options A and B fail. \\boxed{(E) 42}", "E", True),                 # boxed wins
    ("A", "After Bob Computed Each Difference, the answer is: A", "A", True),  # capitals inside words
    ("B", "Clearly (C) is tempting. Answer: B", "B", True),
    ("D", "between the choices, the last one D", "D", True),
    ("A", "no option here", "", False),
    ("C", "The answer is (A), not C.", "A", False),                            # "answer is" first
    ("B", "ABCDE", "", False),                                                 # letters in a word
]

TRUE_FALSE = [
    ("false", "the correct answer is false", "false", True),
    ("true", "True, obviously.", "true", True),                 # any case
    ("true", "untrue", "", False),                              # whole words only
    ("false", "true or false? I say false", "true", False),     # the first option word
]

SOLUTION = [
    ("solution2", "the correct answer is solution2", "solution2", True),
    ("solution2", "solution1 is wrong; the answer is solution2", "solution1", False),  # right after wrong
    ("solution1", "Solution1.", "solution1", True),
]

ANSWER = [
    ("answer3", "the correct answer is answer3", "answer3", True),  # "answer" alone is no option
    ("answer1", "answer12 then answer1", "answer1", True),          # answer12 is no option word
    ("answer4", "answer5", "answer5", False),
]

OPTION = [
    ("option1", "the correct answer is option1", "option1", True),
    ("option2", "option3", "option3", False),  # a word of the family, though not a choice here
]

SETS = [("gsm8k", NUMBER, "number"), ("AQuA", LETTER, "letter"), ("boolq", TRUE_FALSE, "option (true/false)"),
        ("piqa", SOLUTION, "option (solutionN)"), ("ARC-Easy", ANSWER, "option (answerN)"),
        ("winogrande", OPTION, "option (optionN)")]


def write_sets(cases_by_set=SETS, answers_as_numbers=False):
    """One data folder per set (its name is the set's name); returns the test.json paths."""
    paths = []
    for name, cases, _ in cases_by_set:
        os.makedirs(suite.path("data", name), exist_ok=True)
        p = suite.path("data", name, "test.json")
        items = []
        for i, (label, _, _, _) in enumerate(cases):
            answer = float(label) if answers_as_numbers else label
            items.append({"instruction": "question %d of %s" % (i, name), "input": "", "output": "", "answer": answer})
        with open(p, "w") as f:
            json.dump(items, f)
        paths.append(p)
    return paths


def write_predictions(path, entries, jsonl):
    with open(path, "w") as f:
        if jsonl:
            for e in entries:
                f.write(json.dumps(e) + "\n")
        else:
            json.dump(entries, f)


def check_results(res, sets=SETS):
    total = correct = 0
    items = res["items"]
    k = 0
    for (name, cases, task), ds in zip(sets, res["datasets"]):
        assert ds["name"] == name and ds["task"] == task, (ds, name, task)
        right = 0
        for i, (label, output, pred, ok) in enumerate(cases):
            it = items[k]
            k += 1
            assert (it["dataset"], it["index"], it["output"]) == (name, i, output), it
            assert it["prediction"] == pred and it["correct"] == ok, \
                "%s item %d: output %r gives %r (%s), expected %r (%s)" % (
                    name, i, output, it["prediction"], it["correct"], pred, ok)
            right += ok
        assert ds["items"] == len(cases) and ds["correct"] == right, ds
        assert abs(ds["accuracy"] - right / len(cases)) < 1e-12, ds
        assert ds["no_answer"] == sum(1 for c in cases if c[2] == ""), ds
        total += len(cases)
        correct += right
    assert k == len(items)
    avg = res["average"]
    assert (avg["items"], avg["correct"]) == (total, correct), avg
    assert abs(avg["accuracy"] - correct / total) < 1e-12
    mean = sum(sum(c[3] for c in cases) / len(cases) for _, cases, _ in sets) / len(sets)
    assert abs(avg["mean_of_datasets"] - mean) < 1e-12
    return correct, total


def case_every_format():
    paths = write_sets()
    entries = [{"output": c[1]} for _, cases, _ in SETS for c in cases]
    for jsonl in (False, True):
        pred = suite.path("pred.jsonl" if jsonl else "pred.json")
        write_predictions(pred, entries, jsonl)
        out = suite.path("results.json")
        r = suite.ok("eval", "--predictions", pred, *paths, "-o", out)
        with open(out) as f:
            res = json.load(f)
        correct, total = check_results(res)
        assert "%d %d" % (total, correct) in " ".join(r.out.split()), r.out
        assert res["settings"]["predictions"] == pred and res["settings"]["task"] == "auto"
    print("     %d of %d outputs right, as worked out by hand" % (correct, total))


def case_keyed_and_rescored():
    """Entries keyed by dataset and index in any order; a results file scored again."""
    paths = write_sets()
    entries = [{"dataset": name, "index": i, "output": c[1]} for name, cases, _ in SETS for i, c in enumerate(cases)]
    pred = suite.path("keyed.json")
    write_predictions(pred, entries[::-1], False)
    out = suite.path("keyed-results.json")
    suite.ok("eval", "--predictions", pred, *paths, "-o", out)
    out2 = suite.path("rescored.json")
    suite.ok("eval", "--predictions", out, *paths, "-o", out2)
    for p in (out, out2):
        with open(p) as f:
            check_results(json.load(f))


def case_numeric_labels_and_limit():
    """Labels given as JSON numbers; --limit takes the first items of each set."""
    sets = [("gsm8k", NUMBER, "number")]
    paths = write_sets(sets, answers_as_numbers=True)
    pred = suite.path("pred-n.jsonl")
    write_predictions(pred, [{"output": c[1]} for c in NUMBER[:5]], True)
    out = suite.path("limit.json")
    suite.ok("eval", "--predictions", pred, *paths, "--limit", 5, "-o", out)
    with open(out) as f:
        check_results(json.load(f), [("gsm8k", NUMBER[:5], "number")])


def case_forced_task():
    """--task number on labels that are numbers works; --task letter on them fails."""
    paths = write_sets([("gsm8k", NUMBER, "number")])
    pred = suite.path("pred-t.jsonl")
    write_predictions(pred, [{"output": c[1]} for c in NUMBER], True)
    suite.ok("eval", "--predictions", pred, *paths, "--task", "number", "-o", suite.path("t.json"))
    harness.expect_error(suite, ["eval", "--predictions", pred, *paths, "--task", "letter", "-o", suite.path("t.json")],
                         "is not an option letter A-E")


def case_bad_input():
    os.makedirs(suite.path("bad"), exist_ok=True)

    def data(name, items):
        p = suite.path("bad", name)
        with open(p, "w") as f:
            json.dump(items, f)
        return p

    pred = suite.path("bad", "pred.jsonl")
    write_predictions(pred, [{"output": "1"}, {"output": "2"}], True)
    mixed = data("mixed.json", [{"instruction": "a", "answer": "5"}, {"instruction": "b", "answer": "maybe"}])
    harness.expect_error(suite, ["eval", "--predictions", pred, mixed, "-o", suite.path("x.json")],
                         "mixed.json: label \"maybe\" (item 1) fits no task")
    families = data("families.json", [{"instruction": "a", "answer": "answer1"}, {"instruction": "b", "answer": "true"}])
    harness.expect_error(suite, ["eval", "--predictions", pred, families, "-o", suite.path("x.json")], "fits no task")
    nolabel = data("nolabel.json", [{"instruction": "a", "answer": "1"}, {"instruction": "b"}])
    harness.expect_error(suite, ["eval", "--predictions", pred, nolabel, "-o", suite.path("x.json")],
                         "field \"answer\" (the label) is missing")
    good = data("good.json", [{"instruction": "a", "answer": "1"}, {"instruction": "b", "answer": "2"}])
    short = suite.path("bad", "short.jsonl")
    write_predictions(short, [{"output": "1"}], True)
    harness.expect_error(suite, ["eval", "--predictions", short, good, "-o", suite.path("x.json")],
                         "has no output for item 1 of bad")
    many = suite.path("bad", "many.jsonl")
    write_predictions(many, [{"output": "1"}] * 3, True)
    harness.expect_error(suite, ["eval", "--predictions", many, good, "-o", suite.path("x.json")],
                         "more outputs than the data sets have items")
    wrong_set = suite.path("bad", "wrongset.json")
    write_predictions(wrong_set, [{"dataset": "gsm8k", "index": 0, "output": "1"}], False)
    harness.expect_error(suite, ["eval", "--predictions", wrong_set, good, "-o", suite.path("x.json")],
                         "\"dataset\" \"gsm8k\" is not one of the data sets evaluated")
    twice = suite.path("bad", "twice.json")
    write_predictions(twice, [{"dataset": "bad", "index": 0, "output": "1"}] * 2, False)
    harness.expect_error(suite, ["eval", "--predictions", twice, good, "-o", suite.path("x.json")],
                         "a second output for item 0 of bad")
    out_of_range = suite.path("bad", "range.json")
    write_predictions(out_of_range, [{"dataset": "bad", "index": 7, "output": "1"}], False)
    harness.expect_error(suite, ["eval", "--predictions", out_of_range, good, "-o", suite.path("x.json")],
                         "\"index\" 7 is not an item of bad")
    broken = suite.path("bad", "broken.json")
    with open(broken, "w") as f:
        f.write('[{"output": "1"},\n {"output": ]')
    harness.expect_error(suite, ["eval", "--predictions", broken, good, "-o", suite.path("x.json")],
                         "broken.json: not valid JSON (line 2)")
    no_output = suite.path("bad", "nooutput.jsonl")
    write_predictions(no_output, [{"text": "1"}], True)
    harness.expect_error(suite, ["eval", "--predictions", no_output, good, "-o", suite.path("x.json")],
                         "nooutput.jsonl, line 1: field \"output\"")
    harness.expect_error(suite, ["eval", "--predictions", pred, good], "-o FILE", status=2)
    harness.expect_error(suite, ["eval", "--predictions", pred, good, "--task", "words", "-o", "x"], "--task", status=2)
    assert not os.path.exists(suite.path("x.json")), "a failed evaluation left a results file"


suite.check("every answer format, with decoys, from JSON and JSONL", case_every_format)
suite.check("keyed outputs in any order; a results file scored again", case_keyed_and_rescored)
suite.check("numeric labels; --limit", case_numeric_labels_and_limit)
suite.check("--task forced", case_forced_task)
suite.check("bad input: clear errors, no results file", case_bad_input)
suite.done()
