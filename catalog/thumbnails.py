"""Package photos at the sizes the booking page shows them.

Made once, on upload (catalog.services.package_photo_add), and stored
through the photo's storage (default_storage) next to the original, so a
page never sends a 12-megapixel camera file to a phone. The page picks one
with srcset/sizes; every <img> carries its width and height (no layout shift).
"""

from __future__ import annotations

import io
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from PIL import Image, ImageOps

# CSS pixels of a package card on the booking page (about 22rem on a phone
# and in the two-column desktop grid), at 1x and 2x.
THUMBNAIL_WIDTHS = (360, 720)
WEBP_QUALITY = 80


def make_thumbnails(*, upload, storage: Storage, directory: str) -> list[dict]:
    """[{name, width, height}] for each width smaller than the original (the
    original already serves the rest). Call after validate_image accepted
    `upload`; leaves it positioned at its start."""
    upload.seek(0)
    with Image.open(upload) as source:
        image = ImageOps.exif_transpose(source)
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    upload.seek(0)
    made = []
    stem = uuid.uuid4().hex
    for width in THUMBNAIL_WIDTHS:
        if width >= image.width:
            break
        height = max(1, round(image.height * width / image.width))
        buffer = io.BytesIO()
        image.resize((width, height), Image.Resampling.LANCZOS).save(
            buffer, format="WEBP", quality=WEBP_QUALITY, method=4
        )
        name = storage.save(
            f"{directory}/thumbs/{stem}-{width}.webp", ContentFile(buffer.getvalue())
        )
        made.append({"name": name, "width": width, "height": height})
    return made
