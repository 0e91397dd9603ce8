"""Build a tiny, randomly initialised Qwen2.5-VL checkpoint (model, tokenizer, image processor, chat
template) in a directory, so the VLM engines can be tested through the same from_pretrained path as
the real weights without downloading anything. Deterministic (seeded) and fast (a few seconds).

    .venv/bin/python sidecars/tests/vlm/build_tiny_qwen.py OUT_DIR

The model emits garbage, by design: tests assert plumbing (shapes, sources, retries), never words.
"""

from __future__ import annotations

import sys
from pathlib import Path

SEED = 1234
VOCAB_SIZE = 512

# The special tokens Qwen2.5-VL's processor, chat template and generation config refer to, in the
# order (and so with the relative ids) of the real tokenizer.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Same structure as the Qwen2-VL chat template (system default, images as
# <|vision_start|><|image_pad|><|vision_end|>, generation prompt), written for this test.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = (
    "Devis n° 2024-117 SIRET 12345678900000 Nice Pompe à chaleur installation main d'oeuvre",
    "Total HT TVA 20 % Total TTC € date signature bon pour accord client adresse",
    "primary_language: fr is_rotation_valid: true rotation_correction: 0 is_table: false",
    "is_diagram: false --- <table><tr><td>Quantité</td></tr></table> <page_number>1</page_number>",
    "The quick brown fox jumps over the lazy dog. 0123456789 ☐ ☑ <img></img> <watermark>",
)


def build(out: Path) -> Path:
    """Write the checkpoint into `out` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
    )

    try:  # transformers 5: the PIL implementation has its own class
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil as ImageProcessor,
        )
    except ImportError:  # transformers 4: the "slow" processor is the PIL one
        from transformers import Qwen2VLImageProcessor as ImageProcessor

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_CORPUS * 4, trainer=trainer)
    raw.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",  # noqa: S106 - a token, not a password
        pad_token="<|endoftext|>",  # noqa: S106
        chat_template=CHAT_TEMPLATE,
    )
    ids = {token: raw.token_to_id(token) for token in SPECIAL_TOKENS}
    vocab = raw.get_vocab_size()

    image_processor = ImageProcessor(
        min_pixels=56 * 56,
        max_pixels=28 * 28 * 1280,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )

    text_hidden = 64
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": text_hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            # head_dim 16 -> 8 rotary frequencies split over (time, height, width).
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "rope_theta": 1e6,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": text_hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: build_tiny_qwen.py OUT_DIR", file=sys.stderr)
        return 2
    path = build(Path(argv[0]).resolve())
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
