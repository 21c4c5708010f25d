# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible side of the AWS area: how hapair.ha's AWS modules connect.

They are amazon.aws modules in all but name: ``AnsibleAWSModule`` gives them amazon.aws's
connection options (documented by the ``amazon.aws.common.modules`` and
``amazon.aws.region.modules`` fragments), checks boto3/botocore and builds the botocore client.
That client is then wrapped in ``module_utils/aws/common.AwsClient``, the retry and call-count
layer the node command (plain boto3, no Ansible) uses too.

Kept on top of amazon.aws: the connection aliases amazon.aws 10 dropped (``ec2_*``,
``security_token``...), so playbooks written for older releases keep working, and the
``AWS_ENDPOINT_URL`` variable. This file imports Ansible and amazon.aws, so it lives outside
``module_utils/aws`` (which hapair.ha.vip_route installs on the nodes).
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec as amazon_aws_argument_spec

from ansible_collections.hapair.ha.plugins.module_utils.aws.common import (
    DEFAULT_MAX_ATTEMPTS,
    NO_REGION,
    AwsError,
    check_credentials,
    client_config,
    wrap_client,
)

#: Aliases hapair.ha accepted before it used amazon.aws's options (amazon.aws 10 dropped them);
#: documented by the hapair.ha.aws doc fragment.
LEGACY_ALIASES = {
    "access_key": ["ec2_access_key"],
    "secret_key": ["ec2_secret_key"],
    "session_token": ["security_token", "aws_security_token", "access_token"],
    "region": ["ec2_region"],
    "endpoint_url": ["ec2_url"],
}

#: Environment variables read besides amazon.aws's own.
EXTRA_ENV = {
    "endpoint_url": ["AWS_ENDPOINT_URL"],
}


def connection_argument_spec():
    """amazon.aws's connection options (a fresh copy) with hapair.ha's legacy aliases and
    environment variables added."""
    spec = amazon_aws_argument_spec()
    for name, option in spec.items():
        option = dict(option)
        aliases = list(option.get("aliases", []))
        aliases += [alias for alias in LEGACY_ALIASES.get(name, []) if alias not in aliases]
        if aliases:
            option["aliases"] = aliases
        if name in EXTRA_ENV and "fallback" in option:
            function, env_vars = option["fallback"]
            option["fallback"] = (function, list(env_vars) + [v for v in EXTRA_ENV[name] if v not in env_vars])
        spec[name] = option
    return spec


def aws_module(argument_spec, **kwargs):
    """An ``AnsibleAWSModule`` with the connection options of :func:`connection_argument_spec`
    and the module's own ``argument_spec``."""
    spec = connection_argument_spec()
    spec.update(argument_spec)
    return AnsibleAWSModule(argument_spec=spec, **kwargs)


def aws_client(module, service, max_concurrency=None, max_attempts=DEFAULT_MAX_ATTEMPTS):
    """The AwsClient of ``service``: the botocore client amazon.aws builds from the module's
    connection options, botocore's retries off and its pool sized for ``max_concurrency``.

    Raises AwsError for contradictory credentials or no region (messages as the node
    command's), before anything is sent."""
    params = module.params
    check_credentials(params.get("access_key"), params.get("secret_key"), params.get("session_token"),
                      params.get("profile"))
    if not module.region:
        raise AwsError(NO_REGION)
    client = module.client(service, config=client_config(max_concurrency))
    return wrap_client(client, max_attempts=max_attempts)
