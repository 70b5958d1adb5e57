"""The OpenAPI and AsyncAPI documents: up to date with the schemas, and valid
for the official validators."""
import json
import pathlib
import subprocess

from marshmallow import fields
from openapi_spec_validator import validate

from onewindow import apidocs
from scripts import api_docs
from services.registry import CENTRE

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_a_changed_schema_makes_the_documents_stale(monkeypatch, tmp_path):
    from services.review import schemas
    for name, text in api_docs.documents().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert api_docs.stale(tmp_path) == []
    monkeypatch.setattr(schemas.Decide, "_declared_fields", dict(schemas.Decide._declared_fields, urgent=fields.Boolean()))
    assert "docs/api/openapi.json" in api_docs.stale(tmp_path)


def test_every_rpc_method_is_a_path_with_its_schema():
    document = apidocs.openapi(CENTRE.classes)
    for cls in CENTRE.classes:
        for method, _ in apidocs.rpc_methods(cls):
            assert f"/api/v1/{cls.name}/{method}" in document["paths"]
    decide = document["paths"]["/api/v1/review/decide"]["post"]["requestBody"]["content"]["application/json"]
    assert decide["schema"]["properties"]["decision"]["enum"] == ["approve", "reject", "request_materials"]
    submit = document["paths"]["/api/v1/intake/submit"]["post"]["requestBody"]["content"]["application/json"]
    assert submit["schema"]["properties"]["application"] == {"$ref": "#/components/schemas/intake.ApplicationShape"}
    assert "applicant" in document["components"]["schemas"]["intake.ApplicationShape"]["properties"]


def test_openapi_document_is_valid():
    validate(json.loads((ROOT / "docs/api/openapi.json").read_text(encoding="utf-8")))


def test_asyncapi_document_is_valid_for_the_official_parser():
    # node and the pinned parser are installed by scripts/ensure-clients.sh (make test)
    result = subprocess.run(["node", str(ROOT / "scripts/asyncapi/validate.js"), str(ROOT / "docs/api/asyncapi.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3" in result.stdout


def test_every_consumed_event_is_a_channel_with_its_consumers_schemas():
    document = apidocs.asyncapi(CENTRE.classes)
    accepted = document["components"]["messages"]["intake.application_accepted"]["payload"]["allOf"]
    refs = {part.get("$ref") for part in accepted}
    assert "#/components/schemas/review.ApplicationAccepted" in refs
    assert document["channels"]["review.task_warning"]["bindings"]["amqp"]["exchange"]["name"] == "review.events"
