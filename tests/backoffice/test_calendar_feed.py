"""The private calendar feed (issue 15): per staff member, secret URL,
revocable, the tenant's bookings and live holds as iCalendar."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from icalendar import Calendar

from tenants.models import AuditEntry, TenantMembership
from tests.factories import BookingFactory, MembershipFactory

FEED = re.compile(r'value="https?://[^"]+(/calendar/[^"]+\.ics)"')


def issue_feed(client, membership) -> str:
    client.force_login(membership.user)
    page = client.post("/admin/calendar-feed/", {"action": "issue"})
    assert page.status_code == 200
    return FEED.search(page.content.decode()).group(1)


def test_feed_lists_the_tenants_bookings_and_live_holds(client, tenant, other_tenant, unscoped):
    day = timezone.localdate() + dt.timedelta(days=10)
    BookingFactory(tenant=tenant, couple_name="Ada & Grace", event_date=day)
    BookingFactory(
        tenant=tenant,
        couple_name="Hedy & Alan",
        status="held",
        event_date=day + dt.timedelta(days=1),
        hold_expires_at=timezone.now() + dt.timedelta(minutes=20),
    )
    BookingFactory(tenant=tenant, couple_name="Gone", status="canceled", event_date=day)
    BookingFactory(tenant=other_tenant, couple_name="Beta Couple", event_date=day)
    membership = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF)
    path = issue_feed(client, membership)
    client.logout()

    response = client.get(path)  # a calendar app: no login

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [(str(e["summary"]).split(" — ")[0], str(e["status"])) for e in events] == [
        ("Ada & Grace", "CONFIRMED"),
        ("On hold: Hedy & Alan", "TENTATIVE"),
    ]
    assert events[0].decoded("dtstart") == day
    assert "/admin/bookings/booking/" in str(events[0]["url"])


def test_a_new_link_kills_the_old_one_and_revoking_kills_both(client, tenant, unscoped):
    membership = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF)
    first = issue_feed(client, membership)
    second = issue_feed(client, membership)

    assert (client.get(first).status_code, client.get(second).status_code) == (404, 200)
    client.post("/admin/calendar-feed/", {"action": "revoke"})
    assert client.get(second).status_code == 404
    membership.refresh_from_db()
    assert membership.calendar_feed_hash == ""
    actions = list(
        AuditEntry.objects.filter(action__startswith="calendar_feed.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["calendar_feed.issued", "calendar_feed.issued", "calendar_feed.revoked"]


def test_unknown_secret_and_a_deactivated_login_get_404(client, tenant, unscoped):
    membership = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF)
    path = issue_feed(client, membership)
    membership.user.is_active = False
    membership.user.save(update_fields=["is_active"])

    assert client.get("/calendar/not-a-secret.ics").status_code == 404
    assert client.get(path).status_code == 404
