"""In-process, batched, greedy generation with transformers (``medvlt eval --backend transformers``).

Choices:

- The model and processor load like training loads them (``AutoModelForImageTextToText`` and
  ``AutoProcessor``, ``trust_remote_code`` off unless asked), and ``"tiny"`` resolves to the tiny test model.
- Each request is one user turn, image placeholder parts first and then the text part, as the training data
  is written; the chat template adds its default system message.
- Decoding is greedy: a copy of the model's generation config with ``do_sample=False`` and the sampling
  fields reset, so a model shipped with sampling defaults neither samples nor warns. The torch and
  transformers seeds are set before every ``generate`` call anyway, so a run repeats exactly.
- Prompts are left-padded so every completion starts at the same column. Text-only and image requests never
  share a batch, and within each group prompts are sorted by length so a batch pads little; completions
  come back in the order of the requests.
- Images are decoded with the project's guarded decoder and converted to RGB; a file that cannot be decoded
  is a ``ValueError`` naming its request.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable
from typing import Any

from medvlt_train.eval.backend import EvalBackend, GenerationRequest

__all__ = ["DTYPES", "TransformersGenerator"]

#: Accepted ``dtype`` values (``"auto"``: bfloat16 on CUDA, float32 elsewhere).
DTYPES = ("auto", "float32", "bfloat16", "float16")


class TransformersGenerator(EvalBackend):
    """Greedy batched generation with a transformers vision-language model, loaded once."""

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 8,
        max_new_tokens: int = 4096,
        trust_remote_code: bool = False,
        device: str | None = None,
        dtype: str = "auto",
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        import torch
        import transformers

        from medvlt_train.models import resolve_model

        self.model_name = model
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = dtype

        path = resolve_model(model)
        self.processor = transformers.AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.processor.tokenizer.padding_side = "left"
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(
            path, trust_remote_code=trust_remote_code, dtype=getattr(torch, dtype)
        )
        self.model.to(self.device).eval()
        self.generation_config = self._greedy_config()

    def _greedy_config(self) -> Any:
        """The model's generation config made greedy and capped at ``max_new_tokens``, with pad/eos ids.

        ``generate`` fills the fields left unset in the config it is given from ``model.generation_config``,
        so the sampling fields are cleared in both: they then fall back to transformers' neutral defaults.
        """
        config = copy.deepcopy(self.model.generation_config)
        config.do_sample = False
        config.num_beams = 1
        for field in ("temperature", "top_p", "top_k", "min_p", "typical_p", "max_length"):
            setattr(config, field, None)
        config.max_new_tokens = self.max_new_tokens
        tokenizer = self.processor.tokenizer
        if config.eos_token_id is None:
            config.eos_token_id = tokenizer.eos_token_id
        if config.pad_token_id is None:
            eos = config.eos_token_id
            config.pad_token_id = (
                tokenizer.pad_token_id
                if tokenizer.pad_token_id is not None
                else (eos[0] if isinstance(eos, list) else eos)
            )
        self.model.generation_config = config
        return config

    def generate_each(
        self, requests: list[GenerationRequest], seed: int, done: Callable[[int, str], None]
    ) -> None:
        """:meth:`generate` a few batches (``4 * batch_size`` requests) at a time, calling ``done(index, text)``
        after each, so an interruption loses at most those."""
        chunk = 4 * self.batch_size
        for start in range(0, len(requests), chunk):
            for offset, text in enumerate(self.generate(requests[start : start + chunk], seed)):
                done(start + offset, text)

    def generate(self, requests: list[GenerationRequest], seed: int) -> list[str]:
        """Completions (new tokens only, special tokens skipped) for ``requests``, in their order."""
        if self.model is None:
            raise RuntimeError("the generator is closed")
        images = [_decode_images(index, request) for index, request in enumerate(requests)]
        prompts = [self._prompt(request) for request in requests]
        lengths = [len(self.processor.tokenizer(prompt).input_ids) for prompt in prompts]
        outputs = [""] * len(requests)
        for has_images in (False, True):
            group = [i for i, request in enumerate(requests) if bool(request.images) == has_images]
            group.sort(key=lambda i: (lengths[i], i))  # stable: equal lengths keep their order
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                texts = self._generate_batch(
                    [prompts[i] for i in batch], [img for i in batch for img in images[i]], seed
                )
                for i, text in zip(batch, texts, strict=True):
                    outputs[i] = text
        return outputs

    def _prompt(self, request: GenerationRequest) -> str:
        content: list[dict[str, Any]] = [{"type": "image"} for _ in request.images]
        content.append({"type": "text", "text": request.text})
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _generate_batch(self, prompts: list[str], images: list[Any], seed: int) -> list[str]:
        import torch
        import transformers

        inputs = self.processor(text=prompts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        torch.manual_seed(seed)
        transformers.set_seed(seed)  # also seeds Python's and NumPy's generators, for any sampling code
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, generation_config=self.generation_config)
        new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)

    def close(self) -> None:
        """Free the model (and the CUDA cache)."""
        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode_images(index: int, request: GenerationRequest) -> list[Any]:
    """The request's images as RGB PIL images; a ``ValueError`` naming the request if one cannot be read."""
    from medvlt_data.images import decode_image

    decoded = []
    for position, data in enumerate(request.images):
        try:
            decoded.append(decode_image(data).convert("RGB"))
        except ValueError as exc:
            raise ValueError(f"request {index}: image {position} cannot be decoded: {exc}") from exc
    return decoded
