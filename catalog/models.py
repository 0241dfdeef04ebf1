from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager

from tenants.models import PAY_IN_FULL_PLAN, PaymentPlanFields, Tenant
from tenants.validators import STRIPE_MAX_AMOUNT

# Stripe refuses to charge more than 8 digits of minor units in one payment.
MAX_PRICE_CENTS = STRIPE_MAX_AMOUNT
MAX_PHOTOS_PER_PACKAGE = 5
SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lower-case letters, digits and single hyphens.",
    code="invalid_slug",
)


class Package(PaymentPlanFields):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="packages")
    slug = models.CharField(max_length=50, validators=[SLUG_VALIDATOR])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_cents = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_PRICE_CENTS)])
    active = models.BooleanField(default=True)
    position = models.IntegerField(default=0, help_text="Display order (lower first).")
    add_ons = models.ManyToManyField(
        "AddOn", through="PackageAddOn", related_name="packages", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta(PaymentPlanFields.Meta):
        abstract = False
        ordering = ["position", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"], name="catalog_package_tenant_slug_uniq"
            ),
            # Target of the composite foreign keys below (same-tenant links).
            models.UniqueConstraint(fields=["id", "tenant"], name="catalog_package_id_tenant_uniq"),
            models.CheckConstraint(
                condition=Q(price_cents__lte=MAX_PRICE_CENTS), name="catalog_package_price_range"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "active", "position"], name="catalog_pkg_list_idx")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def plan_in_force(self) -> dict:
        """The package's own payment plan, else its tenant's."""
        return self.payment_plan or self.tenant.payment_plan or dict(PAY_IN_FULL_PLAN)


class AddOn(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="add_ons")
    slug = models.CharField(max_length=50, validators=[SLUG_VALIDATOR])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_cents = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_PRICE_CENTS)])
    active = models.BooleanField(default=True)
    position = models.IntegerField(default=0, help_text="Display order (lower first).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "add-on"
        ordering = ["position", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"], name="catalog_addon_tenant_slug_uniq"
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="catalog_addon_id_tenant_uniq"),
            models.CheckConstraint(
                condition=Q(price_cents__lte=MAX_PRICE_CENTS), name="catalog_addon_price_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class PackageAddOn(models.Model):
    """Which add-ons a package offers. Both sides must belong to `tenant`:
    migration 0002 adds composite foreign keys (package_id, tenant_id) and
    (add_on_id, tenant_id), so the database refuses a cross-tenant link."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="add_on_links")
    add_on = models.ForeignKey(AddOn, on_delete=models.CASCADE, related_name="package_links")

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "offered add-on"
        constraints = [
            models.UniqueConstraint(
                fields=["package", "add_on"], name="catalog_packageaddon_package_add_on_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.package_id} → {self.add_on_id}"


def package_photo_path(instance: "PackagePhoto", filename: str) -> str:
    return f"tenants/{instance.tenant_id}/packages/{filename}"


class PackagePhoto(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(
        upload_to=package_photo_path, width_field="width", height_field="height"
    )
    alt = models.CharField(
        max_length=200, blank=True, help_text="Describe the photo for screen readers."
    )
    width = models.PositiveIntegerField(editable=False, default=0)
    height = models.PositiveIntegerField(editable=False, default=0)
    position = models.IntegerField(default=0)
    # Smaller copies made on upload (catalog.thumbnails): [{name, width,
    # height}] in storage, narrowest first; empty for photos already small.
    thumbnails = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.alt or self.image.name
