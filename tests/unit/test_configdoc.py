"""README.md's configuration table is generated from the schema: it must not drift."""
import yaml

from embdim import configdoc


def test_readme_table_matches_schema():
    block = configdoc.readme_block(configdoc.README.read_text())
    assert block is not None, "README.md lost its config-table markers"
    expected = configdoc.schema_table(yaml.safe_load(configdoc.SCHEMA.read_text()))
    assert block == expected, "README.md's config table is stale: run `python -m embdim.configdoc --write`"


def test_every_key_of_the_schema_has_a_row_and_a_description():
    schema = yaml.safe_load(configdoc.SCHEMA.read_text())
    table = configdoc.schema_table(schema)
    for key, spec in schema["properties"].items():
        assert f"| `{key}` |" in table
        assert spec.get("description"), f"schema key {key!r} has no description"
        for sub, subspec in (spec.get("properties") or {}).items():
            assert f"| `{key}.{sub}` |" in table
            assert subspec.get("description"), f"schema key {key}.{sub} has no description"


def test_table_shows_required_defaults_and_escapes_pipes():
    schema = {"required": ["a"], "properties": {
        "a": {"type": "string", "description": "needed"},
        "b": {"type": "string", "default": "x|y", "description": "one | two"},
        "c": {"type": "object", "description": "block", "properties": {
            "d": {"type": "integer", "default": 3, "description": "inner"}}}}}
    rows = configdoc.schema_table(schema).splitlines()[2:]
    assert rows == ["| `a` | (required) | needed |",
                    '| `b` | `"x&#124;y"` | one &#124; two |',
                    "| `c` | | block |",
                    "| `c.d` | `3` | inner |"]
