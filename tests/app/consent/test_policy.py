"""The cross-border export policy: the shipped rules, each refusal, domestic
cases, argument parsing, and policy files broken one named way at a time."""

from __future__ import annotations

import copy
import json
import tomllib

import pytest

from app.consent.policy import (ANY_DESTINATION, DATA_CATEGORIES, DEFAULT_POLICY_FILE,
                                DOCUMENT_TYPES, ExportPolicy, ExportRefused, InvalidArgument,
                                InvalidJurisdiction, InvalidReference, PolicyError,
                                PolicyFileError, UnknownCategory, UnknownDocumentType)
from app.consent.policy import identifiers

UNRESTRICTED = ("reference", "party", "commercial", "logistics", "customs")
ASSESSMENT = "CAC-SA-2024-0042"
CONSENT = "SC-2024-000917"


@pytest.fixture(scope="module")
def policy() -> ExportPolicy:
    return ExportPolicy.load()


def refusal(policy: ExportPolicy, categories, destination, *, assessment=None, consent=None,
            document_types=None) -> ExportRefused:
    with pytest.raises(ExportRefused) as info:
        policy.check(categories, destination, export_assessment_ref=assessment,
                     subject_consent_ref=consent, document_types=document_types)
    assert info.value.rule_id in str(info.value)
    return info.value


# --- the shipped file -------------------------------------------------------------------------

def test_shipped_file_loads(policy):
    assert DEFAULT_POLICY_FILE.is_file()
    assert policy.home_jurisdiction == "CN"
    assert ExportPolicy.load(DEFAULT_POLICY_FILE) == policy


def test_every_category_of_the_vocabulary_has_a_rule(policy):
    assert tuple(policy.rules) == DATA_CATEGORIES
    for category in DATA_CATEGORIES:
        rule = policy.rules_for(category)
        assert rule.category == category and rule.description and rule.rule_id


def test_defaults_have_restricted_categories_and_differing_destinations(policy):
    assert {c for c, r in policy.rules.items() if r.restricted} == {
        "personal_information", "financial"}
    assert policy.rules["financial"].destinations == ("HK", "MO", "SG")
    assert policy.rules["commercial"].destinations == ANY_DESTINATION
    assert [c for c, r in policy.rules.items() if r.subject_consent] == ["personal_information"]


def test_rules_cannot_be_changed(policy):
    with pytest.raises(TypeError):
        policy.rules["financial"] = policy.rules["commercial"]


# --- cross-border -----------------------------------------------------------------------------

@pytest.mark.parametrize("category", UNRESTRICTED)
@pytest.mark.parametrize("destination", ["US", "DE", "HK", "BR"])
def test_unrestricted_categories_go_anywhere_without_references(policy, category, destination):
    policy.check([category], destination, export_assessment_ref=None, subject_consent_ref=None)


def test_financial_to_a_destination_outside_its_list_is_refused(policy):
    error = refusal(policy, ["financial"], "US", assessment=ASSESSMENT)
    assert (error.rule_id, error.category, error.requirement) == (
        "TZ-NL-FIN", "financial", "destination")
    assert error.destination == "US"
    assert "HK, MO, SG" in error.message


def test_financial_without_assessment_is_refused(policy):
    error = refusal(policy, ["financial"], "HK")
    assert (error.rule_id, error.requirement) == ("TZ-NL-FIN", "export_assessment")
    assert "export_assessment_ref" in error.message


def test_financial_with_assessment_to_an_allowed_destination_passes(policy):
    policy.check(["financial", "commercial"], "SG", export_assessment_ref=ASSESSMENT,
                 subject_consent_ref=None)


def test_personal_information_without_assessment_is_refused(policy):
    error = refusal(policy, ["personal_information"], "DE", consent=CONSENT)
    assert (error.rule_id, error.requirement) == ("TZ-NL-PI", "export_assessment")


def test_personal_information_without_subject_consent_is_refused_under_pipl_39(policy):
    error = refusal(policy, ["personal_information"], "DE", assessment=ASSESSMENT)
    assert (error.rule_id, error.category, error.requirement) == (
        "PIPL-39", "personal_information", "subject_consent")
    assert "subject_consent_ref" in error.message


