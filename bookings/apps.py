from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = "Bookings"

    def ready(self) -> None:
        # The outbox's tasks, known by name to bookings.outbox.enqueue before
        # any request or command queues one.
        from bookings import tasks  # noqa: F401
