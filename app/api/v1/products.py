from flask import current_app, make_response, request
from flask.views import MethodView

from app.api.base import PAGINATION_HEADERS, VendingBlueprint, page_headers
from app.api.v1.schemas import ProductInputSchema, ProductPatchSchema, ProductQuerySchema, ProductSchema
from app.api.v1.security import actor, auth_required
from app.data import cache
from app.data.pages import paginate
from app.services import images, products

PRODUCT_LIST = ProductSchema(many=True)

blp = VendingBlueprint("products", __name__, url_prefix="/api/v1/products", description="The catalogue")


@blp.route("")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema(), location="query")
    @blp.response(200, ProductSchema(many=True), headers=PAGINATION_HEADERS)
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
    @blp.arguments(ProductInputSchema())
    @blp.response(201, ProductSchema)
    @blp.alt_response(409, description="A product with that name is on sale")
    def post(self, data):
        """Create a product (seller)"""
        return products.create_product(actor(), data)


@blp.route("/<int:product_id>")
class ProductById(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id):
        """One product"""
        return products.get_product(product_id)

    @auth_required
    @blp.arguments(ProductInputSchema())
    @blp.response(200, ProductSchema)
    def put(self, data, product_id):
        """Replace a product's fields (its seller)"""
        return products.update_product(actor(), product_id, data)

    @auth_required
    @blp.arguments(ProductPatchSchema(partial=True))
    @blp.response(200, ProductSchema)
    def patch(self, data, product_id):
        """Change some of a product's fields (its seller)"""
        return products.update_product(actor(), product_id, data)

    @auth_required
    @blp.response(204)
    def delete(self, product_id):
        """Take a product off sale (its seller); orders keep their history"""
        products.delete_product(actor(), product_id)


IMAGE_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@blp.route("/<int:product_id>/image")
class ProductImage(MethodView):
    @blp.response(200, content_type="application/octet-stream")
    @blp.alt_response(404, description="No such product, or it has no image")
    def get(self, product_id):
        """A product's picture (PNG, JPEG or WebP), cacheable per image version"""
        data, mime, version = images.get_product_image(product_id)
        response = make_response(data)
        response.headers["Content-Type"] = mime
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.set_etag(f"{product_id}-{version}")
        return response.make_conditional(request)

    @auth_required
    @blp.doc(**IMAGE_UPLOAD_DOC)
    @blp.response(200, ProductSchema)
    @blp.alt_response(413, description="The upload is too large")
    @blp.alt_response(422, description="Not a PNG, JPEG or WebP image of at most 1 MiB")
    def put(self, product_id):
        """Upload a product's picture (its seller): multipart field `image`"""
        request.max_content_length = images.upload_request_limit(current_app.config["MAX_IMAGE_BYTES"])
        upload = request.files.get("image")
        data = upload.read(current_app.config["MAX_IMAGE_BYTES"] + 1) if upload else b""
        return images.set_product_image(actor(), product_id, data, max_bytes=current_app.config["MAX_IMAGE_BYTES"])
