import pytest

pytestmark = pytest.mark.django_db


def test_tenant_endpoint_answers_the_keys_tenant(tenant_api, tenant):
    response = tenant_api.get("/api/v1/tenant")

    assert response.status_code == 200
    assert response.json() == {
        "slug": "alpha-weddings",
        "name": "Alpha Weddings",
        "currency": "usd",
        "timezone": "UTC",
        "branding": {
            "primary_color": tenant.primary_color,
            "secondary_color": tenant.secondary_color,
            "font_family": tenant.font_family,
            "logo_url": None,
        },
        "booking_window": {"min_notice_days": 0, "max_advance_days": 730},
    }


def test_missing_key_is_401_tenant_key_missing(api_client):
    response = api_client.get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_key_missing"
