"""A tiny GPT-2, made on the spot: vocabulary, hyper-parameters and a random checkpoint.

Nothing is downloaded. The files have the names and formats that OpenAI's ``encoder.py`` and
``model.py`` read from a model folder (``models/<name>/``), so the pinned scripts load them as
they would load the 124M model:

- ``encoder.json``: 256 byte tokens, a few merged pairs, ``<|endoftext|>`` (265 tokens);
- ``vocab.bpe``: the merges, one pair a line, after a version line;
- ``hparams.json``: the sizes (n_ctx 64 by default, n_embd 32, n_head 2, n_layer 2);
- ``checkpoint`` + ``model.ckpt.*``: every variable ``model.py`` creates, with its name and
  shape, filled with seeded random numbers and saved with ``tf.train.Saver``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Pairs of byte symbols merged into one token, in rank order ("Ġ" is the symbol for a space).
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("a", "n"), ("o", "u"), ("Ġ", "a")]
END_OF_TEXT = "<|endoftext|>"


def byte_symbols() -> list[str]:
    """One printable character per byte value, as GPT-2's byte-level BPE assigns them: bytes
    that are visible characters stand for themselves, the others are moved to code points from
    256 on (so a space, byte 32, becomes "Ġ", code point 288)."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in visible]
    table = {b: chr(b) for b in visible} | {b: chr(256 + n) for n, b in enumerate(moved)}
    return [table[b] for b in range(256)]


def vocabulary() -> dict[str, int]:
    tokens = byte_symbols() + [a + b for a, b in MERGES] + [END_OF_TEXT]
    return {token: index for index, token in enumerate(tokens)}


def variable_shapes(h: dict) -> dict[str, tuple[int, ...]]:
    """Every variable model.py's model() creates (tf.get_variable in norm, conv1d, model)."""
    e = h["n_embd"]
    shapes = {"model/wpe": (h["n_ctx"], e), "model/wte": (h["n_vocab"], e)}
    for layer in range(h["n_layer"]):
        for name, n_in, n_out in (("attn/c_attn", e, 3 * e), ("attn/c_proj", e, e),
                                  ("mlp/c_fc", e, 4 * e), ("mlp/c_proj", 4 * e, e)):
            shapes[f"model/h{layer}/{name}/w"] = (1, n_in, n_out)
            shapes[f"model/h{layer}/{name}/b"] = (n_out,)
        for norm in ("ln_1", "ln_2"):
            shapes[f"model/h{layer}/{norm}/g"] = (e,)
            shapes[f"model/h{layer}/{norm}/b"] = (e,)
    shapes["model/ln_f/g"] = (e,)
    shapes["model/ln_f/b"] = (e,)
    return shapes


def make_model(folder: Path, *, n_ctx: int = 64, n_embd: int = 32, n_head: int = 2, n_layer: int = 2,
               seed: int = 0) -> dict:
    """Write a complete model folder; return its hyper-parameters."""
    import tensorflow as tf2

    tf = tf2.compat.v1
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    (folder / "encoder.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "vocab.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES), encoding="utf-8")
    hparams = {"n_vocab": len(vocab), "n_ctx": n_ctx, "n_embd": n_embd, "n_head": n_head, "n_layer": n_layer}
    (folder / "hparams.json").write_text(json.dumps(hparams, sort_keys=True))

    rng = np.random.RandomState(seed)
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name, shape in variable_shapes(hparams).items():
            leaf = name.rsplit("/", 1)[1]
            if leaf == "g":       # layer-norm gains start at 1, biases at 0, as in model.py
                value = np.ones(shape)
            elif leaf == "b":
                value = np.zeros(shape)
            else:                 # weights: model.py's initialisers (stddev 0.01 for wpe, else 0.02)
                value = rng.normal(0.0, 0.01 if leaf == "wpe" else 0.02, shape)
            variables.append(tf.Variable(value.astype(np.float32), name=name))
        saver = tf.train.Saver(variables)
        with tf.Session(graph=graph) as sess:
            sess.run(tf.variables_initializer(variables))
            saver.save(sess, str(folder / "model.ckpt"))
    return hparams
