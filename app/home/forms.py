"""Flask-WTF forms. Field rules come from the services (one rule, one place)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields import DateField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from app.services import prices, products, stock, users
from app.services.coins import COINS, euros, is_coin
from app.services.errors import InvalidInput


def service_rule(check, *args):
    """Run a service check and turn its InvalidInput into a form ValidationError."""
    try:
        check(*args)
    except InvalidInput as error:
        raise ValidationError(error.message) from None


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (logout, reset, refund, delete ...)."""

    submit = SubmitField("Confirm")


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()], description=users.USERNAME_RULE)
    password = PasswordField(
        "Password", validators=[DataRequired()], description=f"{users.PASSWORD_MIN}-{users.PASSWORD_MAX} characters"
    )
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ")])
    role = RadioField(
        "I want to",
        choices=[SelectChoice("buyer", "Buy snacks (buyer)"), SelectChoice("seller", "Sell products (seller)")],
        default="buyer",
        validators=[DataRequired()],
    )
    submit = SubmitField("Create account")

    def validate_username(self, field):
        service_rule(users.check_username, field.data)

    def validate_password(self, field):
        service_rule(users.check_password, field.data, "password", self.username.data)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=users.PASSWORD_MAX)])
    next = HiddenField()
    submit = SubmitField("Log in")


class DepositForm(FlaskForm):
    coin = IntegerField("Coin", validators=[InputRequired()])

    def validate_coin(self, field):
        if not is_coin(field.data):
            raise ValidationError("The machine accepts only 5, 10, 20, 50 and 100 cent coins")


class BuyForm(FlaskForm):
    """One product tile's Buy button: the price the page showed goes along, so a changed price is refused."""

    product_id = IntegerField("Product", validators=[InputRequired()])
    expected_cost = IntegerField("Price shown", validators=[Optional()])
    amount = IntegerField("Amount", default=1, validators=[InputRequired("Enter how many to buy")])
    submit = SubmitField("Buy")


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
        return "" if self.data is None else euros(self.data).removeprefix("€")


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
                f"The price must be a multiple of 5 cents, from €0.05 to {euros(products.COST_MAX)}"
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


class CoinCountsForm(FlaskForm):
    """A count for each coin kind, e.g. coins to add to the tubes or the float to leave in them."""

    c5 = IntegerField("5¢", validators=[InputRequired()], default=0)
    c10 = IntegerField("10¢", validators=[InputRequired()], default=0)
    c20 = IntegerField("20¢", validators=[InputRequired()], default=0)
    c50 = IntegerField("50¢", validators=[InputRequired()], default=0)
    c100 = IntegerField("€1", validators=[InputRequired()], default=0)

    def counts(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}").data for coin in COINS}


class RefillForm(CoinCountsForm):
    submit = SubmitField("Refill the tubes")


class CollectForm(CoinCountsForm):
    submit = SubmitField("Collect into the cash box")


class LowLevelsForm(CoinCountsForm):
    submit = SubmitField("Save warning levels")


class TubesForm(FlaskForm):
    c5 = IntegerField("5¢", validators=[InputRequired()])
    c10 = IntegerField("10¢", validators=[InputRequired()])
    c20 = IntegerField("20¢", validators=[InputRequired()])
    c50 = IntegerField("50¢", validators=[InputRequired()])
    c100 = IntegerField("€1", validators=[InputRequired()])
    submit = SubmitField("Set tubes")

    def counts(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}").data for coin in COINS}


class OrderFilterForm(FlaskForm):
    """The filters of an order list, read from the query string (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    since = DateField("From", validators=[Optional()])
    until = DateField("Until", validators=[Optional()])
    seller = StringField("Seller", validators=[Optional(), Length(max=32)], description="username")
    product = IntegerField("Product", validators=[Optional()], widget=HiddenInput())
    status = SelectField("Status", choices=[SelectChoice("", "any"), SelectChoice("paid", "paid"),
                                            SelectChoice("refunded", "refunded")], validators=[Optional()])
    submit = SubmitField("Show")
