"""Translations: every message in the code is translated into French, and the web pages follow
the language chosen by cookie, by Accept-Language, or by the signed-in user's switch."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from dho.i18n import LOCALE_DIR
from dho.web.deps import LANG_COOKIE
from tests.conftest import csrf_from, demo_email, login

ROOT = Path(__file__).resolve().parents[2]
FR_PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]")


# ---------------------------------------------------------------- the catalog


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory):
    """The messages in the code today, extracted the way docs/translations.md says."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), "--no-location",
        "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", str(ROOT),
    ])
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def french():
    with FR_PO.open("rb") as fh:
        return read_po(fh, locale="fr")


def _ids(message) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_extraction_finds_python_and_template_messages(extracted):
    ids = {m.id for m in extracted if m.id}
    assert len(ids) > 200
    assert "Wrong e-mail address or password." in ids  # Python service
    assert "Your roles do not allow you to %(action)s here." in ids  # permissions
    assert "Skip to content" in ids  # Jinja template
    assert ("%(num)s country or area", "%(num)s countries and areas") in ids  # Jinja ngettext
    assert "Archive refused" in ids


def test_every_message_is_translated_into_french(extracted, french):
    missing, empty, fuzzy = [], [], []
    for message in extracted:
        if not message.id:
            continue
        fr = french.get(message.id)
        if fr is None:
            missing.append(message.id)
        elif not all(_strings(fr)) or len(_strings(fr)) != (2 if message.pluralizable else 1):
            empty.append(message.id)
        elif fr.fuzzy:
            fuzzy.append(message.id)
    hint = "run the extract and update commands in docs/translations.md, then translate"
    assert not missing, f"not in the French catalog ({hint}): {missing}"
    assert not empty, f"untranslated in the French catalog: {empty}"
    assert not fuzzy, f"fuzzy (to be checked by a translator) in the French catalog: {fuzzy}"
    assert not french.fuzzy, "the French catalog header is marked fuzzy"


def test_french_placeholders_match_the_english(french):
    problems = []
    for message in french:
        if not message.id:
            continue
        expected = set().union(*(PLACEHOLDER.findall(s) for s in _ids(message)))
        for form in _strings(message):
            if set(PLACEHOLDER.findall(form)) != expected:
                problems.append((message.id, form))
    assert not problems
    # Babel's own checks (python-format conversions, number of plural forms)
    assert [(m.id, errs) for m, errs in french.check()] == []


def test_french_catalog_has_french_plural_rule(french):
    assert french.num_plurals == 2
    assert french.plural_expr.replace(" ", "") in ("(n>1)", "n>1")


# ---------------------------------------------------------------- pages


def _lang(page_html: str) -> str:
    match = re.search(r'<html lang="([^"]+)" dir="([^"]+)"', page_html)
    assert match, "no <html lang dir> on the page"
    assert match.group(2) == "ltr"
    return match.group(1)


def _nav_label(page_html: str, href: str) -> str:
    match = re.search(rf'<nav class="main-nav".*?<a href="{re.escape(href)}"[^>]*>([^<]+)</a>', page_html, re.S)
    assert match, f"no {href} link in the main navigation"
    return html.unescape(match.group(1)).strip()


def test_pages_are_english_by_default(client):
    page = client.get("/countries", params={"q": "DEU"})
    assert page.status_code == 200
    assert _lang(page.text) == "en"
    assert _nav_label(page.text, "/countries") == "Countries"
    assert "Germany" in page.text
    assert "Allemagne" not in page.text


def test_language_cookie_selects_french(client):
    client.cookies.set(LANG_COOKIE, "fr")
    page = client.get("/countries", params={"q": "DEU"})
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert _lang(page.text) == "fr"
    assert _nav_label(page.text, "/countries") == "Pays"
    assert _nav_label(page.text, "/organisations") == "Organisations"
    assert "Allemagne" in text  # the country name comes from CLDR through the ISO2 code
    assert "1 pays ou territoire" in text  # ngettext in a template, French singular
    assert "Aller au contenu" in text
    assert "Skip to content" not in text


