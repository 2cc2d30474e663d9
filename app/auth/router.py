"""The OAuth2 token endpoint, token revocation, the JWKS, and the caller's own account."""

import base64
import binascii
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.auth.login import change_password, password_login
from app.auth.policy import EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.auth.schemas import (
    InvitationAccept,
    Jwks,
    MeUpdate,
    OAuthError,
    OAuthErrorCode,
    PasswordChange,
    TokenResponse,
    UserRead,
)
from app.auth.service import accept_invitation, own_account, update_own_account
from app.auth.tokens import (
    GrantError,
    IssuedTokens,
    client_credentials_grant,
    refresh_grant,
    revoke_refresh_token,
)
from app.core import audit
from app.core.access import Public
from app.core.db import SessionDep
from app.core.errors import error_summary, problem_body, request_errors, request_id_of
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.routing import DomainRouter, Handler, ProblemRoute, problem_responses

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TITLES: dict[OAuthErrorCode, str] = {
    "invalid_request": "Invalid request",
    "invalid_client": "Client authentication failed",
    "invalid_grant": "Invalid grant",
    "unauthorized_client": "Unauthorized client",
    "unsupported_grant_type": "Unsupported grant type",
    "invalid_scope": "Invalid scope",
}


def _oauth_error(
    request: Request,
    status: int,
    error: OAuthErrorCode,
    description: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An OAuth2 error (RFC 6749 §5.2) that is also an RFC 9457 problem, as application/json."""
    problem = problem_body(
        status,
        slug=slug or error.replace("_", "-"),
        title=title or _TITLES[error],
        detail=description,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=errors,
    )
    body = OAuthError.model_validate(
        {"error": error, "error_description": description, **problem}
    ).model_dump(exclude_unset=True)
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _grant_error(request: Request, exc: GrantError) -> JSONResponse:
    headers = {}
    if exc.error == "invalid_client" and request.headers.get("authorization", "").startswith(
        "Basic"
    ):
        headers["WWW-Authenticate"] = 'Basic realm="homework-api"'
    return _oauth_error(request, exc.status, exc.error, exc.description, headers=headers)


class OAuthRoute(ProblemRoute):
    """The OAuth2 endpoints (RFC 6749, RFC 7009) answer a request they cannot take in OAuth2's
    error body, problem members alongside: a body that is not a form is 415 and a missing or
    malformed parameter 400, both `invalid_request`."""

    def unsupported_media_type(self, request: Request, accepted: str) -> Response:
        return _oauth_error(
            request,
            415,
            "invalid_request",
            f"Send the parameters as a form: `Content-Type: {accepted}` (RFC 6749 §4).",
            slug="unsupported-media-type",
            title="Unsupported Media Type",
            headers={"Accept-Post": accepted},
        )

    def operation_handler(self) -> Handler:
        handler = super().operation_handler()

        async def oauth_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = request_errors(exc)
                detail = error_summary(errors)
                refused = _oauth_error(request, 400, "invalid_request", detail, errors=errors)
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                refused = _oauth_error(request, 400, "invalid_request", "The form does not parse.")
            audit.note(action="login")  # on the audited token endpoint: a refused login
            return refused

        return oauth_errors


router = DomainRouter()
oauth = DomainRouter(route_class=OAuthRoute, tags=["auth"])
well_known = DomainRouter(tags=["auth"])

_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": OAuthError,
        "description": "OAuth2 error (RFC 6749 §5.2): `invalid_grant` for a wrong password or "
        "an unusable refresh token (unknown, expired, revoked, or already used, which revokes "
        "its family), `invalid_request`, `invalid_scope` or `unsupported_grant_type`.",
    },
    401: {
        "model": OAuthError,
        "description": "`invalid_client`: client authentication failed (client_credentials).",
    },
    415: {
        "model": OAuthError,
        "description": "`invalid_request`: the body is not `application/x-www-form-urlencoded`.",
        "headers": problem_responses(415, method="POST")[415]["headers"],
    },
}


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return unquote(client_id), unquote(secret)


def _tokens(issued: IssuedTokens) -> JSONResponse:
    audit.note(
        action="login",
        actor_id=issued.subject,
        actor_role=issued.role,
        clinic_id=issued.clinic_id,
        resource_id=issued.subject,
    )
    body = TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=issued.scope,
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=_NO_STORE)


FormStr = Annotated[str | None, Form(max_length=4096)]


@oauth.post(
    "/auth/token",
    operation_id="createToken",
    summary="Get an access token (password, refresh_token or client_credentials grant)",
    response_model=TokenResponse,
    responses=_OAUTH_ERRORS,
    dependencies=[Depends(Public(audit="user"))],
)
async def create_token(
    request: Request,
    session: SessionDep,
    grant_type: FormStr = None,
    username: FormStr = None,
    password: FormStr = None,
    refresh_token: FormStr = None,
    client_id: FormStr = None,
    client_secret: FormStr = None,
    scope: FormStr = None,
    clinic_id: Annotated[
        uuid.UUID | None,
        Form(
            description="Password grant only: the clinic to sign in to. Needed only when the "
            "email has accounts in several clinics with this same password (the answer is then "
            "400 `invalid_request` without it)."
        ),
    ] = None,
) -> JSONResponse:
    """Form-encoded (`application/x-www-form-urlencoded`), as RFC 6749 asks; any other body is
    415. Errors use the OAuth2 body (`error`, `error_description`) with the problem members
    alongside, as `application/json`: 400 `invalid_grant` for a wrong password and for a
    refresh token that is unknown, expired, revoked or already used (a reuse also revokes
    every token descended from the same login), 400 `invalid_request` for a missing or
    malformed parameter, 401 `invalid_client` when client authentication fails. A person who
    belongs to several clinics signs in to the one their password opens; when the same
    password opens several, `clinic_id` chooses. Wrong passwords are throttled per email (429
    with Retry-After)."""
    app = request.app
    try:
        if grant_type == "password":
            if not username or password is None:
                raise GrantError("invalid_request", "username and password are required.")
            return _tokens(
                await password_login(
                    session,
                    app.state.jwt,
                    app.state.settings,
                    app.state.limiter,
                    email=username,
                    password=password,
                    scope=scope,
                    clinic_id=clinic_id,
                )
            )
        if grant_type == "refresh_token":
            if not refresh_token:
                raise GrantError("invalid_request", "refresh_token is required.")
            return _tokens(
                await refresh_grant(
                    session, app.state.jwt, app.state.settings, refresh_token=refresh_token
                )
            )
        if grant_type == "client_credentials":
            basic_id, basic_secret = _basic_credentials(request)
            cid, secret = basic_id or client_id, basic_secret or client_secret
            if not cid or not secret:
                raise GrantError("invalid_client", "Client authentication failed.")
            return _tokens(
                await client_credentials_grant(
                    session,
                    app.state.jwt,
                    app.state.settings,
                    client_id=cid,
                    client_secret=secret,
                    scope=scope,
                )
            )
        if not grant_type:
            raise GrantError("invalid_request", "grant_type is required.")
        raise GrantError(
            "unsupported_grant_type", "Use password, refresh_token or client_credentials."
        )
    except GrantError as exc:
        # Answered, not raised: a reuse-triggered family revocation must still be committed.
        audit.note(
            action="login",
            resource_type="refresh_token"
            if grant_type == "refresh_token"
            else "api_client"
            if grant_type == "client_credentials"
            else "user",
        )
        return _grant_error(request, exc)


@oauth.post(
    "/auth/revoke",
    operation_id="revokeToken",
    summary="Revoke a refresh token and its family (RFC 7009)",
    status_code=200,
    # The answer has no body (RFC 7009 §2.2); without this the contract promised JSON.
    response_class=Response,
    response_description="Revoked, or the token was unknown: the same empty answer either way.",
    responses={
        400: {
            "model": OAuthError,
            "description": "`invalid_request`: `token` is missing or malformed (RFC 7009 §2.2.1).",
        },
        415: _OAUTH_ERRORS[415],
    },
    dependencies=[Depends(Public())],
)
async def revoke_token(
    session: SessionDep,
    token: Annotated[str, Form(min_length=1, max_length=4096)],
    token_type_hint: Annotated[str | None, Form(max_length=50)] = None,
) -> Response:
    """Always 200, also for an unknown token, so the answer reveals nothing."""
    await revoke_refresh_token(session, token)
    return Response(status_code=200, headers=_NO_STORE)


@well_known.get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    summary="Public keys that verify access tokens (empty with HS256)",
    dependencies=[Depends(Public())],
)
async def jwks(request: Request) -> Jwks:
    return Jwks(**request.app.state.jwt.jwks())


@router.post(
    "/invitations/accept",
    operation_id="acceptInvitation",
    summary="Activate an invited account with its one-time code and a new password",
    tags=["users"],
    dependencies=[Depends(Public())],
)
async def accept(body: InvitationAccept, session: SessionDep) -> UserRead:
    user = await accept_invitation(session, body.code, body.password)
    return UserRead.model_validate(user)


MeReader = Annotated[Principal, Depends(Policy(EVERYONE, READ, audit="user"))]
MeWriter = Annotated[Principal, Depends(Policy(EVERYONE, WRITE, audit="user"))]


@router.get(
    "/me",
    operation_id="getMe",
    summary="The signed-in user's own account",
    tags=["users"],
)
async def get_me(session: SessionDep, principal: MeReader, response: Response) -> UserRead:
    user = await own_account(session, principal.id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/me",
    operation_id="updateMe",
    summary="Change one's display name or time zone",
    tags=["users"],
)
async def update_me(
    body: MeUpdate,
    session: SessionDep,
    principal: MeWriter,
    response: Response,
    if_match: IfMatch = None,
) -> UserRead:
    user = await own_account(session, principal.id)
    check_if_match(if_match, user.version)
    read = await update_own_account(session, user, body)
    set_etag(response, read.version)
    return read


@router.post(
    "/me/password",
    operation_id="changePassword",
    status_code=204,
    summary="Change one's password; every refresh token of the account is revoked",
    tags=["users"],
)
async def change_my_password(
    request: Request, body: PasswordChange, session: SessionDep, principal: MeWriter
) -> None:
    """Wrong current passwords are throttled per account like logins (429 with Retry-After):
    a stolen access token does not buy unlimited guesses at the password."""
    await change_password(
        session,
        request.app.state.settings,
        request.app.state.limiter,
        principal.id,
        current=body.current_password,
        new=body.new_password,
    )
