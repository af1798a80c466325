#!/usr/bin/env bash
# The service-linked roles the environments' first apply needs, created once per account:
# API Gateway's, and Application Signals' through StartDiscovery. Safe to run again.
set -euo pipefail
: "${AWS_REGION:?set AWS_REGION}"

if ! aws iam get-role --role-name AWSServiceRoleForAPIGateway >/dev/null 2>&1; then
  aws iam create-service-linked-role --aws-service-name ops.apigateway.amazonaws.com >/dev/null
  echo "created API Gateway's service-linked role"
fi

aws application-signals start-discovery --region "$AWS_REGION"
echo "Application Signals discovery is on in $AWS_REGION"
