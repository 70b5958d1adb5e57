"""`onewindow sandbox create|drop NAME`: a vhost, databases, principals with
tokens and sample cases of its own, then nothing left."""
import json
import os
import uuid

import psycopg

from onewindow import cli, config
from services.registry import CENTRE


def run(capsys, *argv):
    code = cli.main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def databases(prefix):
    with psycopg.connect(config.admin_database_url(), autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}%",))}


def test_a_sandbox_is_made_with_cases_and_credentials_then_dropped(platform_env, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = f"t{uuid.uuid4().hex[:8]}"
    made = run(capsys, "sandbox", "create", name, "--cases", "2")
    try:
        assert made["vhost"] == f"sandbox_{name}" and len(made["cases"]) == 2
        assert {c["tasks"] for c in made["cases"]} == {"approved", "open"}
        env = dict(line.split("=", 1) for line in (tmp_path / f"sandbox-{name}.env").read_text().splitlines()
                   if line and not line.startswith("#"))
        assert os.stat(tmp_path / f"sandbox-{name}.env").st_mode & 0o077 == 0  # credentials: owner only
        assert env["AMQP_URI"].endswith(f"/sandbox_{name}") and env["OW_TOKEN_WINDOW"].startswith("owt_")
        assert databases(f"sandbox_{name}_") == {f"sandbox_{name}_{s}" for s in CENTRE.names}
        query = "SELECT application_no FROM applications WHERE client_ref LIKE %s"
        with psycopg.connect(env["INTAKE_DATABASE_URL"]) as conn:
            numbers = {r[0] for r in conn.execute(query, (f"sandbox-{name}-%",))}
        assert {c["application_no"] for c in made["cases"]} == numbers
        # the real centre's database knows none of them
        with psycopg.connect(platform_env["databases"]["intake"]) as conn:
            assert conn.execute(query, (f"sandbox-{name}-%",)).fetchall() == []
        assert any(key.startswith("OW_AMQP_USER_") and value.startswith(f"sbx-{name}-dept-")
                   for key, value in env.items())
    finally:
        dropped = run(capsys, "sandbox", "drop", name)
    assert dropped["dropped"]["users"] and all(u.startswith(f"sbx-{name}-") for u in dropped["dropped"]["users"])
    assert databases(f"sandbox_{name}_") == set()
    assert not (tmp_path / f"sandbox-{name}.env").exists()
