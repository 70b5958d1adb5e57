"""`make api-docs`: write docs/api/openapi.json and docs/api/asyncapi.json
from the services' code, and the centre's manifest of event handlers
(services/subscriptions.json, what each relay declares at start); `--check`
exits 1 when any of them is out of date."""
import argparse
import pathlib
import sys

from onewindow import apidocs
from services.gateway.dependencies import offered
from services.registry import CENTRE

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api"


def documents():
    classes = CENTRE.classes
    return {"openapi.json": apidocs.render(apidocs.openapi(classes, only=offered)),
            "asyncapi.json": apidocs.render(apidocs.asyncapi(classes))}


def stale(docs=DOCS):
    """Names of the documents whose file differs from what the code gives."""
    found = [f"docs/api/{name}" for name, text in documents().items()
             if not (docs / name).exists() or (docs / name).read_text(encoding="utf-8") != text]
    return found + (["services/subscriptions.json"] if CENTRE.stale_subscriptions() else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report documents that are out of date")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for name in out_of_date:
            print(f"{name} is out of date: run `make api-docs`", file=sys.stderr)
        return 1 if out_of_date else 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        (DOCS / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/api/{name}")
    CENTRE.write_subscriptions()
    print(f"wrote services/{CENTRE.manifest.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
