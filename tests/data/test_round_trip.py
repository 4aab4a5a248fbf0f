"""Import -> export -> `datasets.load_dataset` and a chat template: what TRL trainers will read."""

import json

import pytest

from labeling.data import exporters, imports
from labeling.data.exporters import ExportSpec
from tests.data.conftest import data_file

pytestmark = pytest.mark.django_db

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer():
    """A word-level tokenizer trained here on a few strings, with a chat template: nothing from the hub."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<unk>", "<pad>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer.train_from_iterator(
        ["how can I help you today", "the sky is blue"], trainers.WordLevelTrainer(special_tokens=specials)
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|end|>",
        chat_template=CHAT_TEMPLATE,
    )


def test_an_hh_import_round_trips_through_datasets_and_a_chat_template(project, tmp_path):
    from datasets import load_dataset
    from trl.data_utils import apply_chat_template, is_conversational

    imported = imports.import_file(
        project, data_file("hh_rlhf_helpful_base_test.jsonl.gz"), fmt="hh", skip_invalid=True
    )
    out = tmp_path / "hh.jsonl"
    exported = exporters.export(project, ExportSpec(format="preference"), out)

    dataset = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(dataset) == exported.rows == imported.items
    assert dataset.column_names == ["prompt", "chosen", "rejected"]
    first = dataset[0]
    assert is_conversational(first)
    assert first["prompt"][-1]["role"] == "user"
    assert [m["role"] for m in first["chosen"]] == ["assistant"] == [m["role"] for m in first["rejected"]]

    tokenizer = tiny_tokenizer()
    for example in dataset.select(range(20)):
        text = apply_chat_template(example, tokenizer)  # TRL's own preprocessing for conversational rows
        assert text["prompt"].endswith("<|assistant|>")
        assert text["chosen"] == example["chosen"][0]["content"] + "<|end|>"
        assert tokenizer.apply_chat_template(example["prompt"] + example["chosen"], tokenize=True)


def test_a_standard_export_loads_with_its_trl_columns_from_jsonl_and_parquet(project, tmp_path, write):
    from datasets import load_dataset

    rows = [
        {"prompt": f"Question {i}?", "chosen": f"Good answer {i}", "rejected": f"Bad answer {i}"} for i in range(30)
    ]
    imports.import_file(project, write("pairs.jsonl", rows), fmt="trl")
    for file_type in ("jsonl", "parquet"):
        out = tmp_path / f"pairs.{file_type}"
        exporters.export(project, ExportSpec(file_type=file_type), out)
        builder = "json" if file_type == "jsonl" else "parquet"
        dataset = load_dataset(builder, data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
        assert dataset.to_list() == rows


def test_an_export_imports_back_into_a_new_project_unchanged(project, researcher, tmp_path, write):
    from labeling.models import Project

    rows = [
        {
            "prompt": [{"role": "user", "content": f"Q{i}"}],
            "chosen": [{"role": "assistant", "content": f"good {i}"}],
            "rejected": [{"role": "assistant", "content": f"bad {i}"}],
        }
        for i in range(5)
    ]
    imports.import_file(project, write("conv.jsonl", rows), fmt="trl")
    out = tmp_path / "again.jsonl"
    exporters.export(project, ExportSpec(), out)
    copy = Project.objects.create(name="Copy", slug="copy")

    imports.import_file(copy, out, fmt="trl")

    again = tmp_path / "again2.jsonl"
    exporters.export(copy, ExportSpec(), again)
    assert [json.loads(line) for line in again.read_text().splitlines()] == rows
    assert again.read_bytes() == out.read_bytes()
