"""What ingest builds from a request decodes under the published contracts, masked and complete."""

from __future__ import annotations

import json
import re
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.encode import (
    email_to_feedback,
    event_submission,
    feedback_submission,
    pseudonym,
    transcript_to_feedback,
)
from services.ingest.language import detect_language
from services.ingest.mask import ALL_KINDS, Masking
from services.ingest.schemas import (
    CallTranscriptIn,
    EmailWebhookIn,
    FeedbackIn,
    PurchaseIn,
    ReferralIn,
    RefundIn,
)
from shared.contracts import decode
from shared.contracts.envelope import encode_record
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED

ALL_PII = Masking(frozenset(ALL_KINDS), b"test-key")


def item(**overrides) -> FeedbackIn:
    body = {
        "external_id": "e-1",
        "channel": "app",
        "customer_id": "C1",
        "text": "电话13812345678，包装破损",
        "csat": 2,
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "metadata": {"email": "a@b.cn"},
    }
    return FeedbackIn.model_validate({**body, **overrides})


def test_feedback_envelope_decodes_under_its_contract_with_pii_masked():
    record_id = uuid.uuid4()
    envelope = feedback_submission("pos", item(), ALL_PII).build(record_id)
    key, value, headers = envelope
    decoded = decode(FEEDBACK_RECEIVED, value)
    assert key == b"C1"
    assert dict(headers)["event_id"] == str(record_id).encode()
    payload = decoded.payload
    assert decoded.event_id == record_id
    assert (decoded.source, decoded.key, decoded.type) == ("pos", "C1", "feedback.received")
    assert payload.feedback_id == record_id  # type: ignore[attr-defined]
    assert payload.text == "电话138****5678，包装破损"  # type: ignore[attr-defined]
    assert payload.metadata == {"email": "a***@b.cn"}  # type: ignore[attr-defined]
    assert payload.pii_masked == {"phone": 1, "email": 1}  # type: ignore[attr-defined]
    assert payload.language == "zh"  # type: ignore[attr-defined]


def test_same_request_hashes_the_same_and_a_changed_one_differently():
    first = feedback_submission("pos", item(), ALL_PII).payload_hash
    assert feedback_submission("pos", item(), ALL_PII).payload_hash == first
    assert feedback_submission("pos", item(csat=1), ALL_PII).payload_hash != first


def purchase_in(**extra: str) -> PurchaseIn:
    return PurchaseIn.model_validate(
        {
            "type": "purchase",
            "external_id": "x",
            "order_id": "O1",
            "customer_id": "C1",
            "amount": "10.50",
            "currency": "CNY",
            "occurred_at": "2026-11-20T09:30:00+08:00",
            **extra,
        }
    )


def test_event_envelopes_decode_under_the_commerce_contract():
    purchase = purchase_in()
    referral = ReferralIn.model_validate(
        {"type": "referral", "external_id": "y", "referrer_id": "C1", "referee_id": "C2"}
    )
    for event, key in ((purchase, "C1"), (referral, "C1")):
        decoded = decode(COMMERCE_EVENTS, event_submission("crm", event, ALL_PII).build(uuid.uuid4())[1])
        assert decoded.key == key
        assert decoded.payload.client_id == "crm"  # type: ignore[attr-defined]


def test_purchases_and_refunds_carry_their_business_line_and_a_refund_its_own_time():
    purchase = purchase_in(business_line="家电")
    refund = RefundIn.model_validate(
        {
            "type": "refund",
            "external_id": "r",
            "order_id": "O1",
            "customer_id": "C1",
            "amount": "10.50",
            "occurred_at": "2026-11-21T10:00:00+08:00",
        }
    )
    bought = decode(COMMERCE_EVENTS, event_submission("crm", purchase, ALL_PII).build(uuid.uuid4())[1])
    returned = decode(COMMERCE_EVENTS, event_submission("crm", refund, ALL_PII).build(uuid.uuid4())[1])
    assert bought.payload.business_line == "家电"  # type: ignore[attr-defined]
    assert returned.payload.business_line is None  # type: ignore[attr-defined]
    assert returned.occurred_at.isoformat() == "2026-11-21T10:00:00+08:00"


def test_email_sender_becomes_a_stable_pseudonym():
    mail = EmailWebhookIn.model_validate(
        {
            "message_id": "m1",
            "from": "Li.Lei@Example.com",
            "subject": "s",
            "body": "b",
            "received_at": "2026-11-20T09:30:00+08:00",
        }
    )
    feedback = email_to_feedback(mail, "secret")
    assert feedback.customer_id == pseudonym("secret", "li.lei@example.com")
    assert feedback.customer_id != pseudonym("other-secret", "li.lei@example.com")
    assert "li.lei" not in feedback.customer_id.lower()