def test_personal_information_with_both_references_passes(policy):
    policy.check(["personal_information"], "DE", export_assessment_ref=ASSESSMENT,
                 subject_consent_ref=CONSENT)


def test_ecommerce_order_buyer_data_needs_only_subject_consent(policy):
    policy.check(["personal_information", "commercial"], "DE", export_assessment_ref=None,
                 subject_consent_ref=CONSENT, document_types=["ecommerce_order"])
    error = refusal(policy, ["personal_information"], "DE",
                    document_types=["ecommerce_order"])
    assert (error.rule_id, error.document_type) == ("PIPL-39", "ecommerce_order")


def test_the_strictest_document_type_decides(policy):
    error = refusal(policy, ["personal_information"], "DE", consent=CONSENT,
                    document_types=["logistics_waybill", "ecommerce_order"])
    assert (error.rule_id, error.document_type) == ("TZ-NL-PI", None)


def test_first_refusal_follows_vocabulary_order_not_argument_order(policy):
    forward = refusal(policy, ["customs", "financial", "personal_information"], "US")
    backward = refusal(policy, ["personal_information", "financial", "customs"], "US")
    assert forward.rule_id == backward.rule_id == "TZ-NL-PI"
    assert forward.requirement == "export_assessment"


def test_destination_is_checked_before_assessment(policy):
    assert refusal(policy, ["financial"], "US").requirement == "destination"


# --- domestic ---------------------------------------------------------------------------------

@pytest.mark.parametrize("category", [c for c in DATA_CATEGORIES if c != "personal_information"])
def test_domestic_sending_needs_nothing(policy, category):
    policy.check([category], "CN", export_assessment_ref=None, subject_consent_ref=None)


def test_domestic_personal_information_needs_subject_consent_under_pipl_23(policy):
    error = refusal(policy, ["personal_information"], "CN")
    assert (error.rule_id, error.requirement, error.destination) == (
        "PIPL-23", "subject_consent", "CN")
    policy.check(["personal_information"], "CN", export_assessment_ref=None,
                 subject_consent_ref=CONSENT)


def test_domestic_unknown_category_is_still_an_error(policy):
    with pytest.raises(UnknownCategory):
        policy.check(["weather"], "CN", export_assessment_ref=None, subject_consent_ref=None)


# --- arguments --------------------------------------------------------------------------------

def test_unknown_category_is_a_value_error_and_a_policy_error(policy):
    with pytest.raises(UnknownCategory) as info:
        policy.check(["commercial", "weather"], "US", export_assessment_ref=None,
                     subject_consent_ref=None)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PolicyError)
    assert info.value.category == "weather"


@pytest.mark.parametrize("categories", ["commercial", [], ()])
def test_categories_must_be_a_non_empty_collection(policy, categories):
    with pytest.raises(InvalidArgument) as info:
        policy.check(categories, "US", export_assessment_ref=None, subject_consent_ref=None)
    assert info.value.field == "categories"


def test_unknown_document_type(policy):
    with pytest.raises(UnknownDocumentType):
        policy.check(["commercial"], "US", export_assessment_ref=None, subject_consent_ref=None,
                     document_types=["love_letter"])


@pytest.mark.parametrize("destination", ["us", "USA", "U", "", " US", None, 840])
def test_destination_must_be_an_alpha_2_code(policy, destination):
    with pytest.raises(InvalidJurisdiction):
        policy.check(["commercial"], destination, export_assessment_ref=None,
                     subject_consent_ref=None)


@pytest.mark.skipif(identifiers.pycountry is None, reason="pycountry is not installed")
def test_destination_must_be_an_assigned_code(policy):
    with pytest.raises(InvalidJurisdiction, match="not an assigned"):
        policy.check(["commercial"], "XX", export_assessment_ref=None, subject_consent_ref=None)


@pytest.mark.parametrize("ref", ["", "abc", "A" * 65, " ABCD", "ABCD ", "AB\nCD", "AB\tCD", 1234])
def test_malformed_export_assessment_ref(policy, ref):
    with pytest.raises(InvalidReference) as info:
        policy.check(["commercial"], "US", export_assessment_ref=ref, subject_consent_ref=None)
    assert info.value.field == "export_assessment_ref"


@pytest.mark.parametrize("ref", ["ABCD", "A" * 64, "京网信数出评-2024-12"])
def test_well_formed_export_assessment_ref(policy, ref):
    policy.check(["financial"], "HK", export_assessment_ref=ref, subject_consent_ref=None)


