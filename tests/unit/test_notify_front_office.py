"""notify's pure rules for the front office: links only to a configured
portal, and what each new event says."""
from onewindow import links
from services.notify import domain

CONTACT = {"application_no": "ZW2026000001", "phone": "13912345678", "name_masked": "张**", "item_name": "食品经营许可"}


def test_links_to_the_portal_only_when_one_is_configured_and_rating_only_signed():
    assert domain.portal_links("", "ZW2026000001", "s") == {}
    assert domain.portal_links("https://zw.example.cn", "ZW2026000001") == {"track_url": "https://zw.example.cn/track"}
    rate_url = "https://zw.example.cn" + links.rating_path("s", "ZW2026000001")
    assert domain.portal_links("https://zw.example.cn", "ZW2026000001", "s") == {
        "track_url": "https://zw.example.cn/track", "rate_url": rate_url}
    assert domain.completion_notices({}, CONTACT) == []
    assert domain.completion_notices({}, CONTACT, "https://zw.example.cn") == []  # nothing signs the link
    [invitation] = domain.completion_notices({}, CONTACT, "https://zw.example.cn", "s")
    assert invitation.variables["rate_url"] == rate_url
    [receipt] = domain.acceptance_notices({"due_date": "2026-03-20"}, CONTACT)
    assert receipt.template == "application_accepted"
    [receipt] = domain.acceptance_notices({"due_date": "2026-03-20"}, CONTACT, "https://zw.example.cn")
    assert receipt.template == "application_accepted_online"


def test_the_tracking_code_goes_to_the_phone_without_the_case_number():
    [notice] = domain.tracking_code_notices({"phone": "+86 138 0013 8000", "code": "012345", "valid_minutes": 10})
    assert (notice.template, notice.phone, notice.application_no) == ("portal_tracking_code", "13800138000", None)
    text = domain.TemplateBook.load().render("portal_tracking_code", notice.variables).text
    assert "012345" in text and "10分钟" in text
    assert domain.tracking_code_notices({"phone": "nope", "code": "012345", "valid_minutes": 10}) == []


def test_every_template_renders_without_promising_online_payment():
    book = domain.TemplateBook.load()
    for name, template in book.templates.items():
        text = book.render(name, {v: "x" for v in template.variables}).text
        assert "网上办事大厅" not in text and "回复" not in text, name


def test_reductions_name_their_bases_once_and_complaints_reach_whom_they_concern():
    [notice] = domain.bill_reduced_notices({"total_fen": 25050, "reduced_fen": 5000, "bill_no": "B1", "reduced_lines": [
        {"legal_basis": "《甲》"}, {"legal_basis": "《甲》"}, {"legal_basis": "《乙》"}]}, CONTACT)
    assert (notice.variables["legal_basis"], notice.variables["amount_yuan"]) == ("《甲》、《乙》", "250.50")
    event = {"complaint_no": "T1", "phone": "13912345678", "supervisor_phone": None, "due_date": "2026-03-09"}
    assert [n.recipient_role for n in domain.complaint_overdue_notices(event)] == ["applicant"]
    assert domain.complaint_warning_notices(event) == []
