"""The password checks an attacker would repeat are throttled by the auth service itself
(app/auth/login.py): whoever calls it, the budget holds; the token endpoint only answers."""

import pytest

from app.auth.login import change_password, password_login
from app.auth.service import WrongPassword
from app.auth.tokens import LoginFailed
from app.core.errors import TooManyRequests
from app.core.ratelimit import Limiter
from tests.factories import PASSWORD


def _tight(world):
    return world.settings.model_copy(update={"login_max_failures": 2, "login_window_seconds": 60})


async def test_password_login_refuses_a_third_wrong_guess_before_checking_it(client, world, db):
    settings, limiter = _tight(world), Limiter(None)
    email = world.therapist.email  # read now: each check ends the session's transaction

    async def login(password):
        return await password_login(
            db,
            world.codec,
            settings,
            limiter,
            email=email,
            password=password,
            scope=None,
            clinic_id=None,
        )

    for _ in range(2):
        with pytest.raises(LoginFailed):
            await login("wrong-guess-000")
    with pytest.raises(TooManyRequests) as refused:
        await login(PASSWORD)  # even the right one: the budget is spent
    assert int(refused.value.headers["Retry-After"]) >= 1


async def test_password_login_with_the_right_password_clears_the_count(client, world, db):
    settings, limiter = _tight(world), Limiter(None)
    therapist_id, email = world.therapist.id, world.therapist.email
    arguments = {"email": email.upper(), "scope": None, "clinic_id": None}
    with pytest.raises(LoginFailed):
        await password_login(db, world.codec, settings, limiter, password="nope", **arguments)
    issued = await password_login(
        db, world.codec, settings, limiter, password=PASSWORD, **arguments
    )
    assert issued.subject == therapist_id
    for _ in range(2):  # a full budget again, per email whatever its case
        with pytest.raises(LoginFailed):
            await password_login(db, world.codec, settings, limiter, password="no", **arguments)


async def test_change_password_is_throttled_per_account(client, world, db):
    settings, limiter, client_id = _tight(world), Limiter(None), world.client.id
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await change_password(db, settings, limiter, client_id, current="wrong", new="x" * 20)
    with pytest.raises(TooManyRequests):
        await change_password(
            db, settings, limiter, client_id, current=PASSWORD, new="a-new-long-passphrase"
        )
