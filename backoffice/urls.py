from django.urls import path

from backoffice.calendar_feed import calendar_feed

urlpatterns = [
    path("calendar/<str:secret>.ics", calendar_feed, name="backoffice-calendar-feed"),
]
