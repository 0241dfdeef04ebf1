"""The API's gate in one Redis round trip: throttles plus the key's state.

Without it, a keyed request costs three throttles x two cache commands
(tenants/api/throttling.py) and a database round trip to resolve the key.
With Redis (django-redis), a process keeps each key it has resolved (the
ApiKey row and its tenant) for at most KEY_STATE_MAX_AGE, stamped with the
*revocation epoch* it read from Redis before reading the database. Each
later request runs one Lua script that counts the three fixed windows, in
the same order and with the same rules as the throttle classes, and returns
the current epoch. Any change to a tenant or key (a save or delete, a
revocation, a catalog change; tenants.signals) sets a new epoch once it has
committed: a request that sees a different epoch than its entry's drops the
entry and resolves the key in the database again. So a revoked key is
refused on the next request, and a tenant's settings are never served
stale, while a warm request touches Redis once and the database not at all.

If Redis fails, the request falls back to the database lookup (and the
throttles allow it, as django-redis's IGNORE_EXCEPTIONS does for them).
The first request for a key (or after KEY_STATE_MAX_AGE) reads the epoch,
then runs the throttle classes and the database lookup as without Redis.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from tenants.keys import parse_key
from tenants.models import ApiKey

logger = logging.getLogger("altar.api.gate")

EPOCH_KEY = "altar:api_keys:epoch"
# Re-resolve each key at least this often anyway (it also keeps the key's
# last_used_at current, and bounds staleness if a new epoch was not set
# because Redis was down at that moment).
KEY_STATE_MAX_AGE = 10.0

# KEYS[1]: the epoch; KEYS[2..]: window counters in throttle order.
# ARGV[1]: an epoch to set if there is none (random: a flushed Redis never
# brings an old epoch back); ARGV[2i-2], ARGV[2i-1]: counter i's expiry and
# limit. Returns {epoch, index of the first refusing counter or 0}.
GATE_SCRIPT = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
for i = 2, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i - 2]) end
  if n > tonumber(ARGV[2 * i - 1]) then return {epoch, i - 1} end
end
return {epoch, 0}
"""


@dataclass(frozen=True)
class KeyState:
    epoch: bytes
    api_key: ApiKey  # with its tenant cached; copied for each request
    fresh_until: float


_states: dict[str, KeyState] = {}
_lock = threading.Lock()
_script_cache: dict[int, object] = {}


def _redis():
    """The django-redis client behind the default cache, else None."""
    if settings.CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _script(client):
    script = _script_cache.get(id(client))
    if script is None:
        script = _script_cache[id(client)] = client.register_script(GATE_SCRIPT)
    return script


def new_epoch() -> None:
    """Every process re-resolves its keys on their next request. Called after
    a tenant or key change commits (tenants.signals)."""
    client = _redis()
    if client is None:
        return
    try:
        client.set(cache.make_key(EPOCH_KEY), uuid.uuid4().hex)
    except RedisError:
        # Entries expire within KEY_STATE_MAX_AGE anyway.
        logger.warning("could not set a new API key epoch", exc_info=True)


def forget_all() -> None:
    with _lock:
        _states.clear()


def check(view, request, throttles) -> bool:
    """Throttle (and, when warm, authenticate) the request in one round trip.
    False: not applicable (no Redis), the caller runs the throttles itself."""
    client = _redis()
    if client is None:
        return False
    raw = request._request.headers.get("X-Tenant-Key", "").strip()
    state = _states.get(raw) if raw else None
    if state is None or state.fresh_until < time.monotonic():
        _cold(view, request, throttles, client, raw)
        return True
    api_key = state.api_key
    keys, args = [cache.make_key(EPOCH_KEY)], [uuid.uuid4().hex]
    for throttle in throttles:
        if throttle.rate is None:
            continue
        ident = throttle.gate_ident(request, api_key.prefix)
        counter = f"{throttle.cache_format % {'scope': throttle.scope, 'ident': ident}}"
        window = int(time.time() // throttle.duration)
        keys.append(cache.make_key(f"{counter}:{window}"))
        args += [throttle.duration + 1, throttle.num_requests]
    try:
        epoch, refused = _script(client)(keys=keys, args=args, client=client)
    except RedisError:
        logger.warning("API gate: Redis failed; the key is read from the database")
        return True  # authentication (in initial) reads the key from the database
    if refused:
        duration = [t for t in throttles if t.rate is not None][refused - 1].duration
        view.throttled(request, max(1.0, duration - time.time() % duration))
    valid_until = api_key.valid_until
    if epoch != state.epoch or (valid_until is not None and valid_until <= timezone.now()):
        with _lock:
            _states.pop(raw, None)
        return True  # authentication reads it from the database
    request_key = copy.copy(api_key)
    ApiKey.tenant.field.set_cached_value(request_key, copy.copy(api_key.tenant))
    request._request._altar_api_key = request_key
    return True


def _cold(view, request, throttles, client, raw: str) -> None:
    """Read the epoch before the database, then throttle and authenticate as
    without Redis, and keep the key's state stamped with that epoch."""
    epoch = None
    if raw and parse_key(raw) is not None:
        try:
            epoch = _script(client)(
                keys=[cache.make_key(EPOCH_KEY)], args=[uuid.uuid4().hex], client=client
            )[0]
        except RedisError:
            epoch = None
    view.check_throttles_one_by_one(request, throttles)
    api_key = getattr(request._request, "_altar_api_key", None)
    if epoch is not None and api_key is not None:
        with _lock:
            _states[raw] = KeyState(epoch, copy.copy(api_key), time.monotonic() + KEY_STATE_MAX_AGE)
            ApiKey.tenant.field.set_cached_value(_states[raw].api_key, copy.copy(api_key.tenant))
