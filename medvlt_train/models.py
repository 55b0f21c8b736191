"""Loading the model and processor a run trains (shared by SFT and RLVR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_model_and_processor(name: str, config: Any, **processor_kwargs: Any) -> tuple[Any, Any]:
    """The Qwen2.5-VL model and processor for ``name`` (a Hub id, a folder, or ``tiny``);
    ``trust_remote_code`` and ``model_init_kwargs`` come from the TRL config."""
    import transformers

    from medvlt_train.tiny import resolve_model

    path = resolve_model(name)
    remote = bool(config.trust_remote_code)
    processor = transformers.AutoProcessor.from_pretrained(path, trust_remote_code=remote, **processor_kwargs)
    model = transformers.AutoModelForImageTextToText.from_pretrained(
        path, trust_remote_code=remote, **(config.model_init_kwargs or {})
    )
    return model, processor


def pull_model(spec: str, out: str | Path) -> dict[str, Any]:
    """Download a model ``ID[@revision]`` into the folder ``out`` (replacing an earlier pull there). A
    model trained by medvlt is checked against the weights hash in its ``medvlt_run.json``. Returns
    what ``out/pull.json`` records: repository, revision, commit and, for medvlt models, the version."""
    import json
    import shutil

    from medvlt_data.hub import HubError, download
    from medvlt_data.pull import fresh_pull_folder
    from medvlt_train.run import weights_sha256

    out = Path(out)
    snapshot = download(spec, "model")
    fresh_pull_folder(out)
    shutil.copytree(snapshot.path, out, dirs_exist_ok=True)
    summary: dict[str, Any] = {
        "repo_id": snapshot.repo_id,
        "revision": snapshot.revision,
        "commit": snapshot.commit,
    }
    run_file = out / "medvlt_run.json"
    if run_file.is_file():
        run = json.loads(run_file.read_text(encoding="utf-8"))
        found = weights_sha256(out)
        if found != run.get("weights_sha256"):
            raise HubError(f"{spec}: the weights hash to {found[:12]}, not to the {run.get('model_version')} "
                           f"its medvlt_run.json names")  # fmt: skip
        summary["model_version"] = run["model_version"]
    (out / "pull.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
