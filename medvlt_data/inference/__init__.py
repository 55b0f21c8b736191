"""Inference through OpenAI-compatible chat-completion servers (vLLM, SGLang, ``transformers serve``,
hosted APIs): a concurrent, retrying client (:mod:`.client`), a per-rollout checkpoint so no finished
generation is requested twice (:mod:`.rollouts`), and the servers medvlt starts itself (:mod:`.backends`).
"""
