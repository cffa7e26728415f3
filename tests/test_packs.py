"""The pack format on tiny generated packs: manifests, verification, signatures, finding and importing."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reader.errors import ReaderError
from reader.speech import packs
from reader.speech.errors import PackError
from reader.speech.packs import Manifest

_spec = importlib.util.spec_from_file_location("tiny_packs", Path(__file__).parent.parent / "models" / "tiny_packs.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {k: tiny.make_tiny_pack(root / k, k) for k in ("style_vector", "speaker_embedding")}


@pytest.fixture
def pack(pristine, tmp_path):
    """A fresh copy of the tiny style-vector pack that a test may break."""
    return Path(shutil.copytree(pristine["style_vector"], tmp_path / "pack"))


def test_manifest_round_trips_through_json(pristine):
    for pack_dir in pristine.values():
        manifest = packs.load_manifest(pack_dir)
        again = Manifest.from_dict(json.loads(manifest.to_json()))
        assert again == manifest
        assert again.to_dict() == json.loads((pack_dir / "manifest.json").read_text())


def test_tiny_packs_verify_and_open(pristine):
    for pack_dir in pristine.values():
        assert packs.verify_pack(pack_dir) == []
        opened = packs.open_pack(pack_dir)
        assert opened.manifest.format_version == packs.FORMAT_VERSION
        assert opened.warnings == ()


def test_tiny_stages_have_the_real_shapes_and_deterministic_lengths(pristine):
    opened = packs.open_pack(pristine["style_vector"])
    style = opened.voices()["tiny_a"][4, 0][None]
    tokens = np.array([[0, 5, 6, 7, 8, 9, 0]], np.int64)
    features, f0, energy, durations = opened.session("acoustic").run(
        None, {"tokens": tokens, "style": style, "speed": np.array([1.0], np.float32)})
    frames = tokens.shape[1] * tiny.FRAMES_PER_TOKEN
    assert features.shape == (1, tiny.CHANNELS, frames) and f0.shape == energy.shape == (1, 2 * frames)
    assert durations.sum() == frames
    (audio,) = opened.session("vocoder").run(None, {"features": features, "f0": f0, "energy": energy, "style": style})
    assert audio.shape == (1, frames * opened.manifest.synthesis.hop_size)
    assert np.sqrt(np.mean(audio ** 2)) > 0.05

    clone = packs.open_pack(pristine["speaker_embedding"])
    assert clone.manifest.conditioning == "speaker_embedding"
    (embedding,) = clone.session("speaker").run(None, {"mels": np.random.rand(1, 160, 40).astype(np.float32)})
    assert embedding.shape == (1, 256) and abs(np.linalg.norm(embedding) - 1) < 1e-5
    (features, durations) = clone.session("acoustic").run(
        None, {"tokens": tokens, "speaker_embedding": embedding, "speed": np.array([1.0], np.float32)})
    (audio,) = clone.session("vocoder").run(None, {"features": features})
    assert audio.shape == (1, frames * tiny.HOP)


def test_hash_mismatch_names_the_file_and_both_hashes(pack):
    manifest = packs.load_manifest(pack)
    data = bytearray((pack / "voices.npz").read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    (pack / "voices.npz").write_bytes(bytes(data))
    problems = packs.verify_pack(pack)
    assert len(problems) == 1
    listed = next(f for f in manifest.files if f.path == "voices.npz").sha256
    actual = packs.sha256_file(pack / "voices.npz")
    assert "voices.npz" in problems[0] and listed[:12] in problems[0] and actual[:12] in problems[0]


def test_size_mismatch(pack):
    with open(pack / "vocoder.onnx", "ab") as handle:
        handle.write(b"\0")
    problems = packs.verify_pack(pack)
    assert any("vocoder.onnx" in p and "bytes" in p for p in problems)


def test_missing_file(pack):
    (pack / "acoustic.onnx").unlink()
    assert packs.verify_pack(pack) == ["missing file acoustic.onnx"]


def test_wrong_input_names_and_shapes(pack):
    def change(data):
        data["stages"]["acoustic"]["inputs"][0]["name"] = "input"
        data["stages"]["vocoder"]["outputs"][0]["shape"] = [1, 1, "samples"]
        data["stages"]["vocoder"]["inputs"][0]["dtype"] = "float16"

    tiny.edit_manifest(pack, change)
    problems = " | ".join(packs.verify_pack(pack))
    assert "no input 'input'" in problems and "input 'tokens' the manifest does not list" in problems
    assert "output 'audio' has shape [1, samples] in the model, manifest says [1, 1, samples]" in problems
    assert "input 'features' is float32 in the model, manifest says float16" in problems


def test_unknown_conditioning_and_tier(pack):
    tiny.edit_manifest(pack, lambda d: d.update(conditioning="telepathy", tier="slow"))
    problems = " | ".join(packs.verify_pack(pack))
    assert "unknown conditioning 'telepathy'" in problems and "unknown tier 'slow'" in problems


def test_paths_must_stay_inside_the_pack(pack):
    tiny.edit_manifest(pack, lambda d: d["files"][0].update(path="../outside.txt"))
    assert any("not a path inside the pack" in p for p in packs.verify_pack(pack))


def test_newer_format_version_is_refused(pack):
    tiny.edit_manifest(pack, lambda d: d.update(format_version=packs.FORMAT_VERSION + 1))
    with pytest.raises(PackError, match="newer than this reader understands"):
        packs.load_manifest(pack)
    with pytest.raises(PackError, match="newer"):
        packs.open_pack(pack)


def test_corrupt_json(pack):
    (pack / "manifest.json").write_text('{"format_version": 1,', encoding="utf-8")
    with pytest.raises(PackError, match="not valid JSON"):
        packs.load_manifest(pack)
    assert "not valid JSON" in packs.verify_pack(pack)[0]


def test_missing_manifest_and_missing_fields(pack, tmp_path):
    with pytest.raises(PackError, match="not a voice pack"):
        packs.load_manifest(tmp_path)
    tiny.edit_manifest(pack, lambda d: d["stages"]["vocoder"].pop("sha256"))
    with pytest.raises(PackError, match="missing the field 'stages.vocoder.sha256'"):
        packs.load_manifest(pack)
    tiny.edit_manifest(pack, lambda d: d["stages"]["vocoder"].update(sha256=5))
    with pytest.raises(PackError, match="'stages.vocoder.sha256' should be a string, not a number"):
        packs.load_manifest(pack)


def test_open_pack_refuses_in_one_sentence(pack):
    (pack / "acoustic.onnx").unlink()
    with pytest.raises(PackError) as caught:
        packs.open_pack(pack)
    assert isinstance(caught.value, ReaderError)
    assert str(caught.value) == ("Pack tiny-style failed verification: missing file acoustic.onnx; "
                                 "rebuild it with `reader packs build` or re-import it.")


def _key_text(key):
    return packs._public_key_text(key.public_key())


def test_signature_ok(pack):
    key = Ed25519PrivateKey.generate()
    signer = packs.sign_pack(pack, key)
    assert signer == _key_text(key)
    check = packs.check_pack(pack, trusted_keys={signer}, warn_unsigned=True)
    assert check.ok and check.signed and check.warnings == ()


def test_signature_by_untrusted_key(pack):
    signer = packs.sign_pack(pack, Ed25519PrivateKey.generate())
    problems = packs.verify_pack(pack, trusted_keys=set())
    assert len(problems) == 1 and "not in your trusted keys" in problems[0] and signer[:20] in problems[0]


def test_bad_signature(pack):
    key = Ed25519PrivateKey.generate()
    signer = packs.sign_pack(pack, key)
    tiny.edit_manifest(pack, lambda d: d.update(title="Tampered"))  # the manifest changed after signing
    assert any("does not match the manifest" in p for p in packs.verify_pack(pack, trusted_keys={signer}))
    # A valid signature by another key, with the manifest still naming the first signer.
    other = packs.sign_pack(pack, Ed25519PrivateKey.generate())
    tiny.edit_manifest(pack, lambda d: d.update(signer=signer))
    assert any("does not match" in p for p in packs.verify_pack(pack, trusted_keys={signer, other}))


def test_stripped_signature_and_unsigned_warning(pack):
    signer = packs.sign_pack(pack, Ed25519PrivateKey.generate())
    (pack / packs.SIGNATURE_NAME).unlink()
    assert any("is missing" in p for p in packs.verify_pack(pack, trusted_keys={signer}))
    tiny.edit_manifest(pack, lambda d: d.update(signer=None))
    check = packs.check_pack(pack, warn_unsigned=True)
    assert check.ok and not check.signed and check.warnings[0].startswith("unsigned")
    assert packs.check_pack(pack).warnings == ()  # built-in packs are not nagged about


def test_trusted_keys_file(tmp_path, monkeypatch):
    key = _key_text(Ed25519PrivateKey.generate())
    monkeypatch.setenv("READER_HOME", str(tmp_path))
    assert packs.load_trusted_keys() == set()
    (tmp_path / packs.TRUSTED_KEYS_NAME).write_text(f"# packs from our mirror\n{key}  mirror key\n\n")
    assert packs.load_trusted_keys() == {key}


def test_default_pack_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("READER_PACKS", raising=False)
    monkeypatch.setenv("READER_HOME", str(tmp_path))
    dirs = packs.default_pack_dirs()
    assert dirs[0] == tmp_path / "packs" and dirs[1] == packs.builtin_pack_dir()
    assert str(dirs[1]).endswith("share/reader/packs")
    monkeypatch.setenv("READER_PACKS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert packs.default_pack_dirs() == [tmp_path / "a", tmp_path / "b"]


def test_find_packs_first_folder_wins_and_reports_broken(pristine, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(pristine["style_vector"], first / "tiny-style")
    shutil.copytree(pristine["style_vector"], second / "tiny-style")
    shutil.copytree(pristine["speaker_embedding"], second / "tiny-clone")
    (second / "broken").mkdir()
    (second / "broken" / "manifest.json").write_text("nope")
    (second / ".half-built").mkdir()
    errors = []
    found = packs.find_packs([first, second, tmp_path / "absent"], errors=errors)
    assert [(d, m.name) for d, m in found] == [(first / "tiny-style", "tiny-style"),
                                               (second / "tiny-clone", "tiny-clone")]
    assert [d for d, _ in errors] == [second / "broken"]


def test_import_pack_copies_listed_files_atomically(pack, tmp_path):
    (pack / "stray.bin").write_bytes(b"not listed")
    dest_root = tmp_path / "user-packs"
    imported = packs.import_pack(pack, dest_root)
    assert imported.path == dest_root / "tiny-style"
    assert imported.warnings and imported.warnings[0].startswith("unsigned")
    assert not (imported.path / "stray.bin").exists()
    assert packs.verify_pack(imported.path) == []
    assert [p.name for p in dest_root.iterdir()] == ["tiny-style"]  # no staging folder left behind
    with pytest.raises(PackError, match="already installed"):
        packs.import_pack(pack, dest_root)
    assert packs.import_pack(pack, dest_root, replace=True).path == imported.path


def test_import_refuses_a_broken_pack(pack, tmp_path):
    (pack / "vocoder.onnx").write_bytes(b"garbage")
    with pytest.raises(PackError, match="Cannot import pack tiny-style: vocoder.onnx"):
        packs.import_pack(pack, tmp_path / "user-packs")
    assert not (tmp_path / "user-packs" / "tiny-style").exists()


def test_signed_pack_imports_with_its_signature(pack, tmp_path):
    key = Ed25519PrivateKey.generate()
    signer = packs.sign_pack(pack, key)
    imported = packs.import_pack(pack, tmp_path / "user", trusted_keys={signer})
    assert (imported.path / packs.SIGNATURE_NAME).exists() and imported.warnings == ()
    with pytest.raises(PackError, match="not in your trusted keys"):
        packs.import_pack(pack, tmp_path / "other", trusted_keys=set())


def _onnx_io_by_onnx(path: Path) -> tuple[list, list]:
    """The reference: what onnx itself reads as the graph's inputs (less initializers) and outputs."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}

    def spec(value):
        tensor = value.type.tensor_type
        dims = tuple(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim)
        return packs.TensorSpec(value.name, packs._ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type)), dims)

    return ([spec(v) for v in model.graph.input if v.name not in initializers],
            [spec(v) for v in model.graph.output])


def test_onnx_io_reads_what_onnx_reads_without_loading_the_weights(pristine, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    models = [p for d in pristine.values() for p in d.glob("*.onnx")]
    models += [p for d in packs.default_pack_dirs() if d.is_dir() for p in d.glob("*/*.onnx")]
    # An older-style model that lists its initializer among the inputs, with big weights and a fixed dim.
    weight = numpy_helper.from_array(np.ones((512, 1024), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [512, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1024])], [weight])
    old = tmp_path / "old.onnx"
    onnx.save(helper.make_model(graph), str(old))
    models.append(old)
    for path in models:
        assert packs.onnx_io(path) == _onnx_io_by_onnx(path), path
    assert [t.name for t in packs.onnx_io(old)[0]] == ["x"]

    cut = tmp_path / "cut.onnx"
    cut.write_bytes(old.read_bytes()[: old.stat().st_size // 2])
    with pytest.raises(ValueError):
        packs.onnx_io(cut)
