from flask import current_app, make_response, request
from flask.views import MethodView

from app.api.base import EXPENSIVE_WORK_BUSY, PAGINATION_HEADERS, RETRY_AFTER, VendingBlueprint, page_headers
from app.api.v1 import examples
from app.api.v1.schemas import ProductInputSchema, ProductPatchSchema, ProductQuerySchema, ProductSchema
from app.api.v1.security import actor, auth_required
from app.data import cache
from app.data.pages import paginate
from app.limits import upload_limit_api
from app.services import images, products

PRODUCT_LIST = ProductSchema(many=True)
NOT_THE_SELLER = "Not the seller who created this product"
NO_SUCH_PRODUCT = "No such product on sale"
NAME_TAKEN = "A product with that name is on sale"

blp = VendingBlueprint("products", __name__, url_prefix="/api/v1/products", description="The catalogue")


@blp.route("")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema(), location="query")
    @blp.response(200, ProductSchema(many=True), headers=PAGINATION_HEADERS, example=examples.PRODUCTS)
    @blp.doc(operationId="listProducts")
    def get(self, query):
        """Products on sale; filter by seller, stock or a name search"""
        filters = {name: query.get(name) for name in ("q", "seller_id", "in_stock")}

        def render() -> tuple[str, dict]:
            page = paginate(products.catalogue(**filters), page=query["page"], page_size=query["page_size"])
            return PRODUCT_LIST.dumps(page.items), page_headers(page)

        body, headers = cache.remember(("catalogue", *sorted(query.items())), render)
        response = current_app.response_class(body, mimetype="application/json")
        response.headers.update(headers)
        return response

    @auth_required
    @blp.arguments(ProductInputSchema(), example=examples.PRODUCT_INPUT)
    @blp.response(201, ProductSchema, example=examples.PRODUCT)
    @blp.error(403, "Only a seller may create products")
    @blp.error(409, NAME_TAKEN)
    @blp.doc(operationId="createProduct")
    def post(self, data):
        """Create a product (seller)"""
        return products.create_product(actor(), data)


@blp.route("/<int:product_id>")
class ProductById(MethodView):
    @blp.response(200, ProductSchema, example=examples.PRODUCT)
    @blp.error(404, NO_SUCH_PRODUCT)
    @blp.doc(operationId="getProduct")
    def get(self, product_id):
        """One product"""
        return products.get_product(product_id)

    @auth_required
    @blp.arguments(ProductInputSchema(), example=examples.PRODUCT_INPUT)
    @blp.response(200, ProductSchema, example=examples.PRODUCT)
    @blp.error(403, NOT_THE_SELLER)
    @blp.error(404, NO_SUCH_PRODUCT)
    @blp.error(409, NAME_TAKEN)
    @blp.doc(operationId="replaceProduct")
    def put(self, data, product_id):
        """Replace a product's fields (its seller)"""
        return products.update_product(actor(), product_id, data)

    @auth_required
    @blp.arguments(ProductPatchSchema(partial=True), example=examples.PRODUCT_PATCH)
    @blp.response(200, ProductSchema, example=examples.PRODUCT)
    @blp.error(403, NOT_THE_SELLER)
    @blp.error(404, NO_SUCH_PRODUCT)
    @blp.error(409, NAME_TAKEN)
    @blp.doc(operationId="updateProduct")
    def patch(self, data, product_id):
        """Change some of a product's fields (its seller)"""
        return products.update_product(actor(), product_id, data)

    @auth_required
    @blp.response(204)
    @blp.error(403, NOT_THE_SELLER)
    @blp.error(404, NO_SUCH_PRODUCT)
    @blp.doc(operationId="deleteProduct")
    def delete(self, product_id):
        """Take a product off sale (its seller); orders keep their history"""
        products.delete_product(actor(), product_id)


IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
BINARY = {"type": "string", "format": "binary"}
IMAGE_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["image"], "properties": {"image": BINARY}},
                "encoding": {"image": {"contentType": ", ".join(IMAGE_TYPES)}},
            }
        },
    }
}
PICTURE = "The picture, as stored after re-encoding"
PICTURE_HEADERS = {
    "ETag": {"description": "The image's version: send it back in If-None-Match", "schema": {"type": "string"}},
    "Cache-Control": {"description": "public, max-age=86400", "schema": {"type": "string"}},
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "The ETag of a copy the client holds: 304 Not Modified while it is current",
    "schema": {"type": "string"},
}


@blp.route("/<int:product_id>/image")
class ProductImage(MethodView):
    @blp.response(200, BINARY, content_type=IMAGE_TYPES[0], description=PICTURE, headers=PICTURE_HEADERS)
    @blp.alt_response(200, schema=BINARY, content_type=IMAGE_TYPES[1], description=PICTURE, success=True)
    @blp.alt_response(200, schema=BINARY, content_type=IMAGE_TYPES[2], description=PICTURE, success=True)
    @blp.alt_response(304, description="The copy named by If-None-Match is current", success=True)
    @blp.error(404, "No such product, or it has no image")
    @blp.doc(operationId="getProductImage", parameters=[IF_NONE_MATCH])
    def get(self, product_id):
        """A product's picture (PNG, JPEG or WebP), cacheable per image version"""
        data, mime, version = images.get_product_image(product_id)
        response = make_response(data)
        response.headers["Content-Type"] = mime
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.set_etag(f"{product_id}-{version}")
        return response.make_conditional(request)

    @auth_required
    @upload_limit_api
    @blp.doc(operationId="uploadProductImage", **IMAGE_UPLOAD_DOC)
    @blp.response(200, ProductSchema, example={**examples.PRODUCT, "hasImage": True})
    @blp.error(403, NOT_THE_SELLER)
    @blp.error(404, NO_SUCH_PRODUCT)
    @blp.error(413, "The upload is too large")
    @blp.error(422, f"Not a PNG, JPEG or WebP image of at most 1 MiB and {images.MAX_SIDE}x{images.MAX_SIDE} pixels")
    @blp.error(429, "Too many pictures uploaded by this user", headers=RETRY_AFTER)
    @blp.error(503, EXPENSIVE_WORK_BUSY, headers=RETRY_AFTER)
    def put(self, product_id):
        """Upload a product's picture (its seller): multipart field `image`"""
        request.max_content_length = images.upload_request_limit(current_app.config["MAX_IMAGE_BYTES"])
        upload = request.files.get("image")
        data = upload.read(current_app.config["MAX_IMAGE_BYTES"] + 1) if upload else b""
        return images.set_product_image(actor(), product_id, data, max_bytes=current_app.config["MAX_IMAGE_BYTES"])
