"""A real OpenID Connect provider for the centre's OIDC login tests: panva's `oidc-provider`
(an OpenID Foundation certified implementation, from npm) run by Debian's Node.js on a free
port of this machine, with a client registered as HelseID registers the centre's (authorization
code flow, PKCE required, private_key_jwt, pushed authorization requests required) and one with a
shared secret.

Its sign-in pages are the package's own development pages: any login name is taken as the
person's `sub` (the accounts given add claims: HelseID's pid and security level), then a consent
page. `sign_in` walks them as a browser would and returns where the provider sends the browser
back.

`./run.sh` installs the package into the venv's folder (`$VENV/node`); DHO_OIDC_PROVIDER names
another `oidc-provider` folder.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from testbed.processes import Process, TestbedError, free_port, port_open, wait_until

PID_CLAIM = "helseid://claims/identity/pid"
PID_SCOPE = "helseid://scopes/identity/pid"
LEVEL_CLAIM = "helseid://claims/identity/security_level"
LEVEL_SCOPE = "helseid://scopes/identity/security_level"
SCOPE_CLAIMS = {PID_SCOPE: [PID_CLAIM], LEVEL_SCOPE: [LEVEL_CLAIM]}  # as HelseID's
SECRET = "a shared secret for the tests " + "s" * 20

# A small ES module: the provider with the configuration the Python side writes as JSON.
SCRIPT = """
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { default: Provider } = await import(pathToFileURL(cfg.module).href);
if (cfg.clock_offset_s) {  // a provider whose clock is wrong (its tokens expire early or late)
  const real = Date.now;
  Date.now = () => real() + cfg.clock_offset_s * 1000;
}
const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: [cfg.signing_jwk] },
  cookies: { keys: [cfg.cookie_key] },
  pkce: { required: () => true },
  conformIdTokenClaims: false,  // the claims the scopes name go into the ID token, as HelseID's
  scopes: ['openid', 'profile', ...Object.keys(cfg.scope_claims)],
  claims: { openid: ['sub'], profile: ['name'], ...cfg.scope_claims },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(cfg.accounts[id] || {}) }),
  }),
  features: { devInteractions: { enabled: true } },
  ttl: { IdToken: 600 },
});
provider.listen(cfg.port, '127.0.0.1', () => console.log(`oidc-provider at ${cfg.issuer}`));
"""


def provider_module() -> Path:
    """The installed `oidc-provider` package's entry module."""
    folder = os.environ.get("DHO_OIDC_PROVIDER")
    root = Path(folder) if folder else Path(sys.prefix) / "node" / "node_modules" / "oidc-provider"
    module = root / "lib" / "index.js"
    if not module.is_file():
        raise TestbedError(
            f"oidc-provider is not installed at {root}: `./run.sh test` installs it "
            "(npm install --prefix $VENV/node oidc-provider@9)"
        )
    return module


