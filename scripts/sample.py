"""Sample applications built from what intake itself publishes (the catalog
and the one form), the way a window clerk's screen would fill them."""
import datetime

# Real-format numbers with valid check digits (GB 11643, GB 32100).
SAMPLE_ID_NUMBER = "11010519491231002X"
SAMPLE_USCC = "91350100M000100Y43"


def field_value(field, today=None):
    today = today or datetime.date.today()
    kind = field["type"]
    if kind == "integer":
        return 10
    if kind == "amount_fen":
        return 10_000_000
    if kind == "date":
        return today.isoformat()
    if kind == "choice":
        return field["choices"][0]
    if kind == "phone":
        return "13800138000"
    if kind == "id_number":
        return SAMPLE_ID_NUMBER
    if kind == "uscc":
        return SAMPLE_USCC
    return f"示例{field.get('label', field['name'])}"


def application(item, form, client_ref, phone="13900139000", name="张三丰", leave_out_materials=0,
                all_fields=False):
    """A complete application for `item` (from list_items) and its `form`
    (from form_for); `leave_out_materials` drops that many required ones."""
    required = [m["code"] for m in item["materials"] if m["required"]]
    kept = required[: max(0, len(required) - leave_out_materials)]
    enterprise = any(f["type"] == "uscc" for f in form) or item["code"].startswith("ENT")
    applicant = {"kind": "enterprise" if enterprise else "person", "name": name, "phone": phone}
    if enterprise:
        applicant["uscc"] = SAMPLE_USCC
    else:
        applicant["id_number"] = SAMPLE_ID_NUMBER
    return {
        "client_ref": client_ref,
        "item_code": item["code"],
        "channel": "window",
        "applicant": applicant,
        "form": {f["name"]: field_value(f) for f in form if f["required"] or all_fields},
        "materials": kept,
    }, [m for m in item["materials"] if m["required"] and m["code"] not in kept]


def bill_or_none(rpc, application_no):
    """The case's bill, or None while fees has not issued one."""
    from nameko.exceptions import RemoteError
    try:
        return rpc.fees.bill(application_no)
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return None
        raise
