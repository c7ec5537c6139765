"""The operator's coin-tube forms."""


from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    SubmitField,
)
from wtforms.validators import InputRequired, Optional

from app.home.forms import CoinCountsForm, IdField
from app.models.columns import MAX_BIG_ID
from app.services.coins import COINS


class RefillForm(CoinCountsForm):
    submit = SubmitField("Refill the tubes")


class CollectForm(CoinCountsForm):
    submit = SubmitField("Collect into the cash box")


class LowLevelsForm(CoinCountsForm):
    submit = SubmitField("Save warning levels")


class HistoryForm(FlaskForm):
    """Which page of the tubes' history: the rows older than the ledger row `before` (from the Older link)."""

    class Meta:
        csrf = False

    before = IdField(validators=[Optional()], maximum=MAX_BIG_ID)


class TubesForm(FlaskForm):
    c5 = IntegerField("5¢", validators=[InputRequired()])
    c10 = IntegerField("10¢", validators=[InputRequired()])
    c20 = IntegerField("20¢", validators=[InputRequired()])
    c50 = IntegerField("50¢", validators=[InputRequired()])
    c100 = IntegerField("€1", validators=[InputRequired()])
    submit = SubmitField("Set tubes")

    def counts(self) -> dict[int, int]:
        return {coin: getattr(self, f"c{coin}").data for coin in COINS}
