"""A seller's product, restock and picture forms."""


from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    IntegerField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Optional, ValidationError

from app.home.filters import money
from app.home.forms import service_rule
from app.services import prices, products, stock
from app.services.coins import in_euros
from app.services.errors import InvalidInput


class EuroField(StringField):
    """Money typed in euros ("0.35"), held in cents like everything else."""

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = prices.parse_euros(valuelist[0])
            except InvalidInput as error:
                self.data = None
                raise ValueError(error.message) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(in_euros(self.data))


class ProductForm(FlaskForm):
    product_name = StringField("Name", validators=[DataRequired()])
    cost = EuroField("Price in euros", validators=[InputRequired("Enter the price in euros, e.g. 0.35")],
                     description="A multiple of 5 cents, e.g. 0.35")
    amount_available = IntegerField("Units in stock", validators=[InputRequired()], default=0)
    refundable = BooleanField("Buyers may refund it", description="Refunds are possible shortly after purchase")
    low_stock_at = IntegerField("Low-stock warning at", validators=[Optional()], default=3,
                                description="Units left at or below which the product is marked “low stock”")
    submit = SubmitField("Save")

    def validate_product_name(self, field):
        service_rule(products.check_product_fields, {"product_name": field.data})

    def validate_cost(self, field):
        if field.data is None:
            return
        try:
            products.check_product_fields({"cost": field.data})
        except InvalidInput:
            raise ValidationError(
                f"The price must be a multiple of 5 cents, from {money(5)} to {money(products.COST_MAX)}"
            ) from None

    def validate_amount_available(self, field):
        service_rule(products.check_product_fields, {"amount_available": field.data})

    def validate_low_stock_at(self, field):
        service_rule(stock.check_low_stock_at, field.data)

    def fields_dict(self) -> dict:
        return {
            "product_name": self.product_name.data,
            "cost": self.cost.data,
            "amount_available": self.amount_available.data,
            "refundable": bool(self.refundable.data),
        }


class RestockForm(FlaskForm):
    units = IntegerField("Units to add", validators=[InputRequired()], default=10)
    submit = SubmitField("Restock")


class ImageForm(FlaskForm):
    image = FileField("Picture", validators=[FileRequired("Choose an image file")],
                      description="PNG, JPEG or WebP, at most 1 MiB")
    submit = SubmitField("Upload")
