"""Product pictures: the image service, the API endpoints and the seller's upload page."""

import io

import pytest
from PIL import Image

from app.extensions import db
from app.models import Product
from app.services import images
from app.services.errors import InvalidInput
from tests.factories import make_product
from tests.web.conftest import png_bytes

MIB = 1024 * 1024


def encoded(fmt: str, size=(32, 24), mode="RGB", **save_args) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 90 if mode == "L" else (10, 120, 200)).save(out, format=fmt, **save_args)
    return out.getvalue()


def noisy_png(min_bytes: int) -> bytes:
    """A valid PNG that does not compress: random pixels."""
    import os

    side = int((min_bytes / 3) ** 0.5) + 16
    return encoded_raw(os.urandom(side * side * 3), side)


def encoded_raw(pixels: bytes, side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG", compress_level=0)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_clean_image_accepts_and_reencodes(fmt, mime):
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    original = encoded(fmt, exif=exif) if fmt != "PNG" else encoded(fmt, pnginfo=_png_text())
    data, detected = images.clean_image(original, max_bytes=MIB)
    assert detected == mime
    assert b"secret" not in data
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == fmt and picture.size == (32, 24)


def _png_text():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret <script>alert(1)</script>")
    return info


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Choose an image file"),
        (b"just some text, not a picture", "must be a PNG, JPEG or WebP"),
        (b"GIF89a" + b"\x00" * 64, "must be a PNG, JPEG or WebP"),
        (png_bytes()[:40] + b"<script>alert(1)</script>" * 4, "PNG, JPEG or WebP"),
        (b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>", "PNG, JPEG or WebP"),
    ],
)
def test_clean_image_refuses_non_images_and_polyglots(data, message):
    with pytest.raises(InvalidInput) as refused:
        images.clean_image(data, max_bytes=MIB)
    assert message in refused.value.message and refused.value.field == "image"


def test_clean_image_refuses_huge_dimensions_and_big_files():
    with pytest.raises(InvalidInput, match="at most 2048x2048 pixels"):
        images.clean_image(encoded("PNG", size=(5000, 10), mode="L"), max_bytes=MIB)
    with pytest.raises(InvalidInput, match="at most 1024 KiB"):
        images.clean_image(b"\x89PNG" + b"0" * MIB, max_bytes=MIB)


def test_api_put_and_get_image(client, seller):
    product = make_product(seller, product_name="Cola")
    response = client.put(f"/api/v1/products/{product.id}/image", headers=seller.headers,
                          data={"image": (io.BytesIO(encoded("JPEG")), "cola.jpg")})
    assert response.status_code == 200 and response.json["hasImage"] is True
    got = client.get(f"/api/v1/products/{product.id}/image")
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
    assert got.data[:3] == b"\xff\xd8\xff"
    assert "max-age" in got.headers["Cache-Control"] and got.headers["ETag"] == f'"{product.id}-1"'
    cached = client.get(f"/api/v1/products/{product.id}/image", headers={"If-None-Match": got.headers["ETag"]})
    assert cached.status_code == 304
    client.put(f"/api/v1/products/{product.id}/image", headers=seller.headers,
               data={"image": (io.BytesIO(encoded("PNG")), "cola.png")})
    again = client.get(f"/api/v1/products/{product.id}/image")
    assert again.headers["Content-Type"] == "image/png" and again.headers["ETag"] == f'"{product.id}-2"'


def test_api_get_image_404_without_image(client, seller):
    product = make_product(seller)
    response = client.get(f"/api/v1/products/{product.id}/image")
    assert response.status_code == 404 and response.json["message"] == "This product has no image"
    assert client.get("/api/v1/products/999/image").status_code == 404


def multipart(payload: bytes, filename: str = "x.png") -> dict:
    """A ready-made multipart body (the test client would spool a big one to a temp file it never closes)."""
    boundary = "----vending-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def _image_state(product_id):
    db.session.expire_all()
    product = db.session.get(Product, product_id)
    return product.image, product.image_mime, product.image_version


@pytest.mark.parametrize(
    ("payload", "statuses"),
    [
        (b"%PDF-1.4 not an image", {422}),
        (b"\x89PNG\r\n\x1a\n<?php echo 1; ?>GIF89a<script>", {422}),
        ("over-1mib", {413, 422}),
        ("way-over", {413}),
    ],
)
def test_api_put_refuses_bad_uploads_and_changes_nothing(client, seller, payload, statuses):
    product = make_product(seller)
    client.put(f"/api/v1/products/{product.id}/image", headers=seller.headers,
               data={"image": (io.BytesIO(encoded("PNG")), "ok.png")})
    before = _image_state(product.id)
    if payload == "over-1mib":
        payload = noisy_png(MIB + 1024)
        assert MIB < len(payload) < MIB + 60 * 1024
    elif payload == "way-over":
        payload = b"\x00" * (3 * MIB)
    response = client.put(f"/api/v1/products/{product.id}/image", headers=seller.headers, **multipart(payload))
    assert response.status_code in statuses, response.json
    assert _image_state(product.id) == before


def test_api_put_image_only_by_owner(client, seller, other_seller, buyer):
    product = make_product(seller)
    upload = {"image": (io.BytesIO(encoded("PNG")), "x.png")}
    assert client.put(f"/api/v1/products/{product.id}/image", data=upload).status_code == 401
    for account in (other_seller, buyer):
        upload = {"image": (io.BytesIO(encoded("PNG")), "x.png")}
        response = client.put(f"/api/v1/products/{product.id}/image", headers=account.headers, data=upload)
        assert response.status_code == 403
    missing = client.put(f"/api/v1/products/{product.id}/image", headers=seller.headers, data={})
    assert missing.status_code == 422 and missing.json["errors"]["json"]["image"] == ["Choose an image file"]
    assert _image_state(product.id) == (None, None, 0)


def test_web_upload_page(client, seller, web_login):
    product = make_product(seller, product_name="Cola")
    web_login(seller)
    assert "Picture of “Cola”" in client.get(f"/seller/products/{product.id}/image").get_data(as_text=True)
    bad = client.post(f"/seller/products/{product.id}/image",
                      data={"image": (io.BytesIO(b"not an image"), "x.png")}, content_type="multipart/form-data")
    body = bad.get_data(as_text=True)
    assert "must be a PNG, JPEG or WebP" in body and "is-invalid" in body
    assert _image_state(product.id) == (None, None, 0)
    big = noisy_png(MIB + 1024)
    response = client.post(f"/seller/products/{product.id}/image", **multipart(big, "big.png"))
    assert "at most 1024 KiB" in response.get_data(as_text=True)
    ok = client.post(f"/seller/products/{product.id}/image", data={"image": (io.BytesIO(encoded("WEBP")), "a.webp")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert "New picture saved for “Cola”." in ok.get_data(as_text=True)
    assert _image_state(product.id)[1:] == ("image/webp", 1)
    assert f"/api/v1/products/{product.id}/image?v=1" in client.get("/").get_data(as_text=True)
