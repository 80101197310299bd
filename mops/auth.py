"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and the Bearer token flow.

One ``Authenticator`` serves one registry host and is shared by every thread talking to it.

- Anonymous until the registry answers 401.  A 401 names the scheme:
- ``Basic``: from then on every request carries ``Authorization: Basic …`` up front, so a request
  with a body is never sent once to be refused and then again.
- ``Bearer realm=…,service=…,scope=…``: ask the realm for a token (with Basic credentials when there
  are some, or an OAuth2 refresh-token grant when docker stored an ``identitytoken``), cache it per
  scope set until it expires, and send it up front on later requests for the same scopes.  Once the
  realm is known, tokens for new scopes are fetched before the request, not after a 401.

Secrets live only in this object's memory; no message built here contains a password or token.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import AuthError

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^,\s]*)\s*(?:,|$)")
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")
_SECRET_RE = re.compile(r"(?i)\b(authorization\s*[:=]\s*)?(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}")


@dataclass
class Challenge:
    scheme: str  # lower case: "basic", "bearer", ...
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235; quoted strings may hold commas)."""
    out: list[Challenge] = []
    pos = 0
    text = header or ""
    while pos < len(text):
        if text[pos] in ", \t":
            pos += 1
            continue
        m = _SCHEME_RE.match(text, pos)
        if not m:
            break
        # a "token=" here is a parameter of the previous challenge, not a new scheme
        if text[m.end(1):].lstrip().startswith("=") and out:
            pm = _PARAM_RE.match(text, pos)
            if not pm:
                break
            out[-1].params[pm.group(1).lower()] = _unquote(pm.group(2))
            pos = pm.end()
            continue
        ch = Challenge(m.group(1).lower())
        out.append(ch)
        pos = m.end()
        while pos < len(text):
            pm = _PARAM_RE.match(text, pos)
            if not pm:
                break
            # stop before the next challenge: "…, Basic realm=x" has no "=" right after "Basic"
            ch.params[pm.group(1).lower()] = _unquote(pm.group(2))
            pos = pm.end()
            nxt = _SCHEME_RE.match(text, pos)
            if nxt and not text[nxt.end(1):].lstrip().startswith("="):
                break
    return out


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def basic_value(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def redact(text: str) -> str:
    """Hide credentials that might have slipped into a string meant for people (headers, reprs)."""
    return _SECRET_RE.sub(lambda m: (m.group(1) or "") + m.group(2) + " <redacted>", text)


def merge_scopes(scopes: list[str]) -> list[str]:
    """``repository:a:pull,push`` + ``repository:a:push,pull`` → one scope per resource, actions united."""
    merged: dict[str, list[str]] = {}
    for scope in scopes:
        if not scope:
            continue
        resource, sep, actions = scope.rpartition(":")
        if not sep or ":" not in resource:
            merged.setdefault(scope, [])
            continue
        acts = merged.setdefault(resource, [])
        acts += [a for a in actions.split(",") if a and a not in acts]
    return [f"{r}:{','.join(a)}" if a else r for r, a in merged.items()]


ScopeSet = tuple[str, ...]
#: (url, query params, headers, form data or None) → (status code, parsed JSON or None)
TokenFetcher = Callable[[str, dict, dict, dict | None], tuple[int, dict | None]]


class Authenticator:
    def __init__(self, host: str, load_credentials: Callable[[], object | None], fetch: TokenFetcher):
        self.host = host
        self._load_credentials = load_credentials
        self._creds_loaded = False
        self._creds = None
        self._fetch = fetch
        self._lock = threading.RLock()
        self._basic = False
        self._bearer: dict[str, str] | None = None  # realm and service, once a challenge named them
        self._tokens: dict[ScopeSet, tuple[str, float]] = {}
        self.challenged = False  # the registry asked for credentials at least once

    # -- state -------------------------------------------------------------
    @property
    def credentials(self):
        with self._lock:
            if not self._creds_loaded:
                self._creds = self._load_credentials()
                self._creds_loaded = True
            return self._creds

    def _who(self) -> str:
        c = self.credentials
        if c is None:
            return "anonymously"
        name = getattr(c, "username", "") or "identity token"
        src = getattr(c, "source", "")
        return f"as {name!r}" + (f" (credentials from {src})" if src else "")

    def authorization(self, scopes: ScopeSet) -> str | None:
        """The ``Authorization`` value to send up front for a request needing ``scopes``, if any."""
        with self._lock:
            if self._basic:
                c = self.credentials
                return basic_value(c.username, c.password) if c is not None else None
            if self._bearer is None:
                return None
            tok = self._tokens.get(scopes)
            if tok is not None and tok[1] > time.monotonic():
                return "Bearer " + tok[0]
            return "Bearer " + self._get_token(scopes, {})

    def unauthorized(self, www_authenticate: str, scopes: ScopeSet, sent: str | None) -> None:
        """React to a 401: set up what the next attempt sends, or raise AuthError if nothing would help."""
        challenges = parse_challenges(www_authenticate)
        self.challenged = True
        by_scheme = {c.scheme: c for c in challenges}
        with self._lock:
            if "bearer" in by_scheme and by_scheme["bearer"].params.get("realm"):
                ch = by_scheme["bearer"]
                cached = self._tokens.get(scopes)
                if sent is not None and cached is not None and sent == "Bearer " + cached[0] \
                        and ch.params.get("error") != "invalid_token":
                    raise self._denied(scopes)  # a fresh token for exactly these scopes was not enough
                self._bearer = {"realm": ch.params["realm"], "service": ch.params.get("service", "")}
                self._tokens.pop(scopes, None)
                self._get_token(scopes, ch.params)
                return
            if "basic" in by_scheme or not challenges:
                creds = self.credentials
                if creds is None or not getattr(creds, "username", ""):
                    raise AuthError(f"registry {self.host} requires authentication",
                                    hint=f"run mops login {self.host} (or set MOPS_REGISTRY_USERNAME and MOPS_REGISTRY_PASSWORD)")
                if self._basic and sent is not None:
                    raise AuthError(f"registry {self.host} refused the credentials {self._who()}",
                                    hint=f"run mops login {self.host} with the right user name and password")
                self._basic = True
                return
            raise AuthError(f"registry {self.host} asks for an unsupported authentication scheme "
                            f"{', '.join(c.scheme for c in challenges)}")

    def _denied(self, scopes: ScopeSet) -> AuthError:
        what = " ".join(scopes) or "access"
        return AuthError(f"registry {self.host} denied {what} {self._who()}",
                         hint=f"check the repository name and your rights there, or run mops login {self.host}")

    # -- tokens ------------------------------------------------------------
    def _get_token(self, scopes: ScopeSet, params: dict[str, str]) -> str:
        assert self._bearer is not None
        wanted = merge_scopes([*scopes, *(params.get("scope") or "").split(" ")])
        realm, service = self._bearer["realm"], self._bearer.get("service") or params.get("service", "")
        creds = self.credentials
        query: dict = {}
        headers: dict[str, str] = {}
        form: dict | None = None
        if service:
            query["service"] = service
        if creds is not None and getattr(creds, "identity_token", None):
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": "mops",
                    "service": service, "scope": " ".join(wanted)}
        else:
            if wanted:
                query["scope"] = wanted
            if creds is not None and getattr(creds, "username", ""):
                headers["Authorization"] = basic_value(creds.username, creds.password)
        status, doc = self._fetch(realm, query, headers, form)
        if status in (401, 403):
            if creds is None:
                raise AuthError(f"registry {self.host} requires authentication for {' '.join(wanted) or 'access'}",
                                hint=f"run mops login {self.host}")
            raise AuthError(f"the token service of {self.host} refused the credentials {self._who()}",
                            hint=f"run mops login {self.host} with the right user name and password")
        token = (doc or {}).get("token") or (doc or {}).get("access_token") if status == 200 else None
        if not token:
            raise AuthError(f"the token service of {self.host} answered HTTP {status} without a token",
                            hint=f"run mops login {self.host}; check that the registry's auth service is up")
        try:
            ttl = float((doc or {}).get("expires_in") or 60)
        except (TypeError, ValueError):
            ttl = 60.0
        self._tokens[scopes] = (token, time.monotonic() + max(ttl - 10, ttl / 2))
        return token

    def check(self) -> None:
        """For ``mops login``: make sure the credentials work even where /v2/ alone would not ask for a token."""
        with self._lock:
            if self._bearer is not None:
                self._tokens.pop((), None)
                self._get_token((), {})