def new_rsa_key() -> str:
    """A new RSA private key, PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def jwk_of(pem: str, kid: str, *, private: bool) -> dict[str, Any]:
    from joserfc.jwk import RSAKey

    jwk: dict[str, Any] = dict(RSAKey.import_key(pem).as_dict(private=private))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return jwk


@dataclass
class OidcProvider:
    issuer: str
    client_id: str  # the private_key_jwt client, as HelseID's
    secret_client_id: str  # the client_secret one
    client_key_path: Path  # the centre's private key for private_key_jwt
    secret_path: Path
    redirect_uri: str
    process: Process
    log: list[str] = field(default_factory=list)

    def sign_in(
        self, authorize_url: str, login: str, browser: requests.Session | None = None
    ) -> str:
        """A person signs in at the provider's pages as `login` (in `browser`, keeping its
        cookies, or a new one) and agrees; returns the URL the provider sends her browser back
        to (the centre's callback, with code and state)."""
        return self._walk(authorize_url, {"login": login, "password": "any"}, browser)

    def abort(self, authorize_url: str) -> str:
        """She cancels at the provider's sign-in page; returns where it sends her back."""
        return self._walk(authorize_url, None)

    def _walk(
        self,
        url: str,
        person: Mapping[str, str] | None,
        browser: requests.Session | None = None,
    ) -> str:
        browser = browser or requests.Session()
        response = browser.get(url, allow_redirects=False, timeout=10)
        for _ in range(12):
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                if url.startswith(self.redirect_uri):
                    return url
                response = browser.get(url, allow_redirects=False, timeout=10)
                continue
            page = response.text
            if response.status_code != 200:
                raise TestbedError(f"the provider answered {response.status_code}: {page[:500]}")
            if person is None:
                abort = re.search(r'href="([^"]*/abort)"', page)
                if abort is None:
                    raise TestbedError(f"no cancel link on the provider's page: {page[:500]}")
                url = urljoin(url, html.unescape(abort.group(1)))
                response = browser.get(url, allow_redirects=False, timeout=10)
                continue
            action = re.search(r'<form[^>]*action="([^"]+)"', page)
            if action is None:
                raise TestbedError(f"no form on the provider's page: {page[:500]}")
            # Its hidden fields (prompt, or the logout step's xsrf and logout when another
            # person's session at the provider is ended first), as the browser would send them.
            form = {
                html.unescape(name): html.unescape(value)
                for name, value in re.findall(
                    r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page
                )
            }
            if form.get("prompt") == "login":
                form.update(person)
            url = urljoin(url, html.unescape(action.group(1)))
            response = browser.post(url, data=form, allow_redirects=False, timeout=10)
        raise TestbedError("the provider's pages did not send the browser back")

    def stop(self) -> None:
        self.process.stop()


@contextmanager
def running_oidc_provider(
    folder: Path,
    redirect_uri: str,
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    port: int | None = None,
    signing_key: str | None = None,
    client_key: str | None = None,
    clock_offset_s: int = 0,
) -> Iterator[OidcProvider]:
    """`oidc-provider` on 127.0.0.1 (on `port`, or a free one), signing ID tokens with
    `signing_key` and knowing the centre's `client_key` (new keys unless given), its clock
    `clock_offset_s` off; `accounts` adds claims to the person of each login name."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise TestbedError("Node.js is not installed: `./run.sh test` installs nodejs")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    client_key = client_key or new_rsa_key()
    client_key_path = folder / "centre-client.pem"
    client_key_path.write_text(client_key)
    client_key_path.chmod(0o600)
    secret_path = folder / "client-secret"
    secret_path.write_text(SECRET)
    common = {
        "redirect_uris": [redirect_uri],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
    }
    config = {
        "module": str(provider_module()),
        "issuer": issuer,
        "port": port,
        "clock_offset_s": clock_offset_s,
        "cookie_key": secrets.token_urlsafe(32),
        "signing_jwk": jwk_of(signing_key or new_rsa_key(), "provider-key", private=True),
        "scope_claims": SCOPE_CLAIMS,
        "accounts": dict(accounts or {}),
        "clients": [
            {
                **common,
                "client_id": "centre",
                "token_endpoint_auth_method": "private_key_jwt",
                "require_pushed_authorization_requests": True,  # as HelseID's new clients
                "jwks": {"keys": [jwk_of(client_key, "centre-key", private=False)]},
            },
            {
                **common,
                "client_id": "centre-secret",
                "client_secret": SECRET,
                "token_endpoint_auth_method": "client_secret_basic",
            },
        ],
    }
    (folder / "provider.json").write_text(json.dumps(config))
    (folder / "provider.mjs").write_text(SCRIPT)
    process = Process(
        "oidc-provider",
        [node, str(folder / "provider.mjs"), str(folder / "provider.json")],
        folder / "provider.log",
        env={"NODE_ENV": "test"},
    )
    provider = OidcProvider(
        issuer, "centre", "centre-secret", client_key_path, secret_path, redirect_uri, process
    )
    try:
        wait_until(lambda: _listening(process, port), 15, "oidc-provider")
        yield provider
    finally:
        process.stop()


def _listening(process: Process, port: int) -> bool:
    process.check_alive()  # a provider that failed to start says why, at once
    return port_open(port)
