"""The errors loadbay raises, each with a stable snake_case ``code`` from the contract.

LoadbayError                      code + human message
├── JobFailure                    ends a job as `failed` (or `quarantined`)
│   ├── UnreadableFile            unreadable_file: not text in a supported encoding
│   ├── MalformedCsv              malformed_csv: a record the CSV parser cannot read
│   ├── EmptyFile                 empty_file: no header row at all
│   ├── NoDataRows                no_data_rows: a header and nothing else
│   ├── MissingColumns            missing_columns: required columns absent from the header
│   └── DuplicateColumns          duplicate_columns: two header cells name one column
├── JobCancelled                  the job was cancelled while running (not an error to report)
└── RequestError                  answered to an API caller with an HTTP status
    ├── NotFound (404), Unauthorized (401), Forbidden (403), Conflict (409)
    ├── Unprocessable (422), PayloadTooLarge (413), LinkRejected (403)
"""

from __future__ import annotations


class LoadbayError(Exception):
    """Base of every loadbay error: a stable ``code`` and a message for a person."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class JobFailure(LoadbayError):
    """Ends the job that raised it; ``code`` and ``message`` become the job's ``error``."""

    code = "job_failed"


class UnreadableFile(JobFailure):
    code = "unreadable_file"


class MalformedCsv(JobFailure):
    code = "malformed_csv"


class EmptyFile(JobFailure):
    code = "empty_file"


class NoDataRows(JobFailure):
    code = "no_data_rows"


class MissingColumns(JobFailure):
    code = "missing_columns"


class DuplicateColumns(JobFailure):
    code = "duplicate_columns"


class JobCancelled(LoadbayError):
    """Raised inside a running job when it was cancelled; unwinds without writing a result."""

    code = "cancelled"


class RequestError(LoadbayError):
    """An error answered to an API caller: ``status`` is the HTTP status."""

    status = 400


class NotFound(RequestError):
    status = 404
    code = "not_found"


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status = 403
    code = "forbidden"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class Gone(RequestError):
    status = 410
    code = "gone"


class Unprocessable(RequestError):
    status = 422
    code = "unprocessable"


class PayloadTooLarge(RequestError):
    status = 413
    code = "file_too_large"


class LinkRejected(RequestError):
    """A download URL that is expired (`link_expired`) or altered (`bad_signature`)."""

    status = 403
    code = "bad_signature"
