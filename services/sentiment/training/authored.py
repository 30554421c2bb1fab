"""The project's own labelled feedback set (English and Chinese, 1–5 stars), built from authored phrases.

Every sentence is built from a noun phrase of a domain (retail, hotel, telecom, banking, delivery) and a
predicate of a known strength; the star label follows from the strengths by the rules in `_stars`. The
held-out split uses noun phrases and templates never combined that way in training, so it measures
composition over a shared vocabulary, not real-world coverage (see models/sentiment/DATA_CARD.md).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

Strength = Literal[2, 1, 0, -1, -2]

NOUNS_EN = {
    "retail": [
        "the product",
        "the quality",
        "the price",
        "the packaging",
        "the store staff",
        "the checkout",
        "the website",
        "the return process",
        "the fitting room",
        "the sales assistant",
    ],
    "hotel": [
        "the room",
        "the front desk",
        "the breakfast",
        "the bed",
        "the check-in",
        "the location",
        "the housekeeping",
        "the wifi",
        "the bathroom",
        "the concierge",
    ],
    "telecom": [
        "the signal",
        "the network speed",
        "the customer service",
        "the bill",
        "the data plan",
        "the app",
        "the technician",
        "the installation",
        "the hotline",
        "the broadband",
    ],
    "banking": [
        "the mobile banking app",
        "the teller",
        "the loan process",
        "the card activation",
        "the fees",
        "the branch queue",
        "the transfer",
        "the account manager",
        "the credit card service",
        "the online banking",
    ],
    "delivery": [
        "the delivery",
        "the courier",
        "the box",
        "the tracking",
        "the parcel",
        "the delivery time",
        "the driver",
        "the pickup",
        "the delivery agent",
        "the shipping",
    ],
}
PREDICATES_EN: dict[int, list[str]] = {
    2: [
        "was absolutely fantastic",
        "exceeded all my expectations",
        "was outstanding",
        "could not have been better",
        "was perfect",
        "was superb",
        "was excellent",
        "was brilliant",
        "was flawless",
        "was amazing",
        "was wonderful",
        "was very professional",
    ],
    1: [
        "was good",
        "was pretty decent",
        "was fine overall",
        "was nice",
        "worked well",
        "was satisfactory",
        "was better than expected",
        "was solid",
        "was pleasant enough",
        "was quite good",
        "was helpful",
        "was reasonable",
    ],
    0: [
        "was okay",
        "was average",
        "was as described",
        "was nothing special",
        "was acceptable",
        "was so-so",
        "was standard",
        "was neither good nor bad",
        "was what I expected",
        "was ordinary",
        "was normal",
        "was fine, nothing more",
    ],
    -1: [
        "was a bit disappointing",
        "could be better",
        "was slightly slow",
        "was not great",
        "was below average",
        "was mediocre",
        "was somewhat poor",
        "left room for improvement",
        "was a little frustrating",
        "was underwhelming",
        "was a bit of a letdown",
        "was not very good",
    ],
    -2: [
        "was terrible",
        "was a complete disaster",
        "was awful",
        "was unacceptable",
        "was the worst ever",
        "was horrible",
        "was a total joke",
        "was appalling",
        "made me furious",
        "was extremely poor",
        "was damaged and useless",
        "was rusty and broken",
    ],
}
NOUNS_ZH = {
    "retail": ["产品", "质量", "价格", "包装", "店员", "收银", "网站", "退货流程", "试衣间", "导购"],
    "hotel": ["房间", "前台", "早餐", "床", "入住手续", "位置", "保洁", "无线网络", "卫生间", "礼宾服务"],
    "telecom": ["信号", "网速", "客服", "账单", "流量套餐", "营业厅", "装维师傅", "安装", "热线", "宽带"],
    "banking": [
        "手机银行",
        "柜员",
        "贷款流程",
        "开卡",
        "手续费",
        "排队",
        "转账",
        "客户经理",
        "信用卡服务",
        "网银",
    ],
    "delivery": ["配送", "快递员", "外箱", "物流信息", "包裹", "送货时间", "司机", "取件", "派送员", "发货"],
}
PREDICATES_ZH: dict[int, list[str]] = {
    2: [
        "非常棒",
        "好得没话说",
        "超出预期",
        "完美",
        "特别满意",
        "太赞了",
        "一流",
        "无可挑剔",
        "非常出色",
        "让人惊喜",
        "非常专业",
        "好极了",
    ],
    1: [
        "还不错",
        "挺好的",
        "比较满意",
        "可以",
        "蛮好",
        "还算满意",
        "挺方便",
        "比预期好",
        "整体不错",
        "挺实用",
        "态度挺好",
        "性价比不错",
    ],
    0: [
        "一般",
        "中规中矩",
        "和描述一致",
        "没什么特别",
        "普普通通",
        "还行",
        "马马虎虎",
        "说得过去",
        "不好不坏",
        "正常水平",
        "凑合",
        "没有惊喜也没有失望",
    ],
    -1: [
        "有点失望",
        "不太好",
        "有点慢",
        "有待改进",
        "差强人意",
        "不怎么样",
        "有些问题",
        "稍微差了点",
        "不够好",
        "让人有点不满",
        "不太满意",
        "有点麻烦",
    ],
    -2: [
        "太差了",
        "非常糟糕",
        "完全无法接受",
        "垃圾",
        "气死我了",
        "差到极点",
        "简直是骗人",
        "再也不来了",
        "非常失望",
        "恶心",
        "破损严重",
        "生锈了，根本没法用",
    ],
}
SAME_EN = [
    "{a} {p}.",
    "Honestly, {a} {p}.",
    "{A} {p} and {b} {q}.",
    "Overall {a} {p}; {b} {q} too.",
    "I must say {a} {p}.",
    "{A} {p}, and {b} {q} as well.",
    "To be honest, {a} {p}.",
    "In my experience {a} {p}, and {b} {q}.",
    "Last week {a} {p}.",
    "{A} {p}, plus {b} {q}.",
    "My feedback: {a} {p}.",
    "Not only {a} {p}, {b} {q} too.",
    "{A} {p}. On top of that, {b} {q}.",
    "I think {a} {p}.",
    "Frankly, {a} {p} and {b} {q}.",
    "{A} {p}; also, {b} {q}.",
]
CONTRAST_EN = [
    "{A} {p}, but {b} {q}.",
    "{A} {p}, however {b} {q}.",
    "Although {a} {p}, {b} {q}.",
    "{A} {p} while {b} {q}.",
    "{A} {p}; on the other hand, {b} {q}.",
    "{A} {p}, yet {b} {q}.",
    "Though {a} {p}, {b} {q}.",
    "Even though {a} {p}, {b} {q}.",
    "{A} {p}. That said, {b} {q}.",
    "{A} {p}, although {b} {q}.",
    "Despite the fact that {a} {p}, {b} {q}.",
]
SAME_ZH = [
    "{a}{p}。",
    "说实话，{a}{p}。",
    "{a}{p}，{b}也{q}。",
    "总体来说{a}{p}，{b}{q}。",
    "{a}{p}，而且{b}{q}。",
    "这次{a}{p}。",
    "{a}{p}！",
    "感觉{a}{p}。",
    "{a}{p}，{b}同样{q}。",
    "我觉得{a}{p}。",
    "{a}{p}；另外{b}{q}。",
    "整体评价：{a}{p}，{b}{q}。",
    "{a}{p}，并且{b}{q}。",
    "个人感受是{a}{p}。",
]
CONTRAST_ZH = [
    "{a}{p}，可惜{b}{q}。",
    "{a}{p}，但是{b}{q}。",
    "虽然{a}{p}，不过{b}{q}。",
    "{a}{p}，就是{b}{q}。",
    "{a}{p}，然而{b}{q}。",
    "尽管{a}{p}，但{b}{q}。",
    "{a}{p}，但{b}{q}。",
    "{a}{p}；另一方面，{b}{q}。",
    "{a}{p}，可是{b}{q}。",
    "{a}{p}，却发现{b}{q}。",
]

FILLER_NOUNS = {
    "en": [
        "the service",
        "the experience",
        "the order",
        "the support team",
        "the refund",
        "the payment",
        "the menu",
        "the screen",
        "the battery",
        "the invoice",
        "the appointment",
        "the call",
        "the system",
        "the upgrade",
        "the membership",
        "the coupon",
        "the seat",
        "the food",
        "the manager",
        "the update",
    ],
    "zh": [
        "服务",
        "体验",
        "订单",
        "售后",
        "退款",
        "付款",
        "菜品",
        "屏幕",
        "电池",
        "发票",
        "预约",
        "电话",
        "系统",
        "升级",
        "会员",
        "优惠券",
        "座位",
        "环境",
        "经理",
        "更新",
    ],
}
"""Training-only subjects from outside the five domains' banks (none is a held-out noun): swapped in for a
third of the training nouns so that the model learns that the subject does not carry the sentiment."""

SUBJECT_WORDS = {
    "en": [
        "lamp",
        "garden",
        "elevator",
        "parking",
        "music",
        "menu board",
        "receipt",
        "voucher",
        "ticket",
        "counter",
        "window",
        "blanket",
        "charger",
        "printer",
        "queue number",
        "hallway",
        "pool",
        "gym",
        "laundry",
        "shuttle",
        "warranty",
        "manual",
        "cable",
        "router",
        "password reset",
        "login page",
        "chatbot",
        "survey",
        "notification",
        "statement",
        "interest rate",
        "ATM",
        "deposit",
        "label",
        "lid",
        "sticker",
        "gift wrap",
        "size chart",
        "colour",
        "fabric",
        "zipper",
        "sofa",
        "table",
        "coffee",
        "tea",
        "dessert",
        "noodles",
        "salad",
        "van",
        "scooter",
    ],
    "zh": [
        "台灯",
        "花园",
        "电梯",
        "停车场",
        "音乐",
        "小票",
        "代金券",
        "车票",
        "柜台",
        "窗户",
        "毯子",
        "充电器",
        "打印机",
        "排号",
        "走廊",
        "泳池",
        "健身房",
        "洗衣",
        "班车",
        "保修",
        "说明书",
        "数据线",
        "路由器",
        "密码重置",
        "登录页",
        "机器人",
        "问卷",
        "通知",
        "对账单",
        "利率",
        "取款机",
        "存款",
        "标签",
        "盖子",
        "贴纸",
        "礼盒",
        "尺码表",
        "颜色",
        "面料",
        "拉链",
        "沙发",
        "桌子",
        "咖啡",
        "茶水",
        "甜点",
        "面条",
        "沙拉",
        "货车",
        "电动车",
        "餐具",
    ],
}
"""More training-only subjects (none shares a word with a held-out noun). With the fillers and made-up
words (`_made_up`) they replace half of the training nouns: a held-out or real customer's subject the
model never saw must not sway its reading of the predicate."""

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
NEUTRAL_CHARS = "木石山川田水林车门窗桌椅杯盘灯线纸布板箱柜架台楼梯园路桥站场馆厅室号卡票单表图"
"""Characters of plain objects and places (no sentiment-bearing one) for made-up Chinese subjects."""

SHORT_EN: dict[int, list[str]] = {
    2: [
        "excellent",
        "fantastic",
        "outstanding",
        "perfect",
        "superb",
        "brilliant",
        "amazing",
        "wonderful",
        "great",
        "love it",
        "highly recommended",
        "the best",
    ],
    1: [
        "good",
        "nice",
        "pretty good",
        "decent",
        "solid",
        "helpful",
        "pleasant",
        "quite good",
        "satisfied",
        "works well",
        "happy with it",
        "not bad",
    ],
    0: ["okay", "average", "so-so", "nothing special", "acceptable", "ordinary", "standard", "meh", "normal"],
    -1: [
        "disappointing",
        "not great",
        "mediocre",
        "underwhelming",
        "could be better",
        "a bit slow",
        "not very good",
        "below average",
        "poor",
        "not satisfied",
        "bad",
        "not good",
    ],
    -2: [
        "terrible",
        "awful",
        "horrible",
        "unacceptable",
        "appalling",
        "worst ever",
        "useless",
        "a disaster",
        "rude",
        "broken",
        "never again",
        "a scam",
        "very bad",
        "really bad",
        "so bad",
    ],
}
SHORT_ZH: dict[int, list[str]] = {
    2: [*PREDICATES_ZH[2], "很好", "太棒了", "超赞", "五星好评", "强烈推荐"],
    1: [*PREDICATES_ZH[1], "不错", "满意", "好评", "挺好"],
    0: [*PREDICATES_ZH[0], "一般般", "还好"],
    -1: [*PREDICATES_ZH[-1], "不满意", "不太行", "不推荐"],
    -2: [*PREDICATES_ZH[-2], "很差", "差评", "太烂了", "千万别买"],
}
EVERYDAY_SUBJECTS = {
    "en": ["service", "experience", "product", "quality", "app", "support", "food", "stay", "team", "value"],
    "zh": ["服务", "体验", "产品", "质量", "东西", "客服", "态度", "物流", "售后", "性价比"],
}
"""What short feedback is most often about ("Great service!"): a quarter of training short texts."""
SHORT_TEMPLATES = {
    "en": ["{p}", "{P}!", "{P}.", "{P} {n}!", "{P} {n}.", "{N}: {p}.", "{N} {p}!", "{P}, {n}.", "{N} - {p}."],
    "zh": ["{p}", "{p}！", "{p}。", "{a}{p}", "{a}，{p}！", "{p}的{a}", "{a}：{p}"],
}
"""Short feedback ("Great service!", "很好"). A negation ("not bad") is only ever added with its bare
word ("bad"), or the model learns the word from the negation alone. The last template of each bank is
held out, and the held-out short texts use only held-out nouns; "{p}的{a}" takes only predicates that
read as adjectives."""

HELD_OUT_TEMPLATE = {"en_same": 5, "en_contrast": 3, "zh_same": 5, "zh_contrast": 3}
"""Index of the template that only the held-out split uses, per bank. Templates are only ever appended to
the banks, so the held-out split stays the same sentences. No training template uses a held-out
template's connective ("as well", "while", "这次", "就是") or a near-synonym of it ("whereas", "只是")."""


