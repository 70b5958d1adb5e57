"""Personal data, one set of rules for every service: resident ID numbers and
unified social credit codes (their check characters come from python-stdnum),
mainland mobile numbers, and how names, numbers and phones are masked.

What a form accepts is stricter than what must never leak: a resident ID
number with a birth date in the future is refused at the window
(`resident_id_problems`) but still recognised, and kept out of every SMS, by
`is_resident_id` and `contains_id_number`.
"""
import datetime
import re

from stdnum.cn import ric, uscc

# ---------------------------------------------------------------- resident ID (GB 11643-1999)

_RESIDENT_ID = re.compile(r"\d{17}[\dX]")
_RESIDENT_ID_IN_TEXT = re.compile(r"(?<![0-9])\d{17}[0-9Xx](?![0-9])")


def resident_id_check_char(first17):
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")  # stdnum reads the 17 digits before the check place


def _birth_date(value):
    try:
        return datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def is_resident_id(value):
    """An 18-character resident ID number (x or X last) with a real birth
    date and the right check character."""
    value = str(value).upper()
    return (bool(_RESIDENT_ID.fullmatch(value)) and _birth_date(value) is not None
            and resident_id_check_char(value[:17]) == value[17])


def contains_id_number(text):
    return any(is_resident_id(m.group(0)) for m in _RESIDENT_ID_IN_TEXT.finditer(str(text)))


def resident_id_problems(value, today=None):
    """What the window refuses in a resident ID number: format, birth date (a
    real day, not in the future, not before 1900) and the check character.
    Empty list when valid."""
    if not isinstance(value, str) or not _RESIDENT_ID.fullmatch(value.upper()):
        return ["must be an 18-character resident ID number (17 digits and a digit or X)"]
    value = value.upper()
    problems = []
    born = _birth_date(value)
    if born is None:
        problems.append("birth date in the ID number is not a real date")
    elif born > (today or datetime.date.today()) or born.year < 1900:
        problems.append("birth date in the ID number is impossible")
    if resident_id_check_char(value[:17]) != value[17]:
        problems.append("check digit of the ID number is wrong")
    return problems


# ---------------------------------------------------------------- USCC (GB 32100-2015)

# 31 characters: digits and letters without I, O, Z, S, V.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check_char(first17):
    return uscc.calc_check_digit(first17)


def uscc_problems(value):
    """Problems with a unified social credit code; empty list when valid."""
    if not isinstance(value, str) or len(value) != 18 or any(c not in _USCC_CHARS for c in value.upper()):
        return ["must be an 18-character unified social credit code (digits and letters except I, O, Z, S, V)"]
    value = value.upper()
    if uscc_check_char(value[:17]) != value[17]:
        return ["check character of the unified social credit code is wrong"]
    return []


# ---------------------------------------------------------------- mainland mobile numbers

_MOBILE = re.compile(r"1[3-9]\d{9}")


def normal_phone(value):
    """A mainland mobile number as its 11 digits, or None. Spaces and
    hyphens are ignored, and a leading +86, 0086 or 86 (before 11 digits)."""
    if not isinstance(value, str):
        return None
    digits = re.sub(r"[\s-]", "", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if _MOBILE.fullmatch(digits) else None


def is_mainland_mobile(value):
    return normal_phone(value) is not None


# ---------------------------------------------------------------- masking

def mask_name(name):
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the family name is enough to greet;
    an enterprise's name (8 characters or more) keeps its head and tail."""
    name = (name or "").strip()
    if not name:
        return ""
    if len(name) >= 8:
        return name[:2] + "*" * (len(name) - 4) + name[-2:]
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id(value):
    """Keep the first 3 and last 2 characters: 110*************2X."""
    if not value:
        return ""
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def mask_phone(phone):
    """138****5678: the first 3 and last 4 digits; a short number is all
    stars, nothing stays nothing."""
    phone = str(phone or "")
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_phone_sql(expression):
    """mask_phone in SQL, for retention's UPDATEs: `expression` is a column
    or a text expression of the row."""
    return (f"CASE WHEN length({expression}) < 7 THEN repeat('*', length({expression})) "
            f"ELSE left({expression}, 3) || repeat('*', length({expression}) - 7) || right({expression}, 4) END")


def mask_applicant_sql(column):
    """A JSON applicant ({name, name_masked, phone, ...}) without its name
    and with its phone masked: what retention keeps of a concluded case."""
    phone = f"COALESCE({column}->>'phone', '')"
    return f"{column} || jsonb_build_object('name', '', 'phone', {mask_phone_sql(phone)})"


def applicant_unmasked_sql(column):
    """True while the JSON applicant still holds a name or a whole phone."""
    return f"(COALESCE({column}->>'name', '') <> '' OR COALESCE({column}->>'phone', '') ~ '^[^*]+$')"
