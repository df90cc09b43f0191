"""Opaque paging cursors: the id of the last item of a page, base64url-encoded."""

from __future__ import annotations

import base64
import binascii

from loadbay.domain.errors import Unprocessable
from loadbay.domain.ids import is_valid_id


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise Unprocessable("The cursor is not valid", code="invalid_cursor") from error
    if not is_valid_id(job_id):
        raise Unprocessable("The cursor is not valid", code="invalid_cursor")
    return job_id
