"""How close `medvlt eval` keeps a server to full use: generation time against the lower bound.

A loopback OpenAI-compatible server answers every request after a random latency (uniform between
``--min-latency`` and ``--max-latency`` seconds, a fixed seed), like a GPU server whose answers differ
in length. ``medvlt eval --backend endpoint`` then evaluates N synthetic questions with ``--concurrency``
C. With C requests always in flight the wall time cannot be below (sum of latencies) / C; the script
prints the measured generation time, that bound and their ratio, plus the questions per second.

    python benchmarks/eval_server.py --n 2000 --concurrency 32
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(min_latency: float, max_latency: float, seed: int) -> tuple[ThreadingHTTPServer, list[float]]:
    """A server that sleeps a random latency per chat request, then answers "<answer>A</answer>"."""
    rng, lock, latencies = random.Random(seed), threading.Lock(), []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"data": [{"id": "bench"}]})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                latency = rng.uniform(min_latency, max_latency)
                latencies.append(latency)
            time.sleep(latency)
            self._send({"choices": [{"message": {"content": "<answer>A</answer>"}, "finish_reason": "stop"}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="questions")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--min-latency", type=float, default=0.05)
    parser.add_argument("--max-latency", type=float, default=0.5)
    args = parser.parse_args()

    from medvlt_data.datasets import resolve_dataset
    from medvlt_data.parquet_io import write_records
    from medvlt_data.schema import Record
    from medvlt_train.eval.runner import EvalSettings, run_eval

    work = Path(tempfile.mkdtemp(prefix="medvlt-eval-bench-"))
    records = [Record(question=f"Question {i}?", options={"A": "Yes", "B": "No"}, answer_label="AB"[i % 2],
                      answer=["Yes", "No"][i % 2], source="vqa_rad", source_id=str(i), split="vqa_rad")
               for i in range(args.n)]  # fmt: skip
    write_records(records, work / "data")
    server, latencies = serve(args.min_latency, args.max_latency, seed=0)
    settings = EvalSettings(model="bench", out=work / "out", benchmarks=["vqa_rad"], backend="endpoint",
                            endpoint=f"http://127.0.0.1:{server.server_port}/v1", runs=1,
                            concurrency=args.concurrency, max_new_tokens=16)  # fmt: skip
    start = time.perf_counter()
    results = run_eval(settings, resolve_dataset(work / "data"))
    total = time.perf_counter() - start
    server.shutdown()
    bound = sum(latencies) / args.concurrency
    print(
        f"{args.n} questions, concurrency {args.concurrency}, latency U({args.min_latency}, {args.max_latency}) s"
    )
    print(
        f"run_eval: {total:.2f} s in all ({args.n / total:.1f} questions/s); lower bound for the "
        f"generation alone {bound:.2f} s; ratio {total / bound:.3f}"
    )
    print(f"accuracy {results['benchmarks']['vqa_rad']['accuracy']:.2f}% (expected 50.00: every answer is A)")


if __name__ == "__main__":
    main()
