"""bench-sentiment: the serving path against a naive transformers pipeline on the same model, ONNX int8
against torch fp32 on a BERT-base-shaped model, and POST /v1/score latency — ratios from one run.

Run with `make bench-sentiment`; writes reports/bench-sentiment.{json,md}. Each throughput is measured
BENCH_ROUNDS times (default 3), alternating with its baseline, and the ratios compare medians: on a
shared 2-core machine one run of the naive pipeline measured anywhere from 58 to 115 texts/s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

from benchmarks.common import ROOT, Server, say, write_report
from scripts.stack import infra_env, infra_up
from services.sentiment.backends import load_model, onnx_session
from services.sentiment.batcher import MicroBatcher
from services.sentiment.blend import load_blend, tilted
from services.sentiment.config import DEFAULT_MODEL, SentimentSettings
from services.sentiment.labels import label_map, verdicts
from services.sentiment.training.authored import authored_split
from services.sentiment.training.corpus import polarity_split
from shared.contracts.registry import TOPICS
from shared.kafka.admin import ensure_topics
from shared.settings import KafkaSettings

THREADS = 2
TEXTS = int(os.environ.get("BENCH_TEXTS", "600"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORK = ROOT / ".local" / "bench-sentiment"


def held_out_texts(n: int) -> list[str]:
    """Held-out Chinese reviews and authored sentences (never the reserved 20 %)."""
    zh = [t for t, _ in polarity_split().test]
    authored = [e.text for e in authored_split()[1]]
    mixed = [t for pair in zip(zh, authored, strict=False) for t in pair] + zh[len(authored) :]
    return mixed[:n]


def naive_pipeline(model_dir: Path, texts: list[str]) -> tuple[float, list[str]]:
    """transformers pipeline, batch 1, torch fp32: texts/s and the 3-way labels (the model directory's
    n-gram blend applied to each text's probabilities, as the serving path applies it)."""
    from transformers import AutoTokenizer, pipeline

    from services.sentiment.compact import load_classifier

    # The same weights the served model was exported from (compact int8 in a committed directory).
    model = load_classifier(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device=-1)
    id2label: dict[int, str] = {int(k): str(v) for k, v in (pipe.model.config.id2label or {}).items()}
    labels = label_map(id2label)
    order = [id2label[i] for i in range(len(id2label))]
    blend = load_blend(model_dir)
    pipe(texts[0], truncation=True, max_length=128)
    began = time.perf_counter()
    out = []
    for text in texts:
        result = pipe(text, truncation=True, max_length=128)
        result = result[0] if result and isinstance(result[0], list) else result
        scores = {s["label"]: s["score"] for s in result}
        probs = np.array([[scores[name] for name in order]])
        out.append(tilted(probs, np.array([blend.tilt(text)]))[0] if blend else probs[0])
    rate = len(texts) / (time.perf_counter() - began)
    return rate, [v.label for v in verdicts(np.stack(out), labels)]


async def serving_path(model_dir: Path, texts: list[str]) -> tuple[float, list[str], str]:
    """The service's path: micro-batcher + the auto-chosen backend, fed as a consumer's polls arrive."""
    model = load_model(str(model_dir), "auto", threads=THREADS)
    settings = SentimentSettings()
    batcher = MicroBatcher(
        model.backend,
        max_batch=settings.max_batch,
        max_tokens=settings.max_tokens,
        max_wait_s=settings.max_wait_ms / 1000,
    )
    await batcher.score(texts[:64])
    began = time.perf_counter()
    polls = [texts[i : i + 256] for i in range(0, len(texts), 256)]
    results = [r for part in await asyncio.gather(*(batcher.score(p) for p in polls)) for r in part]
    rate = len(texts) / (time.perf_counter() - began)
    await batcher.close()
    probs = np.stack([r.probabilities for r in results])
    return rate, [v.label for v in verdicts(probs, model.labels)], model.backend.name


def bert_base(batch: int = 32, length: int = 64, reps: int = 5, rounds: int = ROUNDS) -> dict[str, Any]:
    """12 x 768 random BERT: torch fp32 vs ONNX fp32 vs ONNX int8 at batch 32, `rounds` rounds of `reps`
    batches each, the order rotating from round to round; seconds per batch are medians over rounds."""
    from transformers import BertConfig, BertForSequenceClassification

    from services.sentiment.training.export import export_onnx

    torch.manual_seed(0)
    config = BertConfig(vocab_size=21128, max_position_embeddings=512)
    config.num_labels = 5
    model = BertForSequenceClassification(config)
    model.eval()
    directory = WORK / "bert-base"
    if not (directory / "model.int8.onnx").exists():
        export_onnx(model, directory)
    ids = torch.randint(5, config.vocab_size, (batch, length))
    mask = torch.ones_like(ids)
    feeds = {
        "input_ids": ids.numpy(),
        "attention_mask": mask.numpy(),
        "token_type_ids": np.zeros_like(ids.numpy()),
    }
    sessions = {
        name: onnx_session(directory / file, THREADS)
        for name, file in (("onnx_fp32", "model.onnx"), ("onnx_int8", "model.int8.onnx"))
    }
    with torch.inference_mode():
        reference = model(input_ids=ids, attention_mask=mask).logits.numpy()
    agreement = {
        name: float(np.mean(session.run(["logits"], feeds)[0].argmax(1) == reference.argmax(1)))
        for name, session in sessions.items()
    }

    def run(name: str) -> None:
        if name == "torch_fp32":
            with torch.inference_mode():
                model(input_ids=ids, attention_mask=mask)
        else:
            sessions[name].run(["logits"], feeds)

    names = ["torch_fp32", "onnx_fp32", "onnx_int8"]
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names[index % 3 :] + names[: index % 3]:
            began = time.perf_counter()
            for _ in range(reps):
                run(name)
            per_round[name].append((time.perf_counter() - began) / reps)
    timings = {name: statistics.median(values) for name, values in per_round.items()}
    return {
        "batch": batch,
        "tokens": length,
        "rounds": rounds,
        "seconds_per_batch": timings,
        "seconds_per_batch_rounds": per_round,
        "texts_per_s": {k: batch / v for k, v in timings.items()},
        "argmax_agreement_with_torch_random_weights": agreement,
    }


SCORE_SUFFIX = ".bench-score"
"""Topics of their own (nothing is published to them): under the ingest bench's suffix the service would
be consuming that bench's backlog while its /v1/score latency is measured."""


def score_latency(model_dir: Path, requests: int = 300) -> dict[str, float]:
    env = {
        **infra_env(),
        "SENTIMENT_MODEL": str(model_dir),
        "KAFKA_TOPIC_SUFFIX": SCORE_SUFFIX,
        "LOG_LEVEL": "WARNING",
    }
    kafka = KafkaSettings(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], topic_suffix=SCORE_SUFFIX)
    asyncio.run(ensure_topics(kafka, list(TOPICS.values())))
    with (
        Server("services.sentiment.app:create_app", env=env) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        body = {"texts": ["快递很快，包装完好，很满意"]}
        headers = {"X-API-Key": "dev-operator-key"}
        for _ in range(20):
            http.post("/v1/score", json=body, headers=headers).raise_for_status()
        latencies = []
        for _ in range(requests):
            began = time.perf_counter()
            http.post("/v1/score", json=body, headers=headers).raise_for_status()
            latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * len(latencies)) - 1],
        "requests": requests,
    }