def test_accept_language_selects_french(client):
    page = client.get("/countries", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert _lang(page.text) == "fr"
    assert _nav_label(page.text, "/countries") == "Pays"
    assert "Observatoire de la santé numérique" in html.unescape(page.text)


def test_unknown_language_falls_back_to_english(client):
    page = client.get("/countries", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert _lang(page.text) == "en"
    client.cookies.set(LANG_COOKIE, "xx")
    page = client.get("/countries")
    assert _lang(page.text) == "en"
    assert _nav_label(page.text, "/countries") == "Countries"


def test_missing_page_is_explained_in_french(client):
    client.cookies.set(LANG_COOKIE, "fr")
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    assert _lang(page.text) == "fr"
    assert "<h1>Introuvable</h1>" in text
    assert "Il n'y a aucune page à cette adresse." in text
    assert "Retour à la page d'accueil" in text
    assert "There is no page" not in text and "Not found" not in text


def test_domain_error_page_is_in_french(client):
    client.cookies.set(LANG_COOKIE, "fr")
    page = client.get("/countries/XYZ")
    assert page.status_code == 404
    text = html.unescape(page.text)
    assert "Aucun pays ni territoire n'a le code 'XYZ'." in text
    assert "<h1>Introuvable</h1>" in text


def test_sign_in_error_is_in_french(client):
    client.cookies.set(LANG_COOKIE, "fr")
    response = login(client, demo_email("viewer"), "not-the-password")
    assert response.status_code == 401
    assert "Adresse électronique ou mot de passe incorrect." in html.unescape(response.text)


def test_signed_in_user_switches_to_french_and_keeps_it(client):
    assert login(client, demo_email("viewer")).status_code == 303
    home = client.get("/")
    assert _lang(home.text) == "en"
    switched = client.post("/language", data={"lang": "fr", "next": "/organisations",
                                              "csrf_token": csrf_from(home.text)}, follow_redirects=False)
    assert switched.status_code == 303
    page = client.get("/organisations")
    assert _lang(page.text) == "fr"
    assert _nav_label(page.text, "/countries") == "Pays"
    # the choice is kept on the account: a new browser gets it back at sign-in
    client.cookies.clear()
    assert _lang(client.get("/").text) == "en"
    assert login(client, demo_email("viewer")).status_code == 303
    assert _lang(client.get("/").text) == "fr"


def test_refusal_is_one_whole_sentence_in_each_language():
    from dho import i18n
    from dho.accounts.permissions import Grant, Principal, require
    from dho.errors import Forbidden

    viewer = Principal(1, "viewer@example.org", (Grant("viewer"),), None, "session")
    read_token = Principal(1, "admin@example.org", (Grant("admin"),), frozenset({"read"}), "token")
    expected = {
        "en": ("Your roles do not allow you to add an organisation to the master list here.",
               "This token lacks the 'write' scope needed to create and revoke API tokens."),
        "fr": ("Vos rôles ne vous autorisent pas à ajouter une organisation à la liste de référence ici.",
               "Ce jeton n'a pas la portée «\u00a0write\u00a0» nécessaire pour créer et révoquer des jetons d'API."),
    }
    for locale, (by_role, by_scope) in expected.items():
        token = i18n.set_locale(locale)
        try:
            with pytest.raises(Forbidden) as refused:
                require(viewer, "organisation.create")
            assert refused.value.detail == by_role
            with pytest.raises(Forbidden) as refused:
                require(read_token, "token.manage")
            assert refused.value.detail == by_scope
        finally:
            i18n.reset_locale(token)


def test_signed_in_user_is_refused_in_french(client):
    client.cookies.set(LANG_COOKIE, "fr")
    assert login(client, demo_email("viewer")).status_code == 303
    refused = client.get("/admin/users")
    assert refused.status_code == 403
    text = html.unescape(refused.text)
    assert "Action non autorisée" in text
    assert "Vos rôles ne vous autorisent pas à voir les comptes utilisateurs et leurs rôles ici." in text