@dataclass(frozen=True)
class Example:
    text: str
    stars: int
    language: Literal["en", "zh"]
    domain: str
    mixed: bool


def _stars(first: int, second: int | None, contrast: bool) -> int:
    """The star label a careful reader gives: one clause maps directly; a contrast of two clauses of
    opposite sign is mixed (3) when equally strong, else leans one star towards the stronger clause."""
    if second is None or not contrast:
        return 3 + first
    total = first + second
    return 3 + (0 if total == 0 else (1 if total > 0 else -1))


def _held_out_noun(noun_index: int) -> bool:
    return noun_index % 5 == 4


def generate(language: Literal["en", "zh"], count: int, *, held_out: bool, seed: int) -> list[Example]:
    """`count` examples; `held_out` picks the held-out nouns and templates, otherwise the training ones."""
    rng = random.Random(seed)
    nouns, predicates = (NOUNS_EN, PREDICATES_EN) if language == "en" else (NOUNS_ZH, PREDICATES_ZH)
    same, contrast = (SAME_EN, CONTRAST_EN) if language == "en" else (SAME_ZH, CONTRAST_ZH)
    out: list[Example] = []
    seen: set[str] = set()
    while len(out) < count:
        domain = rng.choice(sorted(nouns))
        pool = [n for i, n in enumerate(nouns[domain]) if _held_out_noun(i) == held_out]
        a, b = rng.sample(pool, 2) if len(pool) > 1 else (pool[0], rng.choice(nouns[domain]))
        if not held_out:
            a, b = _training_subject(language, a, rng), _training_subject(language, b, rng)
        is_contrast = rng.random() < 0.35
        bank = contrast if is_contrast else same
        held_template = HELD_OUT_TEMPLATE[f"{language}_{'contrast' if is_contrast else 'same'}"]
        templates = [t for i, t in enumerate(bank) if (i == held_template) == held_out]
        template = rng.choice(templates) if templates else bank[held_template]
        first = rng.choice([2, 1, 0, -1, -2])
        if is_contrast:
            second = -rng.choice([2, 1]) if first >= 0 else rng.choice([2, 1])
            first = first or rng.choice([2, 1])
        else:
            second = first
        two_clauses = "{b}" in template
        stars = _stars(first, second if two_clauses else None, is_contrast)
        text = template.format(
            a=a,
            A=a[:1].upper() + a[1:],
            b=b,
            p=rng.choice(predicates[first]),
            q=rng.choice(predicates[second]),
        )
        if text in seen or (not held_out and _forbidden_in_training(text, language)):
            continue
        seen.add(text)
        out.append(Example(text, stars, language, domain, is_contrast and two_clauses))
    return out


