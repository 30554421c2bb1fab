"""API keys identify the calling client by hash; wrong or missing keys identify nobody."""

from shared.security import client_for_key, hash_key

HASHES = {"pos": hash_key("key-pos"), "crm": hash_key("key-crm")}


def test_keys_are_kept_as_sha256_hashes():
    assert hash_key("key-pos").startswith("sha256:")
    assert "key-pos" not in hash_key("key-pos")


def test_each_key_identifies_its_client():
    assert client_for_key(HASHES, "key-pos") == "pos"
    assert client_for_key(HASHES, "key-crm") == "crm"


def test_wrong_or_missing_key_identifies_nobody():
    assert client_for_key(HASHES, "key-po") is None
    assert client_for_key(HASHES, "") is None
    assert client_for_key(HASHES, None) is None
    assert client_for_key(HASHES, HASHES["pos"]) is None, "the hash itself is not a key"
