"""Resident ID (GB 11643), unified social credit code (GB 32100), mobile numbers, masking."""
import datetime as dt

import pytest

from services.intake import domain


def make_id(first17):
    return first17 + domain.resident_id_check_char(first17)


def test_valid_resident_ids():
    assert domain.resident_id_problems("11010519491231002X") == []
    assert domain.resident_id_problems("11010519491231002x") == []   # a lower-case x is the same X
    assert domain.resident_id_problems(make_id("44030819900307123")) == []


def test_one_wrong_digit_breaks_the_check_character():
    good = make_id("44030819900307123")
    bad = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    assert domain.resident_id_problems(bad) == ["check digit of the ID number is wrong"]


@pytest.mark.parametrize("first17", ["44030819900230123", "44030819901301123", "44030830000101123",
                                     "44030818991231123"])
def test_impossible_birth_dates_are_rejected_even_with_a_right_check_digit(first17):
    problems = domain.resident_id_problems(make_id(first17), today=dt.date(2026, 3, 2))
    assert any("birth date" in p for p in problems)
    assert not any("check digit" in p for p in problems)


@pytest.mark.parametrize("value", ["", "1101051949123100", "11010519491231002Y", "A1010519491231002X", None, 110105])
def test_malformed_resident_ids(value):
    assert domain.resident_id_problems(value) == [
        "must be an 18-character resident ID number (17 digits and a digit or X)"]


def test_uscc_checksum():
    assert domain.uscc_problems("91350100M000100Y43") == []
    first17 = "91110108MA01R2XK6"
    assert domain.uscc_problems(first17 + domain.uscc_check_char(first17)) == []
    wrong = "0" if domain.uscc_check_char(first17) != "0" else "1"
    assert domain.uscc_problems(first17 + wrong) == ["check character of the unified social credit code is wrong"]


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100YI3", "9135010OM000100Y43", None])
def test_malformed_uscc(value):
    assert domain.uscc_problems(value)[0].startswith("must be an 18-character unified social credit code")


@pytest.mark.parametrize("value,ok", [("13812345678", True), ("19912345678", True), ("+8613812345678", True),
                                      ("138 1234 5678", True), ("12812345678", False), ("1381234567", False),
                                      ("010-12345678", False), ("23812345678", False), (13812345678, False)])
def test_mainland_mobile(value, ok):
    assert domain.is_mainland_mobile(value) is ok


def test_masks_hide_names_and_numbers():
    assert domain.mask_name("张三") == "张*"
    assert domain.mask_name("欧阳娜娜") == "欧***"
    assert domain.mask_name("示例科技有限公司") == "示例****公司"
    assert domain.mask_id("11010519491231002X") == "110*************2X"
    assert domain.mask_phone("13812345678") == "138****5678"
