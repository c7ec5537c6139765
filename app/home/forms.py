"""Forms shared by the pages, and the one bridge from a service rule to a form error. Field rules come
from the services (one rule, one place).

Every value a page reads from a query string or a form goes through a field here that refuses, at the
field, what no database column can hold: a NUL character (TextField), a day outside the app's range
(DayField) and an id past its column (IdField). Such a value would otherwise reach a query and fail there.
"""

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

from app.models.columns import MAX_ID
from app.services import orders, reports
from app.services.coins import COINS, coin_label
from app.services.errors import InvalidInput

NUL_REFUSED = "Must not contain NUL characters"


def service_rule(check, *args):
    """Run a service check and turn its InvalidInput into a form ValidationError."""
    try:
        check(*args)
    except InvalidInput as error:
        raise ValidationError(error.message) from None


class TextField(StringField):
    """Text without NUL characters: PostgreSQL refuses one in any text, so it never reaches a query."""

    def pre_validate(self, form):
        if self.data and "\x00" in self.data:
            raise ValidationError(NUL_REFUSED)


class DayField(DateField):
    """A day (YYYY-MM-DD) the order lists and reports can filter by (app.services.reports.check_day)."""

    def pre_validate(self, form):
        if self.data is not None:
            service_rule(reports.check_day, self.data)


class IdField(IntegerField):
    """A row's id: one past what its column holds (`maximum`) names nothing, and sent to the database it
    would be an overflow error."""

    def __init__(self, label=None, validators=None, *, maximum: int = MAX_ID, message: str = "No such id",
                 **kwargs):
        super().__init__(label, validators, **kwargs)
        self.maximum = maximum
        self.message = message

    def pre_validate(self, form):
        if self.data is not None and not 1 <= self.data <= self.maximum:
            raise ValidationError(self.message)


class SearchForm(FlaskForm):
    """A list's search box, read from the query string (a GET form: nothing to protect). Longer text is cut
    to what the names searched can hold."""

    class Meta:
        csrf = False

    q = TextField("Search", filters=[lambda text: (text or "").strip()])

    def text(self, max_length: int) -> str | None:
        """The text to search for, or None: nothing typed, or refused (the error is on the field)."""
        return (self.q.data[:max_length] or None) if self.validate() else None


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (logout, reset, refund, delete ...)."""

    submit = SubmitField("Confirm")


class CoinCountsForm(FlaskForm):
    """A count for each coin kind, e.g. coins to add to the tubes or the float to leave in them."""

    c5 = IntegerField(coin_label(5), validators=[InputRequired()], default=0)
    c10 = IntegerField(coin_label(10), validators=[InputRequired()], default=0)
    c20 = IntegerField(coin_label(20), validators=[InputRequired()], default=0)
    c50 = IntegerField(coin_label(50), validators=[InputRequired()], default=0)
    c100 = IntegerField(coin_label(100), validators=[InputRequired()], default=0)

    def counts(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}").data for coin in COINS}


class OrderFilterForm(FlaskForm):
    """The filters of an order list, read from the query string (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    since = DayField("From", validators=[Optional()])
    until = DayField("Until", validators=[Optional()])
    seller = TextField("Seller", validators=[Optional(), Length(max=32)], description="username")
    product = IdField("Product", validators=[Optional()], widget=HiddenInput(), message="No such product")
    status = SelectField("Status", choices=[SelectChoice("", "any"), SelectChoice("paid", "paid"),
                                            SelectChoice("refunded", "refunded")], validators=[Optional()])
    # One of the periods offered as links above the form (reports.PERIODS); it sets the dates.
    period = SelectField("Period", choices=[SelectChoice("", "dates below"),
                                            *(SelectChoice(key, label) for key, label in reports.PERIODS.items())],
                         validators=[Optional()])
    submit = SubmitField("Show")

    def validate_until(self, field):
        service_rule(orders.check_range, self.since.data, field.data)
