from flask import current_app, jsonify, make_response, request
from flask.views import MethodView

from app.api.base import VendingBlueprint
from app.api.v1.schemas import ProductInputSchema, ProductPatchSchema, ProductQuerySchema, ProductSchema
from app.api.v1.security import actor, auth_required
from app.services import cache as read_cache
from app.services import images, products

blp = VendingBlueprint("products", __name__, url_prefix="/api/v1/products", description="The catalogue")


@blp.route("")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    @blp.paginate(page_size=20)
    def get(self, query, pagination_parameters):
        """Products on sale; filter by seller, stock or a name search"""
        selection = {
            "q": query.get("q"),
            "seller_id": query.get("seller_id"),
            "in_stock": query.get("in_stock"),
            "offset": pagination_parameters.first_item,
            "limit": pagination_parameters.page_size,
        }

        def render() -> tuple[bytes, int]:
            rows, total = products.catalogue_page(**selection)
            return jsonify([product_json(row) for row in rows]).get_data(), total

        body, total = read_cache.remember(
            ("catalogue", *selection.values()), (read_cache.CATALOGUE,), render
        )
        pagination_parameters.item_count = total
        return current_app.response_class(body, mimetype="application/json")

    @auth_required
    @blp.arguments(ProductInputSchema)
    @blp.response(201, ProductSchema)
    @blp.alt_response(409, description="A product with that name is on sale")
    def post(self, data):
        """Create a product (seller)"""
        return products.create_product(actor(), data)


def product_json(row) -> dict:
    """ProductSchema's output for a catalogue row, without marshmallow (the catalogue's hot path;
    tests/perf checks both give the same JSON)."""
    return {
        "id": row.id,
        "productName": row.product_name,
        "cost": row.cost,
        "amountAvailable": row.amount_available,
        "sellerId": row.seller_id,
        "refundable": row.refundable,
        "hasImage": row.image_mime is not None,
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }


@blp.route("/<int:product_id>")
class ProductById(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id):
        """One product"""
        return products.get_product(product_id)

    @auth_required
    @blp.arguments(ProductInputSchema)
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
        response.headers["X-Content-Type-Options"] = "nosniff"
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
