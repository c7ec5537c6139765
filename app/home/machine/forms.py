"""The machine's coin and Buy forms."""


from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    SubmitField,
)
from wtforms.validators import InputRequired, Optional, ValidationError

from app.home.forms import IdField
from app.services.coins import is_coin


class DepositForm(FlaskForm):
    coin = IntegerField("Coin", validators=[InputRequired()])

    def validate_coin(self, field):
        if not is_coin(field.data):
            raise ValidationError("The machine accepts only 5, 10, 20, 50 and 100 cent coins")


class BuyForm(FlaskForm):
    """One product tile's Buy button: the price the page showed goes along, so a changed price is refused."""

    product_id = IdField("Product", validators=[InputRequired()], message="No such product")
    expected_cost = IntegerField("Price shown", validators=[Optional()])
    amount = IntegerField("Amount", default=1, validators=[InputRequired("Enter how many to buy")])
    submit = SubmitField("Buy")


class RefundForm(FlaskForm):
    """The refund's confirmation; `next` is the page the buyer came from (a list, a receipt, the machine)."""

    next = HiddenField()
    submit = SubmitField("Refund")
