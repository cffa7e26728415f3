"""Hostile and fuzzed documents through the whole reading path (`reader sentences FILE`: detect, extract,
split), each in a process of its own with a wall-clock limit: no traceback, no hang, bounded memory.

  python bench/bench_hostile.py                 # the named hostile files (deep nesting, zip bombs, ...)
  python bench/bench_hostile.py --fuzz 10000    # plus N mutations of small valid documents of each format

Prints one JSON line per named case and a summary line: uncaught errors (a traceback, not a one-sentence
error), runs over --limit seconds, and the peak RSS of any run. Slow by design: a bench, not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT_S = 10.0
RSS_LIMIT_MB = 500

# --- the named hostile files ---------------------------------------------------------------------------

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CONTENT_TYPES = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                  b'officedocument.wordprocessingml.document.main+xml"/></Types>')


def _docx(document: bytes | None = None, *, member_writer=None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        if member_writer is not None:
            member_writer(z)
        else:
            z.writestr("word/document.xml", document)
    return out.getvalue()


def docx_nested(depth: int = 3000) -> bytes:
    body = "<w:tbl><w:tr><w:tc>" * depth + "<w:p><w:r><w:t>deep</w:t></w:r></w:p>" + "</w:tc></w:tr></w:tbl>" * depth
    return _docx(f'<w:document {_W}><w:body>{body}</w:body></w:document>'.encode())


def docx_runs_nested(depth: int = 5000) -> bytes:
    body = "<w:sdt><w:sdtContent>" * depth + "<w:p><w:r><w:t>x</w:t></w:r></w:p>" + "</w:sdtContent></w:sdt>" * depth
    return _docx(f'<w:document {_W}><w:body>{body}</w:body></w:document>'.encode())


def docx_bomb(megabytes: int = 1200) -> bytes:
    def write(z: zipfile.ZipFile) -> None:
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(f'<w:document {_W}><w:body><w:p><w:r><w:t>'.encode())
            block = b"a" * (1 << 20)
            for _ in range(megabytes):
                member.write(block)
            member.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return _docx(member_writer=write)


def epub_bomb(megabytes: int = 1200) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:'
                   'tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="c.opf" media-type="application/'
                   'oebps-package+xml"/></rootfiles></container>')
        z.writestr("c.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
                   '<metadata/><manifest><item id="a" href="a.xhtml" media-type="application/xhtml+xml"/></manifest>'
                   '<spine><itemref idref="a"/></spine></package>')
        with z.open("a.xhtml", "w", force_zip64=True) as member:
            member.write(b"<html><body><p>")
            block = b"b " * (1 << 19)
            for _ in range(megabytes):
                member.write(block)
            member.write(b"</p></body></html>")
    return out.getvalue()


def html_deep(depth: int = 200_000) -> bytes:
    return b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"


def html_end_tags(count: int = 400_000) -> bytes:
    return b"<html><body>" + b"<b><i>" * count + b"text" + b"</i></b>" * count + b"</body></html>"


def html_unclosed(count: int = 500_000) -> bytes:
    return b"<p>" + b"<li><span>x" * count


def text_no_spaces(megabytes: int = 20) -> bytes:
    return b"a" * (megabytes << 20)


def text_one_line(megabytes: int = 50) -> bytes:
    return b"word " * ((megabytes << 20) // 5)


def markdown_deep(depth: int = 100_000) -> bytes:
    return b">" * depth + b" quote\n" + b"- " * depth + b"item\n" + b"[" * depth + b"x" + b"]" * depth


def _pdf(objects: list[bytes], root: int) -> bytes:
    from tests.docfixtures import serialize_pdf  # noqa: PLC0415

    return serialize_pdf(objects, root)


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def pdf_many_kids(kids: int = 100_000) -> bytes:
    # 1 catalog, 2 pages (100k kids, all the same page), 3 the page, 4 its content, 5 a font.
    refs = b" ".join([b"3 0 R"] * kids)
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % kids,
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 5 0 R >> >> >>",
                 _stream(b"BT /F1 12 Tf 72 700 Td (The same page again.) Tj ET"),
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"], root=1)


def pdf_many_operators(count: int = 200_000) -> bytes:
    ops = b"BT /F1 12 Tf 72 700 Td " + b"(x) Tj 1 0 Td " * count + b"ET"
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 5 0 R >> >> >>",
                 _stream(ops),
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"], root=1)


def pdf_deep_pages(depth: int = 5000) -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (level + 3))
    objects.append(b"<< /Type /Page /MediaBox [0 0 612 792] >>")
    return _pdf(objects, root=1)


HOSTILE = {
    "docx-nested-tables-3000.docx": docx_nested,
    "docx-nested-sdt-5000.docx": docx_runs_nested,
    "docx-bomb-1200mb.docx": docx_bomb,
    "epub-bomb-1200mb.epub": epub_bomb,
    "html-deep-200k.html": html_deep,
    "html-end-tags-400k.html": html_end_tags,
    "html-unclosed-500k.html": html_unclosed,
    "text-no-spaces-20mb.txt": text_no_spaces,
    "text-one-line-50mb.txt": text_one_line,
    "markdown-deep-100k.md": markdown_deep,
    "pdf-100k-kids.pdf": pdf_many_kids,
    "pdf-200k-operators.pdf": pdf_many_operators,
    "pdf-deep-page-tree.pdf": pdf_deep_pages,
}

# --- running one file ------------------------------------------------------------------------------------

_CHILD = r"""
import json, resource, sys, time
from reader import offline
offline.install()
from reader.errors import ReaderError
from reader.text import extract
from reader.text.sentences import document_sentences
out = []
for path in sys.argv[1:]:
    t = time.perf_counter()
    row = {"file": path}
    try:
        doc = extract.load_document(path)
        row["sentences"] = len(document_sentences(doc))
        row["outcome"] = "read"
    except ReaderError as exc:
        row["outcome"] = "refused"
        row["message"] = exc.message
    except BaseException as exc:
        row["outcome"] = "UNCAUGHT"
        row["message"] = f"{type(exc).__name__}: {exc}"[:300]
    row["seconds"] = round(time.perf_counter() - t, 2)
    out.append(row)
