from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The staff back office: how the admin looks and reads (theme, sidebar,
    money and dates for people), the dashboard and calendar reads, and the
    operators' commands. The top floor: it imports every app, none imports
    it, and it has no models."""

    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from django.contrib import admin
        from django.urls import path

        from backoffice.booking_calendar import calendar_view
        from backoffice.calendar_feed import calendar_feed_admin_view

        # unfold's site adds what `extra_urls()` returns to the admin's URLs,
        # ahead of the model admins' (whose "<path:object_id>/" would take
        # the calendar's path). The calendar keeps its place and name under
        # the bookings it shows.
        admin.site.extra_urls = lambda: [
            path(
                "calendar-feed/",
                admin.site.admin_view(calendar_feed_admin_view),
                name="backoffice_calendar_feed",
            ),
            path(
                "bookings/booking/calendar/",
                admin.site.admin_view(calendar_view),
                name="bookings_booking_calendar",
            ),
        ]
