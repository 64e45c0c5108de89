"""plugins/module_utils/validation.py: what the user typed is checked, and refused with a message naming the option."""
# pylint: disable=missing-function-docstring

import pytest

from ansible_collections.kubeaccess.x509.plugins.module_utils.validation import (
    dns_safe, expiration_error, identity_name_error, label_errors, namespace_error, object_name_error,
    parse_duration, parse_renew_before, signer_name_error, usages_error)


# identity_name_error: user names (CN) and groups (O)

def test_normal_user_name_is_accepted():
    """An e-mail-like user name is a perfectly good certificate CN."""
    assert identity_name_error("user", "rahul@example.com") is None


def test_name_of_64_characters_is_accepted():
    """64 characters is the X.509 limit and still fits."""
    assert identity_name_error("user", "a" * 64) is None


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_name_is_refused(value):
    """An empty (or blank) user name is refused, naming the option."""
    message = identity_name_error("user", value)
    assert message is not None
    assert message.startswith("user:")
    assert "empty" in message


@pytest.mark.parametrize("value", [" rahul", "rahul ", "rahul\t"])
def test_name_with_surrounding_spaces_is_refused(value):
    """Leading or trailing whitespace would become part of the identity; the user is told to remove it."""
    message = identity_name_error("user", value)
    assert message is not None
    assert message.startswith("user:")
    assert "spaces" in message


def test_name_of_65_characters_is_refused():
    """A certificate subject field holds at most 64 characters; the message gives both numbers."""
    message = identity_name_error("groups", "a" * 65)
    assert message is not None
    assert message.startswith("groups:")
    assert "65" in message and "64" in message


@pytest.mark.parametrize("value", ["ra\x00hul", "ra\nhul", "ra\x1bhul", "ra\x7fhul"])
def test_name_with_control_characters_is_refused(value):
    """Control characters inside a name are refused."""
    message = identity_name_error("user", value)
    assert message is not None
    assert message.startswith("user:")
    assert "control characters" in message


@pytest.mark.parametrize("value", ["system:admin", "system:masters"])
def test_system_prefix_is_refused_by_default(value):
    """Names starting with system: are reserved for Kubernetes; the message says how to allow them deliberately."""
    message = identity_name_error("user", value)
    assert message is not None
    assert message.startswith("user:")
    assert "system:" in message
    assert "allow_system_names" in message


def test_system_prefix_is_accepted_when_allowed():
    """allow_system lets a deliberate system: name through."""
    assert identity_name_error("user", "system:admin", allow_system=True) is None


def test_allow_system_does_not_lift_other_checks():
    """allow_system only concerns the prefix: an over-long system: name is still refused."""
    assert identity_name_error("user", "system:" + "a" * 60, allow_system=True) is not None


# object_name_error: CSR and binding names

@pytest.mark.parametrize("value", ["rahul", "rahul-1", "rahul.example.com", "a", "0abc", "a" * 253])
def test_dns_subdomain_object_name_is_accepted(value):
    """Lower-case DNS subdomains up to 253 characters are valid object names."""
    assert object_name_error("name", value) is None


@pytest.mark.parametrize("value", ["Not A Valid Name", "Rahul", "RAHUL", "rahul_1", "-rahul", "rahul-", "rahul.",
                                   "a..b", "a" * 254])
def test_invalid_object_name_is_refused_naming_the_option(value):
    """Spaces, upper case, underscores, bad edges and over-long names are refused with the option named."""
    message = object_name_error("csr_name", value)
    assert message is not None
    assert message.startswith("csr_name:")
    assert "253" in message


def test_empty_object_name_is_refused():
    """An empty name is refused, naming the option."""
    message = object_name_error("csr_name", "")
    assert message is not None
    assert message.startswith("csr_name:")


# dns_safe: default object names derived from user names

@pytest.mark.parametrize("value", ["kubernetes.io/kube-apiserver-client", "clusterissuers.cert-manager.io/team-ca",
                                   "example.com/a/b", "vault.example.com/pki_int"])
