"""What a browser origin looks like, in one place: tenants validate the
origins they list (CORS, framing) with it, and the CSP helper refuses to
write anything else into a header."""

import re

# Scheme, host and optional port; lower case, no path, no trailing slash.
ORIGIN_RE = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")


def is_origin(value: str) -> bool:
    return bool(ORIGIN_RE.fullmatch(value))
