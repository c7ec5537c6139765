"""Every CPU- or memory-heavy step is bounded (issue 22, findings 3 and 4).

- zxcvbn runs only after the cheap checks and the authorization, judges a short prefix, and waits for a slot
  of the per-worker cap on expensive work like argon2 does;
- a picture is refused from its header when it has too many pixels, before a pixel is decoded, and Pillow
  itself refuses past twice that; decoding takes a slot of the same cap;
- uploads are rate-limited per seller, API and web together.

The load test under gunicorn is tests/safety/test_expensive_load.py.
"""

import io
import threading
import zlib

import pytest
from PIL import Image, ImageFile, WebPImagePlugin
from sqlalchemy import select

from app.extensions import db
from app.models import Product, User
from app.services import expensive, images, users, wording
from app.services.errors import InvalidInput
from tests.factories import make_product

API = "/api/v1"
# Symbols that zxcvbn's l33t matcher reads as letters, repeated to 72 characters: 2-3 s each when judged whole.
WORST_PASSWORD = ("4@8({[<369!1|70$5+%2" * 4)[:72]


def lossless_webp(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(out, format="WEBP", lossless=True, quality=0, method=0)
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid grayscale PNG of zeros: a few KiB that decode to width x height bytes (x4 once converted)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def upload(client, account, product_id, data: bytes, name: str = "x.webp"):
    return client.put(f"{API}/products/{product_id}/image", headers=account.headers,
                      data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def web_sign_in(client, account) -> None:
    answer = client.post("/login", data={"username": account.username, "password": account.password})
    assert answer.status_code == 302


def image_of(product_id):
    db.session.expire_all()
    product = db.session.get(Product, product_id)
    return product.image, product.image_mime, product.image_version


@pytest.fixture
def judged(monkeypatch):
    """The passwords zxcvbn was asked to judge."""
    seen: list[str] = []
    real = users.zxcvbn

    def spy(password, user_inputs=None):
        seen.append(password)
        return real(password, user_inputs=user_inputs)

    monkeypatch.setattr(users, "zxcvbn", spy)
    return seen


@pytest.fixture
def decoded(monkeypatch):
    """How many times Pillow started decoding pixels."""
    calls = []
    for cls in (ImageFile.ImageFile, WebPImagePlugin.WebPImageFile):
        real = cls.load

        def load(self, _real=real):
            calls.append(type(self).__name__)
            return _real(self)

        monkeypatch.setattr(cls, "load", load)
    return calls


# ------------------------------------------------------------------ password strength: after the cheap checks


def test_a_web_registration_with_a_mismatched_confirmation_is_never_judged(client, judged, db_snapshot):
    before = db_snapshot()
    page = client.post("/register", data={"username": "newbie", "password": WORST_PASSWORD,
                                          "confirm": WORST_PASSWORD + "x", "role": "buyer"})
    assert page.status_code == 200 and "Passwords differ" in page.get_data(as_text=True)
    assert judged == []
    assert db_snapshot() == before


def test_a_web_registration_with_a_bad_username_is_never_judged(client, judged):
    page = client.post("/register", data={"username": "no spaces allowed", "password": WORST_PASSWORD,
                                          "confirm": WORST_PASSWORD, "role": "buyer"})
    assert page.status_code == 200 and "Username must be" in page.get_data(as_text=True)
    assert judged == []


def test_a_registration_with_a_bad_role_is_never_judged(app, judged):
    with pytest.raises(InvalidInput) as refused:
        users.register("newbie", WORST_PASSWORD, "admin")
    assert refused.value.field == "role" and judged == []


def test_a_password_change_with_a_wrong_current_password_is_never_judged(client, buyer, judged):
    answer = client.patch(f"{API}/users/{buyer.id}", headers=buyer.headers,
                          json={"currentPassword": "not-the-password", "password": WORST_PASSWORD})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"] == {"currentPassword": ["Current password is wrong"]}
    assert judged == []


def test_someone_elses_password_change_is_never_judged(client, buyer, other_buyer, judged):
    answer = client.patch(f"{API}/users/{other_buyer.id}", headers=buyer.headers,
                          json={"currentPassword": other_buyer.password, "password": WORST_PASSWORD})
    assert answer.status_code == 403 and judged == []


def test_only_a_prefix_is_judged(client, judged):
    made = client.post(f"{API}/users", json={"username": "newbie", "password": WORST_PASSWORD})
    assert made.status_code == 201
    assert judged == [WORST_PASSWORD[:users.STRENGTH_PREFIX]]


def test_a_password_weak_in_its_first_characters_is_refused_and_told_why(client, db_snapshot):
    before = db_snapshot()
    answer = client.post(f"{API}/users", json={"username": "newbie", "password": "passwordpass-Kq7#vX!2mR"})
    assert answer.status_code == 422
    message = answer.get_json()["errors"]["json"]["password"][0]
    assert message.startswith(f"Password is too common or too easy to guess in its first {users.STRENGTH_PREFIX} "
                              "characters")
    assert db_snapshot() == before


def test_a_strong_password_change_goes_through_after_the_checks(client, buyer, judged):
    answer = client.patch(f"{API}/users/{buyer.id}", headers=buyer.headers,
                          json={"currentPassword": buyer.password, "password": WORST_PASSWORD})
    assert answer.status_code == 200
    assert judged == [WORST_PASSWORD[:users.STRENGTH_PREFIX]]
    assert client.post(f"{API}/auth/login", json={"username": buyer.username,
                                                  "password": WORST_PASSWORD}).status_code == 200


# ------------------------------------------------------------------ one cap for argon2, strength and pictures


class TestOneCap:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_CHECKS_PER_WORKER": 1}

    @pytest.fixture
    def take_the_slot(self, app):
        """Call to take the worker's only slot for expensive work, held until the test ends."""
        entered, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=expensive.run, args=(lambda: entered.set() or release.wait(30),),
                                  daemon=True)

        def take() -> None:
            holder.start()
            assert entered.wait(10)

        yield take
        release.set()
        if holder.is_alive():
            holder.join(10)

    @pytest.fixture
    def slot_taken(self, take_the_slot):
        take_the_slot()

    def test_judging_a_password_waits_for_a_slot(self, client, slot_taken, judged, db_snapshot):
        before = db_snapshot()
        answer = client.post(f"{API}/users", json={"username": "newbie", "password": "12345678"})  # weak
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert answer.get_json()["message"] == expensive.BUSY_MESSAGE
        assert judged == [] and db_snapshot() == before

    def test_decoding_a_picture_waits_for_a_slot(self, client, seller, slot_taken, decoded):
        product = make_product(seller)
        answer = upload(client, seller, product.id, lossless_webp(64))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert answer.get_json() == {"code": 503, "status": "Service Unavailable",
                                     "message": expensive.BUSY_MESSAGE}
        assert decoded == [] and image_of(product.id) == (None, None, 0)

    def test_a_busy_web_upload_says_so_and_saves_nothing(self, client, seller, take_the_slot):
        product = make_product(seller)
        web_sign_in(client, seller)
        take_the_slot()
        page = client.post(f"/seller/products/{product.id}/image", content_type="multipart/form-data",
                           data={"image": (io.BytesIO(lossless_webp(64)), "a.webp")})
        assert page.status_code == 200 and expensive.BUSY_MESSAGE in page.get_data(as_text=True)
        assert image_of(product.id) == (None, None, 0)

    def test_the_slot_serves_all_three_once_free(self, app, client, seller):
        product = make_product(seller)
        assert upload(client, seller, product.id, lossless_webp(64)).status_code == 200
        assert client.post(f"{API}/users", json={"username": "newbie", "password": "correct-horse-1"}).status_code \
            == 201


# ------------------------------------------------------------------ pictures: pixels counted from the header


def test_a_tiny_webp_of_4096x4096_is_refused_before_decoding(client, seller, decoded):
    data = lossless_webp(4096)
    assert len(data) < 100  # 64 MiB of pixels in a few dozen bytes
    product = make_product(seller)
    answer = upload(client, seller, product.id, data)
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"] == {"image": ["The image must be at most 2048x2048 pixels"]}
    assert decoded == []
    assert image_of(product.id) == (None, None, 0)


@pytest.mark.parametrize("size", [(4096, 4096), (2049, 16), (16, 4000)])
def test_a_png_bomb_is_refused_before_decoding(client, seller, decoded, size):
    data = png_bomb(*size)
    assert len(data) < 64 * 1024
    product = make_product(seller)
    answer = upload(client, seller, product.id, data, "bomb.png")
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"] == {"image": ["The image must be at most 2048x2048 pixels"]}
    assert decoded == [] and image_of(product.id) == (None, None, 0)


def test_pillow_itself_refuses_twice_the_limit(app):
    assert Image.MAX_IMAGE_PIXELS == images.MAX_PIXELS == 2048 * 2048
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(png_bomb(3000, 3000)))


