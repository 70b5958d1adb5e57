"""docs/api is generated from the services' schemas: a schema changed without
`make api-docs` fails here, where everyone looks first."""
from scripts import api_docs


def test_api_documents_are_regenerated_after_a_schema_change():
    assert api_docs.stale() == [], "docs/api is out of date: run `make api-docs` and commit docs/api"
