# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The attributes every AWS module of hapair.ha shares (action group, platform).
    # hapair.ha's AWS modules take amazon.aws's connection options (AnsibleAWSModule); list this
    # fragment FIRST, then amazon.aws.common.modules, amazon.aws.region.modules and amazon.aws.boto3:
    # the option entries below only replace the alias lists of those fragments (an earlier fragment's
    # keys win when Ansible merges them), adding the aliases amazon.aws 10 dropped and hapair.ha keeps
    # (plugins/module_utils/common/aws_module.py, LEGACY_ALIASES).
    DOCUMENTATION = r"""
attributes:
  action_group:
    description:
      - Use C(group/hapair.ha.aws) in C(module_defaults) to set the connection options; the group
        includes C(group/amazon.aws.aws), so the same entry covers amazon.aws's modules.
    support: full
    membership:
      - hapair.ha.aws
  platform:
    description: Runs wherever boto3 can reach the EC2 API.
    support: full
    platforms: aws
options:
  access_key:
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    aliases: [aws_session_token, security_token, aws_security_token, access_token]
  region:
    aliases: [aws_region, ec2_region]
  endpoint_url:
    aliases: [aws_endpoint_url, ec2_url]
notes:
  - The connection options are amazon.aws's. The aliases C(ec2_access_key), C(ec2_secret_key),
    C(security_token), C(aws_security_token), C(access_token), C(ec2_region) and C(ec2_url), which
    amazon.aws 10 dropped, are kept for playbooks written for older releases; O(endpoint_url) may also
    come from the C(AWS_ENDPOINT_URL) environment variable.
  - Calls are retried with jittered exponential backoff only on throttling and transient errors
    (for example C(RequestLimitExceeded), C(Throttling), C(ServiceUnavailable), C(InternalError));
    botocore's own retries are switched off so that the number of API calls is exact.
  - The module is in the action group C(group/hapair.ha.aws), which includes amazon.aws's
    C(group/amazon.aws.aws); one C(module_defaults) entry for C(group/hapair.ha.aws) sets the
    connection options of both collections' modules.
"""
