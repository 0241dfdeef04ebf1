"""Routes of the couple-facing pages (mounted at the site root)."""

from django.urls import path

from storefront import views, widget

app_name = "storefront"

urlpatterns = [
    path("book/widget.js", widget.widget_script, name="widget-js"),
    path("book/k/<str:key>/", views.widget_key_redirect, name="widget-key"),
    path("book/<slug:tenant_slug>/", views.booking_page, name="book"),
    path("book/<slug:tenant_slug>/theme.css", views.theme_css, name="theme"),
    path("book/<slug:tenant_slug>/calendar/", views.calendar_fragment, name="calendar"),
    path("book/<slug:tenant_slug>/link/", views.link_request_page, name="link-request"),
    path("bookings/<uuid:booking_id>/", views.booking_status_page, name="booking-status"),
    path("bookings/<uuid:booking_id>/manage/<str:token>/", views.manage_page, name="manage"),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/pay-balance/",
        views.manage_pay_balance,
        name="manage-pay-balance",
    ),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/answers/",
        views.manage_answers,
        name="manage-answers",
    ),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/cancel/",
        views.manage_cancel,
        name="manage-cancel",
    ),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/cancel-request/",
        views.manage_cancel_request,
        name="manage-cancel-request",
    ),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/move/",
        views.manage_move,
        name="manage-move",
    ),
    path(
        "bookings/<uuid:booking_id>/manage/<str:token>/calendar.ics",
        views.manage_calendar,
        name="manage-ics",
    ),
]
