"""Settings of the sentiment service (env prefix SENTIMENT_)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.sentiment.aspects import DEFAULT_ASPECTS
from shared.settings import ServiceSettings

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "sentiment" / "default"


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
