"""Bookings in the admin: tenant-scoped lists, booking detail with add-ons and
refunds, release an unpaid hold, cancel a paid booking with a refund choice
(through the services; refunds reach Stripe through the outbox), blackouts.

Bookings are created by couples through checkout, never in the admin: the
booking form is read-only and every change goes through a service.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, Case, QuerySet, Value, When
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from bookings.admin_views import bookings_csv_response, format_answers
from bookings.agreements import policy_refund_now
from bookings.balances import balance_link_send, offline_payment_record
from bookings.errors import (
    BookingChangedMeanwhile,
    BookingNotCancelable,
    BookingNotFound,
    DateUnavailable,
    HoldNotReleasable,
    PolicyForbidsChange,
    RefundTooLarge,
)
from bookings.models import (
    BlackoutDate,
    Booking,
    BookingAddOn,
    BookingDateChange,
    BookingDispute,
    BookingPayment,
    BookingRefund,
    PaymentReview,
)
from bookings.notifications import format_money, policy_lines
from bookings.refunds import refundable_now
from bookings.selectors import (
    booking_balance_due_cents,
    booking_refund_preview,
    occupying_bookings,
)
from bookings.services import (
    BOOKING_CONTACT_FIELDS,
    blackout_date_delete,
    blackout_date_set,
    blackout_range_add,
    booking_cancel,
    booking_confirmation_resend,
    booking_contact_update,
    booking_date_change,
    booking_hold_release,
    date_change_quote,
    payment_review_resolve,
)
from config.errors import DomainError
from tenants.admin_base import (
    ServiceFormAdminMixin,
    TenantScopedAdmin,
    TenantScopedInline,
    copy_saved,
    refused,
    request_tenant,
)
from tenants.models import AuditEntry, Tenant
from tenants.money_fields import MoneyField, money_input_text


def _ids(ids: list[str | None]) -> str:
    return ", ".join(i for i in ids if i)


class ReadOnlyInline(TenantScopedInline):
    extra = 0
    can_delete = False
    # No per-row title (unfold shows each row's str() above it): the columns
    # say it all, and a refund's or dispute's str() is its Stripe id, which
    # belongs in the folded "Payment details" only.
    hide_title = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BookingAddOnInline(ReadOnlyInline):
    model = BookingAddOn
    verbose_name_plural = "add-ons booked"
    fields = readonly_fields = ("title", "price")

    @admin.display(description="Price")
    def price(self, obj: BookingAddOn) -> str:
        return format_money(obj.price_cents, obj.booking.currency)


class BookingRefundInline(ReadOnlyInline):
    model = BookingRefund
    fields = readonly_fields = (
        "amount",
        "status",
        "reason",
        "failure",
        "created_at",
    )

    @admin.display(description="Amount")
    def amount(self, obj: BookingRefund) -> str:
        return format_money(obj.amount_cents, obj.booking.currency)


class BookingPaymentInline(ReadOnlyInline):
    """The payments ledger: deposit, balance (charged or through the pay
    link), offline payments staff recorded."""

    model = BookingPayment
    verbose_name_plural = "payments (ledger)"
    fields = readonly_fields = (
        "kind",
        "status",
        "amount",
        "commission_share",
        "failure",
        "note",
        "created_at",
    )

    @admin.display(description="Amount")
    def amount(self, obj: BookingPayment) -> str:
        return format_money(obj.amount_cents, obj.booking.currency)

    @admin.display(description="Commission (application fee)")
    def commission_share(self, obj: BookingPayment) -> str:
        return format_money(obj.application_fee_cents, obj.booking.currency)


class OfflinePaymentForm(forms.Form):
    # In the currency's units, cleaned to minor units ("100.50" is refused for
    # JPY rather than cut to 100).
    amount = MoneyField(label="Amount received")
    note = forms.CharField(
        max_length=200, required=False, help_text="How it was paid (no personal data)."
    )

    def __init__(self, *args: Any, currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["amount"].set_currency(currency)
        self.fields["amount"].help_text = f"e.g. {money_input_text(113_641, currency)}"


class PaymentReviewInline(ReadOnlyInline):
    model = PaymentReview
    verbose_name_plural = "Payments needing review (not confirmed: check them in Stripe)"
    fields = readonly_fields = (
        "reason",
        "amount",
        "payment_status",
        "created_at",
        "resolved_at",
    )

    @admin.display(description="Amount reported")
    def amount(self, obj: PaymentReview) -> str:
        return format_money(obj.amount_cents, obj.currency)


class BookingDisputeInline(ReadOnlyInline):
    model = BookingDispute
    fields = readonly_fields = (
        "amount",
        "reason",
        "status",
        "created_at",
        "closed_at",
    )

    @admin.display(description="Amount disputed")
    def amount(self, obj: BookingDispute) -> str:
        return format_money(obj.amount_cents, obj.currency)


class AttentionFilter(admin.SimpleListFilter):
    """Bookings whose money needs a person: a payment that did not match
    (open review) or an open dispute."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("payment_review", "Payment needs review"), ("dispute", "Open dispute")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Booking]) -> QuerySet[Booking]:
        if self.value() == "payment_review":
            open_reviews = PaymentReview.objects.filter(resolved_at__isnull=True)
            return queryset.filter(pk__in=open_reviews.values("booking_id"))
        if self.value() == "dispute":
            open_disputes = BookingDispute.objects.exclude(
                status__in=BookingDispute.CLOSED_STATUSES
            )
            return queryset.filter(pk__in=open_disputes.values("booking_id"))
        return queryset


