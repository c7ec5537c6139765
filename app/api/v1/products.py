from flask.views import MethodView

from app.api.base import SQLPage, VendingBlueprint
from app.api.v1.schemas import ProductInputSchema, ProductPatchSchema, ProductQuerySchema, ProductSchema
from app.api.v1.security import actor, auth_required
from app.services import products

blp = VendingBlueprint("products", __name__, url_prefix="/api/v1/products", description="The catalogue")


@blp.route("")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    @blp.paginate(SQLPage, page_size=20)
    def get(self, query):
        """Products on sale; filter by seller, stock or a name search"""
        return products.catalogue(q=query.get("q"), seller_id=query.get("seller_id"), in_stock=query.get("in_stock"))

    @auth_required
    @blp.arguments(ProductInputSchema)
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
