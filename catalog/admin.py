"""Packages, add-ons and package photos in the admin, scoped to the staff
member's tenant. Every write goes through catalog.services (see
ServiceFormAdminMixin in tenants.admin_base for how refusals become form
errors); ModelForm.save() and save_m2m() are never used.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.utils.html import format_html

from catalog.images import validate_image
from catalog.models import MAX_PHOTOS_PER_PACKAGE, AddOn, Package, PackagePhoto
from catalog.services import (
    CATALOG_ITEM_FIELDS,
    PACKAGE_PLAN_FIELDS,
    add_on_create,
    add_on_delete,
    add_on_update,
    package_create,
    package_delete,
    package_photo_add,
    package_photo_delete,
    package_photo_update,
    package_update,
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
from tenants.forms import PLAN_HELP_TEXTS, PLAN_LABELS
from tenants.models import Tenant
from tenants.money_fields import MoneyField, money_text

# What the forms may hand to the services (a package also has its plan).
FORM_FIELDS = CATALOG_ITEM_FIELDS | PACKAGE_PLAN_FIELDS


def _item_fields(form: forms.ModelForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {name: data[name] for name in FORM_FIELDS if data.get(name) is not None}


def _changed_item_fields(form: forms.ModelForm) -> dict[str, Any]:
    """Update changes; the update services name a rename `new_slug`."""
    data = form.cleaned_data
    return {
        ("new_slug" if name == "slug" else name): data[name]
        for name in form.changed_data
        if name in FORM_FIELDS and data.get(name) is not None
    }


def _use_currency(form: forms.ModelForm, tenant: Tenant | None) -> None:
    # A superuser adding an item before picking its tenant types a
    # two-decimal amount (every currency but the zero-decimal ones).
    currency = tenant.currency if tenant is not None else "usd"
    for name in ("price_cents", "plan_deposit_cents"):
        if name in form.fields:
            form.fields[name].set_currency(currency)


@admin.display(description="Price", ordering="price_cents")
def _price(item: Package | AddOn) -> str:
    return money_text(item.price_cents, item.tenant.currency)


# --- photos ------------------------------------------------------------------


class PackagePhotoForm(forms.ModelForm):
    class Meta:
        model = PackagePhoto
        fields = ("image", "alt", "position")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The services change a stored photo's alt text and position
            # only; a new picture is a new photo. Not a disabled ImageField:
            # that re-reads every stored file from storage on each save (its
            # size, then its dimensions), and crashes if one has gone.
            self.fields["image"] = forms.CharField(
                disabled=True, required=False, widget=forms.HiddenInput
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk:
            data.pop("image", None)  # so construct_instance leaves it alone
        image = data.get("image")
        if isinstance(image, UploadedFile):
            # The service validates again; checking here puts the error on
            # the photo's own row, before anything is written.
            try:
                validate_image(image)
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


class PackagePhotoInline(TenantScopedInline):
    model = PackagePhoto
    form = PackagePhotoForm
    fields = ("thumbnail", "image", "alt", "position")
    readonly_fields = ("thumbnail",)
    extra = 1
    max_num = MAX_PHOTOS_PER_PACKAGE

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        # A nicer early refusal; package_photo_add re-counts under a lock.
        return super().get_formset(request, obj, validate_max=True, **kwargs)

    @admin.display(description="Preview")
    def thumbnail(self, photo: PackagePhoto) -> str:
        if not photo.pk or not photo.image:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" width="{}" height="{}" class="altar-photo-thumb">',
            photo.image.url,
            photo.alt,
            photo.width,
            photo.height,
        )


# --- packages ----------------------------------------------------------------


class PackageForm(forms.ModelForm):
    # Package.add_ons goes through PackageAddOn (which carries the tenant), so
    # the admin cannot use it as a form field (admin.E013): this one stands in
    # for it, and the service writes the links from slugs.
    offered_add_ons = forms.ModelMultipleChoiceField(
        queryset=AddOn.objects.none(), required=False, label="Add-ons"
    )
    price_cents = MoneyField(label="Price")
    plan_deposit_cents = MoneyField(
        label="Fixed deposit",
        required=False,
        empty_as_zero=True,
        help_text="For a fixed-deposit plan.",
    )
    scope_tenant: Tenant | None = None  # set per request by PackageAdmin.get_form

    class Meta:
        model = Package
        fields = (
            "tenant",
            "title",
            "slug",
            "description",
            "price_cents",
            "active",
            "position",
            *sorted(PACKAGE_PLAN_FIELDS),
        )
        labels = PLAN_LABELS
        help_texts = {
            **PLAN_HELP_TEXTS,
            "plan_kind": "Leave on “Same as your business” to use the payment plan of your "
            "settings page.",
        }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The empty choice means "the business's plan", not "nothing chosen".
        plan_kind = self.fields["plan_kind"]
        plan_kind.choices = [
            ("", "Same as your business") if value == "" else (value, label)
            for value, label in plan_kind.choices
        ]
        # The plan's numbers matter only with a deposit plan: left empty,
        # the model's defaults stand.
        for name in PACKAGE_PLAN_FIELDS:
            self.fields[name].required = False
        field = self.fields["offered_add_ons"]
        # The widget first: setting the queryset hands it its choices.
        field.widget = AutocompleteSelectMultiple(Package._meta.get_field("add_ons"), admin.site)
        tenant = self.instance.tenant if self.instance.tenant_id else self.scope_tenant
        _use_currency(self, tenant)
        # Explicitly filtered (not only by the scope): a superuser's scope
        # spans every tenant, but a package offers its own tenant's add-ons.
        # A superuser adding a package picks the tenant in the same form, so
        # there the service's slug lookup in that tenant does the checking.
        field.queryset = (
            AddOn.objects.filter(tenant=tenant) if tenant is not None else AddOn.objects.all()
        ).order_by("position", "created_at", "id")
        if self.instance.pk:
            offered = self.instance.add_ons.filter(tenant=self.instance.tenant)
            self.initial["offered_add_ons"] = list(offered.values_list("pk", flat=True))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Only reachable by a superuser adding a package (whose choices span
        # tenants): the add-ons must belong to the tenant picked for it.
        tenant = data.get("tenant") or self.scope_tenant
        if tenant is not None and any(
            add_on.tenant_id != tenant.pk for add_on in data.get("offered_add_ons", [])
        ):
            self.add_error(
                "offered_add_ons",
                ValidationError("Choose add-ons of the package's tenant.", code="invalid_choice"),
            )
        return data


@admin.register(Package)
class PackageAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    form = PackageForm
    list_display = ("title", "slug", _price, "active", "position", "updated_at")
    list_select_related = ("tenant",)
    list_filter = ("active", "add_ons")
    search_fields = ("title", "slug")
    ordering = ("position", "created_at", "id")
    fields = (
        "title",
        "slug",
        "description",
        "price_cents",
        "active",
        "position",
        "offered_add_ons",
        "plan_kind",
        "plan_deposit_percent",
        "plan_deposit_cents",
        "plan_deposit_refundable",
        "plan_balance_days_before",
    )
    inlines = [PackagePhotoInline]
    service_error_fields = {"add_ons": "offered_add_ons", "new_slug": "slug"}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)
        tenant = None if request.user.is_superuser else request_tenant(request)
        return type(form_class.__name__, (form_class,), {"scope_tenant": tenant})

    def save_model(self, request: HttpRequest, obj: Package, form: Any, change: bool) -> None:
        tenant = self.service_tenant(request, obj)
        add_on_slugs = [add_on.slug for add_on in form.cleaned_data.get("offered_add_ons", [])]
        try:
            if not change:
                saved = package_create(
                    tenant=tenant, add_on_slugs=add_on_slugs, **_item_fields(form)
                )
            else:
                changes = _changed_item_fields(form)
                if "offered_add_ons" in form.changed_data:
                    changes["add_on_slugs"] = add_on_slugs
                if not changes:
                    return
                # The original slug names the row; the form may rename it.
                saved = package_update(tenant=tenant, slug=form.initial["slug"], **changes)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Not form.save_m2m(): the add-on links were written by the service.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        package = form.instance
        tenant = self.service_tenant(request, package)
        # What construct_change_message reads (formset.save() would set them).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = formset.deleted_forms
        try:
            for photo_form in formset.initial_forms:
                photo = photo_form.instance
                if photo_form in deleted:
                    package_photo_delete(tenant=tenant, photo_id=photo.pk)
                    formset.deleted_objects.append(photo)
                elif photo_form.has_changed():
                    package_photo_update(
                        tenant=tenant,
                        photo_id=photo.pk,
                        alt=photo_form.cleaned_data["alt"],
                        position=photo_form.cleaned_data["position"],
                    )
                    formset.changed_objects.append((photo, photo_form.changed_data))
            for photo_form in formset.extra_forms:
                if photo_form in deleted or not photo_form.has_changed():
                    continue
                formset.new_objects.append(
                    package_photo_add(
                        tenant=tenant,
                        package_slug=package.slug,
                        image=photo_form.cleaned_data["image"],
                        alt=photo_form.cleaned_data["alt"],
                        position=photo_form.cleaned_data["position"],
                    )
                )
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc

    def delete_model(self, request: HttpRequest, obj: Package) -> None:
        try:
            package_delete(tenant=self.service_tenant(request, obj), slug=obj.slug)
        except DomainError as exc:  # PackageHasBookings, or deleted meanwhile
            raise refused(exc) from exc


# --- add-ons -----------------------------------------------------------------


class AddOnForm(forms.ModelForm):
    price_cents = MoneyField(label="Price")
    scope_tenant: Tenant | None = None  # set per request by AddOnAdmin.get_form

    class Meta:
        model = AddOn
        fields = ("title", "slug", "description", "price_cents", "active", "position")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _use_currency(self, self.instance.tenant if self.instance.tenant_id else self.scope_tenant)


@admin.register(AddOn)
class AddOnAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    form = AddOnForm
    list_display = ("title", "slug", _price, "active", "position", "updated_at")
    list_select_related = ("tenant",)
    list_filter = ("active", "packages")
    search_fields = ("title", "slug")  # also what the add-on autocomplete searches
    ordering = ("position", "created_at", "id")
    fields = ("title", "slug", "description", "price_cents", "active", "position")
    service_error_fields = {"new_slug": "slug"}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)
        tenant = None if request.user.is_superuser else request_tenant(request)
        return type(form_class.__name__, (form_class,), {"scope_tenant": tenant})

    def save_model(self, request: HttpRequest, obj: AddOn, form: Any, change: bool) -> None:
        tenant = self.service_tenant(request, obj)
        try:
            if not change:
                saved = add_on_create(tenant=tenant, **_item_fields(form))
            else:
                changes = _changed_item_fields(form)
                if not changes:
                    return
                saved = add_on_update(tenant=tenant, slug=form.initial["slug"], **changes)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)

    def delete_model(self, request: HttpRequest, obj: AddOn) -> None:
        try:
            add_on_delete(tenant=self.service_tenant(request, obj), slug=obj.slug)
        except DomainError as exc:
            raise refused(exc) from exc