def test_signer_names_of_the_form_domain_and_path_are_accepted(value):
    assert signer_name_error("signer_name", value) is None


@pytest.mark.parametrize("value", ["team-ca", "example.com/", "/ca", "Example.com/ca", "example_com/ca",
                                   "example.com/a b", "", None])
def test_a_signer_name_without_domain_or_path_is_refused_naming_the_option(value):
    assert signer_name_error("signer_name", value).startswith(f"signer_name: {value!r} is not a signer name; give")


@pytest.mark.parametrize("value, expected", [
    ("rahul@example.com", "rahul-example-com"),
    ("Rahul.Sharma", "rahul-sharma"),
    ("  --dev ops--  ", "dev-ops"),
    ("system:admin", "system-admin"),
])
def test_dns_safe_turns_user_names_into_readable_fragments(value, expected):
    """Any run of unusable characters becomes one '-', upper case becomes lower case."""
    assert dns_safe(value) == expected


@pytest.mark.parametrize("value", ["@@@", "", "日本語"])
def test_dns_safe_falls_back_to_user(value):
    """A name with nothing usable still gives a valid fragment."""
    assert dns_safe(value) == "user"


def test_dns_safe_respects_the_limit_without_trailing_dash():
    """Cutting at the limit never leaves a '-' at the end."""
    result = dns_safe("a" * 39 + "@" + "b" * 20)
    assert result == "a" * 39
    assert len(dns_safe("x" * 100)) == 40
    assert len(dns_safe("x" * 100, limit=10)) == 10


@pytest.mark.parametrize("value", ["rahul@example.com", "Ünïcödé user", "a" * 39 + "-" + "b" * 30, "--x--", "!!"])
def test_dns_safe_result_is_a_valid_object_name(value):
    """Whatever the user name, the fragment passes object_name_error."""
    assert object_name_error("name", dns_safe(value)) is None


# label_errors

def test_valid_labels_are_accepted():
    """Plain keys, prefixed keys, empty values and no labels at all are fine."""
    assert label_errors("labels", {"app": "web", "example.com/team": "dev_ops.1", "tier": ""}) == []
    assert label_errors("labels", None) == []
    assert label_errors("labels", {}) == []


@pytest.mark.parametrize("key", ["-app", "app-", "bad key", "a" * 64, "", "example.com/"])
def test_invalid_label_key_is_refused(key):
    """Label key names follow the qualified-name rules."""
    errors = label_errors("labels", {key: "x"})
    assert len(errors) == 1
    assert errors[0].startswith("labels:")
    assert repr(key) in errors[0]


@pytest.mark.parametrize("key", ["Example.com/app", "bad_prefix/app", "-x.com/app"])
def test_invalid_label_key_prefix_is_refused(key):
    """The prefix before '/' must be a DNS subdomain."""
    errors = label_errors("labels", {key: "x"})
    assert len(errors) == 1
    assert errors[0].startswith("labels:")
    assert "prefix" in errors[0]


@pytest.mark.parametrize("value", ["a" * 64, "bad value", "-x", "x-", "a/b"])
def test_invalid_label_value_is_refused(value):
    """Label values: at most 63 characters, alphanumerics inside with '-', '_' and '.'."""
    errors = label_errors("annotations_or_labels", {"app": value})
    assert len(errors) == 1
    assert errors[0].startswith("annotations_or_labels:")
    assert "value" in errors[0]


def test_every_bad_label_is_reported():
    """All bad labels are reported at once, not only the first."""
    errors = label_errors("labels", {"bad key": "ok", "ok": "bad value", "fine": "fine"})
    assert len(errors) == 2


# expiration_error

def test_expiration_below_600_is_refused():
    """The API refuses certificates shorter than 10 minutes; so does the option check."""
    message = expiration_error("expiration_seconds", 599)
    assert message is not None
    assert message.startswith("expiration_seconds:")
    assert "600" in message


@pytest.mark.parametrize("value", [600, 3600, None])
def test_expiration_of_600_or_more_is_accepted(value):
    """600 s is the floor and is accepted; no value means no check."""
    assert expiration_error("expiration_seconds", value) is None


