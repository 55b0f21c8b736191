"""The model card: metadata the Hub accepts (license, base model, datasets, model-index), the facts of
the run in the text, the training-curve plot, and clear errors for incomplete inputs."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import ModelCard, ModelCardData

from hub_cards.model_card import (
    RUN_FILE,
    front_matter,
    plot_training_curves,
    read_eval_results,
    render_model_card,
    write_model_card,
)
from medvlt_data.benchmarks import card_columns

#: The benchmarks' titles and Hub ids, the plain data the card is given.
COLUMNS = card_columns()


def run_record(**changes) -> dict:
    run = {
        "kind": "rlvr",
        "recipe": "rlvr-qwen2.5-vl-3b",
        "recipe_fields": {
            "learning_rate": 1e-6,
            "num_generations": 8,
            "beta": 0.01,
            "rewards": {"medvlt": 1.0},
        },
        "base_model": "Qwen/Qwen2.5-VL-3B-Instruct",
        "dataset": {
            "spec": "ORG/text-hard@v1-0123456789ab",
            "label": "ORG/text-hard@v1-0123456789ab",
            "repo_id": "ORG/text-hard",
            "revision": "v1-0123456789ab",
            "commit": "c" * 40,
            "version": "v1-0123456789ab",
            "content_hash": "0123456789ab" + "0" * 52,
        },
        "data": {"prompts": 23493},
        "prompt": {"name": "paper", "template": "You will solve a problem/request. ..."},
        "rewards": [
            {
                "name": "medvlt",
                "weight": 1.0,
                "function": "medvlt_reward",
                "definition": "The paper's format-gated accuracy.",
            }
        ],
        "world_size": 8,
        "global_step": 460,
        "model_version": "rlvr-abcdefabcdef",
        "weights_sha256": "abcdefabcdef" + "1" * 52,
        "versions": {"medvlt": "0.1.0", "trl": "1.16.0", "transformers": "5.24.0"},
        "model_name": "medvlt-3b-rlvr",
    }
    run.update(changes)
    return run


LOG = [
    {"step": 1, "loss": 0.02, "reward": 0.31, "reward_std": 0.4, "kl": 0.0},
    {"step": 2, "loss": 0.01, "reward": 0.38, "reward_std": 0.41, "kl": 0.001},
    {"step": 2, "train_runtime": 9.5, "train_loss": 0.015},
]
RESULTS = {
    "pmc_vqa": {"accuracy": 52.15, "n": 2000, "runs": [52.0, 52.3, 52.15], "std": 0.15},
    "mmmu_medical": {"accuracy": 48.24, "n": 170},
    "medxpertqa_mm": {"accuracy": 22.7, "n": 2000},
    "pathvqa": {"accuracy": 63.21, "n": 3362},
    "slake": {"accuracy": 66.35, "n": 416},
    "vqa_rad": {"accuracy": 66.54, "n": 272},
}


def test_front_matter_is_valid_hub_metadata():
    meta = front_matter(run_record(), RESULTS, benchmarks=COLUMNS)
    assert meta["base_model"] == "Qwen/Qwen2.5-VL-3B-Instruct" and meta["datasets"] == ["ORG/text-hard"]
    assert (meta["license"], meta["license_name"]) == ("other", "qwen-research")  # the 3B's own license
    assert meta["pipeline_tag"] == "image-text-to-text" and "medical" in meta["tags"]
    # huggingface_hub parses the model-index back into the same six results
    data = ModelCardData(**meta)
    assert [(r.dataset_type, r.metric_value) for r in data.eval_results] == [
        ("RadGenome/PMC-VQA", 52.15),
        ("MMMU/MMMU", 48.24),
        ("TsinghuaC3I/MedXpertQA", 22.7),
        ("flaviagiammarino/path-vqa", 63.21),
        ("BoKelvin/SLAKE", 66.35),
        ("flaviagiammarino/vqa-rad", 66.54),
    ]
    assert all(
        r.task_type == "visual-question-answering" and r.metric_type == "accuracy" for r in data.eval_results
    )
    assert front_matter(run_record(base_model="Qwen/Qwen2.5-VL-7B-Instruct"))["license"] == "apache-2.0"
    local = front_matter(run_record(base_model="tiny", dataset={"spec": "builds/x", "label": "builds/x"}))
    assert "base_model" not in local and "datasets" not in local and "model-index" not in local


def test_card_text_names_the_run():
    card = render_model_card(run_record(), LOG, RESULTS, "assets/training_curves.png", benchmarks=COLUMNS)
    assert ModelCard(card).data.to_dict() == front_matter(run_record(), RESULTS, benchmarks=COLUMNS)
    for line in (
        "| dataset | `ORG/text-hard@v1-0123456789ab` |",
        "| dataset version | `v1-0123456789ab` |",
        f"| Hub commit | `{'c' * 40}` |",
        "| prompts | 23,493 |",
        "| processes | 8 |",
        "| model version | `rlvr-abcdefabcdef` |",
        "| `medvlt` | 1.0 | The paper's format-gated accuracy. |",
        "| PMC | `RadGenome/PMC-VQA` | 2,000 | 52.15 | 0.15 |",
        "| **average** | | | **53.20** | |",
        "![training curves](assets/training_curves.png)",
        "| trl | 1.16.0 |",
        'from_pretrained("PATH_TO_THIS_FOLDER")',
    ):
        assert line in card, line
    assert "not all six" not in card and "random weights" not in card
    assert yaml.safe_load(card.split("```yaml\n")[1].split("```")[0])["learning_rate"] == 1e-6
    assert "Medical disclaimer" in card and "not medical advice" in card
    pushed = render_model_card(run_record(repo_id="ORG/medvlt-3b-rlvr"))
    assert 'from_pretrained("ORG/medvlt-3b-rlvr")' in pushed and "Not evaluated yet" in pushed
    assert "Training curves" not in pushed


def test_training_curves_plot():
    png = plot_training_curves(LOG)
    assert png.startswith(b"\x89PNG") and png == plot_training_curves(LOG)  # byte-stable
    assert plot_training_curves([]) is None
    assert plot_training_curves([{"step": 3, "train_runtime": 1.0}]) is None


def test_write_model_card_reads_the_folder(tmp_path):
    (tmp_path / RUN_FILE).write_text(json.dumps(run_record(kind="sft", rewards=None)))
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": LOG}))
    readme = write_model_card(tmp_path)
    assert (tmp_path / "assets" / "training_curves.png").is_file()
    text = readme.read_text()
    assert (
        "supervised fine-tuning" in text
        and "### Reward" not in text
        and "<think> {reasoning} </think>" in text
    )
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(
            {
                "benchmarks": RESULTS,
                "seeds": [42, 43, 44],
                "dataset": {"label": "ORG/eval@v1-abc", "version": "v1-abc"},
            }
        )
    )
    text = write_model_card(tmp_path, eval_results=results, benchmarks=COLUMNS).read_text()
    assert "Questions from `ORG/eval@v1-abc` (version `v1-abc`), 3 run(s) with seeds 42, 43, 44." in text
    (tmp_path / "trainer_state.json").unlink()
    write_model_card(tmp_path)  # no log any more: no stale plot
    assert not (tmp_path / "assets" / "training_curves.png").exists()


def test_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="run record lacks: model_version"):
        render_model_card({k: v for k, v in run_record().items() if k != "model_version"})
    with pytest.raises(ValueError, match="sft or rlvr"):
        render_model_card(run_record(kind="dpo"))
    with pytest.raises(ValueError, match=r"medvlt_run\.json"):
        write_model_card(tmp_path)
    results = tmp_path / "results.json"
    results.write_text("{not json")
    with pytest.raises(ValueError, match="not readable as JSON"):
        read_eval_results(results)
    results.write_text(json.dumps({"benchmarks": {}}))
    with pytest.raises(ValueError, match="no 'benchmarks' mapping"):
        read_eval_results(results)
    results.write_text(json.dumps({"benchmarks": {"slake": {"accuracy": 50.0}}}))
    with pytest.raises(ValueError, match="'slake' has no question count 'n'"):
        read_eval_results(results)
    with pytest.raises(ValueError, match="eval results need the benchmarks' titles and Hub ids"):
        render_model_card(run_record(), [], RESULTS)


def test_the_cards_import_nothing_of_medvlt():
    """The cards are a rendering layer fed with plain data (titles and Hub ids come from the caller)."""
    import subprocess
    import sys

    code = ("import sys, hub_cards.model_card, hub_cards.dataset_card; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('medvlt_data', 'medvlt_train', 'medvlt_cli')))")  # fmt: skip
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "[]\n"
    )


def test_demo_runs_and_demo_results_say_so_and_stay_out_of_the_model_index():
    from hub_cards.model_card import DEMO_EVAL_NOTE, DEMO_MODEL_NOTE

    demo_data = {"spec": "builds/demo", "label": "builds/demo", "version": "v2-aaaaaaaaaaaa", "demo": True}
    demo_eval = {"spec": "ev/eval-data", "label": "ev/eval-data", "version": "v1-bbbbbbbbbbbb", "demo": True}
    for run in (run_record(dataset=demo_data), run_record(demo=True)):  # the dataset's flag or the run's
        card = render_model_card(run)
        assert card.split("---\n", 2)[2].strip().splitlines()[:3] == [
            "# medvlt-3b-rlvr",
            "",
            f"**{DEMO_MODEL_NOTE}**",
        ]
        assert "demo" in ModelCard(card).data.tags and DEMO_EVAL_NOTE not in card
    card = render_model_card(
        run_record(), [], RESULTS, eval_source={"dataset": demo_eval, "seeds": [42]}, benchmarks=COLUMNS
    )
    meta = yaml.safe_load(card.split("---\n")[1])
    assert "model-index" not in meta and meta["tags"][-1] == "demo"
    assert ModelCard(card).data.eval_results is None
    assert not [c["hub_id"] for c in COLUMNS.values() if c["hub_id"] in card]
    assert "| PMC (demo) | `demo questions: ev/eval-data (v1-bbbbbbbbbbbb)` | 2,000 | 52.15 | 0.15 |" in card
    assert f"**{DEMO_EVAL_NOTE}**" in card and DEMO_MODEL_NOTE not in card  # trained on real data
    real = render_model_card(
        run_record(), [], RESULTS, eval_source={"dataset": {"label": "x"}, "seeds": [42]}, benchmarks=COLUMNS
    )
    assert "demo" not in real.lower().split("## usage")[0]
    assert [r.dataset_type for r in ModelCard(real).data.eval_results][:1] == ["RadGenome/PMC-VQA"]


def test_write_model_card_reads_the_demo_flag_of_the_results_file(tmp_path):
    from hub_cards.model_card import DEMO_EVAL_NOTE

    (tmp_path / RUN_FILE).write_text(json.dumps(run_record()))
    results = tmp_path / "results.json"
    # results.json's own "demo" flag counts even when its dataset entry lacks one
    results.write_text(json.dumps({"benchmarks": RESULTS, "dataset": {"label": "e"}, "demo": True}))
    card = write_model_card(tmp_path, results, benchmarks=COLUMNS).read_text()
    assert DEMO_EVAL_NOTE in card and ModelCard(card).data.eval_results is None
    results.write_text(json.dumps({"benchmarks": RESULTS, "dataset": {"label": "e"}, "demo": False}))
    card = write_model_card(tmp_path, results, benchmarks=COLUMNS).read_text()
    assert DEMO_EVAL_NOTE not in card and len(ModelCard(card).data.eval_results) == 6
