"""Signing in through an OpenID Connect provider (HelseID is one) instead of the password and
code (issue 13). Authlib speaks the protocol: the authorization code flow with PKCE (S256),
state and nonce kept in the session and used once, the client's own signed assertion
(private_key_jwt) or a shared secret at the token endpoint, and the ID token's signature,
issuer, audience, expiry and nonce checked against the provider's published keys. This module
says what the centre makes of it: who the person is (an existing user an administrator linked,
never a new one), and each way a sign-in is refused, in words the person can act on.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from centre.errors import CentreError

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse

    from centre.config import CentreConfig

log = logging.getLogger("centre.web.oidc")

CALLBACK_PATH = "/login/oidc/callback/"
SIGNED_IN_BY = "signed_in_by"  # the session's note: "oidc" when the provider vouched for her
CLIENT_NAME = "oidc"  # Authlib keeps its state in the session under this name
CLOCK_LEEWAY_S = 120  # the provider's clock and ours may differ this much
# The provider asks her to sign in every time, even when its own session from an earlier
# sign-in in this browser is still open: on a shared computer, the next nurse pressing the
# button after the first signed out of the centre must not become her.
PROMPT = "login"
ASSERTION_LIFE_S = 60  # the client assertion's life (HelseID: at most 60 seconds)


class OidcConfigError(CentreError, ValueError):
    """[web.oidc] names a key or secret that cannot be used; says which file and why."""


class OidcRefused(CentreError):
    """A sign-in through the provider that the centre refuses. `message` is what the person
    reads (translated); the text of the exception is for the log and the audit entry."""

    message: Promise = _(
        "The sign-in service did not sign you in. Try again; if it keeps failing, sign in "
        "another way or tell your administrator."
    )


class ProviderSaidNo(OidcRefused):
    """The provider answered with an error, refused our code or could not be reached."""


class ForgedCallback(OidcRefused):
    """A callback this browser's session did not start, or one used already (a replay)."""

    message = _(
        "This sign-in link was already used or was not started here. Start the sign-in again."
    )


class UntrustedToken(OidcRefused):
    """The ID token failed a check: signature, issuer, audience, expiry or nonce."""


class TooWeak(OidcRefused):
    """The ID token lacks a claim [web.oidc] required_claims asks for (a security level)."""

    message = _(
        "The way you signed in at the sign-in service is not strong enough for health data. "
        "Sign in again with a stronger method, such as BankID."
    )


class UnknownPerson(OidcRefused):
    """The provider named a person no active user of the centre is linked to."""

    message = _(
        "You are signed in at the sign-in service, but no user of the follow-up centre is "
        "linked to you. Ask an administrator to add you."
    )


@dataclass(frozen=True)
class OidcLogin:
    """What the web needs of [web.oidc], its key or secret read from its file."""

    issuer: str
    client_id: str
    client_auth: Literal["private_key_jwt", "client_secret"]
    credential: str = field(repr=False)  # the private key (PEM or JWK) or the secret
    scopes: tuple[str, ...] = ("openid",)
    subject_claim: str = "sub"
    required_claims: tuple[tuple[str, str], ...] = ()
    redirect_uri: str = ""
    provider_name: str = "HelseID"
    password_login: bool = True
    timeout_s: float = 10.0

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def oidc_login_from(config: CentreConfig) -> OidcLogin | None:
    """[web.oidc] with its key or secret read (None when the section is absent). A file that
    cannot be read, or a key that is not a private key, stops the web from starting."""
    oidc = config.web.oidc
    if oidc is None:
        return None
    assert config.web.public_url is not None  # WebSettings requires it with [web.oidc]
    path = oidc.key_file if oidc.client_auth == "private_key_jwt" else oidc.secret_file
    assert path is not None  # OidcSettings requires the one its client_auth needs
    try:
        credential = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise OidcConfigError(f"[web.oidc] cannot read {path}: {exc}") from exc
    if oidc.client_auth == "private_key_jwt":
        signing_key(credential, path=str(path))  # refuse a wrong key now, not at sign-in
    elif len(credential) < 16:
        raise OidcConfigError(f"[web.oidc] the secret in {path} is empty or too short")
    return OidcLogin(
        issuer=oidc.issuer,
        client_id=oidc.client_id,
        client_auth=oidc.client_auth,
        credential=credential,
        scopes=oidc.scopes,
        subject_claim=oidc.subject_claim,
        required_claims=tuple(sorted(oidc.required_claims.items())),
        redirect_uri=config.web.public_url + CALLBACK_PATH,
        provider_name=oidc.provider_name,
        password_login=oidc.password_login,
        timeout_s=oidc.timeout_s,
    )


