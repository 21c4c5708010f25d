"""Unit tests for plugins/module_utils/common/aws_module.py: amazon.aws's connection options with
hapair.ha's legacy aliases, and the client the modules get (amazon.aws's, wrapped in AwsClient)."""
from __future__ import annotations

import yaml

from ansible.module_utils.basic import env_fallback
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec as amazon_spec

from ansible_collections.hapair.ha.plugins.doc_fragments.aws import ModuleDocFragment
from ansible_collections.hapair.ha.plugins.module_utils.common.aws_module import (
    LEGACY_ALIASES,
    connection_argument_spec,
)


def test_the_options_are_amazon_aws_options_with_the_legacy_aliases_added():
    spec = connection_argument_spec()
    amazon = amazon_spec()
    assert set(spec) == set(amazon)
    for name, option in spec.items():
        assert option.get("aliases", [])[:len(amazon[name].get("aliases", []))] == amazon[name].get("aliases", [])
        assert set(option.get("aliases", [])) - set(amazon[name].get("aliases", [])) == set(LEGACY_ALIASES.get(name, []))
    assert {"ec2_access_key", "ec2_secret_key", "security_token", "ec2_region", "ec2_url"} <= {
        alias for option in spec.values() for alias in option.get("aliases", [])}
    assert spec["secret_key"]["no_log"] is True
    assert spec["session_token"]["no_log"] is True
    assert spec["access_key"]["no_log"] is False


def test_fallbacks_keep_amazon_aws_env_names_and_add_aws_endpoint_url():
    spec = connection_argument_spec()
    assert spec["endpoint_url"]["fallback"] == (env_fallback, ["AWS_URL", "AWS_ENDPOINT_URL"])
    assert spec["region"]["fallback"] == (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])
    assert spec["access_key"]["fallback"] == (env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"])


def test_the_spec_is_a_fresh_copy():
    spec = connection_argument_spec()
    spec["access_key"]["aliases"].append("mutated")
    assert "mutated" not in connection_argument_spec()["access_key"]["aliases"]
    assert "ec2_access_key" not in amazon_spec()["access_key"]["aliases"]


def test_the_doc_fragment_lists_exactly_the_aliases_of_the_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = connection_argument_spec()
    assert set(documented) == set(LEGACY_ALIASES)
    for name, option in documented.items():
        assert option["aliases"] == spec[name]["aliases"]
