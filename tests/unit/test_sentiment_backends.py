"""Any sequence-classification checkpoint loads through the same path; the ONNX export agrees with torch."""

import json
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.backends import ModelUnavailable, load_model
from tests.tiny_models import BINARY, POLARITY3, STARS, tiny_checkpoint

TEXTS = ["包装破损，很失望", "the box was damaged but the agent was professional", "好"]


@pytest.mark.parametrize(
    ("id2label", "schema"), [(STARS, "stars5"), (POLARITY3, "polarity3"), (BINARY, "binary")]
)
def test_hugging_face_checkpoint_of_each_schema_loads_with_torch(tmp_path: Path, id2label, schema):
    model = load_model(str(tiny_checkpoint(tmp_path / schema, id2label)), "auto")
    assert model.backend.name == "torch"
    assert model.labels.schema == schema
    probs = model.backend.probabilities(model.backend.encode(TEXTS))
    assert probs.shape == (3, len(id2label))
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def test_onnx_export_agrees_with_torch_and_auto_prefers_int8(tmp_path: Path):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    torch_model = load_model(str(directory), "torch")
    onnx_model = load_model(str(directory), "onnx")
    assert load_model(str(directory), "auto").backend.name == "onnx-int8"
    reference = torch_model.backend.probabilities(torch_model.backend.encode(TEXTS))
    exported = onnx_model.backend.probabilities(onnx_model.backend.encode(TEXTS))
    np.testing.assert_allclose(exported, reference, atol=1e-4)


def test_long_text_is_truncated_and_says_so(tmp_path: Path):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    for backend in ("onnx", "torch"):
        model = load_model(str(directory), backend, max_length=16)
        encoded = model.backend.encode(["好" * 40, "好"])
        assert encoded.truncated == [True, False]
        assert encoded.ids.shape[1] <= 16


def test_missing_model_names_the_path(tmp_path: Path):
    with pytest.raises(ModelUnavailable, match=str(tmp_path / "nowhere")):
        load_model(str(tmp_path / "nowhere"), "auto")


def test_corrupt_onnx_file_is_reported_not_raised_raw(tmp_path: Path):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    (directory / "model.int8.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match=r"model\b.*"):
        load_model(str(directory), "onnx-int8")


def test_onnx_backend_masks_padding_even_if_the_tokenizer_file_pads(tmp_path: Path):
    from tokenizers import Tokenizer

    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    saved = Tokenizer.from_file(str(directory / "tokenizer.json"))
    saved.enable_padding(pad_id=0, pad_token="[PAD]")
    saved.save(str(directory / "tokenizer.json"))
    model = load_model(str(directory), "onnx")
    texts = ["好", "包装破损，快递很慢，很失望，很失望"]
    batched = model.backend.probabilities(model.backend.encode(texts))
    alone = np.concatenate([model.backend.probabilities(model.backend.encode([t])) for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-4)


def test_a_built_models_star_decoding_is_read_from_its_serving_json(tmp_path: Path):
    directory = tiny_checkpoint(tmp_path / "m", STARS)
    assert load_model(str(directory), "torch").labels.decoding == "argmax"
    (directory / "serving.json").write_text(json.dumps({"backend": "torch", "star_decoding": "expected"}))
    assert load_model(str(directory), "auto").labels.decoding == "expected"
