"""The unsupervised_translation and masked_lm tasks through their seams and `nmt train`/`generate`.

Online back-translation runs in eval mode without a gradient graph and leaves the model training;
the four streams are logged; a kill and resume equals the uninterrupted run; the XLM mapping puts
a masked-LM encoder into both halves of a translation model and leaves cross-attention alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers.cipher import ANCHORS, preprocess_cipher
from tests.helpers.cli import nmt, nmt_captured
from toolkit.criterions.cross_entropy import LabelSmoothedCrossEntropyConfig, LabelSmoothedCrossEntropyCriterion
from toolkit.models.transformer import TransformerConfig, TransformerModel
from toolkit.tasks.base import Batching
from toolkit.tasks.unsupervised import UnsupervisedConfig, UnsupervisedTranslationTask
from toolkit.train.init_from import initialize_from

SMALL = [
    "--arch", "transformer_tiny", "--encoder-layers", "2", "--decoder-layers", "2", "--encoder-embed-dim", "32",
    "--encoder-ffn-embed-dim", "64", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
    "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def cipher_data(tmp_path_factory) -> Path:
    return preprocess_cipher(tmp_path_factory.mktemp("cipher"), n_mono=400, n_valid=40)


def small_model(task, **overrides) -> TransformerModel:
    config = TransformerConfig(
        encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_layers=1, encoder_attention_heads=2,
        decoder_embed_dim=32, decoder_ffn_embed_dim=64, decoder_layers=1, decoder_attention_heads=2,
        share_all_embeddings=True, **overrides,
    )  # fmt: skip
    return task.build_model(TransformerModel, config)


class ModeRecorder(torch.nn.Module):
    """The model, noting (training, grad enabled) at every encode and decode_step."""

    def __init__(self, model) -> None:
        super().__init__()
        self.inner = model
        self.pad_index, self.eos_index = model.pad_index, model.eos_index
        self.seen: list[tuple[str, bool, bool]] = []

    def forward(self, *args, **kwargs):
        self.seen.append(("forward", self.training, torch.is_grad_enabled()))
        return self.inner(*args, **kwargs)

    def encode(self, *args, **kwargs):
        self.seen.append(("encode", self.training, torch.is_grad_enabled()))
        return self.inner.encode(*args, **kwargs)

    def decode_step(self, *args, **kwargs):
        self.seen.append(("decode_step", self.training, torch.is_grad_enabled()))
        return self.inner.decode_step(*args, **kwargs)

    @property
    def output_weight(self):
        return self.inner.output_weight

    @property
    def output_bias(self):
        return self.inner.output_bias


def test_back_translation_runs_in_eval_mode_without_gradient_and_restores_training(cipher_data):
    task = UnsupervisedTranslationTask(UnsupervisedConfig(data=str(cipher_data)))
    model = ModeRecorder(small_model(task))
    model.train()
    refs = task.epoch_plan(1, Batching(max_tokens=256, max_sentences=None, max_positions=None)).batches
    batch = task.batch(refs[0], train=True)
    criterion = LabelSmoothedCrossEntropyCriterion(LabelSmoothedCrossEntropyConfig(0.1))
    loss, size, log = task.train_step(model, criterion, batch, update_num=0)
    generation = [entry for entry in model.seen if entry[0] != "forward"]
    assert generation and all(not training and not grad for _, training, grad in generation)
    assert [entry for entry in model.seen if entry[0] == "forward"] == [("forward", True, True)] * 4  # 4 streams
    assert model.training and loss.requires_grad and size == 1
    for stream in ("ae_a", "ae_b", "bt_a", "bt_b"):
        assert log[f"{stream}:ntokens"] > 0
    # Every weight 0 from update 1 on: no stream is computed, the step is a zero loss.
    quiet = UnsupervisedTranslationTask(UnsupervisedConfig(data=str(cipher_data), lambda_ae="0", lambda_bt="0:1,1:0"))
    model.seen.clear()
    loss, _, _ = quiet.train_step(model, criterion, batch, update_num=5)
    assert model.seen == [] and float(loss.detach()) == 0.0


def test_the_language_tag_and_embeddings_reach_the_decoder(cipher_data):
    task = UnsupervisedTranslationTask(UnsupervisedConfig(data=str(cipher_data), language_signal="both"))
    refs = task.epoch_plan(1, Batching(max_tokens=256, max_sentences=None, max_positions=None)).batches
    a_batch = task.batch(refs[0], train=True).first
    pair = task.teacher_batch(a_batch.ids, a_batch.src_tokens, a_batch.src_lengths, "a", a_batch.src_tokens, "b")
    assert bool(pair.prev_output_tokens[:, 0].eq(task.dict.index("<2b>")).all())
    assert pair.src_lang.tolist() == [0] * len(a_batch.ids) and pair.tgt_lang.tolist() == [1] * len(a_batch.ids)
    with pytest.raises(Exception, match="--language-embeddings 2"):
        small_model(task)  # embeddings asked for, the model has none
    model = small_model(task, language_embeddings=2).eval()
    features_b, _ = model(pair.src_tokens, pair.src_lengths, pair.prev_output_tokens, pair.src_lang, pair.tgt_lang)
    features_a, _ = model(pair.src_tokens, pair.src_lengths, pair.prev_output_tokens, pair.src_lang, 1 - pair.tgt_lang)
    assert not torch.allclose(features_a, features_b)  # the target language id changes the decoder
    recorded = task.checkpoint_data().languages
    assert recorded["ids"] == {"a": 0, "b": 1} and recorded["decoder_start"] == {"a": "<2a>", "b": "<2b>"}
    assert recorded["directions"] == [["a", "b"], ["b", "a"]]


def train_args(data: Path, save_dir: Path, *extra: str) -> list[str]:
    return [
        "train", str(data), "--task", "unsupervised_translation", *SMALL, "--language-signal", "both",
        "--language-embeddings", "2", "--max-tokens", "512", "--lr", "0.003", "--warmup-updates", "5",
        "--save-dir", str(save_dir), "--log-format", "simple", "--log-interval", "1", "--seed", "3",
        "--bt-sampling", *extra,
    ]  # fmt: skip


def test_kill_and_resume_equals_the_uninterrupted_run(cipher_data, tmp_path):
    whole = nmt(*train_args(cipher_data, tmp_path / "whole", "--max-update", "12"), threads=1)
    assert whole.returncode == 0, whole.stderr
    first = nmt(*train_args(cipher_data, tmp_path / "split", "--max-update", "7", "--save-interval-updates", "7"),
                threads=1)  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = nmt(*train_args(cipher_data, tmp_path / "split", "--max-update", "12"), threads=1)
    assert second.returncode == 0, second.stderr

    def train_records(path: Path) -> list[dict]:
        lines = (path / "train_log.jsonl").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["type"] == "train" and r["update"] > 7]

    whole_log, split_log = train_records(tmp_path / "whole"), train_records(tmp_path / "split")
    assert [r["update"] for r in whole_log] == [r["update"] for r in split_log] == list(range(8, 13))
    for a, b in zip(whole_log, split_log, strict=True):
        for stream in ("loss_ae_a", "loss_ae_b", "loss_bt_a", "loss_bt_b"):
            assert a[stream] == pytest.approx(b[stream], rel=1e-5), (a["update"], stream)
    last = [torch.load(p / "checkpoint_last.pt", weights_only=True)["model"] for p in (tmp_path / "whole",
            tmp_path / "split")]  # fmt: skip
    for name, tensor in last[0].items():
        assert torch.allclose(tensor, last[1][name], atol=1e-6), name


def test_masked_lm_pretraining_then_the_xlm_mapping_fills_encoder_and_decoder(cipher_data, tmp_path):
    mlm = nmt(
        "train", str(cipher_data), "--task", "masked_lm", *SMALL, "--language-embeddings", "2",
        "--tokens-per-sample", "32", "--max-tokens", "512", "--max-update", "4", "--lr", "0.003",
        "--save-dir", str(tmp_path / "mlm"), "--log-format", "simple", threads=1,
    )  # fmt: skip
    assert mlm.returncode == 0, mlm.stderr
    assert "masked LM on" in mlm.stderr + mlm.stdout
    checkpoint = tmp_path / "mlm" / "checkpoint_last.pt"
    pretrained = torch.load(checkpoint, weights_only=True)["model"]
    assert not [name for name in pretrained if name.startswith("decoder")]  # the encoder alone

    task = UnsupervisedTranslationTask(UnsupervisedConfig(data=str(cipher_data), language_signal="both"))
    config = TransformerConfig(
        encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_layers=2, encoder_attention_heads=2,
        decoder_embed_dim=32, decoder_ffn_embed_dim=64, decoder_layers=2, decoder_attention_heads=2,
        share_all_embeddings=True, language_embeddings=2,
    )  # fmt: skip
    model = task.build_model(TransformerModel, config)
    fresh = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    report = initialize_from(model, checkpoint, "xlm")
    state = model.state_dict()
    for name, source in report.loaded.items():
        assert torch.equal(state[name], pretrained[source]), name
    mapped = report.mapped
    assert mapped["decoder_layers.1.self_attn.qkv_proj.weight"] == "encoder_layers.1.self_attn.qkv_proj.weight"
    assert mapped["decoder_layers.0.self_block.norm.weight"] == "encoder_layers.0.attn_block.norm.weight"
    assert mapped["decoder_lang_embed.weight"] == "encoder_lang_embed.weight"
    assert all(name.startswith("encoder") for name in report.loaded if name not in mapped)
    left = set(report.left)
    assert left == {name for name in state if "cross_attn" in name or "cross_block" in name}
    for name in left:
        assert torch.equal(state[name], fresh[name]), name
    assert report.unused == ["lm_bias"]
    # The masked LM itself does not translate: one line, exit code 2.
    code, output = nmt_captured("generate", str(cipher_data), "--path", str(checkpoint), "--gen-subset", "valid")
    assert code == 2 and "does not translate" in output and "Traceback" not in output


class CopyModel(torch.nn.Module):
    """Translates every sentence into itself: the collapse the validation signals must catch."""

    pad_index, eos_index = 1, 2

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def encode(self, src_tokens, src_lengths, **languages):
        return {"src": src_tokens}

    def decode_step(self, prev_tokens, encoder_out, state, need_attn=False, **languages):
        src, step = encoder_out["src"], prev_tokens.size(1) - 1
        column = src[:, step] if step < src.size(1) else torch.full_like(src[:, 0], self.eos_index)
        column = torch.where(column.eq(self.pad_index), torch.full_like(column, self.eos_index), column)
        log_probs = torch.full((src.size(0), self.vocab), -1e9)
        log_probs[torch.arange(src.size(0)), column] = 0.0
        return log_probs, None, state


def test_collapse_signals_count_copies_and_wrong_language_tokens(cipher_data):
    task = UnsupervisedTranslationTask(UnsupervisedConfig(data=str(cipher_data)))
    plan = task.valid_plan(Batching(max_tokens=4096, max_sentences=None, max_positions=None)).batches
    pair = task.batch(plan[0], train=False).first  # a -> b
    stats = task.translation_statistics(CopyModel(len(task.dict)), pair, "a", "b", "a_b")
    rows = pair.src_tokens.size(0)
    content = pair.src_tokens.ne(1) & pair.src_tokens.ne(2)
    anchors = sum(int(pair.src_tokens.eq(task.dict.index(w)).sum()) for w in ANCHORS if w in task.dict)
    assert stats["a_b:_copies"] == stats["a_b:_sentences"] == rows
    assert stats["a_b:_hyp_tokens"] == int(content.sum())
    assert stats["a_b:_wrong_tokens"] == int(content.sum()) - anchors  # everything but the shared anchors
    reduced = task.reduce_logs([{**stats, "loss": 0.0, "nll_loss": 0.0, "ntokens": 1, "sample_size": 1}], _Sum())
    assert reduced["copy_a_b"] == 100.0 and 0 < reduced["wrong_lang_a_b"] < 100.0


class _Sum:
    @staticmethod
    def reduce_logs(logs):
        from toolkit.criterions.cross_entropy import summarize

        return summarize(logs)
