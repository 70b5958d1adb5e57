"""A rostered reviewer must be a name its holder can decide under: set_roster
once took any length, and decide then refused that assignee (over 200)."""
from services.review import schemas


def test_a_rostered_name_is_held_to_decides_limit():
    long_name = "r" * (schemas.REVIEWER_MAX + 1)
    problems = schemas.SetRoster().validate({"department": "PSB", "primary": long_name, "backup": ["b", long_name]})
    assert set(problems) == {"primary", "backup.1"}
    assert schemas.SetRoster().validate({"department": "PSB", "primary": "r" * schemas.REVIEWER_MAX,
                                         "backup": None}) == {}
    assert "reviewer" in schemas.Decide().validate({"reviewer": long_name})
