"""Models by name: medvlt's own names resolved to folders, loading a model and its processor (SFT, RLVR,
evaluation), and pulling a model from the Hub.

:func:`resolve_model` is the one place that knows medvlt's model names (``tiny``, ``demo``,
``demo-base``) and pinned Hub ids (``ORG/NAME@rev``); the data layer receives what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_model(name_or_path: str) -> str:
    """Map ``"tiny"`` to the cached tiny model folder (building it if needed), ``"demo"`` and
    ``"demo-base"`` to the learnable demo's models (:mod:`medvlt_train.demo_model`), and a Hub id pinned to a
    revision, ``ORG/NAME@rev``, to its downloaded snapshot; return anything else unchanged.

    >>> resolve_model("Qwen/Qwen2.5-VL-3B-Instruct")
    'Qwen/Qwen2.5-VL-3B-Instruct'
    """
    from medvlt_train.demo_model import DEMO_BASE_NAME, DEMO_NAME, demo_base_model, demo_model
    from medvlt_train.tiny import TINY_NAME, tiny_model

    if name_or_path == TINY_NAME:
        return str(tiny_model())
    if name_or_path in (DEMO_NAME, DEMO_BASE_NAME):  # the learnable demo's preset and base model
        return str(demo_model() if name_or_path == DEMO_NAME else demo_base_model())
    if "@" in name_or_path and not Path(name_or_path).exists():
        from medvlt_data.hub import download

        return str(download(name_or_path, "model").path)
    return name_or_path


def resolve_weights(spec: Any) -> Any:
    """``spec`` (a :class:`~medvlt_data.inference.backends.BackendSpec`) with ``weights`` set to what
    :func:`resolve_model` makes of its model, for the backends that load the model here; returns ``spec``."""
    if spec.backend in ("transformers", "transformers-serve") and spec.weights is None:
        spec.weights = resolve_model(spec.model)
    return spec


def load_model_and_processor(name: str, config: Any, **processor_kwargs: Any) -> tuple[Any, Any]:
    """The Qwen2.5-VL model and processor for ``name`` (a Hub id, a folder, or ``tiny``);
    ``trust_remote_code`` and ``model_init_kwargs`` come from the TRL config."""
    import transformers

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
