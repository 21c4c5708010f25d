# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hapair.ha contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # AWS connection options of hapair.ha modules, named and aliased as amazon.aws names them
    # (amazon.aws.common + amazon.aws.region), so module_defaults written for amazon.aws apply.
    # The implementation is boto3-only: plugins/module_utils/aws/common.py.
    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - AWS access key ID.
      - The C(AWS_ACCESS_KEY_ID) or C(AWS_ACCESS_KEY) environment variables may also be used, in
        decreasing order of preference.
      - O(access_key) and O(profile) are mutually exclusive.
      - The aliases C(aws_access_key) and C(ec2_access_key) are kept for playbooks written for older
        amazon.aws releases.
      - When neither keys nor a profile are given, boto3 looks for credentials itself (shared
        credentials files, then the container or EC2 instance profile).
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    description:
      - AWS secret access key.
      - The C(AWS_SECRET_ACCESS_KEY) or C(AWS_SECRET_KEY) environment variables may also be used,
        in decreasing order of preference.
      - O(secret_key) and O(profile) are mutually exclusive.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    description:
      - AWS STS session token for use with temporary credentials.
      - The C(AWS_SESSION_TOKEN) environment variable may also be used.
      - O(session_token) and O(profile) are mutually exclusive.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token, access_token]
  profile:
    description:
      - A named AWS profile to use for authentication.
      - See U(https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-profiles.html).
      - The C(AWS_PROFILE) or C(AWS_DEFAULT_PROFILE) environment variables may also be used.
      - O(profile) is mutually exclusive with O(access_key), O(secret_key) and O(session_token).
    type: str
    aliases: [aws_profile]
  region:
    description:
      - The AWS region to use.
      - The C(AWS_REGION) or C(AWS_DEFAULT_REGION) environment variables may also be used, in
        decreasing order of preference; otherwise the region of the profile is used.
    type: str
    aliases: [aws_region, ec2_region]
  endpoint_url:
    description:
      - URL to connect to instead of the default AWS endpoints, for example an interface VPC
        endpoint.
      - The C(AWS_URL) or C(AWS_ENDPOINT_URL) environment variables may also be used.
    type: str
    aliases: [aws_endpoint_url, ec2_url]
  validate_certs:
    description:
      - When V(false), SSL certificates are not validated for communication with the AWS APIs.
      - Setting O(validate_certs=false) is strongly discouraged; consider O(aws_ca_bundle) instead.
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - The location of a CA bundle to use when validating SSL certificates.
      - The C(AWS_CA_BUNDLE) environment variable may also be used.
    type: path
notes:
  - B(Caution:) environment variables and configuration files are read on the Ansible C(host)
    the module runs on, not on the controller.
  - Calls are retried with jittered exponential backoff only on throttling and transient errors
    (for example C(RequestLimitExceeded), C(Throttling), C(ServiceUnavailable), C(InternalError));
    botocore's own retries are switched off so that the number of API calls is exact.
requirements:
  - python >= 3.8
  - boto3
  - botocore
"""