def _made_up(language: str, rng: random.Random) -> str:
    """A word the model cannot know: random syllables, or two random plain characters."""
    if language == "en":
        return "the " + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    return "".join(rng.choice(NEUTRAL_CHARS) for _ in range(2))


def _training_subject(language: str, noun: str, rng: random.Random) -> str:
    """Half of the training nouns are swapped: for a filler (1/4), another plain subject (1/8) or a
    made-up word (1/8)."""
    roll = rng.random()
    if roll < 1 / 4:
        return rng.choice(FILLER_NOUNS[language])
    if roll < 3 / 8:
        word = rng.choice(SUBJECT_WORDS[language])
        return "the " + word if language == "en" else word
    if roll < 1 / 2:
        return _made_up(language, rng)
    return noun


def _held_out_nouns(language: str) -> list[str]:
    nouns = NOUNS_EN if language == "en" else NOUNS_ZH
    return [n for bank in nouns.values() for i, n in enumerate(bank) if _held_out_noun(i)]


HELD_OUT_CONNECTIVES = {"en": ["as well", " while "], "zh": ["这次", "，就是"]}


def _forbidden_in_training(text: str, language: str) -> bool:
    """A held-out noun or connective, which a made-up word may happen to spell."""
    if language == "zh":
        return any(n in text for n in _held_out_nouns("zh")) or any(
            c in text for c in HELD_OUT_CONNECTIVES["zh"]
        )
    lowered = f" {text.lower()} "
    return any(re.search(rf"(^|\W){re.escape(n)}(\W|$)", lowered) for n in _held_out_nouns("en")) or any(
        c in lowered for c in HELD_OUT_CONNECTIVES["en"]
    )