def test_subject_consent_ref_may_be_128_characters_not_129(policy):
    policy.check(["personal_information"], "CN", export_assessment_ref=None,
                 subject_consent_ref="C" * 128)
    with pytest.raises(InvalidReference) as info:
        policy.check(["personal_information"], "CN", export_assessment_ref=None,
                     subject_consent_ref="C" * 129)
    assert info.value.field == "subject_consent_ref"


def test_rules_for(policy):
    assert policy.rules_for("financial").rule_id == "TZ-NL-FIN"
    assert policy.rules_for("personal_information", "ecommerce_order").rule_id == "TZ-EX-CONTRACT"
    assert policy.rules_for("personal_information", "packing_list").rule_id == "TZ-NL-PI"
    with pytest.raises(UnknownCategory):
        policy.rules_for("weather")
    with pytest.raises(UnknownDocumentType):
        policy.rules_for("financial", "love_letter")


# --- policy files -----------------------------------------------------------------------------

def shipped_document() -> dict:
    return tomllib.loads(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))


def to_toml(document: dict) -> str:
    """A TOML text for the simple documents these tests write (every key quoted)."""
    lines: list[str] = []

    def emit(table: dict, path: list[str]) -> None:
        for key, value in table.items():
            if not isinstance(value, dict):
                lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                lines.append(f"[{'.'.join(json.dumps(k) for k in path + [key])}]")
                emit(value, path + [key])

    emit(document, [])
    return "\n".join(lines) + "\n"


def write_policy(tmp_path, document: dict):
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    return path


def test_round_trip_of_the_shipped_document(tmp_path, policy):
    assert ExportPolicy.load(write_policy(tmp_path, shipped_document())) == policy


def _set(path: str, value):
    def mutate(document: dict) -> None:
        *parents, last = path.split(".")
        table = document
        for parent in parents:
            table = table.setdefault(parent, {})
        table[last] = value
    return mutate


def _delete(path: str):
    def mutate(document: dict) -> None:
        *parents, last = path.split(".")
        table = document
        for parent in parents:
            table = table[parent]
        del table[last]
    return mutate


MUTATIONS = [
    ("missing-home", _delete("home_jurisdiction"), "home_jurisdiction", "missing"),
    ("lower-case-home", _set("home_jurisdiction", "cn"), "home_jurisdiction", "ISO 3166-1"),
    ("unknown-top-level-key", _set("exemptions", "all"), "exemptions", "not a known key"),
    ("missing-subject-consent", _delete("subject_consent"), "subject_consent", "missing"),
    ("subject-consent-flag-not-bool", _set("subject_consent.required_domestic", "yes"),
     "subject_consent.required_domestic", "true or false"),
    ("missing-category", _delete("categories.customs"), "categories.customs", "missing"),
    ("unknown-category", _set("categories.weather", {}), "categories.weather",
     "not a data category"),
    ("category-not-a-table", _set("categories.reference", "exempt"), "categories.reference",
     "must be a table"),
    ("missing-rule-id", _delete("categories.financial.rule_id"),
     "categories.financial.rule_id", "missing"),
    ("malformed-rule-id", _set("categories.financial.rule_id", "tz nl fin"),
     "categories.financial.rule_id", "upper-case"),
    ("empty-description", _set("categories.financial.description", "  "),
     "categories.financial.description", "non-empty"),
    ("restricted-as-integer", _set("categories.financial.restricted", 1),
     "categories.financial.restricted", "true or false"),
    ("unknown-category-key", _set("categories.financial.volume_threshold", 100000),
     "categories.financial.volume_threshold", "not a known key"),
    ("destinations-word", _set("categories.financial.destinations", "any"),
     "categories.financial.destinations", "list"),
    ("destination-three-letters", _set("categories.financial.destinations", ["HK", "USA"]),
     "categories.financial.destinations[1]", "ISO 3166-1"),
    ("destination-lower-case", _set("categories.financial.destinations", ["hk"]),
     "categories.financial.destinations[0]", "ISO 3166-1"),
    ("destination-twice", _set("categories.financial.destinations", ["HK", "SG", "HK"]),
     "categories.financial.destinations[2]", "twice"),
    ("destination-home", _set("categories.financial.destinations", ["HK", "CN"]),
     "categories.financial.destinations[1]", "home jurisdiction"),
    ("override-unknown-document-type", _set("document_types.love_letter",
                                            {"personal_information": {}}),
     "document_types.love_letter", "not a document type"),
    ("override-unknown-category", _set("document_types.ecommerce_order.weather", {}),
     "document_types.ecommerce_order.weather", "not a data category"),
    ("override-lifts-subject-consent",
     _set("document_types.ecommerce_order.personal_information.subject_consent", False),
     "document_types.ecommerce_order.personal_information.subject_consent", "not a known key"),
    ("override-without-rule-id",
     _delete("document_types.ecommerce_order.personal_information.rule_id"),
     "document_types.ecommerce_order.personal_information.rule_id", "missing"),
]


