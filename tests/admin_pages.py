"""Helpers for tests that drive the real admin pages: re-post what a page shows,
read a form's error codes, upload a small PNG."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def page_form_data(response: Any) -> dict[str, Any]:
    """The POST body a browser would send for an admin change page as shown
    (main form plus every inline's stored rows; no new inline rows)."""
    data: dict[str, Any] = {}
    forms_on_page = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        data[management.add_prefix("TOTAL_FORMS")] = len(formset.initial_forms)
        forms_on_page.extend(formset.initial_forms)
    for form in forms_on_page:
        for name, field in form.fields.items():
            value = form[name].value()
            if field.disabled or value is None or isinstance(field, forms.FileField):
                continue
            key = form.add_prefix(name)
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = value
    return data


def photo_management(total: int = 0, initial: int = 0) -> dict[str, Any]:
    return {
        "photos-TOTAL_FORMS": total,
        "photos-INITIAL_FORMS": initial,
        "photos-MIN_NUM_FORMS": 0,
        "photos-MAX_NUM_FORMS": 5,
    }


def png_upload(name: str = "photo.png", size: tuple[int, int] = (40, 30), padding: int = 0):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 80)).save(buffer, format="PNG")
    # Bytes after IEND: still a valid PNG to Pillow, just a bigger file.
    return SimpleUploadedFile(name, buffer.getvalue() + b"\0" * padding, content_type="image/png")


def error_codes(form: Any, field: str) -> list[str]:
    return [error.code for error in form.errors.as_data().get(field, [])]
