from django import template
from django.utils.html import format_html

from tenants.branding import branding_stylesheet_url
from tenants.models import Tenant

register = template.Library()


@register.simple_tag
def branding_stylesheet(tenant: Tenant) -> str:
    """`<link>` to the tenant's branding stylesheet (tenants/branding.py)."""
    return format_html('<link rel="stylesheet" href="{}">', branding_stylesheet_url(tenant))
