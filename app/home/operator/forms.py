"""The operator's coin-tube forms."""


from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    SubmitField,
)
from wtforms.validators import InputRequired, NumberRange, Optional
from wtforms.widgets import HiddenInput

from app.home.forms import CoinCountsForm, IdField
from app.models.columns import MAX_BIG_ID
from app.services.coins import COINS, coin_label


class RefillForm(CoinCountsForm):
    submit = SubmitField("Refill the tubes")


class CollectForm(CoinCountsForm):
    """The coins to keep in each tube. Sent without expected_cents it asks for the confirmation step, which shows
    what would be taken and sends the same counts back with that amount."""

    expected_cents = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(min=0)])
    submit = SubmitField("Review the collection")


class LowLevelsForm(CoinCountsForm):
    submit = SubmitField("Save warning levels")


class HistoryForm(FlaskForm):
    """Which page of the tubes' history: the rows older than the ledger row `before` (from the Older link)."""

    class Meta:
        csrf = False

    before = IdField(validators=[Optional()], maximum=MAX_BIG_ID)


class TubesForm(FlaskForm):
    c5 = IntegerField(coin_label(5), validators=[InputRequired()])
    c10 = IntegerField(coin_label(10), validators=[InputRequired()])
    c20 = IntegerField(coin_label(20), validators=[InputRequired()])
    c50 = IntegerField(coin_label(50), validators=[InputRequired()])
    c100 = IntegerField(coin_label(100), validators=[InputRequired()])
    submit = SubmitField("Set tubes")

    def counts(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}").data for coin in COINS}
