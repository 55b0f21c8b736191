"""Loading the model and processor a run trains (shared by SFT and RLVR)."""

from __future__ import annotations

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
