"""A seeded generator of realistic traffic: feedback over every channel in Chinese and English with a
skewed score distribution, repeat customers, business lines and regions, plus purchases.

The same seed gives the same sequence, so a benchmark or fault test can be re-run exactly.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

CHANNELS = {"app": 30, "web": 25, "im": 10, "chat": 8, "email": 7, "phone": 6, "survey": 5, "store": 4}
CHANNELS |= {"social": 3, "sms": 2}
LINES = {"retail": 40, "kitchenware": 20, "electronics": 15, "apparel": 15, "grocery": 10}
REGIONS = ["east", "north", "south", "west", "central"]
# Share of 1..5-star feedback: most customers are content, a long tail is not.
STARS = {1: 8, 2: 7, 3: 15, 4: 30, 5: 40}
TEXTS = {
    "zh": {
        "negative": [
            "质量太差了，刀具生锈，非常失望",
            "快递三天没到，客服也不理人",
            "包装破损，东西坏了，要求退款",
            "用了一周就坏了，太失望了",
        ],
        "neutral": ["还可以，价格一般", "东西收到了，还没用", "和描述差不多"],
        "positive": ["非常满意，物流很快，包装完好", "质量很好，推荐购买", "客服很专业，下次还来"],
    },
    "en": {
        "negative": [
            "Terrible quality, the knife is rusty, very disappointed",
            "Delivery was late and support never answered",
        ],
        "neutral": ["It is okay for the price", "Arrived, not used yet"],
        "positive": ["Great product, fast delivery", "Excellent service, will buy again"],
    },
}


def _weighted(rng: random.Random, table: dict[Any, int]) -> Any:
    return rng.choices(list(table), weights=list(table.values()))[0]


class LoadGen:
    """Feedback and purchases drawn from `seed`; customers repeat with a heavy head (Pareto-like)."""

    def __init__(self, seed: int, customers: int = 20_000, run: str = "bench") -> None:
        self.rng = random.Random(seed)
        self.customers, self.run = customers, run
        self.count = 0

    def customer(self) -> str:
        index = min(int(self.rng.paretovariate(1.2)) - 1, self.customers - 1)
        return f"{self.run}-C{index:06d}"

    def feedback(self) -> dict[str, Any]:
        self.count += 1
        stars = _weighted(self.rng, STARS)
        mood = "negative" if stars <= 2 else ("neutral" if stars == 3 else "positive")
        language = "zh" if self.rng.random() < 0.75 else "en"
        body: dict[str, Any] = {
            "external_id": f"{self.run}-{self.count}",
            "channel": _weighted(self.rng, CHANNELS),
            "customer_id": self.customer(),
            "text": self.rng.choice(TEXTS[language][mood]),
            "language": language,
            "business_line": _weighted(self.rng, LINES),
            "region": self.rng.choice(REGIONS),
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        if self.rng.random() < 0.6:
            body["csat"] = stars
        if self.rng.random() < 0.3:
            body["nps"] = min(10, max(0, stars * 2 + self.rng.randint(-1, 1)))
        return body

    def purchase(self) -> dict[str, Any]:
        self.count += 1
        return {
            "type": "purchase",
            "external_id": f"{self.run}-p{self.count}",
            "order_id": f"{self.run}-O{self.count}",
            "customer_id": self.customer(),
            "amount": f"{self.rng.lognormvariate(5.0, 1.0):.2f}",
            "currency": "CNY",
            "occurred_at": datetime.now(UTC).isoformat(),
            "channel": _weighted(self.rng, {"store": 3, "app": 4, "web": 3}),
        }
