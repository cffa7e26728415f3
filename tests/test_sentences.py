"""Sentence splitting: a table of hard cases (English, Chinese, mixed), span invariants, long-sentence
cutting, language detection and document sentences."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reader.text.document import BlockKind, Document, RawBlock
from reader.text.sentences import count_tokens, detect_lang, document_sentences, split_sentences


def sentences(text: str, max_tokens: int = 150) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, max_tokens)]


CASES = [
    # --- English: plain ends -------------------------------------------------------------------------
    ("plain", "The cat sat. The dog ran.", ["The cat sat.", "The dog ran."]),
    ("no end mark", "No full stop here", ["No full stop here"]),
    ("empty", "", []),
    ("white space only", "  \n\t ", []),
    ("surrounding space", "  Hello there.   Bye.  ", ["Hello there.", "Bye."]),
    ("question and exclamation", "Is it? Yes! Good.", ["Is it?", "Yes!", "Good."]),
    ("runs of ?!", "What?! No way!!! Really?!? Yes.", ["What?!", "No way!!!", "Really?!?", "Yes."]),
    ("lower case after !", "Oh! what a day.", ["Oh! what a day."]),
    ("number after full stop", "He was born in 1990. 25 years later he left.",
     ["He was born in 1990.", "25 years later he left."]),
    # --- Abbreviations -------------------------------------------------------------------------------
    ("titles", "Dr. Smith met Mr. Jones and Mrs. Brown. They talked.",
     ["Dr. Smith met Mr. Jones and Mrs. Brown.", "They talked."]),
    ("Ms. and Prof.", "Ms. Lee and Prof. Chan arrived.", ["Ms. Lee and Prof. Chan arrived."]),
    ("Jr. and Sr. before lower case", "Martin Luther King Jr. was born in 1929.",
     ["Martin Luther King Jr. was born in 1929."]),
    ("Jr. ends a sentence", "He met John Smith Jr. The man was tall.",
     ["He met John Smith Jr.", "The man was tall."]),
    ("St. before a name", "They prayed at St. Mary's church.", ["They prayed at St. Mary's church."]),
    ("St. at a sentence end", "He lives on Baker St. The house is old.",
     ["He lives on Baker St.", "The house is old."]),
    ("military titles", "Lt. Col. Jones arrived. Gen. Lee left.", ["Lt. Col. Jones arrived.", "Gen. Lee left."]),
    ("vs.", "It was Smith vs. Jones in court. Smith won.", ["It was Smith vs. Jones in court.", "Smith won."]),
    ("e.g. before a capital", "Use a tool, e.g. Python or Rust. It helps.",
     ["Use a tool, e.g. Python or Rust.", "It helps."]),
    ("i.e. before lower case", "The best one, i.e. the cheapest, won.", ["The best one, i.e. the cheapest, won."]),
    ("etc. before a common starter", "We sold apples, pears, etc. The shop closed.",
     ["We sold apples, pears, etc.", "The shop closed."]),
    ("etc. before another capital", "We sold apples, pears, etc. Bananas were extra.",
     ["We sold apples, pears, etc. Bananas were extra."]),
    ("etc. before a new line", "We sold apples, pears, etc.\nBananas were extra.",
     ["We sold apples, pears, etc.", "Bananas were extra."]),
    ("etc. before lower case", "Apples, pears, etc. are fruit.", ["Apples, pears, etc. are fruit."]),
    ("a.m. at an end", "It was 5 a.m. I woke up.", ["It was 5 a.m.", "I woke up."]),
    ("p.m. in the middle", "We met at 10 p.m. on Friday. It was late.",
     ["We met at 10 p.m. on Friday.", "It was late."]),
    ("p.m. closing a sentence before a name", "The train left at 6 p.m. John missed it.",
     ["The train left at 6 p.m.", "John missed it."]),
    ("a.m. opening a sentence before a name", "At 5 a.m. John left.", ["At 5 a.m. John left."]),
    ("capital P.M. closing a sentence", "He left the bank at 6 P.M. Mr. Smith then went home.",
     ["He left the bank at 6 P.M.", "Mr. Smith then went home."]),
    ("p.m. then a new line", "Meet me at 3:30 p.m.\nBring snacks.", ["Meet me at 3:30 p.m.", "Bring snacks."]),
    ("U.S.A. and U.K.", "The U.S.A. is large. The U.K. is not.", ["The U.S.A. is large.", "The U.K. is not."]),
    ("U.S. before a noun", "The U.S. Army is large.", ["The U.S. Army is large."]),
    ("U.S. at an end", "She lived in the U.S. It was fun.", ["She lived in the U.S.", "It was fun."]),
    ("D.C.", "He works in Washington, D.C. The city is busy.", ["He works in Washington, D.C.", "The city is busy."]),
    ("Ph.D. before lower case", "He got his Ph.D. in 2010. He then taught.",
     ["He got his Ph.D. in 2010.", "He then taught."]),
    ("No. and Fig. before numbers", "See Fig. 3 and No. 5 in the list. It is clear.",
     ["See Fig. 3 and No. 5 in the list.", "It is clear."]),
    ("No. as an answer", "Was it him? No. He was away.", ["Was it him?", "No.", "He was away."]),
    ("Vol. before a Roman numeral", "Vol. II was better. Ch. 3 explains why.",
     ["Vol. II was better.", "Ch. 3 explains why."]),
    ("Inc. and Ltd.", "Acme Inc. and Foo Ltd. merged. The deal closed.",
     ["Acme Inc. and Foo Ltd. merged.", "The deal closed."]),
    ("Co. at an end", "He works for Smith & Co. We met him there.", ["He works for Smith & Co.", "We met him there."]),
    ("month before a day", "On Jan. 5 it snowed. Feb. 2 was warm.", ["On Jan. 5 it snowed.", "Feb. 2 was warm."]),
    ("et al. before a year", "Smith et al. (2020) showed this. It holds.", ["Smith et al. (2020) showed this.", "It holds."]),
    ("upper-case title", "DR. WHO arrived.", ["DR. WHO arrived."]),
    # --- Initials ------------------------------------------------------------------------------------
    ("initials", "J. R. R. Tolkien wrote books. He died in 1973.", ["J. R. R. Tolkien wrote books.", "He died in 1973."]),
    ("initial that is also a page abbreviation", "Peter P. Smith spoke. He left.", ["Peter P. Smith spoke.", "He left."]),
    ("p. before a page number", "See p. 12 for details. It helps.", ["See p. 12 for details.", "It helps."]),
    ("middle initial", "George W. Bush was president. He left in 2009.",
     ["George W. Bush was president.", "He left in 2009."]),
    ("initial A. is not a starter", "J. A. Smith spoke first.", ["J. A. Smith spoke first."]),
    ("single letter at an end", "He took vitamin C. The cold went away.", ["He took vitamin C.", "The cold went away."]),
    ("Roman numeral I at an end", "It was World War I. The war ended.", ["It was World War I.", "The war ended."]),
    # --- Numbers, versions, URLs, e-mail -------------------------------------------------------------
    ("decimals", "Pi is 3.14 and e is 2.718. Both are famous.", ["Pi is 3.14 and e is 2.718.", "Both are famous."]),
    ("versions", "Update to v2.0.1. It is 1.5x faster.", ["Update to v2.0.1.", "It is 1.5x faster."]),
    ("money", "It costs $5.00. Tax is extra.", ["It costs $5.00.", "Tax is extra."]),
    ("leading decimal point", "It rose by .5 percent. Then it fell.", ["It rose by .5 percent.", "Then it fell."]),
    ("negative decimal", "It fell to -5.5 degrees. It was cold.", ["It fell to -5.5 degrees.", "It was cold."]),
    ("URL with dots and query", "Visit https://example.com/a.b?c=d. Then rest.",
     ["Visit https://example.com/a.b?c=d.", "Then rest."]),
    ("bare domain", "Go to www.example.com. Or call us.", ["Go to www.example.com.", "Or call us."]),
    ("URL with ! and #", "See https://x.org/#!/page?q=1 now. Done.", ["See https://x.org/#!/page?q=1 now.", "Done."]),
    ("e-mail", "Write to user.name@example.co.uk. We answer fast.",
     ["Write to user.name@example.co.uk.", "We answer fast."]),
    ("file name", "Open config.yaml. Then edit it.", ["Open config.yaml.", "Then edit it."]),
    # --- Ellipses ------------------------------------------------------------------------------------
    ("ellipsis before lower case", "Wait... what happened?", ["Wait... what happened?"]),
    ("ellipsis before upper case", "Wait... The door opened.", ["Wait...", "The door opened."]),
    ("unicode ellipsis", "I don't know… Then he left.", ["I don't know…", "Then he left."]),
    ("unicode ellipsis before lower case", "I don't know… maybe.", ["I don't know… maybe."]),
    ("ellipsis before a number", "Count 1, 2... 3 is next.", ["Count 1, 2... 3 is next."]),
    ("leading ellipsis", "...and then it ended. Yes.", ["...and then it ended.", "Yes."]),
    ("spaced ellipsis", "He paused . . . Then spoke.", ["He paused . . .", "Then spoke."]),
    ("spaced ellipsis before I", "I thought . . . I knew it all along.", ["I thought . . . I knew it all along."]),
    ("ellipsis before I", "Well... I don't know.", ["Well... I don't know."]),
    ("four spaced dots end a sentence", "It was over . . . . Then we left.", ["It was over . . . .", "Then we left."]),
    ("four dots after a word", "It ended. . . . The rest is lost.", ["It ended.", ". . . The rest is lost."]),
    ("four dots closing a quotation", "He wrote, “it will all be clear. . . .”",
     ["He wrote, “it will all be clear. . . .”"]),
    ("citation after a quotation", '"We shall go on [...]" (Churchill 4). He said more.',
     ['"We shall go on [...]" (Churchill 4).', "He said more."]),
    ("sentence in brackets after a quotation", 'She said "Go." (He went.) Then silence.',
     ['She said "Go."', "(He went.)", "Then silence."]),
    ("number sign with a dotted number", "It is at N°. 1026.253.553. Dig there.",
     ["It is at N°. 1026.253.553.", "Dig there."]),
    # Inline lists: one sentence per item, its label kept with it, even without end marks.
    ("inline list with 1.) labels", "1.) Pack the bags 2.) Lock the door", ["1.) Pack the bags", "2.) Lock the door"]),
    ("inline list with 1.) labels and end marks", "1.) Pack the bags. 2.) Lock the door.",
     ["1.) Pack the bags.", "2.) Lock the door."]),
    ("inline list with 1) labels", "1) Call Anna 2) Buy bread", ["1) Call Anna", "2) Buy bread"]),
    ("inline list with 1. labels", "1. Turn left 2. Walk on 3. Stop", ["1. Turn left", "2. Walk on", "3. Stop"]),
    ("inline list with letters", "a. red apples b. green pears c. plums",
     ["a. red apples", "b. green pears", "c. plums"]),
    ("inline list with bullets", "• 3. Milk • 4. Eggs", ["• 3. Milk", "• 4. Eggs"]),
    ("inline list with hyphen bullets", "⁃1. Milk ⁃2. Eggs", ["⁃1. Milk", "⁃2. Eggs"]),
    ("inline list after a colon", "You need: 1. a pen 2. paper", ["You need: 1. a pen", "2. paper"]),
    ("numbers out of order are no list", "1. Turn left at 3. Then wait.", ["1. Turn left at 3.", "Then wait."]),
    ("a number inside a sentence starts no list", "We saw 1. Then 2) came along.", ["We saw 1.", "Then 2) came along."]),
    # --- Lists ---------------------------------------------------------------------------------------
    ("numbered list lines", "1. First item\n2. Second item", ["1. First item", "2. Second item"]),
    ("numbered list with full stops", "1. Open the box.\n2. Take it out.", ["1. Open the box.", "2. Take it out."]),
    ("inline numbered list", "Steps: 1. Open the box. 2. Remove it.", ["Steps: 1. Open the box.", "2. Remove it."]),
    ("bullets", "Buy:\n- apples\n- pears", ["Buy:", "- apples", "- pears"]),
    ("chapter number", "Read Chapter 1. The rest can wait.", ["Read Chapter 1.", "The rest can wait."]),
    ("Roman list label", "IV. Results\nThe results are good.", ["IV. Results", "The results are good."]),
    # --- Quotes and brackets -------------------------------------------------------------------------
    ("quote then lower case", '"Stop." he said.', ['"Stop." he said.']),
    ("quote then upper case", 'He said "I am done." Then he left.', ['He said "I am done."', "Then he left."]),
    ("question in quotes", '"Why?" she asked. "Because."', ['"Why?" she asked.', '"Because."']),
    ("single quotes", "'Really?' she asked. 'Yes.' He nodded.", ["'Really?' she asked.", "'Yes.'", "He nodded."]),
    ("bracket after full stop", "He left.) Then she came.", ["He left.)", "Then she came."]),
    ("sentence in brackets", "(See above.) The answer is no.", ["(See above.)", "The answer is no."]),
    ("exclamation in brackets", "He won (again!). Then he retired.", ["He won (again!).", "Then he retired."]),
    ("curly quotes", "She said, “It’s late.” We left.", ["She said, “It’s late.”", "We left."]),
    ("opening quote after the break", 'He left. "Wait," she said.', ["He left.", '"Wait," she said.']),
    ("Spanish marks", "It costs 5 USD. ¿Qué? ¡Nada!", ["It costs 5 USD.", "¿Qué?", "¡Nada!"]),
    # --- New lines -----------------------------------------------------------------------------------
    # Extractors join the lines of wrapped prose; a line break left in the text is meant.
    ("single new line is a break", "Chapter 1\nIt was a dark night.", ["Chapter 1", "It was a dark night."]),
    ("lines without end marks", "features\ncontact manager\nevents, activities",
     ["features", "contact manager", "events, activities"]),
    ("blank line is a break", "First part\n\nSecond part", ["First part", "Second part"]),
    ("blank line with spaces", "First part\n  \t\nSecond part", ["First part", "Second part"]),
    ("several blank lines", "End.\n\n\n\nNext.", ["End.", "Next."]),
    ("CRLF blank line", "One\r\n\r\nTwo", ["One", "Two"]),
    ("no space after full stop", "It rained all day.Then the sun came out.At last.",
     ["It rained all day.", "Then the sun came out.", "At last."]),
    ("no space after a number", "He paid 2,000.That was all.", ["He paid 2,000.", "That was all."]),
    ("no space but an address", "Write to Jane.Doe@example.com or see www.Example.Org/Help today.",
     ["Write to Jane.Doe@example.com or see www.Example.Org/Help today."]),
    ("no space after a title", "It was Tuesday.Mr. Smith came.", ["It was Tuesday.", "Mr. Smith came."]),
    # --- Chinese -------------------------------------------------------------------------------------
    ("Chinese plain", "今天很好。明天下雨！你来吗？", ["今天很好。", "明天下雨！", "你来吗？"]),
    ("Chinese semicolon", "我不知道；也许吧。", ["我不知道；", "也许吧。"]),
    ("Chinese no end mark", "第一句。第二句没有句号", ["第一句。", "第二句没有句号"]),
    ("Chinese ?! run", "真的吗？！是的。", ["真的吗？！", "是的。"]),
    ("Chinese ellipsis", "他犹豫了……最后还是走了。", ["他犹豫了……", "最后还是走了。"]),
    ("Chinese single ellipsis", "他犹豫了…最后走了。", ["他犹豫了…", "最后走了。"]),
    ("Chinese ellipsis then comma", "等等……，你说什么？", ["等等……，你说什么？"]),
    ("Chinese closing quote", "他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
    ("Chinese corner quotes", "「你好！」他说。『再见。』", ["「你好！」", "他说。", "『再见。』"]),
    ("Chinese book title marks", "这是《红楼梦》。那是【注释】。", ["这是《红楼梦》。", "那是【注释】。"]),
    ("Chinese bracket after mark", "我们去吧（好吗？）然后走。", ["我们去吧（好吗？）", "然后走。"]),
    ("full-width marks", "你好！再见？好的．", ["你好！", "再见？", "好的．"]),
    ("full-width decimal", "价格是３．５元。很便宜！", ["价格是３．５元。", "很便宜！"]),
    ("space after Chinese mark", "好的。 下一句。", ["好的。", "下一句。"]),
    ("Chinese with a single new line", "第一行\n第二行。", ["第一行", "第二行。"]),
    ("Chinese book title holds its marks", "我们去看《摔跤吧！爸爸》好吗？好！", ["我们去看《摔跤吧！爸爸》好吗？", "好！"]),
    ("Chinese book title with a question", "你读过《谁动了我的奶酪？》吗？读过。", ["你读过《谁动了我的奶酪？》吗？", "读过。"]),
    ("Chinese unclosed title mark", "他说《不要走。我们等你。", ["他说《不要走。", "我们等你。"]),
    ("Chinese dash is no break", "她看了一眼时钟——已经三点了。", ["她看了一眼时钟——已经三点了。"]),
    ("Chinese list labels", "一、引言\n二、方法", ["一、引言", "二、方法"]),
    ("numbered list in Chinese", "1.苹果\n2.香蕉", ["1.苹果", "2.香蕉"]),
    ("Japanese", "こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
    # --- Mixed ---------------------------------------------------------------------------------------
    ("English version in Chinese", "我喜欢Python 3.12版本。它很好用！", ["我喜欢Python 3.12版本。", "它很好用！"]),
    ("English period before Chinese", "他说I like it. 然后走了。", ["他说I like it.", "然后走了。"]),
    ("English period attached to Chinese", "I like it.我也是。", ["I like it.", "我也是。"]),
    ("half-width periods in Chinese", "今天天气很好.明天下雨.", ["今天天气很好.", "明天下雨."]),
    ("title in Chinese", "我读了Dr. Smith的书。很有意思。", ["我读了Dr. Smith的书。", "很有意思。"]),
    ("abbreviation attached to Chinese", "他在U.S.A.读书。后来回国了。", ["他在U.S.A.读书。", "后来回国了。"]),
    ("D.C. attached to Chinese", "他在Washington D.C.工作。", ["他在Washington D.C.工作。"]),
    ("e.g. attached to Chinese", "他用的是e.g.这种写法。", ["他用的是e.g.这种写法。"]),
    ("Fig. in Chinese", "参见Fig. 3。结果很好。", ["参见Fig. 3。", "结果很好。"]),
    ("exclamation attached to Chinese", "Hello!你好！", ["Hello!", "你好！"]),
    ("URL in Chinese", "请访问https://example.com/path。谢谢。", ["请访问https://example.com/path。", "谢谢。"]),
    ("e-mail in Chinese", "邮箱是user.name@example.co.uk。请联系。", ["邮箱是user.name@example.co.uk。", "请联系。"]),
    ("version and comma in Chinese", "这个版本是v2.0.1，发布于2023年。你用过吗？",
     ["这个版本是v2.0.1，发布于2023年。", "你用过吗？"]),
    ("English quote inside Chinese", "他说：“Hello. How are you?”我没回答。",
     ["他说：“Hello.", "How are you?”", "我没回答。"]),
    ("dotted name in Chinese", "我们用Node.js开发。它很快。", ["我们用Node.js开发。", "它很快。"]),
    ("ASCII ellipsis before Chinese", "我想想...好吧。", ["我想想...", "好吧。"]),
    ("Chinese paragraph then English", "第一段。\n\nSecond paragraph. Yes.", ["第一段。", "Second paragraph.", "Yes."]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hard_cases(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_the_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 80
    assert len({c[0] for c in CASES}) == len(CASES)


# --- Span invariants ---------------------------------------------------------------------------------


def check_spans(text: str, spans: list[tuple[int, int]]) -> None:
    pos = 0
    for start, end in spans:
        assert pos <= start < end <= len(text), (start, end)
        piece = text[start:end]
        assert piece == piece.strip(), repr(piece)
        assert not text[pos:start].strip(), f"lost text {text[pos:start]!r}"
        pos = end
    assert not text[pos:].strip(), f"lost text {text[pos:]!r}"


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_spans_are_stripped_ordered_and_cover_the_text(text: str) -> None:
    check_spans(text, split_sentences(text))
    check_spans(text, split_sentences(text, max_tokens=3))


# Characters that stress the splitter: end marks, quotes, brackets, dots in words, white space kinds.
TRICKY = list(".!?…。！？；．，、：;:,\"'“”‘’「」（）()[] \n\t\u3000\r-—–/@") + ["...", "\n\n", "e.g.", "Dr.", "U.S."]
ALPHABET = st.sampled_from(TRICKY + list("aZ9中文éK "))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(ALPHABET, st.text(max_size=6)), max_size=40), max_tokens=st.integers(1, 12))
def test_no_character_is_lost(parts: list[str], max_tokens: int) -> None:
    text = "".join(parts)
    spans = split_sentences(text, max_tokens)
    check_spans(text, spans)
    for start, end in spans:
        assert count_tokens(text[start:end]) <= max_tokens


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_keeps_the_invariants(text: str) -> None:
    check_spans(text, split_sentences(text))


# --- Cutting long sentences --------------------------------------------------------------------------

LONG_ENGLISH = (
    "The committee met on Monday morning in the old hall, discussed the budget for the coming year "
    "in great detail, reviewed the plans for the new library building with the architects, and after "
    "a very long debate among all the members voted to approve everything."
)


def test_long_english_sentence_is_cut_at_commas() -> None:
    pieces = sentences(LONG_ENGLISH, max_tokens=20)
    assert len(pieces) > 1
    assert " ".join(pieces) == LONG_ENGLISH
    for piece in pieces[:-1]:
        assert piece.endswith(","), piece
    assert all(count_tokens(p) <= 20 for p in pieces)


def test_long_chinese_sentence_is_cut_at_chinese_commas() -> None:
    text = "今天我们去了公园，看到了很多花，还有很多小鸟在唱歌，大家都很开心，最后我们一起回家了。"
    pieces = sentences(text, max_tokens=12)
    assert "".join(pieces) == text
    assert pieces == ["今天我们去了公园，", "看到了很多花，", "还有很多小鸟在唱歌，", "大家都很开心，", "最后我们一起回家了。"]


def test_clause_mark_nearest_to_the_limit_wins() -> None:
    text = "one, two three, four five six, seven eight nine ten eleven twelve."
    # Limit 8: the comma after "six" is the 9th token, so the comma after "three" (5th) is the nearest
    # mark under the limit, preferred to the one after "one".
    assert sentences(text, max_tokens=8)[0] == "one, two three,"


def test_semicolon_colon_and_dash_are_clause_marks() -> None:
    text = "first part goes here; second part goes here: third part goes here — fourth part ends."
    assert sentences(text, max_tokens=6) == [
        "first part goes here;", "second part goes here:", "third part goes here —", "fourth part ends.",
    ]


def test_sentence_without_punctuation_is_cut_at_spaces() -> None:
    words = [f"word{i}" for i in range(40)]
    text = " ".join(words) + "."
    pieces = sentences(text, max_tokens=10)
    assert " ".join(pieces) == text
    assert all(count_tokens(p) <= 10 for p in pieces)
    for piece in pieces:  # never inside a word: every piece is whole words
        assert all(w in words or w == "word39." for w in piece.split())


def test_hyphenated_words_urls_and_numbers_are_not_split() -> None:
    text = " ".join(["a well-known user.name@example.com sent 1,000 items at 12:30 to the co-op"] * 4)
    pieces = sentences(text, max_tokens=7)
    assert " ".join(pieces) == text
    assert all(count_tokens(p) <= 7 for p in pieces)
    words = set(text.split())
    for piece in pieces:
        assert set(piece.split()) <= words, piece


def test_chinese_without_punctuation_is_cut_between_characters() -> None:
    text = "长" * 25
    assert sentences(text, max_tokens=10) == ["长" * 10, "长" * 10, "长" * 5]


def test_pieces_keep_exact_offsets() -> None:
    text = "Intro.  " + LONG_ENGLISH + "  Outro."
    spans = split_sentences(text, max_tokens=15)
    check_spans(text, spans)
    assert text[spans[0][0] : spans[0][1]] == "Intro."
    assert text[spans[-1][0] : spans[-1][1]] == "Outro."
    assert all(count_tokens(text[s:e]) <= 15 for s, e in spans)


def test_default_limit_leaves_normal_sentences_alone() -> None:
    assert sentences(LONG_ENGLISH) == [LONG_ENGLISH]


def test_max_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_sentences("Hello.", max_tokens=0)


# --- Tokens and languages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, count",
    [
        ("", 0),
        ("Hello world", 2),
        ("don't stop", 2),
        ("Pi is 3.14.", 4),
        ("well-known", 1),
        ("Wait...", 2),
        ("你好，世界！", 6),
        ("我喜欢Python 3.12版本。", 8),
        ("안녕하세요", 5),
        ("a, b; c: d — e", 9),
    ],
)
def test_count_tokens(text: str, count: int) -> None:
    assert count_tokens(text) == count


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Hello world.", "en"),
        ("你好，世界。", "zh"),
        ("我喜欢Python 3.12版本。", "zh"),  # 5 Han to 6 Latin letters: 45%
        ("I learned the word 你好 today in class.", "en"),  # 2 Han to 26 Latin letters
        ("", "en"),
        ("12345", "en"),
        ("Python是一种编程语言", "zh"),
    ],
)
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


# --- Documents ---------------------------------------------------------------------------------------


def test_document_sentences() -> None:
    doc = Document.from_raw(
        [
            RawBlock(BlockKind.HEADING, "Chapter One", level=1),
            RawBlock(BlockKind.PARAGRAPH, "  Dr. Smith came home. 他很高兴！It was 5 p.m. The end.  "),
        ],
        title="t",
        source="stdin",
        format="text",
    )
    got = document_sentences(doc)
    full = doc.text
    assert [s.text for s in got] == ["Chapter One", "Dr. Smith came home.", "他很高兴！", "It was 5 p.m.", "The end."]
    assert [s.id for s in got] == list(range(5))
    assert [s.block for s in got] == [0, 1, 1, 1, 1]
    assert [s.lang for s in got] == ["en", "en", "zh", "en", "en"]
    for s in got:
        assert full[s.start : s.end] == s.text


def test_heading_is_never_joined_with_its_paragraph() -> None:
    doc = Document.from_raw(
        [RawBlock(BlockKind.HEADING, "1. Introduction"), RawBlock(BlockKind.PARAGRAPH, "this starts low.")],
        title="t", source="stdin", format="text",
    )
    assert [s.text for s in document_sentences(doc)] == ["1. Introduction", "this starts low."]


def test_document_sentences_cut_long_ones_and_lone_numbers_take_the_block_language() -> None:
    doc = Document.from_raw(
        [RawBlock(BlockKind.PARAGRAPH, "第一章。123。" + "很" * 30 + "。")], title="t", source="stdin", format="text"
    )
    got = document_sentences(doc, max_tokens=10)
    assert [s.text for s in got][:2] == ["第一章。", "123。"]
    assert all(s.lang == "zh" for s in got)
    assert all(count_tokens(s.text) <= 10 for s in got)
    assert all(doc.text[s.start : s.end] == s.text for s in got)


def test_a_run_of_letters_without_spaces_is_cut_into_bounded_pieces() -> None:
    # A broken or hostile file: one "word" of 200,000 letters. Tokens are bounded (MAX_TOKEN_CHARS), so it
    # is cut into pieces the speech stage can take, and the splitter never holds a state per character.
    from reader.text.sentences import MAX_TOKEN_CHARS

    for text in ("a" * 200_000, "a." * 100_000, "!" * 200_000):
        spans = split_sentences(text, max_tokens=150)
        assert len(spans) > 1
        assert max(e - s for s, e in spans) <= 150 * MAX_TOKEN_CHARS * 2
        check_spans(text, spans)