def test_the_largest_picture_allowed_is_accepted_and_stored_small(client, seller):
    product = make_product(seller)
    answer = upload(client, seller, product.id, lossless_webp(2048))
    assert answer.status_code == 200 and answer.get_json()["hasImage"] is True
    stored, mime, version = image_of(product.id)
    with Image.open(io.BytesIO(stored)) as picture:
        assert mime == "image/webp" and version == 1 and picture.size == (images.STORED_SIDE, images.STORED_SIDE)


# ------------------------------------------------------------------ uploads: a budget per seller


class TestUploadLimit:
    @pytest.fixture
    def app_config(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", "UPLOAD_RATE_LIMIT": "3 per minute"}

    def test_uploads_are_limited_per_seller_across_the_api_and_the_web(self, client, seller, other_seller):
        product = make_product(seller)
        assert [upload(client, seller, product.id, lossless_webp(32)).status_code for _ in range(2)] == [200, 200]
        web_sign_in(client, seller)
        page = client.post(f"/seller/products/{product.id}/image", content_type="multipart/form-data",
                           data={"image": (io.BytesIO(lossless_webp(32)), "a.webp")})
        assert page.status_code == 302
        before = image_of(product.id)
        refused = upload(client, seller, product.id, lossless_webp(32))
        wait = int(refused.headers["Retry-After"])
        assert refused.status_code == 429 and 0 < wait <= 60
        assert refused.get_json() == {"code": 429, "status": "Too Many Requests",
                                      "message": f"Too many pictures uploaded; wait {wording.wait(wait)} and try again"}
        web_refused = client.post(f"/seller/products/{product.id}/image", content_type="multipart/form-data",
                                  data={"image": (io.BytesIO(lossless_webp(32)), "a.webp")})
        assert web_refused.status_code == 429 and "Too many pictures uploaded" in web_refused.get_data(as_text=True)
        assert image_of(product.id) == before
        assert client.get(f"/seller/products/{product.id}/image").status_code == 200  # looking is free
        theirs = make_product(other_seller, product_name="Theirs")
        assert upload(client, other_seller, theirs.id, lossless_webp(32)).status_code == 200

    def test_an_unauthenticated_upload_is_401_and_spends_nothing(self, client, seller):
        product = make_product(seller)
        for _ in range(5):
            answer = client.put(f"{API}/products/{product.id}/image",
                                data={"image": (io.BytesIO(lossless_webp(32)), "a.webp")})
            assert answer.status_code == 401
        assert upload(client, seller, product.id, lossless_webp(32)).status_code == 200


def test_user_row_untouched_by_refused_password_changes(client, buyer):
    hash_before = db.session.scalar(select(User.password_hash).where(User.id == buyer.id))
    client.patch(f"{API}/users/{buyer.id}", headers=buyer.headers,
                 json={"currentPassword": "not-the-password", "password": WORST_PASSWORD})
    db.session.rollback()
    assert db.session.scalar(select(User.password_hash).where(User.id == buyer.id)) == hash_before
