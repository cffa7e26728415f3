"""Sentence splitting against the English "Golden Rules" (the pragmatic_segmenter specification that
pySBD also uses), scored the way a listener meets them: each case is read as a plain-text document, the
same path as `reader sentences notes.txt`, and passes only if every sentence comes out exactly.

The cases are third-party material, so they are not copied into this repository: the first 48 are read
from pySBD's own source distribution (`benchmarks/english_golden_rules.py`, MIT), fetched once with
`pip download` and checked against a pinned sha256; the two further plain-text rules of the specification
that pySBD's file leaves out, and its two Chinese rules, are quoted below with their numbers. pySBD itself
(the wheel, also pinned) is scored on the same cases for comparison when it can be loaded.

Run as `python bench/bench_sentences.py [--json] [--show-failures]`. Setup-time network only (pip).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from reader.text.document import Document  # noqa: E402
from reader.text.extract.plain import text_to_blocks  # noqa: E402
from reader.text.sentences import document_sentences  # noqa: E402

CACHE = Path.home() / ".cache" / "reader-bench" / "pysbd"
SDIST = ("pysbd-0.3.3.tar.gz", "56ab48a28a8470f0042a4cb7c9da8a6dde8621ecf87a86d75f201cbf1837e77f")
WHEEL = ("pysbd-0.3.4-py3-none-any.whl", "cd838939b7b0b185fcf86b0baf6636667dfb6e474743beeff878e9f42e022953")
RULES_MEMBER = "pysbd-0.3.3/benchmarks/english_golden_rules.py"

# Rules 49 and 50 of the pragmatic_segmenter English Golden Rules (its README), not in pySBD's file. (Its
# two further rules are for PDF text, where a line break inside a sentence is a wrap; they are not scored
# here because the PDF extractor, not the splitter, joins those lines.)
MORE_EN_RULES = [
    ("Hello world.Today is Tuesday.Mr. Smith went to the store and bought 1,000.That is a lot.",
     ["Hello world.", "Today is Tuesday.", "Mr. Smith went to the store and bought 1,000.",
      "That is a lot."]),
    ("features\ncontact manager\nevents, activities\n", ["features", "contact manager", "events, activities"]),
]
# The Chinese Golden Rules of the same specification.
ZH_RULES = [
    ("安永已聯繫周怡安親屬，協助辦理簽證相關事宜，周怡安家屬1月1日晚間搭乘東方航空班機抵達上海，他們步入入境大廳時神情落寞、"
     "不發一語。周怡安來自台中，去年剛從元智大學畢業，同年9月赴英國深造，預計今年夏天畢業，並將在仲夏節前往倫敦從事一份實習工作。",
     ["安永已聯繫周怡安親屬，協助辦理簽證相關事宜，周怡安家屬1月1日晚間搭乘東方航空班機抵達上海，他們步入入境大廳時神情落寞、不發一語。",
      "周怡安來自台中，去年剛從元智大學畢業，同年9月赴英國深造，預計今年夏天畢業，並將在仲夏節前往倫敦從事一份實習工作。"]),
    ("我们明天一起去看《摔跤吧！爸爸》好吗？好！", ["我们明天一起去看《摔跤吧！爸爸》好吗？", "好！"]),
]


def _fetch(filename: str, sha256: str, *, source: bool) -> Path:
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        name, version = filename.split("-")[:2]
        version = version.removesuffix(".tar.gz")
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(CACHE),
               f"{name}=={version}"]
        cmd += ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
        subprocess.run(cmd, check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"bench_sentences: {path} has sha256 {digest}, expected {sha256}; delete it and rerun")
    return path


def golden_en_rules() -> list[tuple[str, list[str]]]:
    with tarfile.open(_fetch(*SDIST, source=True)) as archive:
        source = archive.extractfile(RULES_MEMBER).read().decode("utf-8")
    for node in ast.parse(source).body:  # read the literal, never run the file
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "GOLDEN_EN_RULES":
            return [(text, list(expected)) for text, expected in ast.literal_eval(node.value)]
    raise SystemExit(f"bench_sentences: no GOLDEN_EN_RULES in {RULES_MEMBER}")


def ours(text: str) -> list[str]:
    return [s.text for s in document_sentences(
        Document.from_raw(text_to_blocks(text), title="case", source="stdin", format="text"))]


def _pysbd_segmenters():
    try:
        wheel = _fetch(*WHEEL, source=False)
        sys.path.insert(0, str(wheel))
        with zipfile.ZipFile(wheel):
            import pysbd  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - the comparison is optional
        print(f"bench_sentences: pySBD not scored ({exc})", file=sys.stderr)
        return None
    return {lang: pysbd.Segmenter(language=lang, clean=False) for lang in ("en", "zh")}


def _unbullet(sentence: str) -> str:
    """Plain text turns a leading "• " into a list item (announced as such), so it is not compared."""
    return sentence.removeprefix("• ")


def score(split, cases) -> tuple[int, list[tuple[int, str, list[str], list[str]]]]:
    failures = []
    for number, (text, expected) in enumerate(cases, 1):
        got = [s.strip() for s in split(text) if s.strip()]
        if [_unbullet(s) for s in got] != [_unbullet(s) for s in expected]:
            failures.append((number, text, expected, got))
    return len(cases) - len(failures), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args(argv)
    english = golden_en_rules() + MORE_EN_RULES
    rows = []
    passed, failures = score(ours, english)
    zh_passed, zh_failures = score(ours, ZH_RULES)
    rows.append({"splitter": "reader", "english_passed": passed, "english_cases": len(english),
                 "chinese_passed": zh_passed, "chinese_cases": len(ZH_RULES)})
    segmenters = _pysbd_segmenters()
    if segmenters:
        p_passed, _ = score(segmenters["en"].segment, english)
        p_zh, _ = score(segmenters["zh"].segment, ZH_RULES)
        rows.append({"splitter": "pysbd 0.3.4", "english_passed": p_passed, "english_cases": len(english),
                     "chinese_passed": p_zh, "chinese_cases": len(ZH_RULES)})
    for row in rows:
        print(json.dumps(row) if args.json else
              f"{row['splitter']}: English {row['english_passed']}/{row['english_cases']}, "
              f"Chinese {row['chinese_passed']}/{row['chinese_cases']}")
    if args.show_failures:
        for number, text, expected, got in failures + zh_failures:
            print(f"\n#{number} {text!r}\n  expected {expected}\n  got      {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
