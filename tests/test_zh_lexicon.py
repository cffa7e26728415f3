"""The compact Mandarin dictionaries hold exactly what jieba's and pypinyin's own do, and are what the
reader uses, so Chinese segments and reads as before in a fraction of the memory."""

from __future__ import annotations

import json
from pathlib import Path

import jieba
import pytest

from reader.text import zh_lexicon


@pytest.fixture(scope="module")
def jieba_own():
    with jieba.dt.get_dict_file() as f:
        freq, total = jieba.Tokenizer.gen_pfdict(f)
    tags: dict[str, str] = {}
    with jieba.dt.get_dict_file() as f:
        for line in f:
            word, _, tag = line.strip().decode("utf-8").split(" ")
            tags[word] = tag
    return freq, tags, total


def test_the_compact_table_holds_every_word_prefix_and_tag_of_jiebas_dictionary(jieba_own):
    freq, tags, total = jieba_own
    with jieba.dt.get_dict_file() as f:
        compact_freq, compact_tags, compact_total = zh_lexicon.build(f)
    assert compact_total == total
    assert len(compact_freq) == len(freq)
    assert [w for w, v in freq.items() if w not in compact_freq or compact_freq[w] != v] == []
    assert [w for w, t in tags.items() if compact_tags.get(w) != t] == []
    # Strings that are not in it: CPython hashes the bytes it stores, so "BP" and 偂 (42 50) share a hash.
    for stranger in ("BP", "QQ", "RS", "hello", "，", "", "一二三四五六七八九十" * 3):
        assert (stranger in compact_freq) == (stranger in freq)
        assert compact_freq.get(stranger) == freq.get(stranger)
        assert compact_tags.get(stranger, "x") == tags.get(stranger, "x")
    with pytest.raises(KeyError):
        compact_freq["hello"]


def test_duplicate_lines_keep_the_last_frequency_and_tag_as_jieba_does():
    lines = ["中国 5 ns\n", "中 2 n\n", "中国 9 n\n", "\n"]
    freq, tags, total = zh_lexicon.build([line.encode() for line in lines])
    assert (freq["中国"], tags.get("中国"), freq["中"], total) == (9, "n", 2, 16)
    freq, tags, total = zh_lexicon.build(["中国 5 ns\n".encode()])
    assert ("中" in freq, freq["中"], tags.get("中", "x")) == (True, 0, "x")  # a prefix, not a word
    with pytest.raises(ValueError, match="line 1"):
        zh_lexicon.build([b"broken\n"])


def test_pypinyins_phrases_parse_to_the_same_readings():
    import pypinyin

    path = Path(pypinyin.__file__).parent / "phrases_dict.json"
    text = path.read_text(encoding="utf-8")
    own = json.loads(text)
    compact = zh_lexicon.parse_phrases(text)
    assert len(compact) == len(own)
    assert [k for k, v in own.items() if compact[k] != v] == []
    assert compact.get("不存在的词") is None
    with pytest.raises(ValueError, match="unexpected entry"):
        zh_lexicon.parse_phrases('{"一": [\n[\n"yi ya"\n]\n]}')


def test_the_reader_segments_with_the_compact_tables():
    from reader.speech.g2p import zh
    from reader.text.words import split_words

    zh.warm_up()
    import jieba.posseg

    assert isinstance(jieba.dt.FREQ, zh_lexicon._Table)
    assert isinstance(jieba.posseg.dt.word_tag_tab, zh_lexicon._Tags)
    assert split_words("我们去北京") == ["我们", "去", "北京"]
    assert [tuple(p) for p in jieba.posseg.lcut("我们去北京")] == [("我们", "r"), ("去", "v"), ("北京", "ns")]


def test_a_fresh_reader_process_loads_neither_librarys_own_dictionary():
    import subprocess
    import sys

    code = ("from reader.speech.g2p import zh; print(zh.phonemize('我们去北京。'));"
            "import jieba, jieba.posseg, pypinyin.constants as c;"
            "print(type(jieba.dt.FREQ).__name__, type(jieba.posseg.dt.word_tag_tab).__name__,"
            " type(c.PHRASES_DICT).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent, check=True).stdout.split("\n")
    assert out[1].split() == ["_Table", "_Tags", "_Phrases"]
