#!/bin/sh
# Sends X-Ray's spans to CloudWatch Logs (Transaction Search) in $AWS_REGION and indexes
# $INDEXING_PERCENTAGE percent of them; run by terraform_data.transaction_search. Idempotent:
# an account already sending to CloudWatch Logs is left as it is. Waits until it is active.
set -eu
: "${AWS_REGION:?set AWS_REGION}" "${INDEXING_PERCENTAGE:?set INDEXING_PERCENTAGE}"
xray() { aws xray "$@" --region "$AWS_REGION"; }

if [ "$(xray get-trace-segment-destination --query Destination --output text)" != "CloudWatchLogs" ]; then
	xray update-trace-segment-destination --destination CloudWatchLogs >/dev/null
fi
xray update-indexing-rule --name Default \
	--rule "{\"Probabilistic\":{\"DesiredSamplingPercentage\":$INDEXING_PERCENTAGE}}" >/dev/null

attempts=0
while :; do
	status=$(xray get-trace-segment-destination --query Status --output text)
	[ "$status" = "ACTIVE" ] && { echo "Transaction Search is active in $AWS_REGION"; exit 0; }
	attempts=$((attempts + 1))
	if [ "$attempts" -ge "${TRANSACTION_SEARCH_ATTEMPTS:-30}" ]; then
		echo "the trace segment destination is still $status in $AWS_REGION; see aws xray get-trace-segment-destination" >&2
		exit 1
	fi
	sleep "${TRANSACTION_SEARCH_POLL_SECONDS:-10}"
done
