"""docs/api and the centre's manifest of event handlers are generated from the
services' code: a schema or handler changed without `make api-docs` fails
here, where everyone looks first."""
from scripts import api_docs


def test_api_documents_are_regenerated_after_a_schema_change():
    assert api_docs.stale() == [], "out of date: run `make api-docs` and commit what it writes"