def _month_start(day: dt.date, months_ahead: int) -> dt.date:
    month_index = day.year * 12 + day.month - 1 + months_ahead
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


class WeddingDateFilter(admin.SimpleListFilter):
    """The wedding dates an owner asks about, counted from today in the
    business's time zone (the admin runs in it: tenants.middleware)."""

    title = "wedding date"
    parameter_name = "wedding"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("upcoming", "Upcoming"),
            ("this_month", "This month"),
            ("next_month", "Next month"),
            ("past", "Past"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Booking]) -> QuerySet[Booking]:
        today = timezone.localdate()
        value = self.value()
        if value == "upcoming":
            return queryset.filter(event_date__gte=today)
        if value == "past":
            return queryset.filter(event_date__lt=today)
        if value in ("this_month", "next_month"):
            ahead = 0 if value == "this_month" else 1
            return queryset.filter(
                event_date__gte=_month_start(today, ahead),
                event_date__lt=_month_start(today, ahead + 1),
            )
        return queryset


class CancelForm(forms.Form):
    REFUND_CHOICES = [("full", "Full refund"), ("partial", "Partial refund"), ("none", "No refund")]
    refund = forms.ChoiceField(choices=REFUND_CHOICES, initial="full", widget=forms.RadioSelect)
    # In the currency's units ("250.00"; whole yen for JPY), cleaned to minor units.
    amount = MoneyField(required=False, label="Partial refund amount")
    # What the person deciding saw paid: the service refuses a partial or
    # no-refund decision if a payment landed since (review it again).
    seen_paid_cents = forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)
    # And what was left to refund: a refund made meanwhile (Stripe's
    # dashboard) changes what a partial choice leaves the business.
    seen_refundable_cents = forms.IntegerField(
        widget=forms.HiddenInput, min_value=0, required=False
    )
    # The refund the confirm page showed: confirming refunds exactly that or,
    # if the figures moved since, nothing (the choice is shown again).
    seen_refund_cents = forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)

    def __init__(
        self,
        *args: Any,
        refundable_cents: int,
        currency: str,
        policy_cents: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.refundable_cents = refundable_cents
        self.fields["amount"].set_currency(currency)
        self.fields["amount"].help_text = f"e.g. {money_input_text(25_000, currency)}"
        self.policy_cents = policy_cents
        if policy_cents is not None:
            # The booking's own policy is what staff are offered first.
            self.fields["refund"].choices = [
                (
                    "policy",
                    f"Refund under the booking's policy ({format_money(policy_cents, currency)})",
                ),
                *self.REFUND_CHOICES,
            ]
            self.fields["refund"].initial = "policy"

    def clean(self) -> dict:
        data = super().clean()
        if data.get("refund") == "partial":
            cents = data.get("amount")
            if cents is None:
                raise ValidationError({"amount": "Enter the amount to refund."})
            if cents > self.refundable_cents:
                raise ValidationError({"amount": "More than what is left of the payment."})
            data["refund_cents"] = cents
        elif data.get("refund") == "policy":
            data["refund_cents"] = self.policy_cents
        else:
            data["refund_cents"] = None if data.get("refund") == "full" else 0
        data["follow_policy"] = data.get("refund") == "policy"
        return data


class MoveForm(forms.Form):
    event_date = forms.DateField(
        label="New date", input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    # The refund the confirm page showed: the move is refused for review if
    # it would refund another amount by the time it is decided.
    seen_refund_cents = forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)


# How many recent changes the booking's summary card lists (the rest: History).
SUMMARY_HISTORY_ENTRIES = 5


@admin.register(Booking)
class BookingAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    list_display = (
        "event_date",
        "couple_name",
        "package",
        "status",
        "total",
        "paid",
        "refunded",
        "created_at",
    )
    list_filter = (WeddingDateFilter, "status", AttentionFilter)
    search_fields = ("couple_name", "email")
    search_help_text = "Search by the couple's names or e-mail"
    date_hierarchy = "event_date"
    inlines = [
        BookingAddOnInline,
        BookingPaymentInline,
        BookingRefundInline,
        PaymentReviewInline,
        BookingDisputeInline,
    ]
    list_select_related = ("package",)
    # The page reads as a summary card (templates/backoffice/booking_summary.html:
    # date, couple, package, money, the actions that apply now), then the
    # details in groups; Stripe's ids stay folded away under "Payment details"
    # (the booking's own and those of its payments, refunds, reviews and
    # disputes: the tables above them show none).
    change_form_outer_before_template = "backoffice/booking_summary.html"
    # The couple's contact details and notes are the page's only inputs
    # (saved through booking_contact_update, audited); the rest is the record.
    readonly_fields = (
        "id",
        "status",
        "event_date",
        "package",
        "hold_expires_at",
        "total",
        "commission",
        "paid",
        "refunded",
        "commission_refunded",
        "balance_due",
        "balance_due_on",
        "balance_state",
        "plan",
        "card_last4",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_account_id",
        "stripe_references",
        "created_at",
        "confirmed_at",
        "canceled_at",
        "expired_at",
        "expire_reason",
        "cancel_reason",
        "terms_acceptance",
        "answers_display",
    )
    fieldsets = (
        ("Wedding", {"fields": ("status", "event_date", "package", "hold_expires_at")}),
        ("Couple", {"fields": ("couple_name", "email", "phone", "notes")}),
        ("Agreements", {"fields": ("terms_acceptance", "answers_display")}),
        (
            "Money",
            {
                "fields": (
                    "total",
                    "commission",
                    "paid",
                    "refunded",
                    "commission_refunded",
                    "plan",
                    "balance_due",
                    "balance_due_on",
                    "balance_state",
                )
            },
        ),
        (
            "History",
            {
                "fields": (
                    "created_at",
                    "confirmed_at",
                    "canceled_at",
                    "cancel_reason",
                    "expired_at",
                    "expire_reason",
                )
            },
        ),
        (
            "Payment details",
            {
                "classes": ["collapse"],
                "fields": (
                    "id",
                    "card_last4",
                    "stripe_checkout_session_id",
                    "stripe_payment_intent_id",
                    "stripe_account_id",
                    "stripe_references",
                ),
            },
        ),
    )

    @admin.display(description="Stripe ids of payments, refunds, reviews and disputes")
    def stripe_references(self, booking: Booking) -> str:
        """One line per record, named as its table names it, with Stripe's
        ids to look it up in Stripe's dashboard."""
        money = booking.currency
        lines: list[tuple[str, str]] = []
        for payment in booking.payments.order_by("created_at", "pk"):
            ids = [payment.stripe_checkout_session_id, payment.stripe_payment_intent_id]
            lines.append(
                (
                    f"{payment.get_kind_display()}, {format_money(payment.amount_cents, money)}",
                    _ids(ids),
                )
            )
        for refund in booking.refunds.order_by("created_at", "pk"):
            lines.append(
                (
                    f"Refund of {format_money(refund.amount_cents, money)}",
                    _ids([refund.stripe_refund_id]),
                )
            )
        for review in booking.payment_reviews.order_by("created_at", "pk"):
            ids = [
                review.stripe_checkout_session_id,
                review.stripe_payment_intent_id,
                review.stripe_event_id,
            ]
            lines.append(("Payment needing review", _ids(ids)))
        for dispute in booking.disputes.order_by("created_at", "pk"):
            ids = [dispute.stripe_dispute_id, dispute.stripe_charge_id]
            lines.append(("Dispute", _ids(ids)))
        lines = [(label, ids) for label, ids in lines if ids]
        if not lines:
            return "—"
        return format_html(
            '<ul class="altar-stripe-ids">{}</ul>',
            format_html_join("", "<li>{}: <code>{}</code></li>", lines),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # bookings are kept; cancel instead

    def get_inline_instances(self, request: HttpRequest, obj: Any = None):
        """The inlines are read-only records: one with no rows for this
        booking (no add-ons, no refund, no dispute) is only noise, so it
        is left out (the same on GET and POST: the forms stay in step)."""
        inlines = super().get_inline_instances(request, obj)
        if obj is None:
            return inlines
        return [
            inline
            for inline in inlines
            if inline.get_queryset(request).filter(booking=obj).exists()
        ]

    def save_model(self, request: HttpRequest, obj: Booking, form: Any, change: bool) -> None:
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in BOOKING_CONTACT_FIELDS
        }
        if not changes:
            return
        try:
            saved = booking_contact_update(tenant=obj.tenant, booking_id=obj.pk, **changes)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The inlines are read-only records (add-on lines, refunds, reviews,
        # disputes): nothing of theirs is written from this page. What
        # construct_change_message reads (formset.save() would set them):
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    @admin.display(description="Payment plan")
    def plan(self, obj: Booking) -> str:
        # In words: unfold would show the raw JSON with Pygments' inline
        # styles, which the CSP refuses.
        plan = obj.plan_in_force
        if plan.get("kind") != "deposit":
            return "Paid in full at booking"
        if plan.get("deposit_percent") is not None:
            deposit = f"{plan['deposit_percent']} % deposit"
        else:
            deposit = f"{format_money(plan.get('deposit_cents') or 0, obj.currency)} deposit"
        refundable = "refundable" if plan.get("deposit_refundable") else "non-refundable"
        days = plan.get("balance_days_before")
        return f"{deposit} ({refundable}), balance due {days} days before the wedding"

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # Upcoming weddings first, soonest at the top; past ones after them
        # (today in the business's time zone: the admin runs in it).
        past = Case(
            When(event_date__lt=timezone.localdate(), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        return [past.asc(), "event_date", "created_at"]

    @admin.display(description="Total")
    def total(self, obj: Booking) -> str:
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description="Commission")
    def commission(self, obj: Booking) -> str:
        return (
            f"{format_money(obj.commission_cents, obj.currency)} ({obj.commission_bps / 100:g} %)"
        )

    @admin.display(description="Paid")
    def paid(self, obj: Booking) -> str:
        return format_money(obj.paid_cents, obj.currency)

    @admin.display(description="Balance due")
    def balance_due(self, obj: Booking) -> str:
        return format_money(booking_balance_due_cents(obj), obj.currency)

    @admin.display(description="Refunded")
    def refunded(self, obj: Booking) -> str:
        return format_money(obj.refunded_cents, obj.currency)

    @admin.display(description="Commission reversed")
    def commission_refunded(self, obj: Booking) -> str:
        return format_money(obj.commission_refunded_cents, obj.currency)

    @admin.display(description="Answers")
    def answers_display(self, obj: Booking) -> str:
        return format_answers(obj) or "—"

    @admin.display(description="Terms accepted")
    def terms_acceptance(self, obj: Booking) -> str:
        if obj.terms_version_id is None:
            return "—"
        url = reverse("admin:bookings_termsversion_change", args=[obj.terms_version_id])
        return format_html(
            '<a href="{}">Version {}</a> accepted {} by {} from {}',
            url,
            obj.terms_version.version,
            obj.terms_accepted_at.isoformat(timespec="seconds") if obj.terms_accepted_at else "?",
            obj.terms_accepted_name,
            obj.terms_accepted_address or "an unknown address",
        )

    @admin.display(description="Actions")
    def cancel_link(self, obj: Booking) -> str:
        if obj.status == Booking.Status.HELD:
            url = reverse("admin:bookings_booking_release", args=[obj.pk])
            return format_html('<a class="button" href="{}">Release hold…</a>', url)
        if obj.status == Booking.Status.CONFIRMED:
            return format_html(
                '<a class="button" href="{}">Cancel booking…</a> '
                '<a class="button" href="{}">Move to another date…</a>',
                reverse("admin:bookings_booking_cancel", args=[obj.pk]),
                reverse("admin:bookings_booking_move", args=[obj.pk]),
            )
        if obj.status == Booking.Status.PAYMENT_PROCESSING:
            url = reverse("admin:bookings_booking_cancel", args=[obj.pk])
            return format_html('<a class="button" href="{}">Cancel booking…</a>', url)
        return "—"

    # --- actions on the selected rows ---
    actions = ("resend_confirmation",)

    @admin.action(description="Resend the confirmation e-mail (confirmed bookings)")
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        sent, skipped = 0, 0
        for booking in queryset.select_related("tenant"):
            try:
                booking_confirmation_resend(tenant=booking.tenant, booking_id=booking.pk)
            except (BookingNotFound, ValidationError):
                skipped += 1
            else:
                sent += 1
        if sent:
            self.message_user(request, f"{sent} confirmation e-mail(s) queued.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} booking(s) skipped: only confirmed bookings have a confirmation.",
                messages.WARNING,
            )

    # --- extra pages ---
    def get_urls(self):
        view = self.admin_site.admin_view
        extra = [
            path("export.csv", view(self.export_view), name="bookings_booking_export"),
            path(
                "<uuid:booking_id>/cancel/",
                view(self.cancel_view),
                name="bookings_booking_cancel",
            ),
            path(
                "<uuid:booking_id>/move/",
                view(self.move_view),
                name="bookings_booking_move",
            ),
            path(
                "<uuid:booking_id>/release/",
                view(self.release_view),
                name="bookings_booking_release",
            ),
            path(
                "<uuid:booking_id>/offline-payment/",
                view(self.offline_payment_view),
                name="bookings_booking_offline_payment",
            ),
            path(
                "<uuid:booking_id>/balance-link/",
                view(self.balance_link_view),
                name="bookings_booking_balance_link",
            ),
            path(
                "<uuid:booking_id>/resend-confirmation/",
                view(self.resend_view),
                name="bookings_booking_resend",
            ),
        ]
        # Before the model admin's catch-all "<path:object_id>/".
        return [*extra, *super().get_urls()]

    def _booking_or_404(self, request: HttpRequest, booking_id) -> Booking:
        # get_object goes through the scoped queryset: another tenant's id is
        # simply not found, exactly like an unknown one.
        booking = self.get_object(request, str(booking_id))
        if booking is None or not self.has_change_permission(request, booking):
            raise Http404("Not found.")
        return booking

    def _action_context(self, request: HttpRequest, booking: Booking, action: str) -> dict:
        """What every page acting on one booking shows around its form: the
        header trail "Bookings > 13 Dec 2026 · Ada & Grace > Cancel booking"
        (not unfold's "Bookings > Bookings") and the browser tab's title."""
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{action} — {booking}",
            "header_parts": [
                {"title": "Bookings", "link": reverse("admin:bookings_booking_changelist")},
                {
                    "title": str(booking),
                    "link": reverse("admin:bookings_booking_change", args=[booking.pk]),
                },
                {"title": action},
            ],
        }

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The changelist's rows as CSV: the same ChangeList, so the same
        filters, search, date drill-down and tenant scope as the page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter.")
        tenant = request_tenant(request)
        name = f"bookings-{tenant.slug if tenant else 'all'}.csv"
        return bookings_csv_response(changelist.queryset, filename=name)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "export_query": request.GET.urlencode(),
        }
        return super().changelist_view(request, extra_context)

    def resend_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        booking = self._booking_or_404(request, booking_id)
        change_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        if request.method == "POST":
            try:
                booking_confirmation_resend(tenant=booking.tenant, booking_id=booking.pk)
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(
                    request, f"Confirmation e-mail queued to {booking.email}.", messages.SUCCESS
                )
            return HttpResponseRedirect(change_url)
        context = {
            **self._action_context(request, booking, "Resend the confirmation e-mail"),
            "booking": booking,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/bookings/booking/resend.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        booking = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_resend": booking is not None and booking.status == Booking.Status.CONFIRMED,
            "balance_due": booking is not None and booking_balance_due_cents(booking) > 0,
            "can_release": booking is not None and booking.status == Booking.Status.HELD,
            "can_cancel": booking is not None
            and booking.status in (Booking.Status.CONFIRMED, Booking.Status.PAYMENT_PROCESSING),
            "can_move": booking is not None and booking.status == Booking.Status.CONFIRMED,
            **(
                {
                    "summary_total": format_money(booking.amount_cents, booking.currency),
                    "summary_paid": format_money(booking.paid_cents, booking.currency),
                    "summary_refunded": booking.refunded_cents
                    and format_money(booking.refunded_cents, booking.currency),
                    # The card's history: the latest entries, read as
                    # sentences by the template (backoffice_audit).
                    "summary_history": list(
                        AuditEntry.objects.filter(
                            tenant=booking.tenant,
                            object_type="bookings.booking",
                            object_id=str(booking.pk),
                        ).select_related("tenant", "actor_user")[:SUMMARY_HISTORY_ENTRIES]
                    ),
                }
                if booking is not None
                else {}
            ),
            # Save keeps the couple's details; no "save and add another".
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def offline_payment_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        """Record money received outside Stripe (bank transfer, cash); audited."""
        booking = self._booking_or_404(request, booking_id)
        change_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        form = OfflinePaymentForm(request.POST or None, currency=booking.currency)
        due = booking_balance_due_cents(booking)
        if request.method == "POST" and form.is_valid():
            try:
                offline_payment_record(
                    tenant=booking.tenant,
                    booking_id=booking.pk,
                    amount_cents=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                form.add_error("amount", " ".join(exc.messages))
            except BookingChangedMeanwhile as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, "Offline payment recorded.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self._action_context(request, booking, "Record an offline payment"),
            "booking": booking,
            "form": form,
            "due": format_money(due, booking.currency),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/bookings/booking/offline_payment.html", context)

    def balance_link_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        """E-mail the couple the balance pay link now; audited."""
        booking = self._booking_or_404(request, booking_id)
        change_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        if request.method == "POST":
            try:
                balance_link_send(tenant=booking.tenant, booking_id=booking.pk)
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(request, "Balance link e-mailed to the couple.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self._action_context(request, booking, "Send the balance pay link"),
            "booking": booking,
            "due": format_money(booking_balance_due_cents(booking), booking.currency),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/bookings/booking/balance_link.html", context)

    def release_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        """End an unpaid hold: the date is free and the couple's checkout
        can no longer be paid. No money moves, so no refund choices."""
        booking = self._booking_or_404(request, booking_id)
        if booking.status != Booking.Status.HELD:
            return HttpResponseRedirect(reverse("admin:bookings_booking_change", args=[booking.pk]))
        error = None
        if request.method == "POST":
            try:
                booking_hold_release(tenant=booking.tenant, booking_id=booking.pk)
            except (HoldNotReleasable, BookingNotCancelable) as exc:
                error = exc.message
            else:
                self.message_user(
                    request,
                    "Hold released: the date is free and the checkout link no longer works.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:bookings_booking_change", args=[booking.pk])
                )
        context = {
            **self._action_context(request, booking, "Release hold"),
            "booking": booking,
            "error": error,
        }
        return TemplateResponse(request, "admin/bookings/booking/release.html", context)

    def cancel_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        """Choose the refund (policy, full, partial, none), then confirm on a
        page that says what it does to the money: the refund, Altar's
        commission returned with it, what the business keeps after
        commission (bookings.money.refund_preview, from the ledger as it is).
        Only that page's confirm button cancels. The amounts are decided
        again under the booking's lock: a payment or refund that landed
        after the figures were shown refuses a partial, policy or no-refund
        decision for review (a full refund refunds what is there then)."""
        booking = self._booking_or_404(request, booking_id)
        if booking.status == Booking.Status.HELD:
            return HttpResponseRedirect(
                reverse("admin:bookings_booking_release", args=[booking.pk])
            )
        refundable = refundable_now(booking)
        policy_cents = policy_refund_now(booking=booking)
        seen = {"seen_paid_cents": booking.paid_cents, "seen_refundable_cents": refundable}
        form = CancelForm(
            request.POST or None,
            initial=seen,
            refundable_cents=refundable,
            currency=booking.currency,
            policy_cents=policy_cents,
        )
        preview, error = None, None
        full = self._money(booking, None)
        if full["short"]:
            full["note"] = (
                f"{full['short']} was paid outside Stripe (bank transfer/cash) and is not "
                "refunded from here."
            )
        if request.method == "POST" and form.is_valid():
            refund_cents = form.cleaned_data["refund_cents"]
            if refund_cents is None and full["short"]:
                # "Full refund" is what the table showed: all that Stripe
                # holds; the part paid outside Stripe is the business's to
                # return (the note says so). As an amount, so the lock
                # re-checks it like any other.
                refund_cents = full["refund_cents"]
            figures = self._money(booking, refund_cents)
            if form.cleaned_data["refund"] == "full":
                figures["note"] = full.get("note")
            if figures["short"]:
                form.add_error(
                    None,
                    f"{figures['short']} of that was paid outside Stripe and cannot be refunded "
                    "from here: choose a smaller refund and return the rest yourself.",
                )
            elif "_confirm" not in request.POST:
                preview = figures
            elif form.cleaned_data["seen_refund_cents"] not in (None, figures["refund_cents"]):
                error = BookingChangedMeanwhile.message
            else:
                try:
                    booking_cancel(
                        tenant=booking.tenant,
                        booking_id=booking.pk,
                        refund_cents=refund_cents,
                        seen_paid_cents=form.cleaned_data["seen_paid_cents"],
                        seen_refundable_cents=form.cleaned_data["seen_refundable_cents"],
                        follow_policy=form.cleaned_data["follow_policy"],
                    )
                except (BookingNotCancelable, BookingChangedMeanwhile, RefundTooLarge) as exc:
                    error = exc.message
                else:
                    self.message_user(
                        request,
                        "Booking canceled; the date is free. Any refund is on its way to Stripe.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:bookings_booking_change", args=[booking.pk])
                    )
        if error:
            # The same choice again, on the figures as they are now (this
            # request read the booking after whatever changed it).
            form = CancelForm(
                initial={**seen, **{k: form.cleaned_data[k] for k in ("refund", "amount")}},
                refundable_cents=refundable,
                currency=booking.currency,
                policy_cents=policy_cents,
            )
        context = {
            **self._action_context(
                request, booking, "Confirm the cancel" if preview else "Cancel booking"
            ),
            "booking": booking,
            "form": form,
            "preview": preview,
            "error": error,
            "options": [
                *(
                    [{"label": "Policy refund", **self._money(booking, policy_cents)}]
                    if policy_cents is not None
                    else []
                ),
                {"label": "Full refund", **full},
                {"label": "No refund", **self._money(booking, 0)},
            ],
            "policy_lines": policy_lines(
                tiers=booking.cancellation_policy, event_date=booking.event_date
            ),
            "paid": format_money(booking.paid_cents, booking.currency),
            "refundable": format_money(refundable, booking.currency),
            "commission": format_money(
                booking.commission_cents - booking.commission_refunded_cents, booking.currency
            ),
        }
        return TemplateResponse(request, "admin/bookings/booking/cancel.html", context)

    def move_view(self, request: HttpRequest, booking_id) -> HttpResponse:
        """Move a confirmed booking to another free date: pick the date,
        confirm on a page that says what it does to the money (a lower price
        refunded, with Altar's commission returned and what the business
        keeps; or the amount due), confirm. Decided again under the lock: a
        refund other than the one confirmed is refused for review."""
        booking = self._booking_or_404(request, booking_id)
        change_url = reverse("admin:bookings_booking_change", args=[booking.pk])
        form = MoveForm(request.POST or None)
        quote = date_change_quote(booking=booking, by=BookingDateChange.By.STAFF)
        refund = self._money(booking, quote.refund_cents)
        error = None
        review = None
        if request.method == "POST" and form.is_valid():
            new_date = form.cleaned_data["event_date"]
            if "_confirm" not in request.POST or form.cleaned_data["seen_refund_cents"] is None:
                review = new_date
            else:
                try:
                    change = booking_date_change(
                        tenant=booking.tenant,
                        booking_id=booking.pk,
                        new_date=new_date,
                        by=BookingDateChange.By.STAFF,
                        expected_refund_cents=form.cleaned_data["seen_refund_cents"],
                    )
                except (DateUnavailable, PolicyForbidsChange, BookingChangedMeanwhile) as exc:
                    error = exc.message
                except ValidationError as exc:
                    error = " ".join(exc.messages)
                else:
                    self.message_user(
                        request,
                        f"Moved from {change.from_date} to {change.to_date}; both sides get "
                        "the updated invitation.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        context = {
            **self._action_context(request, booking, "Move booking"),
            "booking": booking,
            "form": form,
            "error": error,
            "review": review,
            "refusal": quote.refusal,
            "refund": refund,
            "due": format_money(quote.due_cents, booking.currency),
            "due_cents": quote.due_cents,
            "change_url": change_url,
            "changes": list(booking.date_changes.all()),
        }
        return TemplateResponse(request, "admin/bookings/booking/move.html", context)

    @staticmethod
    def _money(booking: Booking, refund_cents: int | None) -> dict[str, Any]:
        """A refund's figures for a person (bookings.money.refund_preview)."""
        preview = booking_refund_preview(booking=booking, refund_cents=refund_cents)
        currency = booking.currency
        return {
            "refund_cents": preview.refund_cents,
            "refund": format_money(preview.refund_cents, currency),
            "commission_returned": format_money(preview.commission_returned_cents, currency),
            "kept": format_money(preview.kept_cents, currency),
            "short": preview.short_cents and format_money(preview.short_cents, currency),
        }


# The calendar month a blackout form was opened from (`?calendar=2027-03`).
CALENDAR_MONTH = re.compile(r"\d{4}-\d{2}")


class BlackoutRangeForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(max_length=200, required=False)


class BlackoutDateForm(forms.ModelForm):
    """Refuses, with the reason, a blackout that would replace another's
    reason or fall on a day a couple holds or has booked (staff release or
    cancel that booking first). blackout_date_set itself stays permissive
    for the range form and commands."""

    scope_tenant: Tenant | None = None  # set per request by BlackoutDateAdmin.get_form

    class Meta:
        model = BlackoutDate
        fields = ("date", "reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant = data.get("tenant") or self.scope_tenant
        day = data.get("date")
        if tenant is None or day is None or ("date" not in self.changed_data and self.instance.pk):
            return data
        if BlackoutDate.objects.filter(tenant=tenant, date=day).exists():
            self.add_error(
                "date",
                ValidationError(
                    "This date is already blacked out; edit that blackout to change its reason.",
                    code="already_blacked_out",
                ),
            )
            return data
        booking = (
            occupying_bookings(tenant=tenant, now=timezone.now()).filter(event_date=day).first()
        )
        if booking is not None:
            held = booking.status == Booking.Status.HELD
            self.add_error(
                "date",
                ValidationError(
                    f"{booking.couple_name} {'hold' if held else 'have booked'} this date"
                    f" ({booking.get_status_display().lower()}): "
                    f"{'release the hold' if held else 'cancel the booking'} first.",
                    code="date_held" if held else "date_booked",
                ),
            )
        return data


@admin.register(BlackoutDate)
class BlackoutDateAdmin(TenantScopedAdmin):
    form = BlackoutDateForm
    list_display = ("date", "reason")
    list_filter = ("date",)
    search_fields = ("reason",)
    date_hierarchy = "date"
    fields = ("date", "reason")

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = list(super().get_fields(request, obj))
        return (
            ["tenant", *fields] if request.user.is_superuser and "tenant" not in fields else fields
        )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)
        tenant = None if request.user.is_superuser else request_tenant(request)
        return type(form_class.__name__, (form_class,), {"scope_tenant": tenant})

    def save_model(self, request: HttpRequest, obj: BlackoutDate, form: Any, change: bool) -> None:
        tenant = obj.tenant if request.user.is_superuser else request_tenant(request)
        if change and "date" in form.changed_data:
            blackout_date_delete(tenant=tenant, date=form.initial["date"])
        saved = blackout_date_set(tenant=tenant, date=obj.date, reason=obj.reason)
        obj.pk, obj.tenant = saved.pk, tenant

    def response_add(
        self, request: HttpRequest, obj: BlackoutDate, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Added from a day of the calendar (its link carries `calendar=YYYY-MM`):
        # back to that month, where the day now reads "Blackout".
        month = request.GET.get("calendar", "")
        chose_another_page = "_addanother" in request.POST or "_continue" in request.POST
        if not CALENDAR_MONTH.fullmatch(month) or chose_another_page:
            return super().response_add(request, obj, post_url_continue)
        query = {"month": month}
        if request.user.is_superuser:
            query["tenant"] = obj.tenant.slug
        self.message_user(
            request, f"{date_format(obj.date, 'DATE_FORMAT')} is blacked out.", messages.SUCCESS
        )
        return HttpResponseRedirect(
            f"{reverse('admin:bookings_booking_calendar')}?{urlencode(query)}"
        )

    def delete_model(self, request: HttpRequest, obj: BlackoutDate) -> None:
        blackout_date_delete(tenant=obj.tenant, date=obj.date)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for blackout in queryset:
            blackout_date_delete(tenant=blackout.tenant, date=blackout.date)

    def get_urls(self):
        add_range = path(
            "add-range/",
            self.admin_site.admin_view(self.add_range_view),
            name="bookings_blackoutdate_add_range",
        )
        return [add_range, *super().get_urls()]

    def add_range_view(self, request: HttpRequest) -> HttpResponse:
        tenant = request_tenant(request)
        if tenant is None or not self.has_add_permission(request):
            # Superusers act on one tenant's calendar at a time: from its staff view.
            raise Http404("Not found.")
        form = BlackoutRangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                added = blackout_range_add(tenant=tenant, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(request, f"{added} date(s) blacked out.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:bookings_blackoutdate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Black out a range of dates",
            "form": form,
        }
        return TemplateResponse(request, "admin/bookings/blackoutdate/add_range.html", context)


@admin.register(PaymentReview)
class PaymentReviewAdmin(TenantScopedAdmin):
    """Payments Stripe reported that did not match their booking: never
    confirmed. Staff check them in Stripe (refund or confirm by hand), then
    mark them resolved; ops see every tenant's here."""

    list_display = (
        "created_at",
        "booking_link",
        "reason",
        "amount",
        "stripe_payment_intent_id",
        "resolved_at",
    )
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "reason")
    search_fields = ("stripe_checkout_session_id", "stripe_payment_intent_id", "stripe_event_id")
    list_select_related = ("booking",)
    fields = readonly_fields = (
        "booking_link",
        "reason",
        "amount",
        "payment_status",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_event_id",
        "created_at",
        "resolved_at",
    )
    actions = ("mark_resolved",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Booking")
    def booking_link(self, obj: PaymentReview) -> str:
        url = reverse("admin:bookings_booking_change", args=[obj.booking_id])
        return format_html(
            '<a href="{}">{} · booking {}</a>', url, obj.booking.event_date, obj.booking_id
        )

    @admin.display(description="Amount reported")
    def amount(self, obj: PaymentReview) -> str:
        return format_money(obj.amount_cents, obj.currency)

    @admin.action(description="Mark as resolved (checked in Stripe)")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[PaymentReview]) -> None:
        resolved = sum(
            payment_review_resolve(tenant=self.service_tenant(request, review), review_id=review.pk)
            for review in queryset.select_related("tenant")
        )
        self.message_user(request, f"{resolved} payment review(s) resolved.", messages.SUCCESS)


@admin.register(BookingDispute)
class BookingDisputeAdmin(TenantScopedAdmin):
    """Disputes (chargebacks) on bookings' payments, as Stripe reports them;
    answered in Stripe's dashboard."""

    list_display = ("created_at", "booking_link", "status", "reason", "amount", "closed_at")
    list_filter = ("status", "reason")
    search_fields = ("stripe_dispute_id", "stripe_charge_id")
    list_select_related = ("booking",)
    fields = readonly_fields = (
        "booking_link",
        "stripe_dispute_id",
        "stripe_charge_id",
        "amount",
        "reason",
        "status",
        "created_at",
        "updated_at",
        "closed_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Booking")
    def booking_link(self, obj: BookingDispute) -> str:
        url = reverse("admin:bookings_booking_change", args=[obj.booking_id])
        return format_html(
            '<a href="{}">{} · booking {}</a>', url, obj.booking.event_date, obj.booking_id
        )

    @admin.display(description="Amount disputed")
    def amount(self, obj: BookingDispute) -> str:
        return format_money(obj.amount_cents, obj.currency)


from bookings import admin_agreements  # noqa: E402,F401 - registers the agreement screens
