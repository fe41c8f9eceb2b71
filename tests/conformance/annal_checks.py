"""Schemathesis checks for Annal's conformance runs (tests/api_conformance.rs).

`no_unexplained_server_error` replaces schemathesis' `not_a_server_error`: every 5xx fails the
run but one, the answer NanoMDM's own document defines for its compatibility routes. NanoMDM
answers PUT /v1/enqueue/{ids} and /v1/push/{ids} with 500 when *no* id could be served
("APIResultAllFailed": unknown enrollments, no push certificate), carrying the reason for each
id; NanoMDM's tools read that status, so Annal answers the same. That 500 is a documented
answer about the request, not a server failure, and it is accepted only when its body says, for
every id, why it failed (`command_error` or `push_error`). Anything else at 500 or above fails.
"""

import json

import schemathesis

NANOMDM_ALL_FAILED_PREFIXES = ("/v1/enqueue/", "/v1/push/")


def _is_nanomdm_all_failed(response, case):
    if response.status_code != 500:
        return False
    path = case.formatted_path if hasattr(case, "formatted_path") else case.path
    if not any(path.startswith(p) for p in NANOMDM_ALL_FAILED_PREFIXES):
        return False
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return False
    statuses = body.get("status") if isinstance(body, dict) else None
    if not isinstance(statuses, dict) or not statuses:
        # A whole-request failure (no push certificate) names its reason once.
        return isinstance(body, dict) and bool(body.get("push_error") or body.get("command_error"))
    return all(
        isinstance(s, dict) and (s.get("command_error") or s.get("push_error"))
        for s in statuses.values()
    )


@schemathesis.check
def no_unexplained_server_error(ctx, response, case):
    """A 5xx fails unless it is NanoMDM's documented all-ids-failed answer, with a reason per id."""
    if response.status_code < 500 or _is_nanomdm_all_failed(response, case):
        return None
    raise AssertionError(
        f"server error {response.status_code} on {case.method} {case.path}: {response.text[:500]}"
    )


# The bodies Apple's devices and SCEP clients send are binary (a plist, a PKCS#7 message, a PEM
# file). Schemathesis has no serializer for those media types; these send what was generated as
# raw bytes, so the device, SCEP, push-certificate and declaration-data endpoints are fuzzed with arbitrary
# bodies instead of being skipped.
@schemathesis.serializer(
    "application/x-apple-aspen-mdm-checkin",
    "application/x-apple-aspen-mdm",
    "application/x-pki-message",
    "application/pkcs7-signature",
    "application/x-pem-file",
    "application/x-apple-aspen-config",
)
def raw_bytes(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()
