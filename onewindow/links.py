"""Links an SMS sends to the applicants' web, signed so that only the
applicant who received one can use it.

The rating link (`/rate/<application_no>/<token>`) is written by notify and
checked by the portal; both know OW_PORTAL_SECRET and nothing else is
shared. Application numbers are sequential, so an unsigned link would let
anyone rate anyone's case.
"""
import base64
import hashlib
import hmac

TOKEN_LENGTH = 16  # 96 bits in base64url: short enough for one SMS segment's worth of URL


def _mac(secret, purpose, value):
    digest = hmac.new(secret.encode("utf-8"), f"{purpose}:{value}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:TOKEN_LENGTH]


def rating_token(secret, application_no):
    if not secret:
        raise ValueError("no secret: a link signed with nothing proves nothing")
    return _mac(secret, "rate", application_no)


def rating_path(secret, application_no):
    return f"/rate/{application_no}/{rating_token(secret, application_no)}"


def valid_rating_token(secret, application_no, token):
    if not secret or not isinstance(token, str) or len(token) != TOKEN_LENGTH:
        return False
    return hmac.compare_digest(rating_token(secret, application_no), token)
