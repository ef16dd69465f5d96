"""URLs, pure: shown without credentials, checked before use, and where an index's
trusted publishing endpoints live.

No I/O, and no import of the project but ``errors``: settings, http, credentials and
the reports all use these, so this module must sit below every one of them (it ends the
circle settings -> credentials -> http -> settings).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

from .errors import CredentialError, InputError

# Hosts whose upload URL differs from where the exchange endpoints live.
EXCHANGE_HOSTS = {"upload.pypi.org": "https://pypi.org"}


def sanitize_url(url: str) -> str:
    """Hide any credentials in a URL (user and password) before it is shown anywhere."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        netloc = "***@" + (parts.hostname or "")
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        # Malformed (a bracket out of place, a port that is no number): without an '@'
        # (as NFKC reads it, like urlsplit) it holds no credentials and is shown as it is;
        # with one, nothing of it is.
        if "@" not in unicodedata.normalize("NFKC", url):
            return url
        return "<a malformed URL>"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def url_credentials(url: str) -> tuple[str, str]:
    """The user name and password in a URL, even one too malformed to parse
    (``https://u:p@[host/``): it is refused later, but masked first."""
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.username or "", parts.password or ""
    except ValueError:
        # urlsplit's own reading of the authority: after '//', up to the path, query or
        # fragment; the user information is what comes before its last '@'.
        authority = re.split(r"[/?#]", re.sub(r"[\t\r\n]", "", url).partition("//")[2])[0]
        user, _, password = authority.rpartition("@")[0].partition(":")
        return user, password


def check_url(name: str, url: str, example: str) -> None:
    """A URL the HTTP client can use (parsed, with a host and a numeric port), or an
    error naming the input: urlsplit's ValueError would otherwise surface much later."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # its message may quote the authority, password and all
        why = (
            "it cannot be parsed (a '[' or ']' out of place, or a character that a host "
            "name cannot hold)"
        )
    else:
        try:
            parts.port  # noqa: B018 - reading validates
        except ValueError:
            why = "its port is not a number from 0 to 65535"
        else:
            why = "" if parts.hostname else "it names no host"
    if why:
        raise InputError(
            f"{name}-invalid",
            f"{{{name}}} '{sanitize_url(url)}' is not a valid URL: {why}.",
            f"Set {{{name}}} to a URL such as {example} (an IPv6 address goes in brackets, "
            "with its port after them: https://[2001:db8::1]:8080/).",
        )


def exchange_base(repository_url: str) -> str:
    """Where an index's trusted publishing endpoints live (scheme://host[:port])."""
    parts = urllib.parse.urlsplit(repository_url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        host = ""
    if parts.scheme not in ("http", "https") or not host:
        raise CredentialError(
            "exchange-url-invalid",
            "The repository-url is not an http(s) URL with a host, so trusted publishing "
            "has no index to ask for a token.",
            "Set repository-url to the index's upload URL, e.g. https://upload.pypi.org/legacy/",
        )
    if host in EXCHANGE_HOSTS:
        return EXCHANGE_HOSTS[host]
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 literal
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"
