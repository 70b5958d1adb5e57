"""Resident ID (GB 11643), unified social credit code (GB 32100), mobile numbers, masking."""
import datetime as dt

import pytest

from onewindow import personal


def make_id(first17):
    return first17 + personal.resident_id_check_char(first17)


def test_valid_resident_ids():
    assert personal.resident_id_problems("11010519491231002X") == []
    assert personal.resident_id_problems("11010519491231002x") == []   # a lower-case x is the same X
    assert personal.resident_id_problems(make_id("44030819900307123")) == []


def test_one_wrong_digit_breaks_the_check_character():
    good = make_id("44030819900307123")
    bad = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    assert personal.resident_id_problems(bad) == ["check digit of the ID number is wrong"]


@pytest.mark.parametrize("first17", ["44030819900230123", "44030819901301123", "44030830000101123",
                                     "44030818991231123"])
def test_impossible_birth_dates_are_rejected_even_with_a_right_check_digit(first17):
    problems = personal.resident_id_problems(make_id(first17), today=dt.date(2026, 3, 2))
    assert any("birth date" in p for p in problems)
    assert not any("check digit" in p for p in problems)


@pytest.mark.parametrize("value", ["", "1101051949123100", "11010519491231002Y", "A1010519491231002X", None, 110105])
def test_malformed_resident_ids(value):
    assert personal.resident_id_problems(value) == [
        "must be an 18-character resident ID number (17 digits and a digit or X)"]


def test_uscc_checksum():
    assert personal.uscc_problems("91350100M000100Y43") == []
    first17 = "91110108MA01R2XK6"
    assert personal.uscc_problems(first17 + personal.uscc_check_char(first17)) == []
    wrong = "0" if personal.uscc_check_char(first17) != "0" else "1"
    assert personal.uscc_problems(first17 + wrong) == ["check character of the unified social credit code is wrong"]


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100YI3", "9135010OM000100Y43", None])
def test_malformed_uscc(value):
    assert personal.uscc_problems(value)[0].startswith("must be an 18-character unified social credit code")


@pytest.mark.parametrize("value,ok", [("13812345678", True), ("19912345678", True), ("+8613812345678", True),
                                      ("138 1234 5678", True), ("12812345678", False), ("1381234567", False),
                                      ("010-12345678", False), ("23812345678", False), (13812345678, False)])
def test_mainland_mobile(value, ok):
    assert personal.is_mainland_mobile(value) is ok


def test_masks_hide_names_and_numbers():
    assert personal.mask_name("张三") == "张*"
    assert personal.mask_name("欧阳娜娜") == "欧***"
    assert personal.mask_name("示例科技有限公司") == "示例****公司"
    assert personal.mask_id("11010519491231002X") == "110*************2X"
    assert personal.mask_phone("13812345678") == "138****5678"


# ------------------------------------------------ what notify needs of the same rules

def test_id_check_needs_date_and_checksum():
    assert personal.is_resident_id("11010519491231002X")
    assert not personal.is_resident_id("110105194912310021")  # wrong checksum
    assert not personal.contains_id_number("单号 123456789012345678")
    assert personal.contains_id_number("号码11010519491231002x。")


def test_masking():
    assert personal.mask_name("张三") == "张*"
    assert personal.mask_name("欧阳娜娜") == "欧***"
    assert personal.mask_name("") == ""
    assert personal.mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize("raw, phone", [("13812345678", "13812345678"), ("+86 138-1234-5678", "13812345678"),
                                        ("8613812345678", "13812345678"), ("12812345678", None),
                                        ("1381234567", None), (None, None)])
def test_phone_normalization(raw, phone):
    assert personal.normal_phone(raw) == phone


# ------------------------------------------------ the drifted rules, reconciled

def test_one_character_names_keep_their_character_and_names_are_trimmed():
    # intake showed "*", notify "张*": the family name is what a notice greets
    assert personal.mask_name("张") == "张*"
    assert personal.mask_name(" 张三 ") == "张*"


def test_phones_of_other_lengths_keep_their_length_and_nothing_stays_nothing():
    # intake wrote "****" for anything short, the hall "" unless 11 digits
    assert personal.mask_phone("12345") == "*****"
    assert personal.mask_phone("010-1234567") == "010****4567"
    assert personal.mask_phone(None) == personal.mask_phone("") == ""


@pytest.mark.parametrize("raw", ["008613812345678", "+86 13812345678", "86-138-1234-5678"])
def test_every_country_prefix_either_service_took_is_taken_by_both(raw):
    # intake refused 0086, notify took it; both now read the same number
    assert personal.normal_phone(raw) == "13812345678" and personal.is_mainland_mobile(raw)


def test_a_number_is_not_a_phone_string():
    assert personal.normal_phone(13812345678) is None


def test_a_future_birth_date_is_refused_at_the_window_but_still_kept_out_of_texts():
    first17 = "11010520991231002"
    number = first17 + personal.resident_id_check_char(first17)
    assert personal.resident_id_problems(number, today=dt.date(2026, 1, 1)) == ["birth date in the ID number is impossible"]
    assert personal.is_resident_id(number) and personal.contains_id_number(f"证件{number}")
