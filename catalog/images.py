"""Content validation of uploaded package photos.

The uploaded name and content type are the client's word; only Pillow's
reading of the bytes decides. Oversized files are refused before any byte is
decoded, and decompression bombs (small files, huge pixel counts) are refused
rather than decoded.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image

MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Pillow format name -> file extension we store under.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Well above any camera (a 60 MP photo is 60 M pixels), well below what would
# let a 5 MB file expand into gigabytes of RAM when a thumbnailer decodes it.
MAX_IMAGE_PIXELS = 80_000_000

# What Pillow raises on bytes it cannot make sense of: not one base class.
_PILLOW_ERRORS = (
    OSError,  # includes UnidentifiedImageError
    SyntaxError,  # verify() on broken chunks
    ValueError,
    TypeError,
    IndexError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass(frozen=True)
class ImageInfo:
    format: str
    extension: str
    width: int
    height: int


def _image_error(message: str, code: str) -> ValidationError:
    return ValidationError({"image": [ValidationError(message, code=code)]})


def validate_image(upload: UploadedFile) -> ImageInfo:
    """Accept a JPEG, PNG or WebP of at most 5 MB; raise ValidationError on
    field `image` (codes `file_too_large`, `invalid_image`) otherwise.
    Leaves the file positioned at its start."""
    size = upload.size
    if size is None or size > MAX_IMAGE_BYTES:
        raise _image_error("A photo may be at most 5 MB.", "file_too_large")
    if size == 0:
        raise _image_error("The file is empty.", "invalid_image")
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=list(ALLOWED_FORMATS)) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
            if image_format == "JPEG" and width * height <= MAX_IMAGE_PIXELS:
                # verify() checks PNG chunk CRCs up to IEND and WebP decodes on
                # open, but for JPEG it checks nothing: a truncated JPEG would
                # pass. Decode it, at 1/8 scale (draft) to keep memory small;
                # the decoder still reads every byte and raises on a cut file.
                upload.seek(0)
                with Image.open(upload, formats=["JPEG"]) as image:
                    image.draft(image.mode, (1, 1))
                    image.load()
    except _PILLOW_ERRORS as exc:
        raise _image_error("Upload a JPEG, PNG or WebP image.", "invalid_image") from exc
    finally:
        upload.seek(0)
    if image_format not in ALLOWED_FORMATS or width < 1 or height < 1:
        raise _image_error("Upload a JPEG, PNG or WebP image.", "invalid_image")
    if width * height > MAX_IMAGE_PIXELS:
        raise _image_error("The image has too many pixels.", "invalid_image")
    return ImageInfo(
        format=image_format, extension=ALLOWED_FORMATS[image_format], width=width, height=height
    )
