"""Migration files: naming, ordering and statement splitting (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.migrate.migrations import MigrationFileError, discover, split_statements


def test_shipped_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))


def test_misnamed_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "1_tables.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationFileError, match=r"NNNN_name\.sql"):
        discover(tmp_path)


def test_duplicate_version_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationFileError, match="used twice"):
        discover(tmp_path)


def test_split_respects_quotes_dollar_bodies_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a text DEFAULT 'x;y');
    /* block; comment */
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
    DO $body$ BEGIN PERFORM 'it''s;'; END $body$;
    SELECT "odd;name" FROM t
    """
    statements = split_statements(sql)
    assert len(statements) == 4
    assert statements[0].endswith("DEFAULT 'x;y');")
    assert "RETURN 1; END $$;" in statements[1]
    assert statements[3] == 'SELECT "odd;name" FROM t'


def test_comment_only_tail_is_not_a_statement() -> None:
    assert split_statements("SELECT 1;\n-- done\n") == ["SELECT 1;"]