def short(language: Literal["en", "zh"], count: int, *, held_out: bool, seed: int) -> list[Example]:
    """`count` short texts: a bare predicate, or a predicate and a noun. Held out: held-out nouns in the
    held-out template only."""
    rng = random.Random(seed)
    nouns = NOUNS_EN if language == "en" else NOUNS_ZH
    predicates = SHORT_EN if language == "en" else SHORT_ZH
    bank = SHORT_TEMPLATES[language]
    templates = bank[-1:] if held_out else bank[:-1]
    out: list[Example] = []
    seen: set[str] = set()
    while len(out) < count:
        domain = rng.choice(sorted(nouns))
        pool = [n for i, n in enumerate(nouns[domain]) if _held_out_noun(i) == held_out]
        noun = rng.choice(pool)
        if not held_out:
            noun = _training_subject(language, noun, rng)
            if rng.random() < 1 / 4:
                noun = rng.choice(EVERYDAY_SUBJECTS[language])
        bare = noun.removeprefix("the ")
        strength = rng.choice([2, 1, 0, -1, -2])
        template = rng.choice(templates)
        words = predicates[strength]
        if "的" in template:
            words = [w for w in words if len(w) <= 4 and not w.endswith(("了", "的"))]
        phrase = rng.choice(words)
        text = template.format(
            p=phrase, P=phrase[:1].upper() + phrase[1:], n=bare, N=bare[:1].upper() + bare[1:], a=bare
        )
        if text in seen or (not held_out and _forbidden_in_training(text, language)):
            continue
        seen.add(text)
        out.append(Example(text, 3 + strength, language, domain, False))
    return out


