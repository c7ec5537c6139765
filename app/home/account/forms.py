"""Registration and login forms."""


from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from app.home.forms import service_rule
from app.services import users

# The rules before the first try: the length, and what zxcvbn (app.services.users) finds easy to guess.
PASSWORD_HELP = (
    f"{users.PASSWORD_MIN}-{users.PASSWORD_MAX} characters, and not a common or easy-to-guess password: not your "
    "username, a name, a date, a keyboard pattern such as qwerty, or a repeat. A few uncommon words work well."
)


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()], description=users.USERNAME_RULE)
    password = PasswordField("Password", validators=[DataRequired()], description=PASSWORD_HELP)
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ")])
    role = RadioField(
        "I want to",
        choices=[SelectChoice("buyer", "Buy snacks (buyer)"), SelectChoice("seller", "Sell products (seller)")],
        default="buyer",
        validators=[DataRequired()],
    )
    # The browser's time zone, filled in by app.js (app.home.locale)
    time_zone = HiddenField()
    submit = SubmitField("Create account")

    def validate_username(self, field):
        service_rule(users.check_username, field.data)

    def validate_password(self, field):
        """The cheap rules only: the strength is judged by users.register, once the whole form is valid."""
        service_rule(users.check_password, field.data, "password")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=users.PASSWORD_MAX)])
    next = HiddenField()
    time_zone = HiddenField()
    submit = SubmitField("Log in")
