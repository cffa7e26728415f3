"""Our hand-written normalizer against wetext (PyPI, Apache-2.0: the WeTextProcessing runtime CosyVoice
uses, its English and Chinese FSTs in the wheel, on kaldifst) on one shared table of cases, each with
the spoken form(s) a listener expects. Scored by exact match after folding case, punctuation and
hyphens (and, in Chinese, white space).

wetext is installed for measuring only, into ~/.cache/reader-bench/wetext, pinned by version (and the
wetext wheel by sha256); the reader never imports it. Run: `python bench/bench_normalize.py [--show]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from reader.text.normalize import normalize  # noqa: E402

TARGET = Path.home() / ".cache" / "reader-bench" / "wetext"
PINNED = ("wetext==0.1.8", "kaldifst==1.8.3", "contractions==0.1.73", "textsearch==0.0.24", "anyascii==0.3.3",
          "pyahocorasick==2.3.1")
WETEXT_WHEEL_SHA256 = "b2083e7f38ac38fcbecdf7aec6ac6f0e3d1a11b763facfa4daabc12138215454"

# The shared table: (written form, expected spoken form or forms).
EN: list[tuple[str, str | tuple[str, ...]]] = [
 ("It costs $12.50.", ("It costs twelve dollars fifty.", "It costs twelve dollars and fifty cents.")),
 ("She paid £3.", "She paid three pounds."),
 ("About 1,234,567 people.", "About one million two hundred thirty-four thousand five hundred sixty-seven people."),
 ("In 1999 we met.", "In nineteen ninety-nine we met."),
 ("It was 2005.", "It was two thousand five."),
 ("On Jan. 5, 2024 we left.", "On January fifth, twenty twenty-four we left."),
 ("Meet at 3:30 p.m.", ("Meet at three thirty p m.", "Meet at three thirty PM")),
 ("It is 7:05.", "It is seven oh five."),
 ("Dr. Smith lives on Baker St.", "Doctor Smith lives on Baker Street."),
 ("He ran 5 km.", "He ran five kilometers."),
 ("It is -5°C.", ("It is minus five degrees Celsius.", "It is negative five degrees Celsius.")),
 ("Growth was 3.5%.", "Growth was three point five percent."),
 ("the 21st century", "the twenty-first century"),
 ("Call 020 7946 0958.", "Call zero two zero, seven nine four six, zero nine five eight."),
 ("Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
 ("New York, NY 10003", "New York, NY one zero zero zero three"),
 ("Mix 1/2 cup.", "Mix one half cup."),
 ("a 3x speedup", "a three times speedup"),
 ("the 1990s", "the nineteen nineties"),
 ("version 2.0.1", ("version two point oh point one", "version two point zero point one")),
 ("Chapter IV", "Chapter four"),
 ("Henry VIII", "Henry the eighth"),
 ("It scored 3:1.", "It scored three to one."),
 ("Write to jane.doe@example.org.", "Write to jane dot doe at example dot org."),
 ("Room 12 of 40", "Room twelve of forty"),
 ("He is 6'2\".", "He is six foot two."),
 ("It weighs 2.5 kg.", "It weighs two point five kilograms."),
 ("on 2024-03-01", "on March first, twenty twenty-four"),
 ("e.g. this", "for example this"),
 ("We need 10-20 chairs.", "We need ten to twenty chairs."),
]
ZH: list[tuple[str, str | tuple[str, ...]]] = [
 ("2026年11月28日", "二零二六年十一月二十八日"),
 ("下午3:30开会", "下午三点三十分开会"),
 ("增长了3.5%", "增长了百分之三点五"),
 ("共1,234元", "共一千二百三十四元"),
 ("温度-5°C", ("温度零下五摄氏度", "温度负五摄氏度")),
 ("我的电话是13812345678。", ("我的电话是一三八一二三四五六七八。", "我的电话是幺三八幺二三四五六七八。")),
 ("电话010-12345678", "电话零一零一二三四五六七八"),
 ("120个苹果", "一百二十个苹果"),
 ("第3章", "第三章"),
 ("1/2的人", "二分之一的人"),
 ("3.14", "三点一四"),
 ("10000人", "一万人"),
 ("20世纪90年代", "二十世纪九十年代"),
 ("比分是3:1", "比分是三比一"),
 ("跑了5km", "跑了五公里"),
 ("约2.5公斤", "约二点五公斤"),
 ("价格是￥99", "价格是九十九元"),
 ("1998年出生", "一九九八年出生"),
 ("第1名", "第一名"),
 ("2个人", "两个人"),
 ("200元", ("两百元", "二百元")),
 ("邮编100871", "邮编一零零八七一"),
 ("10-20人", "十到二十人"),
 ("2024-03-01", "二零二四年三月一日"),
 ("12:05", "十二点零五分"),
 ("-3", "负三"),
 ("50%的人", "百分之五十的人"),
 ("身高180cm", "身高一百八十厘米"),
 ("1,000,000", "一百万"),
 ("3月8日是妇女节", "三月八日是妇女节"),
 ("2个人", "两个人"),
 ("第2个", "第二个"),
 ("约2小时", "约两小时"),
 ("2002人", "两千零二人"),
 ("30km/h", ("三十公里每小时", "每小时三十公里")),
 ("验证码：2468", "验证码：二四六八"),
]


def _install() -> None:
    if (TARGET / "wetext").is_dir():
        return
    wheels = TARGET.with_name("wetext-wheels")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), *PINNED],
                   check=True)
    wheel = next(wheels.glob("wetext-0.1.8-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WETEXT_WHEEL_SHA256:
        raise SystemExit(f"bench_normalize: {wheel} has sha256 {digest}, expected {WETEXT_WHEEL_SHA256}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                    str(TARGET), *map(str, wheels.glob("*.whl"))], check=True)


def canon(text: str, lang: str) -> str:
    text = re.sub(r"[^\w\s]|_", " ", text.lower().replace("-", " "))
    return "".join(text.split()) if lang == "zh" else " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the cases either side gets wrong")
    args = parser.parse_args(argv)
    _install()
    sys.path.insert(0, str(TARGET))
    from wetext import Normalizer  # noqa: PLC0415

    for lang, cases in (("en", EN), ("zh", ZH)):
        theirs = Normalizer(lang=lang, operator="tn")
        score = {"reader": 0, "wetext": 0}
        for text, expected in cases:
            wanted = {canon(e, lang) for e in ((expected,) if isinstance(expected, str) else expected)}
            got = {"reader": normalize(text, lang=lang).text, "wetext": theirs.normalize(text)}
            ok = {name: canon(out, lang) in wanted for name, out in got.items()}
            for name in score:
                score[name] += ok[name]
            if args.show and not all(ok.values()):
                print(f"  {lang} {text!r}: " + "; ".join(f"{n} {'ok' if ok[n] else 'WRONG'} {got[n]!r}" for n in got))
        print(json.dumps({"lang": lang, "cases": len(cases), **score}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