OPPOSED_EN = ["{A} {p}, {b} {q}.", "{A} {p}. {B} {q}.", "{A} {p}; {b} {q}.", "Overall {a} {p}; {b} {q}."]
OPPOSED_ZH = ["{a}{p}，{b}{q}。", "{a}{p}。{b}{q}。", "{a}{p}；{b}{q}。", "总体来说{a}{p}，{b}{q}。"]
"""Two clauses of opposite sign with no contrast word between them ("the food was great, the wait was
awful"). A reader calls that mixed as surely as with "but"; without such sentences, a model learns
mixedness from the contrast words it was shown and answers 1 or 5 stars for a contrast it has not seen."""


def opposed(language: Literal["en", "zh"], count: int, *, seed: int) -> list[Example]:
    """`count` training-only sentences of two opposite-sign clauses juxtaposed (`OPPOSED_*`), labelled
    by the contrast rule of `_stars`."""
    rng = random.Random(seed)
    nouns, predicates = (NOUNS_EN, PREDICATES_EN) if language == "en" else (NOUNS_ZH, PREDICATES_ZH)
    templates = OPPOSED_EN if language == "en" else OPPOSED_ZH
    out: list[Example] = []
    seen: set[str] = set()
    while len(out) < count:
        domain = rng.choice(sorted(nouns))
        pool = [n for i, n in enumerate(nouns[domain]) if not _held_out_noun(i)]
        a, b = (_training_subject(language, n, rng) for n in rng.sample(pool, 2))
        first = rng.choice([2, 1, -1, -2])
        second = -rng.choice([2, 1]) if first > 0 else rng.choice([2, 1])
        text = rng.choice(templates).format(
            a=a,
            A=a[:1].upper() + a[1:],
            b=b,
            B=b[:1].upper() + b[1:],
            p=rng.choice(predicates[first]),
            q=rng.choice(predicates[second]),
        )
        if text in seen or _forbidden_in_training(text, language):
            continue
        seen.add(text)
        out.append(Example(text, _stars(first, second, True), language, domain, True))
    return out


def opposed_train() -> list[Example]:
    """The opposed-clause training sentences of both languages, deterministic; in every training set
    beside (not sampled from) `authored_split`'s, so that a cached teacher label set stays valid."""
    return opposed("en", 1000, seed=11) + opposed("zh", 1000, seed=12)


def authored_split() -> tuple[list[Example], list[Example]]:
    """(train, held-out) for both languages, deterministic. Training includes the short texts; the
    held-out split is sentences only (held-out short texts: `short_test`)."""
    train = generate("en", 5000, held_out=False, seed=1) + generate("zh", 5000, held_out=False, seed=2)
    train += short("en", 1500, held_out=False, seed=5) + short("zh", 1000, held_out=False, seed=6)
    test = generate("en", 600, held_out=True, seed=3) + generate("zh", 600, held_out=True, seed=4)
    return train, test


def short_test() -> list[Example]:
    """Held-out short texts: held-out nouns in each language's held-out short template."""
    return short("en", 200, held_out=True, seed=7) + short("zh", 200, held_out=True, seed=8)
