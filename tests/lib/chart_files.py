"""Reading what `hyplora plot` writes, for the chart tests: the numbers of a TSV, the text of
an SVG and the size of a PNG (each after checking the file is what it claims to be)."""
import struct
import xml.etree.ElementTree as ET

import numpy as np

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def read_tsv(path):
    """(header, rows as a float array [n, columns]) of a chart's TSV; every row as wide as
    the header."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    rows = [[float(v) for v in ln.split("\t")] for ln in lines[1:]]
    for r in rows:
        assert len(r) == len(header), (path, r)
    return header, np.array(rows, dtype=float).reshape(len(rows), len(header))


def svg_text(path):
    """Every text node of the SVG, stripped, one per line (raises on malformed XML)."""
    root = ET.parse(path).getroot()
    return "\n".join(t.strip() for t in root.itertext() if t.strip())


def png_size(path):
    """(width, height) of a PNG, after checking its signature and IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIG and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])
