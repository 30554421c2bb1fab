"""API keys identify the calling client; wrong or missing keys identify nobody."""

from pydantic import SecretStr

from shared.security import client_for_key

KEYS = {"pos": SecretStr("key-pos"), "crm": SecretStr("key-crm")}


def test_each_key_identifies_its_client():
    assert client_for_key(KEYS, "key-pos") == "pos"
    assert client_for_key(KEYS, "key-crm") == "crm"


def test_wrong_or_missing_key_identifies_nobody():
    assert client_for_key(KEYS, "key-po") is None
    assert client_for_key(KEYS, "") is None
    assert client_for_key(KEYS, None) is None
