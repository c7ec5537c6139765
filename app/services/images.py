"""Product images: decoded with Pillow and re-encoded, so no metadata or hidden payload survives.

Decoding costs width x height x 4 bytes whatever the file's size: a 38-byte lossless WebP of 4096x4096 pixels
becomes 64 MiB. So the size is read from the header first (Pillow's open is lazy) and anything over MAX_SIDE
pixels a side is refused before a pixel is decoded; Pillow's own MAX_IMAGE_PIXELS is set to the same bound
(configure), so Pillow itself refuses twice as many. Reading, decoding and re-encoding all run inside the
per-worker cap on expensive work (app.services.expensive).

MAX_SIDE is 2048: the pages show a picture at most STORED_SIDE (800) pixels a side, so 2048 leaves room for
a sharp crop or a high-density screen, while one decoded copy stays at 16 MiB (RGBA) instead of 64.
"""

import io
import warnings

from PIL import Image, UnidentifiedImageError

from app.data.transactions import lock_one, write_transaction
from app.extensions import db
from app.models import Product
from app.services import expensive
from app.services.errors import InvalidInput, NotFound
from app.services.policy import Actor, require_product_owner
from app.services.products import get_product

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_SIDE = 2048
MAX_PIXELS = MAX_SIDE * MAX_SIDE
STORED_SIDE = 800
FIELD = "image"


def configure() -> None:
    """Pillow's own bound (process-wide): it warns above MAX_IMAGE_PIXELS and refuses twice that."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


TOO_MANY_PIXELS = f"The image must be at most {MAX_SIDE}x{MAX_SIDE} pixels"
NOT_AN_IMAGE = "The file must be a PNG, JPEG or WebP image"
DAMAGED = "The image file is damaged or not a PNG, JPEG or WebP image"


def clean_image(data: bytes, *, max_bytes: int) -> tuple[bytes, str]:
    """Check that `data` is a PNG, JPEG or WebP picture of sane size; return it re-encoded and its type.
    Everything Pillow does waits for a slot of the cap on expensive work (Busy when none is free): even reading
    a header allocates (Pillow's WebP reader sets up a canvas of width x height x 4 bytes, twice)."""
    if not data:
        raise _refuse("Choose an image file")
    if len(data) > max_bytes:
        raise _refuse(f"The image must be at most {max_bytes // 1024} KiB")
    return expensive.run(_clean, data)


def _clean(data: bytes) -> tuple[bytes, str]:
    return _reencode(data, _format_within_bounds(data))


def _format_within_bounds(data: bytes) -> str:
    """The picture's format, read from its header alone; its size checked before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
                kind = probe.format
                width, height = probe.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise _refuse(NOT_AN_IMAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _refuse(DAMAGED) from None
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise _refuse(TOO_MANY_PIXELS)
    return kind


def _reencode(data: bytes, kind: str) -> tuple[bytes, str]:
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[kind]) as picture:
            picture.load()
            picture = _normalised(picture)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise _refuse(NOT_AN_IMAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _refuse(DAMAGED) from None
    return _encode(picture, kind), FORMATS[kind]


def _normalised(picture: Image.Image) -> Image.Image:
    """A fresh pixel-only copy, scaled down to the size the pages show."""
    mode = "RGBA" if picture.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    clean = picture.convert(mode)
    clean.thumbnail((STORED_SIDE, STORED_SIDE))
    return clean


def _encode(picture: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "JPEG":
        picture.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    elif kind == "WEBP":
        picture.save(out, format="WEBP", quality=85)
    else:
        picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def set_product_image(actor: Actor, product_id: int, data: bytes, *, max_bytes: int) -> Product:
    """Replace a product's picture (its seller only). The slow decoding happens outside the transaction, inside
    the cap on expensive work."""
    require_product_owner(actor, get_product(product_id).seller_id)
    db.session.rollback()  # no transaction stays open while Pillow works
    image, mime = clean_image(data, max_bytes=max_bytes)
    return _store(actor, product_id, image, mime)


@write_transaction
def _store(actor: Actor, product_id: int, image: bytes, mime: str) -> Product:
    product = lock_one(Product, product_id)
    if product is None or not product.on_sale:
        raise NotFound("No such product")
    require_product_owner(actor, product.seller_id)
    product.image = image
    product.image_mime = mime
    product.image_version = (product.image_version or 0) + 1
    return product


def get_product_image(product_id: int) -> tuple[bytes, str, int]:
    """The stored picture, its type and version, or NotFound."""
    product = db.session.get(Product, product_id)
    if product is None or not product.on_sale or product.image_mime is None:
        raise NotFound("This product has no image")
    return product.image, product.image_mime, product.image_version


def upload_request_limit(max_image_bytes: int) -> int:
    """Largest upload request: the image itself plus room for the multipart envelope and form fields.

    Upload routes raise the app-wide MAX_CONTENT_LENGTH (sized for JSON) to this for their request only.
    """
    return max_image_bytes + 64 * 1024
