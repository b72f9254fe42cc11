"""UMT5 prompt and CLIP image encoders load from a local diffusers layout and reproduce Wan's tensors."""

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerFast, UMT5Config,
                          UMT5EncoderModel)

from worldstereo.models.encoders import CLIPImageEncoder, UMT5PromptEncoder


def _save_text_stack(root):
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "a": 3, "room": 4, "with": 5, "chair": 6}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(root / "tokenizer")
    torch.manual_seed(0)
    enc = UMT5EncoderModel(UMT5Config(vocab_size=8, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4))
    enc.save_pretrained(root / "text_encoder")
    return enc.eval(), fast


def test_umt5_prompt_embeddings_are_zero_past_the_prompt(tmp_path):
    enc, tok = _save_text_stack(tmp_path)
    encoder = UMT5PromptEncoder.from_pretrained(tmp_path, max_length=8)
    out = encoder(["a  room with a chair", "a room"])
    assert out.shape == (2, 8, 16)
    assert torch.equal(out[1, 2:], torch.zeros(6, 16))
    ids = torch.tensor([[3, 4]])
    with torch.no_grad():
        direct = enc(ids, torch.ones_like(ids)).last_hidden_state
    assert torch.allclose(out[1, :2], direct[0], atol=1e-5)
    assert out[0, :5].abs().sum(-1).min() > 0


def test_clip_image_tokens_are_the_penultimate_layer(tmp_path):
    torch.manual_seed(0)
    model = CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, image_size=32, patch_size=8)).eval()
    model.save_pretrained(tmp_path / "image_encoder")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "image_processor")
    encoder = CLIPImageEncoder.from_pretrained(tmp_path)
    images = torch.rand(2, 32, 32, 3)
    tokens = encoder(images)
    assert tokens.shape == (2, 17, 32)
    processed = encoder.image_processor(images=list(images.numpy()), do_rescale=False, return_tensors="pt")
    with torch.no_grad():
        ref = model(pixel_values=processed.pixel_values, output_hidden_states=True).hidden_states[-2]
    assert torch.allclose(tokens, ref, atol=1e-6)


def test_encoders_name_the_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="no text_encoder/ folder"):
        UMT5PromptEncoder.from_pretrained(tmp_path)