@pytest.mark.parametrize("name,mutate,key,problem", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_malformed_policy_file(tmp_path, name, mutate, key, problem):
    document = copy.deepcopy(shipped_document())
    mutate(document)
    path = write_policy(tmp_path, document)
    with pytest.raises(PolicyFileError) as info:
        ExportPolicy.load(path)
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(path) in str(info.value) and key in str(info.value)


@pytest.mark.skipif(identifiers.pycountry is None, reason="pycountry is not installed")
def test_unassigned_destination_in_file(tmp_path):
    document = shipped_document()
    document["categories"]["financial"]["destinations"] = ["XX"]
    with pytest.raises(PolicyFileError) as info:
        ExportPolicy.load(write_policy(tmp_path, document))
    assert info.value.key == "categories.financial.destinations[0]"


def test_file_that_is_not_toml(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('home_jurisdiction = "CN\n', encoding="utf-8")
    with pytest.raises(PolicyFileError, match="not valid TOML") as info:
        ExportPolicy.load(path)
    assert isinstance(info.value.__cause__, tomllib.TOMLDecodeError)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyFileError, match="cannot be read"):
        ExportPolicy.load(tmp_path / "absent.toml")


def test_empty_destination_list_forbids_export(tmp_path):
    document = shipped_document()
    document["categories"]["customs"]["destinations"] = []
    policy = ExportPolicy.load(write_policy(tmp_path, document))
    error = refusal(policy, ["customs"], "US")
    assert "may not be sent abroad under any consent" in error.message
    policy.check(["customs"], "CN", export_assessment_ref=None, subject_consent_ref=None)


def test_domestic_subject_consent_can_be_switched_off(tmp_path):
    document = shipped_document()
    document["subject_consent"]["required_domestic"] = False
    policy = ExportPolicy.load(write_policy(tmp_path, document))
    policy.check(["personal_information"], "CN", export_assessment_ref=None,
                 subject_consent_ref=None)
    assert refusal(policy, ["personal_information"], "JP",
                   assessment=ASSESSMENT).rule_id == "PIPL-39"


def test_override_inherits_what_it_does_not_set(tmp_path):
    document = shipped_document()
    document["document_types"]["payment_record"] = {"financial": {
        "rule_id": "TZ-NL-FIN-PAY", "description": "payment records go to SG only",
        "destinations": ["SG"]}}
    policy = ExportPolicy.load(write_policy(tmp_path, document))
    rule = policy.rules_for("financial", "payment_record")
    assert (rule.restricted, rule.destinations, rule.document_type) == (
        True, ("SG",), "payment_record")
    error = refusal(policy, ["financial"], "HK", assessment=ASSESSMENT,
                    document_types=["payment_record"])
    assert (error.rule_id, error.requirement) == ("TZ-NL-FIN-PAY", "destination")


def test_vocabularies_are_the_platforms():
    assert DATA_CATEGORIES == ("reference", "party", "personal_information", "commercial",
                               "financial", "logistics", "customs")
    assert len(DOCUMENT_TYPES) == 8


def test_vocabularies_agree_with_the_documents_package():
    types = pytest.importorskip("app.documents.types")
    for name, ours in (("DATA_CATEGORIES", DATA_CATEGORIES), ("DOCUMENT_TYPES", DOCUMENT_TYPES)):
        theirs = getattr(types, name, None)
        if theirs is None:
            pytest.skip(f"app.documents.types has no {name}")
        assert set(theirs) == set(ours), name