def main() -> None:
    torch.set_num_threads(THREADS)
    model_dir = Path(os.environ.get("SENTIMENT_MODEL", DEFAULT_MODEL))
    texts = held_out_texts(TEXTS)
    results: dict[str, Any] = {
        "model": str(model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir),
        "texts": len(texts),
    }
    say(
        f"1/4 and 2/4: naive transformers pipeline (batch 1, torch fp32) and the serving path (micro-batches"
        f" by token budget, length-bucketed, auto backend) alternating, {ROUNDS} rounds of {len(texts)}"
        " held-out texts"
    )
    naive_rounds: list[float] = []
    served_rounds: list[float] = []
    naive_labels: list[str] = []
    served_labels: list[str] = []
    backend = ""
    for index in range(ROUNDS):
        for side in ("naive", "serving") if index % 2 == 0 else ("serving", "naive"):
            if side == "naive":
                rate, naive_labels = naive_pipeline(model_dir, texts)
                naive_rounds.append(rate)
            else:
                rate, served_labels, backend = asyncio.run(serving_path(model_dir, texts))
                served_rounds.append(rate)
            say(f"   {side}: {rate:.0f} texts/s")
    naive_rate, served_rate = statistics.median(naive_rounds), statistics.median(served_rounds)
    agreement = float(np.mean(np.array(served_labels) == np.array(naive_labels)))
    say(
        f"   medians: naive {naive_rate:.0f}, serving {served_rate:.0f} texts/s on {backend}, label agreement {agreement:.4f}"
    )
    results["naive_pipeline_texts_per_s"] = naive_rate
    results["serving_texts_per_s"] = served_rate
    results["naive_pipeline_rounds"] = naive_rounds
    results["serving_rounds"] = served_rounds
    results["serving_backend"] = backend
    results["label_agreement"] = agreement
    say("3/4 BERT-base shape (12 x 768, random weights), batch 32 x 64 tokens")
    results["bert_base"] = bert_base()
    say(f"   {results['bert_base']['texts_per_s']}")
    say("4/4 POST /v1/score, one short text, sequential requests against the running service")
    infra_up()
    results["score_latency"] = score_latency(model_dir)
    say(f"   {results['score_latency']}")
    base = results["bert_base"]["texts_per_s"]
    ratios = {
        "serving_vs_naive": served_rate / naive_rate,
        "bert_base_int8_vs_torch_fp32": base["onnx_int8"] / base["torch_fp32"],
    }
    checks = {
        "serving >= 5x naive pipeline": ratios["serving_vs_naive"] >= 5,
        "serving >= 250 texts/s on 2 threads": served_rate >= 250,
        "label agreement >= 99 %": agreement >= 0.99,
        "BERT-base ONNX int8 >= 2x torch fp32 at batch 32": ratios["bert_base_int8_vs_torch_fp32"] >= 2,
        "POST /v1/score p95 <= 30 ms": results["score_latency"]["p95_ms"] <= 30,
    }
    results["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    results["checks"] = checks

    def listed(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    def per_round(name: str) -> str:
        bert = results["bert_base"]
        return listed([bert["batch"] / s for s in bert["seconds_per_batch_rounds"][name]])

    table = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| naive pipeline (batch 1, torch fp32), median of {ROUNDS} | {naive_rate:.0f} texts/s ({listed(naive_rounds)}) |",
            f"| serving path ({backend}, micro-batches), median of {ROUNDS} | {served_rate:.0f} texts/s ({listed(served_rounds)}) |",
            f"| **ratio serving / naive** | **{ratios['serving_vs_naive']:.1f}x** (target >= 5x), label agreement {agreement:.2%} |",
            f"| BERT-base torch fp32, batch 32, median of {ROUNDS} | {base['torch_fp32']:.1f} texts/s ({per_round('torch_fp32')}) |",
            f"| BERT-base ONNX fp32, batch 32, median of {ROUNDS} | {base['onnx_fp32']:.1f} texts/s ({per_round('onnx_fp32')}) |",
            f"| BERT-base ONNX int8, batch 32, median of {ROUNDS} | {base['onnx_int8']:.1f} texts/s ({per_round('onnx_int8')}) |",
            f"| **ratio int8 / torch fp32** | **{ratios['bert_base_int8_vs_torch_fp32']:.2f}x** (target >= 2x) |",
            f"| POST /v1/score, 1 short text | p50 {results['score_latency']['p50_ms']:.1f} ms, **p95 {results['score_latency']['p95_ms']:.1f} ms** (target <= 30 ms) |",
        ]
    )
    verdict = "\n".join(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items())
    path = write_report("bench-sentiment", results, table + "\n\n" + verdict)
    print(path.read_text())


if __name__ == "__main__":
    main()
