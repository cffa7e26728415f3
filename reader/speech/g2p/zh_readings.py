"""Readings pypinyin gets wrong for a whole jieba word, and the X子 words whose 子 is zǐ, not the suffix zi.

Data for zh.py. Readings are TONE3 before tone sandhi (zh.py applies 3-3, 一 and 不 sandhi afterwards).
"""

from __future__ import annotations

# jieba word -> its readings, one TONE3 syllable per character.
WORD_READINGS: dict[str, tuple[str, ...]] = {
    word: tuple(readings.split())
    for word, readings in {
        "不得了": "bu4 de2 liao3",  # pypinyin: bù dé le
        "了不得": "liao3 bu5 de2",
        "妻子": "qi1 zi5",  # wife; pypinyin's qīzǐ is the literary "wife and children"
        "视为": "shi4 wei2",
        "变为": "bian4 wei2",
        "化为": "hua4 wei2",
        "选为": "xuan3 wei2",
        "列为": "lie4 wei2",
        "定为": "ding4 wei2",
        "评为": "ping2 wei2",
        "身为": "shen1 wei2",
        "最为": "zui4 wei2",
        "颇为": "po1 wei2",
        "大为": "da4 wei2",
        "尤为": "you2 wei2",
        "誉为": "yu4 wei2",
        "奉为": "feng4 wei2",
        "沦为": "lun2 wei2",
        "数一数": "shu3 yi1 shu3",
        "数数": "shu3 shu5",  # count (reduplicated verb)
    }.items()
}

# Words where 子 keeps its full third tone (电子 diànzǐ, 孔子 Kǒngzǐ) although pypinyin's default for 子
# is the neutral suffix (桌子 zhuōzi). Matched inside longer jieba words too (电子书, 孔子学院).
ZI3_WORDS = frozenset(
    (
        "电子", "原子", "离子", "粒子", "质子", "中子", "光子", "因子", "卵子", "精子", "男子", "公子",
        "太子", "天子", "才子", "游子", "赤子", "臣子", "庶子", "独子", "诸子", "瓜子", "莲子", "母子",
        "孔子", "孟子", "庄子", "荀子", "墨子", "韩非子", "老夫子",
    )
)
