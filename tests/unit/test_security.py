"""API keys identify the calling client by hash; wrong or missing keys identify nobody, and an address
that keeps guessing is locked out for a while."""

import httpx
from fastapi import Depends, FastAPI, Request

from shared.security import FailedKeyThrottle, client_address, client_for_key, hash_key, require_client

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


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_ten_wrong_keys_within_the_window_lock_the_address_out_for_a_while():
    clock = Clock()
    throttle = FailedKeyThrottle(max_failures=10, window_s=60, lockout_s=300, clock=clock)
    assert [throttle.failed("10.0.0.1") for _ in range(9)] == [False] * 9
    assert throttle.retry_after("10.0.0.1") == 0
    assert throttle.failed("10.0.0.1") is True
    assert throttle.retry_after("10.0.0.1") == 300
    assert throttle.retry_after("10.0.0.2") == 0, "other addresses are not locked"
    clock.now += 300
    assert throttle.retry_after("10.0.0.1") == 0
    assert throttle.failed("10.0.0.1") is False, "the count starts over after a lock-out"


def test_wrong_keys_spread_over_longer_than_the_window_do_not_lock():
    clock = Clock()
    throttle = FailedKeyThrottle(max_failures=10, window_s=60, lockout_s=300, clock=clock)
    for _ in range(30):
        assert throttle.failed("10.0.0.1") is False
        clock.now += 7  # 9 failures per 63 s


def test_tracked_addresses_are_capped_forgetting_the_least_recent_failure_first():
    throttle = FailedKeyThrottle(max_failures=2, max_addresses=3, clock=Clock())
    throttle.failed("a")
    throttle.failed("a")  # locked
    for address in ("b", "c", "d"):
        throttle.failed(address)
    assert len(throttle) == 3
    assert throttle.retry_after("a") == 0, "forgotten once three newer addresses failed"


def request_from(host: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "client": (host, 1)})


def test_ipv6_callers_are_counted_by_their_64_bit_prefix():
    assert client_address(request_from("2001:db8:1:2::1")) == client_address(request_from("2001:db8:1:2::9"))
    assert client_address(request_from("2001:db8:1:2::1")) != client_address(request_from("2001:db8:1:3::1"))
    assert client_address(request_from("192.0.2.7")) == "192.0.2.7"


def guarded_app() -> FastAPI:
    app = FastAPI()

    @app.get("/data", dependencies=[Depends(require_client(lambda: HASHES))])
    async def data() -> dict[str, str]:
        return {}

    return app


async def test_the_eleventh_wrong_key_gets_429_and_then_even_the_right_key_waits():
    app = guarded_app()
    guesser = httpx.ASGITransport(app=app, client=("203.0.113.5", 4000))
    neighbour = httpx.ASGITransport(app=app, client=("203.0.113.6", 4000))
    async with httpx.AsyncClient(transport=guesser, base_url="http://t") as http:
        codes = [
            (await http.get("/data", headers={"X-API-Key": f"guess-{i}"})).status_code for i in range(11)
        ]
        assert codes == [401] * 10 + [429]
        right = await http.get("/data", headers={"X-API-Key": "key-pos"})
        assert right.status_code == 429, "a lock the right key passed would confirm a guess"
        assert 0 < int(right.headers["retry-after"]) <= 300
        assert (await http.get("/data")).status_code == 401, "no key: nothing to guess, nothing to lock"
    async with httpx.AsyncClient(transport=neighbour, base_url="http://t") as http:
        assert (await http.get("/data", headers={"X-API-Key": "key-pos"})).status_code == 200


async def test_a_valid_key_outside_the_allowed_clients_is_403_and_no_guess():
    app = FastAPI()

    @app.post("/write", dependencies=[Depends(require_client(lambda: HASHES, allowed={"pos"}))])
    async def write() -> dict[str, str]:
        return {}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        codes = {(await http.post("/write", headers={"X-API-Key": "key-crm"})).status_code for _ in range(12)}
        assert codes == {403}
        assert (await http.post("/write", headers={"X-API-Key": "key-pos"})).status_code == 200
