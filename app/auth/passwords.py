"""The password policy: length bounds and not the account's own email."""

from app.auth.errors import WeakPassword
from app.core.errors import field_error

MIN_LENGTH = 10
MAX_LENGTH = 128


def check_password_policy(
    password: str, email: str, *, loc: tuple[str, ...] = ("body", "password")
) -> None:
    problem = None
    if len(password) < MIN_LENGTH:
        problem = f"Password must have at least {MIN_LENGTH} characters."
    elif len(password) > MAX_LENGTH:
        problem = f"Password must have at most {MAX_LENGTH} characters."
    elif password.strip().lower() == email.strip().lower():
        problem = "Password must not be the email address."
    if problem:
        raise WeakPassword(problem, errors=[field_error(loc, problem, "password_policy")])