def test_transcript_text_is_the_customer_side_only():
    call = CallTranscriptIn.model_validate(
        {
            "call_id": "c",
            "customer_id": "C",
            "started_at": "2026-11-20T09:30:00+08:00",
            "segments": [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "没收到货"}],
        }
    )
    assert transcript_to_feedback(call).text == "没收到货"


def test_language_is_guessed_from_the_script():
    assert detect_language("包装破损但客服很专业") == "zh"
    assert detect_language("The agent was very professional") == "en"
    assert detect_language("配送很快，但是箱子坏了 (DHL box)") == "zh"
    assert detect_language("Delivery was fast but the 箱子 was damaged") == "en"
    assert detect_language("Доставка опоздала") == "other"
    assert detect_language("配達が遅れました") == "other"
    assert detect_language("!!!") == "other"


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_LETTERS = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")


def _by_regexes(text: str) -> str:
    """The reference: the same rule with one regex count per script."""
    if _KANA_HANGUL.search(text):
        return "other"
    han, latin, other = (len(p.findall(text)) for p in (_HAN, _LATIN, _OTHER_LETTERS))
    if other > max(han, latin):
        return "other"
    if han and han * 4 >= latin:
        return "zh"
    return "en" if latin >= 2 else "other"


_SAMPLES = st.sampled_from([*"包装破损客服hklo HKLOaz19!，。", *"üéяשعकกが한㐀豈🙂"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_SAMPLES, max_size=30).map("".join))
def test_the_script_counts_agree_with_one_regex_per_script(text):
    assert detect_language(text) == _by_regexes(text)


def test_every_feedback_field_reaches_the_published_record():
    """Optional fields are copied by name (the hot path avoids model_dump): a field added to FeedbackIn
    but not to the copied names would silently vanish from the topic."""
    full = item(
        nps=7,
        ces=3,
        stars=4,
        language="zh",
        business_line="retail",
        region="east",
        store_id="S1",
        product_id="P1",
    )
    assert all(getattr(full, name) is not None for name in FeedbackIn.model_fields)
    payload = decode(
        FEEDBACK_RECEIVED, feedback_submission("pos", full, ALL_PII).build(uuid.uuid4())[1]
    ).payload
    published = payload.model_dump()
    for name in FeedbackIn.model_fields:
        if name not in ("text", "metadata"):  # masked before publication
            assert published[name] == getattr(full, name), name


def test_a_feedback_record_is_what_encode_record_makes():
    """The batch path builds payloads as plain dicts (or msgspec's encoding); the result must be the
    event the generic encoder makes (apart from produced_at, a clock reading), its envelope fields in the
    same order."""
    record_id = uuid.uuid4()
    full = item(nps=7, language="zh", business_line="retail", store_id="S1")
    key, value, headers = feedback_submission("pos", full, ALL_PII).build(record_id)
    built = json.loads(value)
    masked = decode(FEEDBACK_RECEIVED, value).payload.model_dump(mode="json", exclude_none=True)
    expected = json.loads(
        encode_record(
            event_id=record_id,
            event_type="feedback.received",
            occurred_at=full.occurred_at,
            source="pos",
            key=full.customer_id,
            payload=masked,
        )[1]
    )
    assert built.pop("produced_at")
    assert expected.pop("produced_at")
    assert built == expected
    assert list(built) == list(expected)
    assert (key, dict(headers)) == (
        b"C1",
        {"event_id": str(record_id).encode(), "event_type": b"feedback.received", "event_version": b"1"},
    )


def test_a_customer_known_by_phone_is_published_under_one_pseudonym_however_written():
    """The Kafka key is the pseudonym (so one customer keeps one partition), and the envelope's key and
    the payload say the same; the raw number appears nowhere."""
    published = []
    for written in ("13812345678", "+86 138-1234-5678", "138.1234.5678"):
        key, value, _ = feedback_submission("pos", item(customer_id=written), ALL_PII).build(uuid.uuid4())
        decoded = decode(FEEDBACK_RECEIVED, value)
        assert decoded.key == decoded.payload.customer_id == key.decode()  # type: ignore[attr-defined]
        assert b"13812345678" not in value
        assert b"1234" not in key
        published.append(key)
    assert len(set(published)) == 1
    assert published[0].startswith(b"pii_")


def test_event_identifiers_and_key_are_pseudonymised_and_counted():
    referral = ReferralIn.model_validate(
        {
            "type": "referral",
            "external_id": "r:li.lei@example.com",
            "referrer_id": "Li.Lei@Example.com",
            "referee_id": "C2",
        }
    )
    submission = event_submission("crm", referral, ALL_PII)
    key, value, _ = submission.build(uuid.uuid4())
    decoded = decode(COMMERCE_EVENTS, value)
    assert key.startswith(b"pii_")
    assert decoded.key == key.decode()
    assert decoded.payload.referee_id == "C2"  # type: ignore[attr-defined]
    assert submission.external_id.startswith("r:pii_")
    assert submission.pii_masked == {"email": 2}
    assert b"li.lei" not in value.lower()
