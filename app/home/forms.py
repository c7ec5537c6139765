"""Forms shared by the pages, and the one bridge from a service rule to a form error. Field rules come
from the services (one rule, one place)."""


from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields import DateField
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from app.services import orders, reports
from app.services.coins import COINS
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


class CoinCountsForm(FlaskForm):
    """A count for each coin kind, e.g. coins to add to the tubes or the float to leave in them."""

    c5 = IntegerField("5¢", validators=[InputRequired()], default=0)
    c10 = IntegerField("10¢", validators=[InputRequired()], default=0)
    c20 = IntegerField("20¢", validators=[InputRequired()], default=0)
    c50 = IntegerField("50¢", validators=[InputRequired()], default=0)
    c100 = IntegerField("€1", validators=[InputRequired()], default=0)

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
    # One of the periods offered as links above the form (reports.PERIODS); it sets the dates.
    period = SelectField("Period", choices=[SelectChoice("", "dates below"),
                                            *(SelectChoice(key, label) for key, label in reports.PERIODS.items())],
                         validators=[Optional()])
    submit = SubmitField("Show")

    def validate_until(self, field):
        service_rule(orders.check_range, self.since.data, field.data)
