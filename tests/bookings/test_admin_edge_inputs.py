"""Admin pages given dates at the ends of the calendar (issue 10 item 6):
never a 500."""

from __future__ import annotations

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

CALENDAR = "/admin/bookings/booking/calendar/"


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "10000-01", "0000-12"])
def test_calendar_month_outside_what_it_can_show_falls_back_to_this_month(
    staff_client, tenant, month
):
    response = staff_client.get(CALENDAR, {"month": month})

    assert response.status_code == 200
    assert response.context["month"] == timezone.now().date().replace(day=1)


@pytest.mark.parametrize("month", ["9999-11", "0001-02"])
def test_calendar_shows_the_first_and_last_months_it_can(staff_client, tenant, month):
    response = staff_client.get(CALENDAR, {"month": month})

    assert response.status_code == 200
    assert response.context["month"].isoformat()[:7] == month
    # links to the months either side, or to this month where there are none
    assert response.context["prev_url"].endswith(
        "month=0001-01" if month == "0001-02" else "month=9999-10"
    )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/admin/bookings/booking/", "event_date__year=9999"),
        ("/admin/bookings/booking/", "event_date__year=9999&event_date__month=12"),
        (
            "/admin/bookings/booking/",
            "event_date__year=9999&event_date__month=12&event_date__day=31",
        ),
        ("/admin/bookings/blackoutdate/", "date__year=9999"),
    ],
)
def test_date_drill_down_past_the_last_date_is_an_invalid_filter(staff_client, path, query):
    response = staff_client.get(f"{path}?{query}")

    assert response.status_code == 302
    assert response["Location"] == f"{path}?e=1"


def test_date_drill_down_into_the_last_year_with_an_end_still_works(staff_client):
    response = staff_client.get("/admin/bookings/booking/?event_date__year=9998")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
