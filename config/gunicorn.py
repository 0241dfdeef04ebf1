"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

Every value can be overridden with GUNICORN_* environment variables. Size
the connection budget with them: each worker process holds its own psycopg
pool of up to DB_POOL_MAX_SIZE connections (see docs/deploy.md).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Threads, not processes, carry concurrency: requests mostly wait on
# PostgreSQL and Stripe; one pool per process is shared by its threads.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Stripe calls time out after STRIPE_TIMEOUT_SECONDS (10 s); leave room.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (bounded memory growth), not all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# Request line and headers are small for this API; bodies are capped by
# Django (DATA_UPLOAD_MAX_BYTES) and the proxy.
limit_request_line = 4094
limit_request_fields = 100
# The proxy in front terminates TLS and sets X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# No access log here: the app writes one JSON line per request with its
# request id (config.middleware.AccessLogMiddleware, logger altar.access).
accesslog = None
errorlog = "-"
