"""The OAuth2 token endpoint, token revocation, the JWKS, and the caller's own account."""

import base64
import binascii
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse

from app.auth.login import change_password, password_login
from app.auth.policy import EVERYONE, READ, WRITE, Policy
from app.auth.principal import Principal
from app.auth.schemas import (
    InvitationAccept,
    Jwks,
    MeUpdate,
    OAuthError,
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
from app.core.errors import TYPE_PREFIX, request_id_of
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.routing import ProblemRoute, problem_responses

router = APIRouter(route_class=ProblemRoute)
well_known = APIRouter(route_class=ProblemRoute, tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError, "description": "OAuth2 error (RFC 6749 §5.2)."},
    401: {
        "model": OAuthError,
        "description": "Client authentication failed, or the refresh "
        "token is invalid, expired, revoked or already used (which revokes its family).",
    },
    **problem_responses(429),
}


def _oauth_error(request: Request, exc: GrantError) -> JSONResponse:
    body = OAuthError(
        error=exc.error,
        error_description=exc.description,
        type=TYPE_PREFIX + exc.error.replace("_", "-"),
        title="Token request refused",
        status=exc.status,
        request_id=request_id_of(request),
    )
    headers = dict(_NO_STORE)
    if exc.error == "invalid_client" and request.headers.get("authorization", "").startswith(
        "Basic"
    ):
        headers["WWW-Authenticate"] = 'Basic realm="homework-api"'
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=headers)


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


@router.post(
    "/auth/token",
    operation_id="createToken",
    summary="Get an access token (password, refresh_token or client_credentials grant)",
    response_model=TokenResponse,
    responses=_OAUTH_ERRORS,
    tags=["auth"],
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
    """Form-encoded, as RFC 6749 asks. Errors use the OAuth2 body (`error`,
    `error_description`) with the problem members alongside; a spent refresh token answers
    401 and revokes every token descended from the same login. A person who belongs to
    several clinics signs in to the one their password opens; when the same password opens
    several, `clinic_id` chooses. Wrong passwords are throttled per email (429)."""
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
                raise GrantError("invalid_client", "Client authentication failed.", 401)
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
        return _oauth_error(request, exc)


@router.post(
    "/auth/revoke",
    operation_id="revokeToken",
    summary="Revoke a refresh token and its family (RFC 7009)",
    status_code=200,
    # The answer has no body (RFC 7009 §2.2); without this the contract promised JSON.
    response_class=Response,
    response_description="Revoked, or the token was unknown: the same empty answer either way.",
    responses=_OAUTH_ERRORS,
    tags=["auth"],
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
    responses=problem_responses(401, 403),
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
    responses=problem_responses(401, 403, 412),
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
    responses=problem_responses(401, 403, 429),
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