def signing_key(credential: str, path: str = "the key") -> tuple[Any, str]:
    """The client's private key (PEM, or a JWK as HelseID's self-service hands it out) and the
    algorithm its assertions are signed with."""
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey

    data: Any = credential
    if credential.startswith("{"):
        try:
            data = json.loads(credential)
        except ValueError as exc:
            raise OidcConfigError(f"[web.oidc] {path} is neither a PEM key nor a JWK") from exc
    for kind, alg in ((RSAKey, "RS256"), (ECKey, "ES256")):
        try:
            key = kind.import_key(data)
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if not key.is_private:
            raise OidcConfigError(f"[web.oidc] {path} holds a public key: the private one")
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise OidcConfigError(f"[web.oidc] {path}: an EC key must be on P-256 (ES256)")
        return key, alg
    raise OidcConfigError(f"[web.oidc] {path} is not an RSA or EC private key (PEM or JWK)")


def check_required(claims: Mapping[str, object], required: tuple[tuple[str, str], ...]) -> None:
    """Each claim [web.oidc] required_claims names holds its value (as text: HelseID sends the
    security level as "4")."""
    for name, wanted in required:
        value = claims.get(name)
        if value is None or str(value) != wanted:
            shown = str(value)[:50]
            raise TooWeak(f"the ID token's {name!r} is {shown!r}, not {wanted!r} as required")


def subject_of(claims: Mapping[str, object], claim: str) -> str:
    """The person the provider vouched for, by the configured claim of the checked ID token."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise UntrustedToken(f"the ID token has no usable {claim!r} claim ({type(value).__name__})")
    return value


def start(request: HttpRequest, login: OidcLogin) -> HttpResponse:
    """Send the browser to the provider, with a new state, nonce and PKCE verifier kept in
    this session."""
    from authlib.common.errors import AuthlibBaseError
    from requests import RequestException

    try:
        return _client(login).authorize_redirect(request, login.redirect_uri)
    except (AuthlibBaseError, RequestException, ValueError, KeyError) as exc:
        raise ProviderSaidNo(f"the provider cannot start a sign-in: {exc!r}") from exc


def finish(request: HttpRequest, login: OidcLogin) -> User:
    """The user the provider's callback signs in, or the reason it is refused. The state is
    consumed first, so a callback works once."""
    client = _client(login)
    state = request.GET.get("state", "")
    if not state or not client.framework.get_state_data(request.session, state):
        raise ForgedCallback("a callback with a state this session did not start or used already")
    if "error" in request.GET:
        client.framework.clear_state_data(request.session, state)
        raise ProviderSaidNo(
            f"the provider said {request.GET['error'][:100]!r}: "
            f"{request.GET.get('error_description', '')[:200]!r}"
        )
    claims = _checked_claims(request, client)
    check_required(claims, login.required_claims)
    return _linked_user(subject_of(claims, login.subject_claim))


def _checked_claims(request: HttpRequest, client: Any) -> Mapping[str, object]:
    from authlib.common.errors import AuthlibBaseError
    from joserfc.errors import JoseError
    from requests import RequestException

    try:
        token = client.authorize_access_token(request, leeway=CLOCK_LEEWAY_S)
    except JoseError as exc:
        raise UntrustedToken(f"the ID token failed its check: {exc!r}") from exc
    except (AuthlibBaseError, RequestException, ValueError, KeyError) as exc:
        raise ProviderSaidNo(f"the token request failed: {exc!r}") from exc
    claims = token.get("userinfo")
    if not isinstance(claims, Mapping):
        raise UntrustedToken("the provider's answer has no ID token")
    return claims


def _linked_user(subject: str) -> User:
    from centre.web.models import OidcIdentity

    identity = OidcIdentity.objects.select_related("user").filter(subject=subject).first()
    if identity is None or not identity.user.is_active:
        raise UnknownPerson(f"no active user is linked to the subject {subject[:100]!r}")
    return identity.user


@functools.lru_cache(maxsize=4)
def _client(login: OidcLogin) -> _Client:
    """Authlib's client for this configuration: one per process, so the provider's discovery
    document and keys are fetched once (and the keys again when they change)."""
    from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App

    kwargs, secret, methods = _client_auth(login)
    client = DjangoOAuth2App(
        DjangoIntegration(CLIENT_NAME),
        name=CLIENT_NAME,
        client_id=login.client_id,
        client_secret=secret,
        server_metadata_url=login.discovery_url,
        client_kwargs={
            **kwargs,
            "scope": " ".join(login.scopes),
            "code_challenge_method": "S256",
            "default_timeout": login.timeout_s,
        },
        client_auth_methods=methods,
    )
    return _Client(client, login)


def _client_auth(login: OidcLogin) -> tuple[dict[str, Any], Any, list[Any]]:
    """How the centre proves it is the client: a JWT signed with its key (private_key_jwt, its
    audience the issuer, as OpenID Foundation's 2025 advice and HelseID ask) or the secret."""
    if login.client_auth == "private_key_jwt":
        key, alg = signing_key(login.credential)
        method = _short_lived_assertion(login.issuer, alg)
        return {"token_endpoint_auth_method": "private_key_jwt"}, key, [method]
    return {"token_endpoint_auth_method": "client_secret_basic"}, login.credential, []


def _short_lived_assertion(audience: str, alg: str) -> Any:
    """Authlib's private_key_jwt, its assertion valid for a minute (HelseID takes no more)
    and naming the key it was signed with (kid, typ: HelseID's client assertion profile)."""
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign

    class ShortLived(PrivateKeyJWT):  # type: ignore[misc]
        def sign(self, auth: Any, token_endpoint: str) -> Any:
            header = {
                "typ": "JWT",
                **({"kid": auth.client_secret.kid} if auth.client_secret.kid else {}),
            }
            now = int(time.time())
            return private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                header=header,
                claims={"nbf": now},  # a new dict each time: Authlib adds a new jti to it
                issued_at=now,
                expires_in=ASSERTION_LIFE_S,
            )

    return ShortLived(token_endpoint=audience, alg=alg)


