from tests.bookings.conftest import catalog, checkout_body, paid_booking  # noqa: F401 - shared fixtures
from tests.webhooks.conftest import checkout, webhooks  # noqa: F401 - shared fixtures
