"""Settings of the sentiment service (env prefix SENTIMENT_)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.sentiment.aspects import DEFAULT_ASPECTS
from shared.settings import ServiceSettings

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "sentiment" / "default"
DEFAULT_ONNX_CACHE = Path(__file__).resolve().parents[2] / ".local" / "cache" / "sentiment-onnx"


class SentimentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    consumer_group: str = "sentiment"
    model: str = str(DEFAULT_MODEL)
    """A model directory (the project's default, or any Hugging Face checkpoint) or a hub id."""
    backend: Literal["auto", "onnx-int8", "onnx", "torch"] = "auto"
    """auto: what the training pipeline measured fastest at >= 99 % agreement (serving.json), else int8."""
    max_length: int = Field(default=128, ge=8, le=512)
    max_batch: int = Field(default=64, ge=1, le=256)
    max_tokens: int = Field(default=1024, ge=8, le=65536)
    """Padded tokens (rows x longest row) per model batch; texts are grouped by token length."""
    max_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    threads: int = Field(default=2, ge=1, le=64)
    aspects_path: Path = DEFAULT_ASPECTS
    onnx_cache: Path | None = DEFAULT_ONNX_CACHE
    """Where a checkpoint without ONNX files (any Hugging Face one) is exported on first load, so that
    it is served by ONNX Runtime (int8 where it agrees with fp32); empty: serve such checkpoints by torch."""

    @field_validator("onnx_cache", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
