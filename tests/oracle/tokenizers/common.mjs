// Shared command line, input and output of the tokenizer oracle runners (test tools, never
// product code). Every runner has the interface of `hyplora tokenize`:
//
//   node RUNNER.mjs --tokenizer PATH [--add-special] [--decode] [--skip-special] [--field F] [FILE|-]
//
// Encode input: a .json file (array of objects) or .jsonl file (one object a line) with
// --field F, whose field F of each item is one text; otherwise one text per line with
// the escapes \n (newline), \r (carriage return), \t (tab) and \\ (backslash), so that a line
// can hold any text. Encode output: one line of space-separated ids per text.
// Decode input: lines of space-separated ids; output: one line of text each, newlines
// written as \n and backslashes as \\ (nothing else escaped), the same as `hyplora
// tokenize --decode`.
//
// Runs on Node 18 (Debian's nodejs) and 20: ES modules, no dependencies, nothing fetched.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The folder scripts/fetch-data unpacks npm packages into (HYPLORA_DATA_CACHE moves it). */
export function npmCache() {
    return process.env.HYPLORA_DATA_CACHE || path.resolve(here, "..", "..", "..", ".cache", "npm");
}

/** Imports file `rel` of the fetched package `name` (an ES module or CommonJS file). */
export async function importPackageFile(name, rel) {
    const file = path.join(npmCache(), name, rel);
    if (!fs.existsSync(file))
        die(`${file} is missing: run scripts/fetch-data ${name}`);
    return import(pathToFileURL(file).href);
}

export function die(msg) {
    process.stderr.write(`oracle: ${msg}\n`);
    process.exit(1);
}

export function parseArgs(argv, extra = []) {
    const o = { tokenizer: null, addSpecial: false, decode: false, skipSpecial: false, field: null, file: "-" };
    const flags = new Set(extra);
    let fileSeen = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--tokenizer") o.tokenizer = argv[++i];
        else if (a === "--add-special") o.addSpecial = true;
        else if (a === "--decode") o.decode = true;
        else if (a === "--skip-special") o.skipSpecial = true;
        else if (a === "--field") o.field = argv[++i];
        else if (flags.has(a)) o[a.replace(/^--/, "").replace(/-(.)/g, (_, c) => c.toUpperCase())] = true;
        else if (a.startsWith("--")) die(`unknown option ${a}`);
        else if (!fileSeen) { o.file = a; fileSeen = true; }
        else die(`unexpected argument ${a}`);
    }
    return o;
}

export function unescapeLine(s) {
    if (!s.includes("\\")) return s;
    return s.replace(/\\(.)/gs, (m, c) => {
        switch (c) {
            case "n": return "\n";
            case "r": return "\r";
            case "t": return "\t";
            case "\\": return "\\";
            default: die(`unknown escape \\${c} in the input`);
        }
    });
}

export function escapeText(s) {
    return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function readAll(file) {
    return file === "-" ? fs.readFileSync(0) : fs.readFileSync(file);
}

/** The lines of a file, without the final empty piece after a trailing newline. */
function lines(text) {
    const l = text.split("\n");
    if (l.length && l[l.length - 1] === "") l.pop();
    return l;
}

/** The texts of an encode input. */
export function readTexts(o) {
    const raw = readAll(o.file).toString("utf8");
    const isJson = o.file.endsWith(".json"), isJsonl = o.file.endsWith(".jsonl");
    if (!isJson && !isJsonl) return lines(raw).map(unescapeLine);
    if (!o.field) die("JSON input needs --field");
    const items = isJson ? JSON.parse(raw) : lines(raw).filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    return items.map((it, k) => {
        const v = it[o.field];
        if (typeof v !== "string") die(`item ${k} has no string field "${o.field}"`);
        return v;
    });
}

/** The id lists of a decode input. */
export function readIdLines(o) {
    return lines(readAll(o.file).toString("utf8")).map((l) =>
        l.trim() === "" ? [] : l.trim().split(/\s+/).map((x) => {
            const n = Number(x);
            if (!Number.isInteger(n) || n < 0) die(`"${x}" is not a token id`);
            return n;
        }));
}

/** Writes lines to stdout in chunks (synchronously, so nothing is lost at exit). */
export function writeLines(out) {
    const chunk = 4096;
    for (let i = 0; i < out.length; i += chunk) {
        const s = out.slice(i, i + chunk).join("\n") + "\n";
        let buf = Buffer.from(s, "utf8"), off = 0;
        while (off < buf.length) {
            try {
                off += fs.writeSync(1, buf, off);
            } catch (e) {
                if (e.code !== "EAGAIN") throw e;
            }
        }
    }
}

/** Runs a runner: encode(text, addSpecial) -> ids and decode(ids, skipSpecial) -> text. */
export function run(o, encode, decode) {
    const t0 = process.hrtime.bigint();
    let out;
    if (o.decode) {
        if (!decode) die("this runner cannot decode");
        // decode may give several texts for one id line (one output line each)
        const texts = (ids) => [].concat(ids.length ? decode(ids, o.skipSpecial) : o.both ? ["", ""] : "");
        out = readIdLines(o).map((ids) => texts(ids).map(escapeText).join("\n"));
    } else {
        const texts = readTexts(o);
        out = texts.map((t) => encode(t, o.addSpecial).join(" "));
    }
    const t1 = process.hrtime.bigint();
    writeLines(out);
    if (process.env.ORACLE_TIMING)
        process.stderr.write(`oracle-time ${Number(t1 - t0) / 1e9}\n`);
}
