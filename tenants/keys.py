"""API key format: `pk_live_<40 base62>` / `sk_live_<40 base62>`.

The first 12 characters of the random part are the indexed lookup prefix;
the whole key is compared as a SHA-256 digest in constant time.
"""

import hashlib
import hmac
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 40
PREFIX_LENGTH = 12
KEY_RE = re.compile(rf"^(pk|sk)_live_([A-Za-z0-9]{{{_RANDOM_LENGTH}}})$")
KIND_BY_TAG = {"pk": "publishable", "sk": "secret"}
TAG_BY_KIND = {v: k for k, v in KIND_BY_TAG.items()}


def generate_key(kind: str) -> str:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return f"{TAG_BY_KIND[kind]}_live_{random_part}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """(kind, lookup prefix), or None when the key is malformed."""
    match = KEY_RE.match(key)
    if not match:
        return None
    return KIND_BY_TAG[match.group(1)], match.group(2)[:PREFIX_LENGTH]


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)