print(json.dumps({"rows": out, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run_files(paths: list[Path], limit_s: float) -> tuple[list[dict], int]:
    """Read the files in one child process, under a wall-clock limit per file on average."""
    budget = limit_s * len(paths) + 5
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                              timeout=budget, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [{"file": str(p), "outcome": "HUNG", "seconds": budget} for p in paths], 0
    if proc.returncode != 0 or not proc.stdout.strip():
        return [{"file": str(p), "outcome": "CRASHED", "message": proc.stderr[-300:]} for p in paths], 0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["rows"], result["peak_rss_mb"]


# --- fuzzing -----------------------------------------------------------------------------------------------

def _seeds() -> dict[str, bytes]:
    from tests.docfixtures import write_docx  # noqa: PLC0415 - a test helper that writes a real DOCX

    folder = Path(tempfile.mkdtemp(prefix="fz"))
    docx = folder / "seed.docx"
    write_docx(docx, [("Heading1", "A title"), (None, "A paragraph of text. Another sentence here.")])
    return {
        ".docx": docx.read_bytes(),
        ".epub": epub_bomb(0),
        ".html": b"<html><head><title>T</title></head><body><h1>Head</h1><p>One <a href='x'>link</a>.</p>"
                 b"<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table><ol><li>x</li></ol>"
                 b"<img alt='map'></body></html>",
        ".md": b"# Title\n\nSome *text* and a [link](x).\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        ".txt": "Plain text. 第二句。\n\nAnother paragraph, 3 numbers 1,234.\n".encode(),
        ".pdf": pdf_many_kids(2),
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if not data:
            data += bytes(rng.randrange(256) for _ in range(16))
        elif kind < 0.4:  # flip bytes
            for _ in range(rng.randint(1, 16)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind < 0.6:  # cut
            at = rng.randrange(len(data))
            del data[at:at + rng.randint(1, max(1, len(data) // 4))]
        elif kind < 0.8:  # repeat a slice
            at = rng.randrange(len(data))
            piece = data[at:at + rng.randint(1, 64)]
            data[at:at] = piece * rng.randint(2, 2000)
        else:  # insert random bytes
            at = rng.randrange(len(data) + 1)
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 256)))
    return bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=0, help="also read this many fuzzed documents")
    parser.add_argument("--limit", type=float, default=LIMIT_S)
    parser.add_argument("--only", help="only the named cases whose file name contains this")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="hostile"))
    uncaught = over = 0
    peak = 0
    for name, make in HOSTILE.items():
        if args.only and args.only not in name:
            continue
        path = folder / name
        path.write_bytes(make())
        t = time.perf_counter()
        rows, rss = run_files([path], args.limit)
        row = {**rows[0], "file": name, "size_mb": round(path.stat().st_size / 1e6, 1), "peak_rss_mb": rss,
               "wall_s": round(time.perf_counter() - t, 2)}
        print(json.dumps(row, ensure_ascii=False), flush=True)
        uncaught += row["outcome"] in ("UNCAUGHT", "CRASHED", "HUNG")
        over += row["wall_s"] > args.limit
        peak = max(peak, rss)
        path.unlink()
    fuzzed = 0
    if args.fuzz:
        rng = random.Random(args.seed)
        seeds = _seeds()
        batch: list[Path] = []
        kinds = sorted(seeds)
        for i in range(args.fuzz):
            suffix = kinds[i % len(kinds)]
            path = folder / f"f{i}{suffix}"
            path.write_bytes(mutate(seeds[suffix], rng))
            batch.append(path)
            if len(batch) == 100 or i == args.fuzz - 1:
                rows, rss = run_files(batch, args.limit)
                peak = max(peak, rss)
                for row in rows:
                    fuzzed += 1
                    if row["outcome"] in ("UNCAUGHT", "CRASHED", "HUNG"):
                        uncaught += 1
                        print(json.dumps(row, ensure_ascii=False), flush=True)
                    if row.get("seconds", 0) > args.limit:
                        over += 1
                        print(json.dumps(row, ensure_ascii=False), flush=True)
                for p in batch:
                    p.unlink()
                batch = []
    print(json.dumps({"summary": True, "named": sum(1 for n in HOSTILE if not args.only or args.only in n),
                      "fuzzed": fuzzed, "uncaught": uncaught, "over_limit": over, "peak_rss_mb": peak,
                      "rss_limit_mb": RSS_LIMIT_MB}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