# parse_duration and parse_renew_before

@pytest.mark.parametrize("value, seconds", [
    ("8h", 8 * 3600), ("1h30m", 5400), ("2d", 2 * 86400), ("3600", 3600), ("3600s", 3600), ("90d", 90 * 86400),
    ("1w", 604800), ("1.5h", 5400), ("8H", 8 * 3600), (" 2d ", 2 * 86400), (3600, 3600),
])
def test_parse_duration(value, seconds):
    """Durations with units, combined units and plain seconds are understood."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "", "h", "1h 30m", "1y", "-1h", "8h!"])
def test_parse_duration_refuses_non_durations(value):
    """Anything else is not a duration."""
    assert parse_duration(value) is None


@pytest.mark.parametrize("value, expected", [
    ("8h", ("seconds", 8 * 3600)),
    ("1h30m", ("seconds", 5400)),
    ("2d", ("seconds", 2 * 86400)),
    ("3600", ("seconds", 3600)),
])
def test_parse_renew_before_durations(value, expected):
    """A duration is renewal that many seconds before expiry."""
    assert parse_renew_before(value) == expected


@pytest.mark.parametrize("value, fraction", [("30%", 0.3), ("0.3", 0.3), (".25", 0.25), ("99.5%", 0.995)])
def test_parse_renew_before_fractions(value, fraction):
    """'30%' and '0.3' both mean 30% of the lifetime."""
    kind, number = parse_renew_before(value)
    assert kind == "fraction"
    assert number == pytest.approx(fraction)


@pytest.mark.parametrize("value", ["soon", "150%", "0%", "100%", "abc%", "1.5", ""])
def test_parse_renew_before_errors_name_the_option(value):
    """Values that are neither a duration nor a fraction in (0, 1) are refused, naming renew_before."""
    with pytest.raises(ValueError) as caught:
        parse_renew_before(value)
    assert str(caught.value).startswith("renew_before:")
    assert repr(value) in str(caught.value)


def test_parse_renew_before_error_says_what_is_accepted():
    """The message for a word like 'soon' shows examples of what works."""
    with pytest.raises(ValueError) as caught:
        parse_renew_before("soon")
    assert "8h" in str(caught.value) and "30%" in str(caught.value)


# namespace_error: the one check of namespace names (the role's plan, k8s_rbac_binding's items and subjects)

@pytest.mark.parametrize("value", ["dev", "team-a", "2024", "a" * 63])
def test_namespace_names_the_api_server_takes_are_accepted(value):
    assert namespace_error("namespace", value) is None


@pytest.mark.parametrize("value", ["Dev", "dev.team", "dev_team", "-dev", "dev-", "", "a" * 64, 2024, None])
def test_other_namespace_names_are_refused_naming_the_option_and_the_rule(value):
    assert namespace_error("user_access_namespace", value) == (
        f"user_access_namespace: {value!r} is not a namespace name: use at most 63 lower-case letters, digits and "
        "'-', starting and ending with a letter or digit")


# usages_error: spec.usages as the CSR API takes them

@pytest.mark.parametrize("value", [["client auth"], ["digital signature", "key encipherment", "client auth"],
                                   ["server auth"]])
def test_key_usages_the_api_takes_are_accepted(value):
    """Which usages a signer issues is the approval policy's concern; here only what the API takes."""
    assert usages_error("usages", value) is None


@pytest.mark.parametrize("value, words", [
    ([], "usages: must not be empty; client certificates use ['client auth']"),
    (["flying"], "usages: ['flying'] are not key usages of the CSR API; client certificates use ['client auth'] "
                 "(other usages: signing, digital signature,"),
    (["Client Auth"], "usages: ['Client Auth'] are not key usages"),
    (["client auth", "client auth"], "usages: ['client auth'] are given more than once; give each usage once"),
])
def test_usages_the_api_refuses_are_refused_naming_the_option_and_what_it_takes(value, words):
    assert usages_error("usages", value).startswith(words)
