"""`navbill settings`: the sync settings without a window."""

from __future__ import annotations

from app.__main__ import main
from app.engine.settings import EngineSettings
from app.store import open_store


def stored(home) -> EngineSettings:
    database = open_store(home=home)
    try:
        return EngineSettings.load(database)
    finally:
        database.close()


def test_settings_are_shown_changed_with_types_and_kept(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "settings"]) == 2  # a mistyped --home is not quietly made
    assert "There is no NavBill home" in capsys.readouterr().err and not home.exists()
    assert main(["--home", str(home), "settings", "--create-home"]) == 0
    out = capsys.readouterr()
    assert "balancing_account_number = " in out.out and "Payments need" in out.err  # says what is missing

    assert main(["--home", str(home), "settings", "balancing_account_number=2910", "write_concurrency=2",
                 "create_nav_vendors=no", "master_on_conflict=nav"]) == 0
    capsys.readouterr()
    settings = stored(home)
    assert settings.balancing_account_number == "2910" and settings.write_concurrency == 2
    assert settings.create_nav_vendors is False and settings.master_on_conflict == "nav"


def test_bad_settings_change_nothing(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "settings", "journal_batch=OURS"]) == 0
    for bad in (["bogus=1"], ["write_concurrency=9"], ["write_concurrency=three"], ["master_on_conflict=maybe"],
                ["create_nav_vendors=perhaps"], ["journal_batch"], ["journal_batch=X", "nope=1"],
                ["balancing_account_type=Foo"], ["journal_batch=MUCH-TOO-LONG"]):
        assert main(["--home", str(home), "settings", *bad]) == 2, bad
        assert "Nothing changed" in capsys.readouterr().err
    assert stored(home).journal_batch == "OURS"