class _Client:
    """Authlib's client, with what the centre adds: the discovery document's issuer held to
    the configured one (OpenID Connect Discovery 4.3), the authorization request pushed to the
    provider first where it offers that (PAR, RFC 9126: HelseID requires it of new clients),
    and the callback's `iss` held to the issuer too (RFC 9207, against mix-up)."""

    def __init__(self, client: Any, login: OidcLogin) -> None:
        self._client = client
        self._login = login
        self.framework = client.framework

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = self._client.load_server_metadata()
        if str(metadata.get("issuer", "")).rstrip("/") != self._login.issuer:
            named = metadata.get("issuer")
            self._client.server_metadata.clear()  # read it again next time
            raise ProviderSaidNo(
                f"the provider's discovery document names issuer {named!r}, "
                f"not {self._login.issuer!r} as [web.oidc] issuer says"
            )
        return metadata

    def authorize_redirect(self, request: HttpRequest, redirect_uri: str) -> HttpResponse:
        from django.http import HttpResponseRedirect

        metadata = self._metadata()
        pushed = metadata.get("pushed_authorization_request_endpoint")
        if not pushed:
            response: HttpResponse = self._client.authorize_redirect(
                request, redirect_uri, prompt=PROMPT
            )
            return response
        made = self._client.create_authorization_url(redirect_uri, prompt=PROMPT)
        request_uri = self._push(pushed, made["url"])
        self._client.save_authorize_data(request, redirect_uri=redirect_uri, **made)
        query = urlencode({"client_id": self._login.client_id, "request_uri": request_uri})
        return HttpResponseRedirect(f"{metadata['authorization_endpoint']}?{query}")

    def _push(self, endpoint: str, url: str) -> str:
        """The authorization request's parameters, sent to the provider directly with the
        client's proof; the browser carries only the reference the provider gives back."""
        from authlib.integrations.requests_client import OAuth2Session

        kwargs, secret, methods = _client_auth(self._login)
        with OAuth2Session(self._login.client_id, secret, **kwargs) as session:
            for method in methods:
                session.register_client_auth_method(method)
            answer = session.post(
                endpoint,
                data=dict(parse_qsl(urlsplit(url).query)),
                auth=session.client_auth(kwargs["token_endpoint_auth_method"]),
                withhold_token=True,
                timeout=self._login.timeout_s,
            )
            answer.raise_for_status()
            found = answer.json()  # ValueError when it is no JSON: the caller refuses it
        request_uri = found.get("request_uri") if isinstance(found, dict) else None
        if not isinstance(request_uri, str):
            raise ProviderSaidNo("the provider's pushed request answer has no request_uri")
        return request_uri

    def authorize_access_token(self, request: HttpRequest, leeway: int) -> Any:
        self._metadata()
        issuer = request.GET.get("iss")
        if issuer is not None and issuer.rstrip("/") != self._login.issuer:
            raise ForgedCallback(f"the callback names issuer {issuer[:200]!r}: another provider")
        return self._client.authorize_access_token(request, leeway=leeway)


def forget_clients() -> None:
    """Drop the cached clients (and what they know of the providers): after a configuration
    change in the same process, and between tests."""
    _client.cache_clear()
